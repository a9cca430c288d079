/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF). */
#ifndef AGENTD_CORE_UTF8_H
#define AGENTD_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Returns true when s[0..len) is valid UTF-8; otherwise false and, if bad_at is not
 * NULL, the offset of the first byte of the first invalid sequence. */
bool utf8_valid(const char *s, size_t len, size_t *bad_at);

/* Length of the valid UTF-8 sequence at s (at most avail bytes), or 0 when invalid. */
size_t utf8_seq_len(const char *s, size_t avail);

/* Copy text from outside into out as valid UTF-8 without control characters: an invalid
 * byte or a control byte becomes the four characters \xNN. Cut to fit size. */
void utf8_sanitise(const char *in, char *out, size_t size);

/* Number of code points in valid UTF-8 text. */
size_t utf8_count(const char *s, size_t len);

#endif

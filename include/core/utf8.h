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

/* Bytes from outside (a command's output, a file) as JSON-ready text: s[0..len) into
 * out, which has room for 3 * len + 1 bytes; an invalid byte or a NUL (which the text
 * cannot carry) becomes U+FFFD. Unless final, a valid sequence cut short at the end is
 * not taken: *kept says how many of the last bytes of s were left for the caller to put
 * before its next piece (0 to 3; kept may be NULL when final). Returns the text's
 * length; out is NUL-terminated. */
size_t utf8_to_text(const char *s, size_t len, bool final, char *out, size_t *kept);

/* Number of code points in valid UTF-8 text. */
size_t utf8_count(const char *s, size_t len);

#endif

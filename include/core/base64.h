/* Base64 (RFC 4648, section 4: the standard alphabet, '=' padding), for binary data
 * inside JSON. The decoder is strict: no white space, padding required, and the unused
 * bits of the last group must be zero, so that each byte string has one text. */
#ifndef AGENTD_CORE_BASE64_H
#define AGENTD_CORE_BASE64_H

#include <stddef.h>

#include "core/err.h"

/* The text length for n bytes, without the NUL. */
size_t base64_encoded_len(size_t n);

/* Encode n bytes into out, which holds base64_encoded_len(n) + 1 (NUL-terminated). */
void base64_encode(const void *in, size_t n, char *out);

/* At most how many bytes len characters decode to. */
size_t base64_decoded_max(size_t len);

/* Decode len characters into out (base64_decoded_max(len) bytes); *n set. Fails on a
 * length that is not a multiple of 4, a character outside the alphabet, misplaced
 * padding or non-zero unused bits, with the offset. */
int base64_decode(const char *in, size_t len, void *out, size_t *n, struct ad_err *err);

#endif

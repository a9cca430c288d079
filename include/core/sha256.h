/* SHA-256 (FIPS 180-4), small and allocation-free: API tokens are kept only as their
 * hash (src/auth/tokens.c). Written for clarity over speed: not for bulk data. The
 * compression function has no branch or table index that depends on the data. */
#ifndef AGENTD_CORE_SHA256_H
#define AGENTD_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;         /* message length so far */
	uint8_t block[64];      /* a partial block */
	size_t fill;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);

/* One-shot digest, and the same as lowercase hex with a NUL (SHA256_HEX_LEN + 1 bytes). */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN + 1]);
/* n bytes as 2n lower-case hex digits into out (2n + 1 bytes, NUL-terminated). */
void hex_encode(const void *bytes, size_t n, char *out);

#endif

/* Base64: see include/core/base64.h. */
#include "core/base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *s = in;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		size_t left = n - i;
		uint32_t v = (uint32_t)s[i] << 16;
		if (left > 1)
			v |= (uint32_t)s[i + 1] << 8;
		if (left > 2)
			v |= s[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = left > 1 ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = left > 2 ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
}

size_t base64_decoded_max(size_t len)
{
	return len / 4 * 3;
}

/* The value of a character of the alphabet, or -1. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *in, size_t len, void *out, size_t *n, struct ad_err *err)
{
	unsigned char *d = out;
	size_t o = 0;
	if (len % 4 != 0)
		return ad_err_set(err, 0, "base64: %zu characters, not a multiple of 4", len);
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		/* '=' only at the end: one or two of them */
		size_t pad = last && in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0;
		uint32_t v = 0;
		for (size_t k = 0; k < 4; k++) {
			int x = k < 4 - pad ? sextet((unsigned char)in[i + k]) : 0;
			if (x < 0)
				return ad_err_set(err, 0, "base64: %s at offset %zu",
						  in[i + k] == '=' ? "misplaced padding" : "not a base64 character",
						  i + k);
			v = v << 6 | (uint32_t)x;
		}
		if ((pad == 1 && (v & 0xff) != 0) || (pad == 2 && (v & 0xffff) != 0))
			return ad_err_set(err, 0, "base64: non-zero unused bits at offset %zu", i);
		d[o++] = (unsigned char)(v >> 16);
		if (pad < 2)
			d[o++] = (unsigned char)(v >> 8);
		if (pad < 1)
			d[o++] = (unsigned char)v;
	}
	*n = o;
	return 0;
}

/* Path decoding and sanitising: see include/http/path.h. */
#include "http/path.h"

#include <stdlib.h>
#include <string.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *http_path_decode_segment(const char *s, size_t n, bool allow_slash)
{
	char *out = malloc(n + 1);
	if (out == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n)
				goto refuse;
			int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto refuse;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			if (c == '/' || c == '\\')
				goto refuse;
		} else if (c == '/' && !allow_slash) {
			goto refuse;
		}
		if (c < 0x20 || c == 0x7f)
			goto refuse;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
refuse:
	free(out);
	return NULL;
}

int http_path_sanitise(const char *path, char *out, size_t size)
{
	if (path[0] != '/' || size == 0)
		return -1;
	size_t o = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		size_t n = strcspn(p, "/");
		if (n == 0)
			break;
		char *seg = http_path_decode_segment(p, n, false);
		if (seg == NULL)
			return -1;
		size_t sl = strlen(seg);
		/* ".", ".." and hidden files; a backslash is a separator somewhere else */
		bool bad = seg[0] == '.' || strchr(seg, '\\') != NULL || o + (o > 0) + sl + 1 > size;
		if (!bad) {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, seg, sl);
			o += sl;
		}
		free(seg);
		if (bad)
			return -1;
		p += n;
	}
	out[o] = '\0';
	return 0;
}

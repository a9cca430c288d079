/* UTF-8 validation: see include/core/utf8.h. */
#include "core/utf8.h"

#include <stdint.h>
#include <string.h>

bool utf8_valid(const char *str, size_t len, size_t *bad_at)
{
	size_t i = 0;
	while (i < len) {
		size_t n = utf8_seq_len(str + i, len - i);
		if (n == 0) {
			if (bad_at != NULL)
				*bad_at = i;
			return false;
		}
		i += n;
	}
	return true;
}

size_t utf8_seq_len(const char *str, size_t avail)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];
	size_t need;
	uint32_t cp, min;
	if (avail == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (avail <= need)
		return 0;
	for (size_t k = 1; k <= need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

void utf8_sanitise(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(in), o = 0;
	if (size == 0)
		return;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(in + i, len - i);
		unsigned char c = (unsigned char)in[i];
		if (n == 0 || c < 0x20 || c == 0x7f) {
			if (o + 4 >= size)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
			i++;
			continue;
		}
		if (o + n >= size)
			break;
		memcpy(out + o, in + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
}

size_t utf8_count(const char *str, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)str[i] & 0xc0) != 0x80)
			n++;
	return n;
}

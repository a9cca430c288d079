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

/* s[0..avail) begins a valid sequence that needs more bytes than are there. */
static bool cut_short(const char *s, size_t avail)
{
	/* continuation bytes that suit the second byte after any lead (E0 wants A0-BF,
	 * ED 80-9F, F0 90-BF, F4 80-8F) */
	static const unsigned char pads[] = { 0x80, 0x90, 0xa0 };
	unsigned char lead = (unsigned char)s[0];
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	for (size_t i = 0; i < sizeof(pads) && avail < need; i++) {
		char seq[4];
		memcpy(seq, s, avail);
		memset(seq + avail, pads[i], need - avail);
		if (utf8_seq_len(seq, need) == need)
			return true;
	}
	return false;
}

size_t utf8_to_text(const char *s, size_t len, bool final, char *out, size_t *kept)
{
	size_t o = 0, i = 0;
	if (kept != NULL)
		*kept = 0;
	while (i < len) {
		size_t n = utf8_seq_len(s + i, len - i);
		if (n == 0 && !final && kept != NULL && cut_short(s + i, len - i)) {
			*kept = len - i;
			break;
		}
		if (n == 0 || s[i] == '\0') {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}

size_t utf8_count(const char *str, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (((unsigned char)str[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* The characters of HTML text (see html_int.h): character references (the named ones
 * pages use for punctuation, symbols and Latin-1 letters; numeric ones mapped as
 * browsers map them), UTF-8 checked, whitespace and controls sorted out. */
#include "html_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

/* The longest name in the table below: a longer run of letters is not looked up. */
#define ENTITY_NAME_MAX 6

struct entity {
	const char *name;
	uint32_t cp;
	bool legacy;            /* HTML 4 allowed it without ';' */
};

/* Sorted by strcmp() for bsearch(). */
static const struct entity entities[] = {
	{ "AElig", 0x00c6, true }, { "AMP", 0x0026, true }, { "Aacute", 0x00c1, true },
	{ "Agrave", 0x00c0, true }, { "Aring", 0x00c5, true }, { "Auml", 0x00c4, true },
	{ "COPY", 0x00a9, true }, { "Ccedil", 0x00c7, true }, { "Dagger", 0x2021, false },
	{ "Delta", 0x0394, false }, { "Eacute", 0x00c9, true }, { "GT", 0x003e, true },
	{ "LT", 0x003c, true }, { "Ntilde", 0x00d1, true }, { "OElig", 0x0152, false },
	{ "Omega", 0x03a9, false }, { "Ouml", 0x00d6, true }, { "Prime", 0x2033, false },
	{ "QUOT", 0x0022, true }, { "REG", 0x00ae, true }, { "Scaron", 0x0160, false },
	{ "Sigma", 0x03a3, false }, { "Uuml", 0x00dc, true }, { "aacute", 0x00e1, true },
	{ "acirc", 0x00e2, true }, { "acute", 0x00b4, true }, { "aelig", 0x00e6, true },
	{ "agrave", 0x00e0, true }, { "alpha", 0x03b1, false }, { "amp", 0x0026, true },
	{ "apos", 0x0027, false }, { "aring", 0x00e5, true }, { "asymp", 0x2248, false },
	{ "atilde", 0x00e3, true }, { "auml", 0x00e4, true }, { "bdquo", 0x201e, false },
	{ "beta", 0x03b2, false }, { "brvbar", 0x00a6, true }, { "bull", 0x2022, false },
	{ "ccedil", 0x00e7, true }, { "cedil", 0x00b8, true }, { "cent", 0x00a2, true },
	{ "check", 0x2713, false }, { "circ", 0x02c6, false }, { "clubs", 0x2663, false },
	{ "copy", 0x00a9, true }, { "curren", 0x00a4, true }, { "dagger", 0x2020, false },
	{ "darr", 0x2193, false }, { "deg", 0x00b0, true }, { "delta", 0x03b4, false },
	{ "diams", 0x2666, false }, { "divide", 0x00f7, true }, { "eacute", 0x00e9, true },
	{ "ecirc", 0x00ea, true }, { "egrave", 0x00e8, true }, { "emsp", 0x2003, false },
	{ "ensp", 0x2002, false }, { "eth", 0x00f0, true }, { "euml", 0x00eb, true },
	{ "euro", 0x20ac, false }, { "fnof", 0x0192, false }, { "frac12", 0x00bd, true },
	{ "frac14", 0x00bc, true }, { "frac34", 0x00be, true }, { "gamma", 0x03b3, false },
	{ "ge", 0x2265, false }, { "gt", 0x003e, true }, { "hArr", 0x21d4, false },
	{ "harr", 0x2194, false }, { "hearts", 0x2665, false }, { "hellip", 0x2026, false },
	{ "iacute", 0x00ed, true }, { "icirc", 0x00ee, true }, { "iexcl", 0x00a1, true },
	{ "igrave", 0x00ec, true }, { "infin", 0x221e, false }, { "iquest", 0x00bf, true },
	{ "iuml", 0x00ef, true }, { "lArr", 0x21d0, false }, { "lambda", 0x03bb, false },
	{ "laquo", 0x00ab, true }, { "larr", 0x2190, false }, { "ldquo", 0x201c, false },
	{ "le", 0x2264, false }, { "loz", 0x25ca, false }, { "lrm", 0x200e, false },
	{ "lsaquo", 0x2039, false }, { "lsquo", 0x2018, false }, { "lt", 0x003c, true },
	{ "macr", 0x00af, true }, { "mdash", 0x2014, false }, { "micro", 0x00b5, true },
	{ "middot", 0x00b7, true }, { "minus", 0x2212, false }, { "mu", 0x03bc, false },
	{ "nbsp", 0x00a0, true }, { "ndash", 0x2013, false }, { "ne", 0x2260, false },
	{ "not", 0x00ac, true }, { "ntilde", 0x00f1, true }, { "oacute", 0x00f3, true },
	{ "ocirc", 0x00f4, true }, { "oelig", 0x0153, false }, { "ograve", 0x00f2, true },
	{ "omega", 0x03c9, false }, { "ordf", 0x00aa, true }, { "ordm", 0x00ba, true },
	{ "oslash", 0x00f8, true }, { "otilde", 0x00f5, true }, { "ouml", 0x00f6, true },
	{ "para", 0x00b6, true }, { "permil", 0x2030, false }, { "pi", 0x03c0, false },
	{ "plusmn", 0x00b1, true }, { "pound", 0x00a3, true }, { "prime", 0x2032, false },
	{ "quot", 0x0022, true }, { "rArr", 0x21d2, false }, { "radic", 0x221a, false },
	{ "raquo", 0x00bb, true }, { "rarr", 0x2192, false }, { "rdquo", 0x201d, false },
	{ "reg", 0x00ae, true }, { "rlm", 0x200f, false }, { "rsaquo", 0x203a, false },
	{ "rsquo", 0x2019, false }, { "sbquo", 0x201a, false }, { "scaron", 0x0161, false },
	{ "sdot", 0x22c5, false }, { "sect", 0x00a7, true }, { "shy", 0x00ad, true },
	{ "sigma", 0x03c3, false }, { "spades", 0x2660, false }, { "sum", 0x2211, false },
	{ "sup1", 0x00b9, true }, { "sup2", 0x00b2, true }, { "sup3", 0x00b3, true },
	{ "szlig", 0x00df, true }, { "theta", 0x03b8, false }, { "thinsp", 0x2009, false },
	{ "thorn", 0x00fe, true }, { "tilde", 0x02dc, false }, { "times", 0x00d7, true },
	{ "trade", 0x2122, false }, { "uacute", 0x00fa, true }, { "uarr", 0x2191, false },
	{ "ucirc", 0x00fb, true }, { "ugrave", 0x00f9, true }, { "uml", 0x00a8, true },
	{ "uuml", 0x00fc, true }, { "yacute", 0x00fd, true }, { "yen", 0x00a5, true },
	{ "yuml", 0x00ff, true }, { "zwj", 0x200d, false }, { "zwnj", 0x200c, false },
};

/* What browsers make of &#128; to &#159;: the Windows-1252 characters that pages
 * labelled Latin-1 meant (those with none stay C1 controls). */
static const uint16_t windows_1252[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static int digit_value(char ch, bool hex)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	if (hex && ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static bool is_alnum(char ch)
{
	return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z');
}

/* "&#65;", "&#x41;", with or without the ';'. */
static size_t numeric_ref(const char *s, size_t avail, uint32_t *cp)
{
	bool hex = avail > 2 && (s[2] == 'x' || s[2] == 'X');
	size_t i = hex ? 3 : 2, first = i;
	uint32_t v = 0;
	int d;
	for (; i < avail && (d = digit_value(s[i], hex)) >= 0; i++) {
		/* saturate past the last code point: a million digits cannot overflow */
		v = v * (hex ? 16 : 10) + (uint32_t)d;
		if (v > 0x10ffff)
			v = 0x110000;
	}
	if (i == first)
		return 0;
	if (i < avail && s[i] == ';')
		i++;
	if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		v = 0xfffd;
	else if (v >= 0x80 && v <= 0x9f)
		v = windows_1252[v - 0x80];
	*cp = v;
	return i;
}

static int entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct entity *)elem)->name);
}

static size_t named_ref(const char *s, size_t avail, bool in_attr, uint32_t *cp)
{
	char name[ENTITY_NAME_MAX + 1];
	size_t n = 0;
	while (1 + n < avail && is_alnum(s[1 + n])) {
		if (n == ENTITY_NAME_MAX)
			return 0;
		name[n] = s[1 + n];
		n++;
	}
	name[n] = '\0';
	const struct entity *e = bsearch(name, entities, sizeof(entities) / sizeof(entities[0]),
					 sizeof(entities[0]), entity_cmp);
	if (e == NULL)
		return 0;
	size_t end = 1 + n;
	bool semicolon = end < avail && s[end] == ';';
	/* without its ';', "&copy=" in a URL's query is a parameter, not a reference */
	if (!semicolon && (!e->legacy || (in_attr && end < avail && s[end] == '=')))
		return 0;
	*cp = e->cp;
	return semicolon ? end + 1 : end;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

size_t html_char_ref(const char *s, size_t avail, bool in_attr, char utf8[4], size_t *utf8_len)
{
	uint32_t cp = 0;
	size_t n;
	if (avail < 2 || s[0] != '&')
		return 0;
	if (s[1] == '#')
		n = numeric_ref(s, avail, &cp);
	else
		n = named_ref(s, avail, in_attr, &cp);
	if (n > 0)
		*utf8_len = utf8_encode(cp, utf8);
	return n;
}

/* Whitespace becomes ' ', '\t' or '\n'; controls, NULs and soft hyphens go. */
static void classify(struct html_char *ch)
{
	unsigned char b0 = (unsigned char)ch->b[0];
	unsigned char b1 = ch->n > 1 ? (unsigned char)ch->b[1] : 0;
	ch->space = false;
	if (ch->n == 1 && html_is_space(ch->b[0])) {
		ch->space = true;
		ch->b[0] = b0 == '\r' ? '\n' : b0 == '\f' ? ' ' : ch->b[0];
	} else if (ch->n == 1 && (b0 < 0x20 || b0 == 0x7f)) {
		ch->n = 0;
	} else if (ch->n == 2 && b0 == 0xc2 && b1 == 0xa0) {
		ch->space = true;
		ch->b[0] = ' ';
		ch->n = 1;
	} else if (ch->n == 2 && b0 == 0xc2 && (b1 < 0xa0 || b1 == 0xad)) {
		ch->n = 0;
	}
}

size_t html_char_read(const char *s, size_t avail, bool in_attr, struct html_char *ch)
{
	size_t n = html_char_ref(s, avail, in_attr, ch->b, &ch->n);
	if (n == 0) {
		n = utf8_seq_len(s, avail);
		ch->n = n ? n : 3;
		memcpy(ch->b, n ? s : "\xef\xbf\xbd", ch->n);
		if (n == 0 || (s[0] == '\r' && avail > 1 && s[1] == '\n'))
			n++;                    /* a bad byte, or CR LF as one break */
	}
	classify(ch);
	return n;
}

bool html_span_text(const char *s, size_t n, enum html_span mode, char *out, size_t size)
{
	size_t o = 0;
	bool space = false;
	out[0] = '\0';
	for (size_t i = 0; i < n;) {
		struct html_char ch;
		i += html_char_read(s + i, n - i, mode != HTML_SPAN_TITLE, &ch);
		if (ch.n == 0 || (mode == HTML_SPAN_URL && ch.space && ch.b[0] != ' '))
			continue;
		if (ch.space) {
			space = o > 0;
			continue;
		}
		if (o + space + ch.n >= size)
			return false;
		if (space)
			out[o++] = ' ';
		memcpy(out + o, ch.b, ch.n);
		o += ch.n;
		out[o] = '\0';
		space = false;
	}
	return true;
}

/* The markup of HTML (see html_int.h): tags with their attributes, comments and the
 * like, and the end of raw text. Where markup starts and ends is decided as the
 * WHATWG tokenizer decides it, so that the text is what a browser would show; every
 * scan moves forward, so that a document costs time in proportion to its length. */
#include "html_int.h"

#include <string.h>
#include <strings.h>

static bool is_alpha(char ch)
{
	ch |= 0x20;
	return ch >= 'a' && ch <= 'z';
}

static bool starts(const char *s, size_t len, size_t i, const char *prefix)
{
	size_t n = strlen(prefix);
	return len - i >= n && memcmp(s + i, prefix, n) == 0;
}

/* Past the first "what" at or after s[i]; len when there is none. */
static size_t past(const char *s, size_t len, size_t i, const char *what)
{
	size_t n = strlen(what);
	const char *at = memmem(s + i, len - i, what, n);
	return at ? (size_t)(at - s) + n : len;
}

static size_t skip_space(const char *s, size_t len, size_t i)
{
	while (i < len && html_is_space(s[i]))
		i++;
	return i;
}

/* An attribute's value at s[i] (after the '='), quoted or not. Returns where it ends;
 * len when the input ends inside its quotes. */
static size_t attr_value(const char *s, size_t len, size_t i, const char **v, size_t *v_len)
{
	size_t start = i;
	if (i < len && (s[i] == '"' || s[i] == '\'')) {
		const char *q = memchr(s + i + 1, s[i], len - i - 1);
		if (q == NULL)
			return len;
		*v = s + i + 1;
		*v_len = (size_t)(q - *v);
		return (size_t)(q - s) + 1;
	}
	while (i < len && !html_is_space(s[i]) && s[i] != '>')
		i++;
	*v = s + start;
	*v_len = i - start;
	return i;
}

/* The attribute at s[i] (not whitespace, '/' or '>'); href and alt are kept, the
 * first of each, as browsers keep the first. Returns where it ends. */
static size_t attribute(const char *s, size_t len, size_t i, struct html_tag *t)
{
	const char *name = s + i, *v = s + i;
	size_t v_len = 0;
	/* the first character belongs to the name even when it is '=' */
	for (i++; i < len && !html_is_space(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '='; i++)
		;
	size_t name_len = (size_t)(s + i - name);
	i = skip_space(s, len, i);
	if (i < len && s[i] == '=')
		i = attr_value(s, len, skip_space(s, len, i + 1), &v, &v_len);
	if (name_len == 4 && strncasecmp(name, "href", 4) == 0 && t->href == NULL) {
		t->href = v;
		t->href_len = v_len;
	} else if (name_len == 3 && strncasecmp(name, "alt", 3) == 0 && t->alt == NULL) {
		t->alt = v;
		t->alt_len = v_len;
	}
	return i;
}

bool html_tag_starts(const char *s, size_t len, size_t i)
{
	size_t at = i + 1 < len && s[i + 1] == '/' ? i + 2 : i + 1;
	return at < len && is_alpha(s[at]);
}

bool html_tag_read(const char *s, size_t len, size_t *pos, struct html_tag *t)
{
	size_t i = *pos + 1, n = 0;
	memset(t, 0, sizeof(*t));
	t->end = s[i] == '/';
	for (i += t->end; i < len && !html_is_space(s[i]) && s[i] != '/' && s[i] != '>'; i++, n++) {
		char ch = s[i];
		/* a NUL is U+FFFD to browsers: no name we know has one */
		if (n < HTML_TAG_NAME_MAX)
			t->name[n] = ch >= 'A' && ch <= 'Z' ? (char)(ch | 0x20) : ch ? ch : '?';
	}
	if (n > HTML_TAG_NAME_MAX)
		t->name[0] = '\0';
	for (;;) {
		for (; i < len && (html_is_space(s[i]) || s[i] == '/'); i++)
			t->self_closing = s[i] == '/' && i + 1 < len && s[i + 1] == '>';
		if (i >= len) {
			*pos = len;
			return false;
		}
		if (s[i] == '>') {
			*pos = i + 1;
			return true;
		}
		i = attribute(s, len, i, t);
	}
}

/* A comment ends at "-->" or "--!>", or at once for "<!-->" and "<!--->". */
static size_t comment_end(const char *s, size_t len, size_t i)
{
	if (starts(s, len, i, ">"))
		return i + 1;
	if (starts(s, len, i, "->"))
		return i + 2;
	for (;;) {
		const char *dashes = memmem(s + i, len - i, "--", 2);
		if (dashes == NULL)
			return len;
		i = (size_t)(dashes - s) + 2;
		if (starts(s, len, i, ">"))
			return i + 1;
		if (starts(s, len, i, "!>"))
			return i + 2;
		i--;                    /* in "--->" the end starts at the second dash */
	}
}

size_t html_markup_end(const char *s, size_t len, size_t i)
{
	if (starts(s, len, i, "<!--"))
		return comment_end(s, len, i + 4);
	/* HTML ends a CDATA section at the first '>'; "]]>" is what its writer meant */
	if (starts(s, len, i, "<![CDATA["))
		return past(s, len, i + 9, "]]>");
	if (starts(s, len, i, "<!") || starts(s, len, i, "<?") || starts(s, len, i, "</"))
		return past(s, len, i + 2, ">");
	return 0;
}

size_t html_raw_end(const char *s, size_t len, size_t i, const char *name)
{
	size_t n = strlen(name);
	const char *lt;
	while ((lt = memchr(s + i, '<', len - i)) != NULL) {
		size_t at = (size_t)(lt - s), after = at + 2 + n;
		if (after <= len && lt[1] == '/' && strncasecmp(lt + 2, name, n) == 0 &&
		    (after == len || html_is_space(s[after]) || s[after] == '/' || s[after] == '>'))
			return at;
		i = at + 1;
	}
	return len;
}

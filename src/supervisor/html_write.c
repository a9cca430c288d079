/* Writing the readable text (see struct html_writer in html_int.h): breaks, the leads
 * of headings and list items, table cells and links, within the cap. */
#include "html_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ALT_MAX 256
#define PENDING_MAX (2 + 2 * HTML_CELLS_MAX + 1 + HTML_LEAD_MAX + 1)

void html_write_init(struct html_writer *w, size_t max)
{
	memset(w, 0, sizeof(*w));
	w->max = max;
	buf_init(&w->out, max);
}

void html_write_break(struct html_writer *w, enum html_break b)
{
	if (w->brk < b)
		w->brk = b;
}

void html_write_lead(struct html_writer *w, char mark, size_t marks, size_t indent)
{
	memset(w->lead, ' ', indent);
	memset(w->lead + indent, mark, marks);
	w->lead[indent + marks] = ' ';
	w->lead_len = marks ? indent + marks + 1 : 0;
}

void html_write_cell(struct html_writer *w)
{
	if (w->cells < HTML_CELLS_MAX)
		w->cells++;
}

void html_write_row(struct html_writer *w)
{
	w->cells = 0;
}

/* What waits for the next character, into p. */
static size_t pending(const struct html_writer *w, char *p)
{
	const struct buf *o = &w->out;
	bool line_start = o->len == 0 || o->data[o->len - 1] == '\n';
	size_t k = 0;
	if (o->len > 0 && w->brk >= HTML_BREAK_LINE) {
		size_t have = line_start + (line_start && o->len > 1 && o->data[o->len - 2] == '\n');
		for (size_t want = w->brk == HTML_BREAK_PARA ? 2 : 1; have < want; have++)
			p[k++] = '\n';
		line_start = true;
	}
	for (size_t n = 0; n < w->cells; n++) {
		if (n > 0 || !line_start)
			p[k++] = ' ';
		p[k++] = '|';
	}
	if (w->cells > 0 || (w->brk == HTML_BREAK_SPACE && !line_start))
		p[k++] = ' ';
	memcpy(p + k, w->lead, w->lead_len);
	k += w->lead_len;
	if (w->in_link && !w->link_open)
		p[k++] = '[';
	return k;
}

/* With flush, what is pending goes first; without, it waits on (a link's end goes
 * before the space that followed the link's text). */
static void put(struct html_writer *w, const char *s, size_t n, bool flush)
{
	char p[PENDING_MAX];
	size_t k = flush ? pending(w, p) : 0;
	if (w->stop || k + n > w->max - w->out.len) {
		w->stop = true;
		return;
	}
	buf_append(&w->out, p, k);
	buf_append(&w->out, s, n);
	w->stop = w->out.oom;
	if (flush) {
		w->brk = HTML_BREAK_NONE;
		w->cells = 0;
		w->lead_len = 0;
		w->link_open = w->in_link;
	}
}

void html_write_text(struct html_writer *w, const char *s, size_t n)
{
	/* the text never starts with a break, not even a pre's own */
	if (w->out.len == 0 && n == 1 && s[0] == '\n')
		return;
	put(w, s, n, true);
}

void html_write_link_end(struct html_writer *w)
{
	if (w->link_open)
		put(w, w->link_end, w->link_end_len, false);
	w->in_link = w->link_open = false;
}

/* "](url)" is made now and written at the link's end. A link to nowhere useful (a
 * place in this page, a script, inline data) keeps its text alone. Spaces and
 * parentheses are escaped so that the URL ends at its ')'. */
void html_write_link(struct html_writer *w, const char *href, size_t href_len)
{
	static const char *const refused[] = { "javascript:", "vbscript:", "data:" };
	static const char hex[] = "0123456789ABCDEF";
	char url[HTML_HREF_MAX + 1];
	char *e = w->link_end;
	size_t k = 0;
	html_write_link_end(w);
	if (!html_span_text(href, href_len, HTML_SPAN_URL, url, sizeof(url)) || url[0] == '\0' ||
	    url[0] == '#')
		return;
	for (size_t r = 0; r < sizeof(refused) / sizeof(refused[0]); r++)
		if (strncasecmp(url, refused[r], strlen(refused[r])) == 0)
			return;
	e[k++] = ']';
	e[k++] = '(';
	for (const unsigned char *u = (const unsigned char *)url; *u != '\0'; u++) {
		if (*u == ' ' || *u == '(' || *u == ')') {
			e[k++] = '%';
			e[k++] = hex[*u >> 4];
			e[k++] = hex[*u & 15];
		} else {
			e[k++] = (char)*u;
		}
	}
	e[k++] = ')';
	w->link_end_len = k;
	w->in_link = true;
}

void html_write_image(struct html_writer *w, const char *alt, size_t alt_len)
{
	char text[ALT_MAX + 1], mark[ALT_MAX + 16];
	html_span_text(alt, alt_len, HTML_SPAN_ATTR, text, sizeof(text));
	if (text[0] != '\0')
		put(w, mark, (size_t)snprintf(mark, sizeof(mark), "[image: %s]", text), true);
}

void html_write_finish(struct html_writer *w)
{
	html_write_link_end(w);
	while (w->out.len > 0 && html_is_space(w->out.data[w->out.len - 1]))
		w->out.data[--w->out.len] = '\0';
}

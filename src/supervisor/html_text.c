/* HTML to readable text: see include/supervisor/html_text.h.
 *
 * One pass over the input: html_tokens.c tells markup from text, html_chars.c reads
 * the characters, html_write.c lays the text out, and this file says what each
 * element means. The tree a browser would build is not built: a few counters (lists
 * and pre elements open, the element being dropped and its depth) stand for it, so
 * that nesting costs neither stack nor memory. */
#include "supervisor/html_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "html_int.h"

#define INDENT_MAX 8            /* list levels shown by their indent */

enum el_kind {
	EL_A, EL_BR, EL_CELL, EL_DROP, EL_FOREIGN, EL_HEADING, EL_IMG, EL_LI, EL_LINE,
	EL_LIST, EL_PARA, EL_PRE, EL_RAW, EL_TABLE, EL_TEXTAREA, EL_TITLE, EL_TR,
};

struct elem {
	const char *name;
	enum el_kind kind;
	size_t level;           /* of a heading */
};

/* The elements that change the text; other tags go and their content stays. Sorted
 * by strcmp() for bsearch(). RAW: text up to the end tag, dropped. DROP and FOREIGN:
 * markup, dropped (FOREIGN: SVG and MathML, where script and style hold markup). */
static const struct elem elements[] = {
	{ "a", EL_A, 0 }, { "address", EL_PARA, 0 }, { "article", EL_PARA, 0 },
	{ "aside", EL_PARA, 0 }, { "audio", EL_DROP, 0 }, { "blockquote", EL_PARA, 0 },
	{ "br", EL_BR, 0 }, { "canvas", EL_DROP, 0 }, { "caption", EL_LINE, 0 },
	{ "center", EL_LINE, 0 }, { "dd", EL_LINE, 0 }, { "details", EL_PARA, 0 },
	{ "dir", EL_LIST, 0 }, { "div", EL_LINE, 0 }, { "dl", EL_PARA, 0 },
	{ "dt", EL_LINE, 0 }, { "fieldset", EL_PARA, 0 }, { "figcaption", EL_LINE, 0 },
	{ "figure", EL_PARA, 0 }, { "footer", EL_PARA, 0 }, { "form", EL_PARA, 0 },
	{ "h1", EL_HEADING, 1 }, { "h2", EL_HEADING, 2 }, { "h3", EL_HEADING, 3 },
	{ "h4", EL_HEADING, 4 }, { "h5", EL_HEADING, 5 }, { "h6", EL_HEADING, 6 },
	{ "header", EL_PARA, 0 }, { "hr", EL_PARA, 0 }, { "iframe", EL_RAW, 0 },
	{ "img", EL_IMG, 0 }, { "legend", EL_LINE, 0 }, { "li", EL_LI, 0 },
	{ "listing", EL_PRE, 0 }, { "main", EL_PARA, 0 }, { "math", EL_FOREIGN, 0 },
	{ "menu", EL_LIST, 0 }, { "nav", EL_PARA, 0 }, { "noembed", EL_RAW, 0 },
	{ "noframes", EL_RAW, 0 }, { "noscript", EL_RAW, 0 }, { "object", EL_DROP, 0 },
	{ "ol", EL_LIST, 0 }, { "option", EL_LINE, 0 }, { "p", EL_PARA, 0 },
	{ "pre", EL_PRE, 0 }, { "script", EL_RAW, 0 }, { "section", EL_PARA, 0 },
	{ "select", EL_LINE, 0 }, { "style", EL_RAW, 0 }, { "summary", EL_LINE, 0 },
	{ "svg", EL_FOREIGN, 0 }, { "table", EL_TABLE, 0 }, { "td", EL_CELL, 0 },
	{ "template", EL_DROP, 0 }, { "textarea", EL_TEXTAREA, 0 }, { "th", EL_CELL, 0 },
	{ "title", EL_TITLE, 0 }, { "tr", EL_TR, 0 }, { "ul", EL_LIST, 0 },
	{ "video", EL_DROP, 0 },
};

struct conv {
	const char *s;
	size_t len, i;
	struct html_writer w;
	size_t pre, lists;              /* pre and list elements open */
	bool row_has_cell;
	const struct elem *drop;        /* the element whose content is dropped, */
	size_t drop_depth;              /* and how many of it are open */
	size_t rcdata_end;              /* a textarea's text runs to here */
	bool title_seen;
	char *title;
};

static void text_char(struct conv *c)
{
	struct html_char ch;
	c->i += html_char_read(c->s + c->i, c->len - c->i, false, &ch);
	if (ch.n == 0)
		return;
	if (ch.space && c->pre == 0)
		html_write_break(&c->w, HTML_BREAK_SPACE);
	else
		html_write_text(&c->w, ch.b, ch.n);
}

/* The first title is the document's (as document.title is); it never shows. */
static void title(struct conv *c)
{
	size_t end = html_raw_end(c->s, c->len, c->i, "title");
	if (!c->title_seen)
		html_span_text(c->s + c->i, end - c->i, HTML_SPAN_TITLE, c->title, HTML_TITLE_MAX + 1);
	c->title_seen = true;
	c->i = end;
}

/* A newline right after <pre> or <textarea> is not part of the text. */
static void skip_newline(struct conv *c)
{
	if (c->i < c->len && c->s[c->i] == '\r')
		c->i++;
	if (c->i < c->len && c->s[c->i] == '\n')
		c->i++;
}

/* <br> (and </br>, which browsers read as <br>): twice in a row, a blank line. */
static void line_break(struct conv *c)
{
	html_write_break(&c->w, c->w.brk >= HTML_BREAK_LINE ? HTML_BREAK_PARA : HTML_BREAK_LINE);
}

static void new_row(struct conv *c, enum html_break b)
{
	html_write_break(&c->w, b);
	html_write_row(&c->w);
	c->row_has_cell = false;
}

static void list_item(struct conv *c)
{
	size_t level = c->lists < INDENT_MAX ? c->lists : INDENT_MAX;
	html_write_break(&c->w, HTML_BREAK_LINE);
	html_write_lead(&c->w, '-', 1, level > 0 ? 2 * (level - 1) : 0);
}

static void start_tag(struct conv *c, const struct elem *el, const struct html_tag *t)
{
	switch (el->kind) {
	case EL_A:
		if (t->href != NULL)
			html_write_link(&c->w, t->href, t->href_len);
		else
			html_write_link_end(&c->w);
		break;
	case EL_BR:
		line_break(c);
		break;
	case EL_CELL:
		if (c->row_has_cell)
			html_write_cell(&c->w);
		c->row_has_cell = true;
		break;
	case EL_DROP:
	case EL_FOREIGN:
		if (!t->self_closing) {         /* <svg/> has no content */
			c->drop = el;
			c->drop_depth = 1;
		}
		break;
	case EL_HEADING:
		html_write_break(&c->w, HTML_BREAK_PARA);
		html_write_lead(&c->w, '#', el->level, 0);
		break;
	case EL_IMG:
		if (t->alt != NULL)
			html_write_image(&c->w, t->alt, t->alt_len);
		break;
	case EL_LI:
		list_item(c);
		break;
	case EL_LINE:
		html_write_break(&c->w, HTML_BREAK_LINE);
		break;
	case EL_LIST:
		html_write_break(&c->w, c->lists++ ? HTML_BREAK_LINE : HTML_BREAK_PARA);
		break;
	case EL_PARA:
		html_write_break(&c->w, HTML_BREAK_PARA);
		break;
	case EL_PRE:
		html_write_break(&c->w, HTML_BREAK_PARA);
		c->pre++;
		skip_newline(c);
		break;
	case EL_RAW:
		c->i = html_raw_end(c->s, c->len, c->i, el->name);
		break;
	case EL_TABLE:
	case EL_TR:
		new_row(c, el->kind == EL_TABLE ? HTML_BREAK_PARA : HTML_BREAK_LINE);
		break;
	case EL_TEXTAREA:
		html_write_break(&c->w, HTML_BREAK_LINE);
		skip_newline(c);
		c->rcdata_end = html_raw_end(c->s, c->len, c->i, el->name);
		break;
	case EL_TITLE:
		title(c);
		break;
	}
}

static void end_tag(struct conv *c, const struct elem *el)
{
	switch (el->kind) {
	case EL_A:
		html_write_link_end(&c->w);
		break;
	case EL_BR:
		line_break(c);
		break;
	case EL_HEADING:
	case EL_LI:
		/* an empty heading or item leaves no lead behind */
		html_write_break(&c->w, el->kind == EL_LI ? HTML_BREAK_LINE : HTML_BREAK_PARA);
		html_write_lead(&c->w, ' ', 0, 0);
		break;
	case EL_LINE:
	case EL_TEXTAREA:
		html_write_break(&c->w, HTML_BREAK_LINE);
		break;
	case EL_LIST:
		c->lists -= c->lists > 0;
		html_write_break(&c->w, c->lists ? HTML_BREAK_LINE : HTML_BREAK_PARA);
		break;
	case EL_PARA:
		html_write_break(&c->w, HTML_BREAK_PARA);
		break;
	case EL_PRE:
		c->pre -= c->pre > 0;
		html_write_break(&c->w, HTML_BREAK_PARA);
		break;
	case EL_TABLE:
	case EL_TR:
		new_row(c, el->kind == EL_TABLE ? HTML_BREAK_PARA : HTML_BREAK_LINE);
		break;
	default:
		break;
	}
}

/* Inside dropped content only the dropped element's own tags count, and raw text (a
 * script's string may hold "</svg>") is skipped whole, except in SVG and MathML. */
static void drop_tag(struct conv *c, const struct elem *el, const struct html_tag *t)
{
	if (el == c->drop) {
		if (t->end)
			c->drop_depth--;
		else if (!t->self_closing)
			c->drop_depth++;
		if (c->drop_depth == 0)
			c->drop = NULL;
	} else if (el != NULL && !t->end && c->drop->kind != EL_FOREIGN &&
		   (el->kind == EL_RAW || el->kind == EL_TEXTAREA || el->kind == EL_TITLE)) {
		c->i = html_raw_end(c->s, c->len, c->i, el->name);
	}
}

static int elem_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct elem *)elem)->name);
}

static void tag(struct conv *c)
{
	struct html_tag t;
	if (!html_tag_read(c->s, c->len, &c->i, &t))
		return;
	const struct elem *el = t.name[0] == '\0' ? NULL :
		bsearch(t.name, elements, sizeof(elements) / sizeof(elements[0]), sizeof(elements[0]),
			elem_cmp);
	if (c->drop != NULL)
		drop_tag(c, el, &t);
	else if (el != NULL && t.end)
		end_tag(c, el);
	else if (el != NULL)
		start_tag(c, el, &t);
}

static void markup(struct conv *c)
{
	size_t end;
	if (html_tag_starts(c->s, c->len, c->i))
		tag(c);
	else if ((end = html_markup_end(c->s, c->len, c->i)) > 0)
		c->i = end;
	else if (c->drop != NULL)
		c->i++;
	else
		text_char(c);           /* "a < b" */
}

static void convert(struct conv *c)
{
	while (c->i < c->len && !c->w.stop) {
		if (c->i < c->rcdata_end || (c->s[c->i] != '<' && c->drop == NULL)) {
			text_char(c);
		} else if (c->s[c->i] == '<') {
			markup(c);
		} else {
			/* dropped text: on to the next tag */
			const char *lt = memchr(c->s + c->i, '<', c->len - c->i);
			c->i = lt ? (size_t)(lt - c->s) : c->len;
		}
	}
	html_write_finish(&c->w);
}

int html_text(const char *html, size_t len, size_t max, struct html_text *out, struct ad_err *err)
{
	struct conv *c = calloc(1, sizeof(*c));
	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return ad_err_set(err, ENOMEM, "html to text");
	c->s = html;
	c->len = len;
	c->title = out->title;
	html_write_init(&c->w, max < SIZE_MAX / 2 ? max : SIZE_MAX / 2);
	convert(c);
	struct buf *b = &c->w.out;
	if (!b->oom && b->data == NULL)
		b->data = calloc(1, 1);
	if (b->oom || b->data == NULL) {
		buf_free(b);
		free(c);
		return ad_err_set(err, ENOMEM, "html to text");
	}
	out->text = b->data;
	out->len = b->len;
	out->cut = c->w.stop;
	free(c);
	return 0;
}

void html_text_free(struct html_text *t)
{
	free(t->text);
	t->text = NULL;
}

/* Internals of the HTML-to-text converter (src/supervisor/html_*.c): the characters
 * and the tags it reads, never past the end of the input. */
#ifndef AGENTD_SUPERVISOR_HTML_INT_H
#define AGENTD_SUPERVISOR_HTML_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

#define HTML_TAG_NAME_MAX 10    /* the longest name of an element that counts */

/* HTML's ASCII whitespace. */
static inline bool html_is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\f' || ch == '\r';
}

/* A character as it goes out: UTF-8 in b[0..n), n == 0 when it is dropped (a control,
 * a NUL, a soft hyphen); whitespace (no-break space included: the model reads words,
 * not layout) is space, as ' ', '\t' or '\n'. */
struct html_char {
	char b[4];
	size_t n;
	bool space;
};

/* The character reference at s[0] == '&' (avail bytes there): its character as UTF-8
 * in utf8 (*utf8_len bytes), and the bytes it takes in s; 0 when s does not start a
 * known reference, which is then a plain '&'. Numeric references may omit the ';' and
 * map as browsers map them (0x80-0x9F as Windows-1252; 0, surrogates and values past
 * U+10FFFF as U+FFFD). Named ones need the ';', except those HTML 4 allowed without
 * it ("&copy 2024") when not in an attribute before '=' (so href="?a=1&copy=2" keeps
 * its "&copy"). */
size_t html_char_ref(const char *s, size_t avail, bool in_attr, char utf8[4], size_t *utf8_len);

/* The character of text at s (avail > 0 bytes there): a reference, a UTF-8 sequence,
 * or an invalid byte as U+FFFD; CR LF is one '\n'. Returns the bytes it takes. */
size_t html_char_read(const char *s, size_t avail, bool in_attr, struct html_char *ch);

enum html_span { HTML_SPAN_TITLE, HTML_SPAN_ATTR, HTML_SPAN_URL };

/* s[0..n) as one line in out (size > 0 bytes with the NUL): references resolved,
 * whitespace collapsed and trimmed; for a URL, tabs and newlines dropped as browsers
 * drop them. Returns false when it did not fit: out then holds the characters that
 * did. */
bool html_span_text(const char *s, size_t n, enum html_span mode, char *out, size_t size);

struct html_tag {
	char name[HTML_TAG_NAME_MAX + 1];       /* lower case; "" when longer */
	bool end, self_closing;
	const char *href, *alt;         /* raw values in the input; NULL when absent */
	size_t href_len, alt_len;
};

/* True when s[i] == '<' starts a start or end tag (then a letter). */
bool html_tag_starts(const char *s, size_t len, size_t i);

/* Read the tag that starts at s[*i] into t and move *i past its '>'. False when the
 * input ends inside the tag, which is then lost, as in browsers (*i is len). */
bool html_tag_read(const char *s, size_t len, size_t *i, struct html_tag *t);

/* Where the markup that is not a tag at s[i] == '<' ends: a comment, a CDATA section,
 * a doctype, a processing instruction, "</>"; len when it runs to the end. 0 when the
 * '<' is text ("a < b"). */
size_t html_markup_end(const char *s, size_t len, size_t i);

/* Where the raw text of element name (script, style, title...) that starts at s[i]
 * ends: at the next "</name" ending like a tag, in any case; len when there is none. */
size_t html_raw_end(const char *s, size_t len, size_t i, const char *name);

/* A break waits for the next character, and the larger wins: a paragraph's end and a
 * div's start make one blank line, not two. */
enum html_break { HTML_BREAK_NONE, HTML_BREAK_SPACE, HTML_BREAK_LINE, HTML_BREAK_PARA };

#define HTML_HREF_MAX 2048      /* a link to a longer address keeps its text alone */
#define HTML_CELLS_MAX 32       /* empty cells shown before a cell, at the most */
#define HTML_LEAD_MAX 24

/* The text as it is written (html_write.c): breaks, cell separators, a line's lead and
 * a link's "[" wait for the next character, so that no line ends in a space and the
 * text neither starts nor ends with a break. Each piece goes whole or not at all: the
 * first that would pass max stops the writing. */
struct html_writer {
	struct buf out;
	size_t max;
	bool stop;                      /* the cap is reached, or memory ran out */
	enum html_break brk;
	size_t cells;                   /* cell separators waiting */
	char lead[HTML_LEAD_MAX];       /* "## " or "  - " */
	size_t lead_len;
	bool in_link, link_open;        /* in a link to somewhere; its "[" written */
	char link_end[3 * HTML_HREF_MAX + 4];   /* "](url)" */
	size_t link_end_len;
};

void html_write_init(struct html_writer *w, size_t max);
void html_write_break(struct html_writer *w, enum html_break b);
/* marks times mark and a space, after indent spaces, before the line's first character
 * (marks + indent < HTML_LEAD_MAX); 0 marks drops a lead that waits. */
void html_write_lead(struct html_writer *w, char mark, size_t marks, size_t indent);
/* A table cell after the first of its row: " | " before its first character. */
void html_write_cell(struct html_writer *w);
/* A new row or table: the separators waiting go. */
void html_write_row(struct html_writer *w);
/* One character, or a few that go together. */
void html_write_text(struct html_writer *w, const char *s, size_t n);
/* A link to the raw href value given: "[text](url)". */
void html_write_link(struct html_writer *w, const char *href, size_t href_len);
void html_write_link_end(struct html_writer *w);
/* "[image: alt]" for the raw alt value given, when there is one. */
void html_write_image(struct html_writer *w, const char *alt, size_t alt_len);
/* End the link left open and any whitespace a pre left at the end. */
void html_write_finish(struct html_writer *w);

#endif

/* HTML as readable text: the page fetch_url gives the model.
 *
 * Scripts, styles and other content nobody reads (noscript, template, svg, math, iframe,
 * object, audio, video, canvas) are dropped, with comments, doctypes, CDATA sections
 * and every attribute but a link's href and an image's alt. What is left is plain text
 * in a light Markdown: "# " to "###### " before headings, "- " before list items (two
 * spaces of indent a level), "[text](url)" for links (the URL as the page wrote it,
 * relative or not; none for "#..." or javascript:), "[image: alt]" for images with an
 * alt, table cells joined by " | ", a row a line. Whitespace collapses as a browser
 * collapses it, except inside pre; blocks start a new line and paragraphs are parted
 * by one blank line; outside pre no line ends in a space.
 *
 * The input comes from the web and may be built to hurt: the converter makes one pass
 * without recursion and without a stack of open elements (a few counters stand for
 * it), so it takes linear time whatever the nesting, and its memory is the output, at
 * most max bytes, plus fixed buffers. The input is taken as UTF-8 (no charset is
 * guessed): a byte that is not becomes U+FFFD; NULs and control characters other than
 * the pre's tabs and line breaks are dropped. */
#ifndef AGENTD_SUPERVISOR_HTML_TEXT_H
#define AGENTD_SUPERVISOR_HTML_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* A title longer than this is cut (at a character boundary). */
#define HTML_TITLE_MAX 512

struct html_text {
	char *text;             /* UTF-8, NUL-terminated, never NULL after success */
	size_t len;             /* at most the max given */
	bool cut;               /* the cap left part of the text out */
	char title[HTML_TITLE_MAX + 1]; /* the first <title>, on one line; "" when none */
};

/* Convert html[0..len) into out (which html_text_free() releases). The text ends where
 * the next character or mark would pass max bytes, and the title is not looked for
 * past that point. Fails only when memory runs out. */
int html_text(const char *html, size_t len, size_t max, struct html_text *out, struct ad_err *err);
void html_text_free(struct html_text *t);

#endif

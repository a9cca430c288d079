/* Fuzz target for the HTML-to-text converter. Besides "no crash, no sanitizer report"
 * it checks what every result must be: UTF-8 without NULs or controls but '\n' and
 * '\t', within the cap, no break at either end, and the text cut at a cap the input
 * chooses a prefix of the text without one. Built with libFuzzer by `make fuzz`, and
 * with tests/fuzz/replay.c into a program that runs given files, which `make test` does
 * over the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "supervisor/html_text.h"

static void fail(const char *what)
{
	fprintf(stderr, "fuzz_html: %s\n", what);
	abort();
}

static bool has_controls(const char *s, size_t len, bool breaks_allowed)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 || ch == 0x7f) && !(breaks_allowed && (ch == '\n' || ch == '\t')))
			return true;
		/* C1 controls, U+0080 to U+009F */
		if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0)
			return true;
	}
	return false;
}

static void check(const struct html_text *t, size_t max)
{
	size_t title_len = strlen(t->title);
	if (t->len > max || strlen(t->text) != t->len)
		fail("text longer than the cap, or with a NUL");
	if (!utf8_valid(t->text, t->len, NULL) || has_controls(t->text, t->len, true))
		fail("text not clean UTF-8");
	if (t->len > 0 && (t->text[0] == '\n' || t->text[t->len - 1] == ' ' ||
			   t->text[t->len - 1] == '\n' || t->text[t->len - 1] == '\t'))
		fail("text starts with a break or ends in whitespace");
	if (title_len > HTML_TITLE_MAX || !utf8_valid(t->title, title_len, NULL) ||
	    has_controls(t->title, title_len, false))
		fail("title not one clean line of UTF-8");
	if (title_len > 0 && (t->title[0] == ' ' || t->title[title_len - 1] == ' '))
		fail("title not trimmed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct html_text whole, cut;
	struct ad_err e;
	size_t sum = 0;
	/* the cap comes from the bytes, so that the fuzzer moves it too */
	for (size_t i = 0; i < size; i++)
		sum += data[i];
	size_t max = sum % (size + 1);
	/* a buffer of the exact size, so that the replay's ASan sees a read past it */
	char *html = malloc(size ? size : 1);
	if (html == NULL)
		fail("out of memory");
	memcpy(html, data, size);
	if (html_text(html, size, SIZE_MAX, &whole, &e) < 0 || html_text(html, size, max, &cut, &e) < 0)
		fail(e.msg);
	free(html);
	check(&whole, SIZE_MAX);
	check(&cut, max);
	if (whole.cut)
		fail("cut without a cap");
	/* a cut may come before the title */
	if (strcmp(whole.title, cut.title) != 0 && !(cut.cut && cut.title[0] == '\0'))
		fail("a different title at a cap");
	if (cut.len > whole.len || memcmp(cut.text, whole.text, cut.len) != 0)
		fail("the text at a cap is not a prefix of the whole text");
	if (!cut.cut && cut.len != whole.len)
		fail("text left out without saying so");
	html_text_free(&whole);
	html_text_free(&cut);
	return 0;
}

/* Unit tests for the HTML-to-text converter (include/supervisor/html_text.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "supervisor/html_text.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define BIG_CAP (1u << 20)

struct html_case {
	const char *in, *want;
};

/* What every result must be: UTF-8 without NULs or controls but '\n' and '\t', no
 * more than the cap, with no space or break at either end. */
static void check_text(const struct html_text *t, size_t max)
{
	assert_true(t->len <= max);
	assert_int_equal(strlen(t->text), t->len);
	assert_true(utf8_valid(t->text, t->len, NULL));
	assert_true(utf8_valid(t->title, strlen(t->title), NULL));
	for (size_t i = 0; i < t->len; i++) {
		unsigned char ch = (unsigned char)t->text[i];
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
			fail_msg("control byte 0x%02x at %zu", ch, i);
	}
	if (t->len > 0 && (t->text[0] == '\n' || t->text[t->len - 1] == ' ' || t->text[t->len - 1] == '\n'))
		fail_msg("whitespace at an end: \"%s\"", t->text);
}

/* The input goes in a buffer of its exact size, so that ASan sees a read past it. */
static void convert(const char *in, size_t len, size_t max, struct html_text *t)
{
	struct ad_err e;
	char *exact = malloc(len ? len : 1);
	assert_non_null(exact);
	memcpy(exact, in, len);
	assert_int_equal(html_text(exact, len, max, t, &e), 0);
	free(exact);
	check_text(t, max);
}

static void expect_cases(const struct html_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct html_text t;
		convert(cases[i].in, strlen(cases[i].in), BIG_CAP, &t);
		if (strcmp(t.text, cases[i].want) != 0)
			fail_msg("%s\n got: \"%s\"\nwant: \"%s\"", cases[i].in, t.text, cases[i].want);
		if (strstr(t.text, " \n") != NULL)
			fail_msg("%s: a line ends in a space", cases[i].in);
		assert_false(t.cut);
		html_text_free(&t);
	}
}

static void whitespace_collapses(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "", "" },
		{ "plain", "plain" },
		{ "  a \n\t b  \r\n", "a b" },
		{ "a<b> bold </b>c", "a bold c" },
		{ "<span>a</span><span>b</span>", "ab" },                   /* inline: no space */
		{ "a&nbsp;&nbsp; b", "a b" },                               /* no-break spaces too */
		{ "a\f\fb", "a b" },
	};
	expect_cases(cases, N(cases));
}

static void blocks_and_paragraphs(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<p>a</p><p>b</p>", "a\n\nb" },
		{ "<div>a</div><div>b</div>", "a\nb" },
		{ "<p>a</p><div></div>\n<div> </div><p>b</p>", "a\n\nb" },  /* one blank line at most */
		{ "<p> </p><p></p>x<p></p>", "x" },                         /* none at the ends */
		{ "a<br>b", "a\nb" },
		{ "a<br><br>b", "a\n\nb" },
		{ "a<br/><br /><br><br>b", "a\n\nb" },
		{ "a</br>b", "a\nb" },
		{ "a<hr>b", "a\n\nb" },
		{ "<section>a<article>b</article></section><footer>c</footer>", "a\n\nb\n\nc" },
		{ "<dl><dt>term<dd>meaning</dl>", "term\nmeaning" },
		{ "<blockquote>q</blockquote>after", "q\n\nafter" },
		{ "<textarea>\n<b>x</b> &amp;</textarea>y", "<b>x</b> &\ny" },
	};
	expect_cases(cases, N(cases));
}

static void headings(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<h1>A</h1><h2>B</h2><h3>C</h3><h4>D</h4><h5>E</h5><h6>F</h6>",
		  "# A\n\n## B\n\n### C\n\n#### D\n\n##### E\n\n###### F" },
		{ "text<H3 class=x> T </H3>more", "text\n\n### T\n\nmore" },
		{ "<h2></h2><p>x</p>", "x" },                               /* an empty heading leaves no "##" */
		{ "<h2><a href=/s>Section</a></h2>", "## [Section](/s)" },
	};
	expect_cases(cases, N(cases));
}

static void lists(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<ul><li>a</li><li>b</li></ul>", "- a\n- b" },
		{ "<ol><li>one<li>two</ol>", "- one\n- two" },              /* unclosed items */
		{ "<ul><li>a<ul><li>b<ul><li>c</ul></ul><li>d</ul>", "- a\n  - b\n    - c\n- d" },
		{ "<ul><li></li><li> b </li></ul>", "- b" },
		{ "<p>x</p><ul><li>a</ul><p>y</p>", "x\n\n- a\n\ny" },
		{ "<li>alone</li>", "- alone" },
		{ "</ul></ul><ul><li>a</ul>", "- a" },                     /* stray ends do not go negative */
	};
	expect_cases(cases, N(cases));
}

static void tables(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>", "A | B\n1 | 2" },
		{ "<table><tr><td>1<td><td>3</table>", "1 | | 3" },         /* an empty cell keeps its place */
		{ "<table><tr><td><td>b</table>", "| b" },
		{ "<table><tr><td>a<td></table>", "a" },                     /* none at the end */
		{ "x<table><caption>Cap</caption><thead><tr><th>h</thead><tbody><tr><td>d</table>y",
		  "x\n\nCap\nh\nd\n\ny" },
	};
	expect_cases(cases, N(cases));
}

static void preformatted(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<pre>\n  a  b\n\tc\n</pre>after", "  a  b\n\tc\n\nafter" },  /* first newline dropped */
		{ "x <pre>a\r\nb</pre> y", "x\n\na\nb\n\ny" },
		{ "<PRE>a <b> b</b>   c</PRE>", "a  b   c" },
		{ "<pre><pre>a</pre>  b</pre>  c", "a\n\n  b\n\nc" },        /* depth is counted */
		{ "<pre>a\n\n\n\nb</pre>", "a\n\n\n\nb" },                    /* its blank lines stay */
		{ "<pre>code\n\n</pre>", "code" },
		{ "<pre>\n\n\n  x</pre>", "  x" },                          /* nor at the start */
	};
	expect_cases(cases, N(cases));
}

static void links(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<a href=\"https://example.com/\">Example</a>", "[Example](https://example.com/)" },
		{ "see <a href=/u>the  page</a>, ok", "see [the page](/u), ok" },
		{ "<a href=/u> a </a>b", "[a](/u) b" },                      /* the space goes after */
		{ "<a href=\"/x?a=1&amp;b=2\">q</a>", "[q](/x?a=1&b=2)" },
		{ "<a href=\"?a=1&copy=2\">q</a>", "[q](?a=1&copy=2)" },
		{ "<a href=\" /a b(c)\n/d \">x</a>", "[x](/a%20b%28c%29/d)" },
		{ "<a href=\"javascript:alert(1)\">J</a>", "J" },
		{ "<a href=\"  JavaScript:x\">J</a>", "J" },
		{ "<a href=\"java\tscript:x\">J</a>", "J" },
		{ "<a href=\"data:text/html,x\">D</a>", "D" },
		{ "<a href=\"#top\">T</a>", "T" },
		{ "<a href=\"\">E</a>", "E" },
		{ "<a name=x>no href</a>", "no href" },
		{ "a<a href=/x></a>b", "ab" },                              /* no text, no link */
		{ "<a href=/1>one<a href=/2>two</a>", "[one](/1)[two](/2)" },
		{ "<a href=/1>one", "[one](/1)" },                          /* closed at the end */
		{ "<a href=/u><p>a</p><p>b</p></a>", "[a\n\nb](/u)" },
		{ "<a href=\"/\"><img src=l.png alt=\"Logo\"></a>", "[[image: Logo]](/)" },
		{ "<a HREF='/s' href='/t'>s</a>", "[s](/s)" },               /* the first href */
		{ "<p><a href=/u>x</p>y</a>", "[x\n\ny](/u)" },
	};
	expect_cases(cases, N(cases));
}

static void images(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<img src=x alt=\"A &amp; B\">", "[image: A & B]" },
		{ "a <IMG ALT='  two\n words '> b", "a [image: two words] b" },
		{ "a<img alt=\"\">b<img src=x>c<img alt>d", "abcd" },
	};
	expect_cases(cases, N(cases));
}

static void dropped_content(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<script>x</script><style>y</style><noscript>z</noscript><template><p>t</p></template>"
		  "<svg><text>s</text></svg><iframe>i</iframe><object>o</object><math>m</math>"
		  "<audio>a</audio><video>v</video><canvas>c</canvas>ok", "ok" },
		{ "<head><meta charset=utf-8><link rel=x><title>T</title></head><body>b", "b" },
		{ "<!DOCTYPE html><?xml version=\"1.0\"?>a<![CDATA[secret > x]]>b", "ab" },
		{ "a<!-- <p>no</p> -->b", "ab" },
		{ "a<!-->b<!--->c<!---->d", "abcd" },
		{ "a<!-- x --!>b", "ab" },
		{ "a<!-- -- -> --->b", "ab" },
		{ "a</>b</ not a tag>c", "abc" },
		{ "<svg/>shown", "shown" },
		{ "<svg><svg></svg>still</svg>shown", "shown" },
		{ "<svg><script>a</svg>b", "b" },                           /* SVG's script is markup */
		{ "<template><script></template></script></template>shown", "shown" },
		{ "<object><svg></object>shown", "shown" },
		{ "<div hidden class=\"c\" style=\"x\" onclick=\"y\" data-a=\"z\">kept</div>", "kept" },
	};
	expect_cases(cases, N(cases));
}

static void title_apart(void **state)
{
	(void)state;
	static const struct {
		const char *in, *title, *text;
	} cases[] = {
		{ "<title> My  &amp;\n page </title>body", "My & page", "body" },
		{ "<title>A</title><title>B</title>", "A", "" },
		{ "<p>x</p><TITLE>late</TITLE>", "late", "x" },
		{ "<title>a <b>bold</b></title>", "a <b>bold</b>", "" },     /* its text has no tags */
		{ "<svg><title>icon</title></svg><title>Real</title>", "Real", "" },
		{ "<title>never closed", "never closed", "" },
		{ "no title", "", "no title" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct html_text t;
		convert(cases[i].in, strlen(cases[i].in), BIG_CAP, &t);
		assert_string_equal(t.title, cases[i].title);
		assert_string_equal(t.text, cases[i].text);
		html_text_free(&t);
	}
	/* a long title is cut between characters */
	char in[2048] = "<title>";
	for (int i = 0; i < 400; i++)
		strcat(in, "\xc3\xa9");
	struct html_text t;
	convert(in, strlen(in), BIG_CAP, &t);
	assert_int_equal(strlen(t.title), HTML_TITLE_MAX);
	html_text_free(&t);
}

static void numeric_references(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "&#65;&#x41;&#X41;&#65 &#x41x", "AAAA Ax" },              /* ';' optional */
		{ "&#0;|&#xD800;|&#xdfff;|&#x110000;", "\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd" },
		{ "&#99999999999999999999999999;", "\xef\xbf\xbd" },          /* no overflow */
		{ "&#x10FFFF;", "\xf4\x8f\xbf\xbf" },
		{ "&#128;&#x92;&#150;", "\xe2\x82\xac\xe2\x80\x99\xe2\x80\x93" }, /* as Windows-1252 */
		{ "a&#x81;&#27;&#1;b", "ab" },                              /* controls dropped */
		{ "&#233;t&#xe9;", "\xc3\xa9t\xc3\xa9" },
		{ "&#;&#x;&#xg;&#", "&#;&#x;&#xg;&#" },                      /* no digits: text */
		{ "a&#32;&#10;&#9;b", "a b" },
	};
	expect_cases(cases, N(cases));
}

static void named_references(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "&amp;&lt;&gt;&quot;&apos;&AMP;&LT;", "&<>\"'&<" },
		{ "&copy; &reg; &trade; &hellip; &mdash; &ndash; &euro; &pound; &yen; &cent;",
		  "\xc2\xa9 \xc2\xae \xe2\x84\xa2 \xe2\x80\xa6 \xe2\x80\x94 \xe2\x80\x93 \xe2\x82\xac \xc2\xa3 \xc2\xa5 \xc2\xa2" },
		{ "&lsquo;&rsquo;&ldquo;&rdquo;&laquo;&raquo;", "\xe2\x80\x98\xe2\x80\x99\xe2\x80\x9c\xe2\x80\x9d\xc2\xab\xc2\xbb" },
		{ "&bull;&middot;&deg;&times;&divide;&sect;&para;&plusmn;&frac12;",
		  "\xe2\x80\xa2\xc2\xb7\xc2\xb0\xc3\x97\xc3\xb7\xc2\xa7\xc2\xb6\xc2\xb1\xc2\xbd" },
		{ "&AElig;&eacute;&Eacute;&szlig;&zwnj;", "\xc3\x86\xc3\xa9\xc3\x89\xc3\x9f\xe2\x80\x8c" },
		{ "&copy 2024 &amp", "\xc2\xa9 2024 &" },                    /* HTML 4 names need no ';' */
		{ "&hellip &mdash", "&hellip &mdash" },                       /* newer ones do */
		{ "&bogus; &Amp; &amp2; &copyright;", "&bogus; &Amp; &amp2; &copyright;" },
		{ "AT&T & co &", "AT&T & co &" },
		{ "soft&shy;hy\xc2\xadphen", "softhyphen" },
	};
	expect_cases(cases, N(cases));
}

static void bytes_that_are_not_text(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "a\xff" "b\xc3(", "a\xef\xbf\xbd" "b\xef\xbf\xbd(" },
		{ "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd|"
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "end\xe2\x82", "end\xef\xbf\xbd\xef\xbf\xbd" },
		{ "a\x01" "b\x1b[2Jc\x7f" "d\xc2\x85" "e", "ab[2Jcde" },      /* controls dropped */
		{ "<a href=\"/\xff\">x</a><img alt=\"\xfe\">", "[x](/\xef\xbf\xbd)[image: \xef\xbf\xbd]" },
	};
	expect_cases(cases, N(cases));
	/* NUL bytes are dropped, in text and in markup */
	struct html_text t;
	convert("a\0b<p\0>c", 8, BIG_CAP, &t);
	assert_string_equal(t.text, "abc");
	html_text_free(&t);
}

static void tag_syntax(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "<P>a</P><DiV>b</dIv>", "a\n\nb" },
		{ "<a href='/s'>s</a> <a href=\"/d\">d</a> <a href=/u>u</a> <a href = \"/w\" >w</a>",
		  "[s](/s) [d](/d) [u](/u) [w](/w)" },
		{ "<a title=\"a>b\" href=\"/x>y\">t</a>", "[t](/x>y)" },   /* '>' inside quotes */
		{ "<a title=x/ href=/h/>t</a>", "[t](/h/)" },
		{ "a < b, 1<2, x <= y, <3", "a < b, 1<2, x <= y, <3" },
		{ "<script>a</SCRIPT>b", "b" },
		{ "<script>if (x</scriptx) y</script >z", "z" },
		{ "<style>a</style\n>b<STYLE>c</Style/>d", "bd" },
		{ "<scriptfoo>text</scriptfoo>", "text" },                  /* not a script */
		{ "<verylongelementname>t</verylongelementname>", "t" },
		{ "<p\nclass=a\n>x</p\n>", "x" },
		{ "<=p>x", "<=p>x" },
	};
	expect_cases(cases, N(cases));
}

static void unterminated_markup(void **state)
{
	(void)state;
	static const struct html_case cases[] = {
		{ "a<div class=", "a" },
		{ "a<a href='x", "a" },
		{ "a<a href=x", "a" },
		{ "a<!-- never closed <p>b", "a" },
		{ "a<script>x", "a" },
		{ "a<script>x</script", "a" },
		{ "a<!DOCTYPE", "a" },
		{ "a<![CDATA[x", "a" },
		{ "a<?php", "a" },
		{ "a<", "a<" },
		{ "a<b", "a" },
		{ "a&", "a&" },
		{ "a&#", "a&#" },
		{ "a&#x4", "a" },                                           /* U+0004, dropped */
		{ "a&#x41", "aA" },
	};
	expect_cases(cases, N(cases));
}

/* Builds n copies of unit, then tail, in a new string. */
static char *repeat(const char *head, const char *unit, size_t n, const char *tail, size_t *len)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1);
	assert_non_null(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(s + hl + i * ul, unit, ul);
	memcpy(s + hl + ul * n, tail, tl + 1);
	*len = hl + ul * n + tl;
	return s;
}

static void expect_big(const char *head, const char *unit, size_t n, const char *tail, const char *want)
{
	size_t len;
	char *in = repeat(head, unit, n, tail, &len);
	struct html_text t;
	convert(in, len, BIG_CAP, &t);
	if (strcmp(t.text, want) != 0)
		fail_msg("%s%s x %zu %s: got \"%.200s\"", head, unit, n, tail, t.text);
	html_text_free(&t);
	free(in);
}

static void hostile_inputs(void **state)
{
	(void)state;
	/* ten megabytes of '<': text, cut at the cap */
	size_t len;
	char *in = repeat("", "<", 10u << 20, "", &len);
	struct html_text t;
	convert(in, len, BIG_CAP, &t);
	assert_int_equal(t.len, BIG_CAP);
	assert_true(t.cut);
	assert_int_equal(strspn(t.text, "<"), BIG_CAP);
	html_text_free(&t);
	free(in);

	expect_big("", "<div>", 100000, "deep", "deep");
	expect_big("", "<div><p><span><b>", 100000, "deep", "deep");
	expect_big("", "<svg>", 100000, "dropped", "");
	expect_big("<p>a</p>", "<svg>", 100000, "", "a");
	expect_big("<svg>", "<svg></svg>", 100000, "</svg>shown", "shown");
	expect_big("", "<ul><li>", 100000, "x", "              - x");
	expect_big("", "<pre>", 100000, " x", " x");
	expect_big("", "<a href=/u>", 100000, "x", "[x](/u)");
	expect_big("", "<td>", 100000, "x",
		   "| | | | | | | | | | | | | | | | | | | | | | | | | | | | | | | | x");
	expect_big("a<!--", "-", 1u << 20, "", "a");                   /* unterminated comment */
	expect_big("a<!--", "--!", 1u << 18, "", "a");
	expect_big("a<script>", "x</scrip ", 1u << 17, "", "a");       /* a script that never ends */
	expect_big("<a href=\"", "a", 1u << 20, "\">text</a> after", "text after");
	expect_big("<p title=", "t", 1u << 20, ">text", "text");
	expect_big("<p ", "a ", 1u << 19, ">text", "text");            /* a million attributes */
	expect_big("&#", "9", 1u << 20, ";", "\xef\xbf\xbd");

	/* what only looks like references stays text */
	static const char *const units[] = { "&#x", "&a", "&am", "&#X", "&#;" };
	for (size_t i = 0; i < N(units); i++) {
		in = repeat("", units[i], (BIG_CAP - 2) / strlen(units[i]), "x;", &len);
		convert(in, len, BIG_CAP, &t);
		assert_int_equal(t.len, len);
		assert_memory_equal(t.text, in, len);
		html_text_free(&t);
		free(in);
	}

	/* a long alt is cut to fit */
	in = repeat("<img alt=\"", "\xc3\xa9", 1u << 19, "\">", &len);
	convert(in, len, BIG_CAP, &t);
	assert_true(t.len > 8 && t.len < 300);
	assert_memory_equal(t.text, "[image: ", 8);
	assert_int_equal(t.text[t.len - 1], ']');
	html_text_free(&t);
	free(in);
}

static void cap_cuts_whole_characters(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t max;
		const char *want;
		bool cut;
	} cases[] = {
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 3, "\xc3\xa9", true },          /* never half an é */
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 4, "\xc3\xa9\xc3\xa9", true },
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", 6, "\xc3\xa9\xc3\xa9\xc3\xa9", false },
		{ "\xe2\x82\xac", 2, "", true },
		{ "\xf0\x9f\x98\x80", 3, "", true },
		{ "a\xff", 3, "a", true },                                  /* nor half a U+FFFD */
		{ "abc", 0, "", true },
		{ "", 0, "", false },
		{ "<p> </p>", 0, "", false },                               /* nothing was left out */
		{ "ab  ", 2, "ab", false },
		{ "ab cd", 3, "ab", true },                                 /* the space waited for c */
		{ "<a href=/u>ab</a>", 5, "[ab", true },                     /* "](/u)" goes whole */
		{ "<a href=/u>ab</a>", 8, "[ab](/u)", false },
		{ "<h2>T</h2>", 3, "", true },                               /* "## T" goes whole */
		{ "<img alt=x>", 8, "", true },
		{ "<p>a</p><p>b</p>", 3, "a", true },
		{ "<title>T</title>abc", 1, "a", true },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct html_text t;
		convert(cases[i].in, strlen(cases[i].in), cases[i].max, &t);
		if (strcmp(t.text, cases[i].want) != 0 || t.cut != cases[i].cut)
			fail_msg("case %zu: got \"%s\" cut %d", i, t.text, t.cut);
		html_text_free(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whitespace_collapses),
		cmocka_unit_test(blocks_and_paragraphs),
		cmocka_unit_test(headings),
		cmocka_unit_test(lists),
		cmocka_unit_test(tables),
		cmocka_unit_test(preformatted),
		cmocka_unit_test(links),
		cmocka_unit_test(images),
		cmocka_unit_test(dropped_content),
		cmocka_unit_test(title_apart),
		cmocka_unit_test(numeric_references),
		cmocka_unit_test(named_references),
		cmocka_unit_test(bytes_that_are_not_text),
		cmocka_unit_test(tag_syntax),
		cmocka_unit_test(unterminated_markup),
		cmocka_unit_test(hostile_inputs),
		cmocka_unit_test(cap_cuts_whole_characters),
	};
	return cmocka_run_group_tests_name("html_text", tests, NULL, NULL);
}

/* Unit tests for the router (include/http/http.h): matching, captures, 405. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "http/http.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static enum MHD_Result dummy(struct http_req *req)
{
	(void)req;
	return MHD_YES;
}

/* Rows are named by index below. */
static const struct http_route routes[] = {
	{ "/api/health", HTTP_GET, HTTP_BODY_NONE, dummy, 0, 0 },                       /* 0 */
	{ "/api/chat", HTTP_POST, HTTP_BODY_JSON, dummy, 0, 0 },                        /* 1 */
	{ "/api/sessions/{id}", HTTP_GET | HTTP_DELETE, HTTP_BODY_NONE, dummy, 0, 0 },  /* 2 */
	{ "/api/sessions/{id}/files/{name}", HTTP_PUT, HTTP_BODY_RAW, dummy, 0, 0 },    /* 3 */
	{ "/api/head-only", HTTP_HEAD, HTTP_BODY_NONE, dummy, 0, 0 },                   /* 4 */
	{ "/api/*", HTTP_ANY, HTTP_BODY_NONE, dummy, 0, 0 },                            /* 5 */
	{ "/*", HTTP_GET, HTTP_BODY_NONE, dummy, 0, 0 },                                /* 6 */
	{ NULL, 0, 0, NULL, 0, 0 },
};

#define NO_ROUTE (-1)

struct lookup {
	const char *method, *path;
	int route;               /* index into routes, or NO_ROUTE */
	unsigned allowed;        /* expected *allowed when NO_ROUTE */
	const char *params[3];   /* expected captures, NULL-terminated */
};

static void check(const struct lookup *c)
{
	struct http_req req;
	memset(&req, 0, sizeof(req));
	unsigned allowed = 0xdead;
	const struct http_route *r = http_route_find(routes, http_method_parse(c->method), c->path,
						     &req, &allowed);
	int got = r == NULL ? NO_ROUTE : (int)(r - routes);
	if (got != c->route)
		fail_msg("%s %s: route %d, expected %d", c->method, c->path, got, c->route);
	if (r == NULL) {
		if (allowed != c->allowed)
			fail_msg("%s %s: allowed 0x%x, expected 0x%x", c->method, c->path, allowed, c->allowed);
		assert_int_equal(req.nparams, 0);
	}
	size_t n = 0;
	while (n < N(c->params) && c->params[n] != NULL)
		n++;
	if (r != NULL && req.nparams != n)
		fail_msg("%s %s: %zu params, expected %zu", c->method, c->path, req.nparams, n);
	for (size_t i = 0; r != NULL && i < n; i++)
		assert_string_equal(req.params[i], c->params[i]);
	http_req_free_params(&req);
	assert_int_equal(req.nparams, 0);
}

static void exact_matches(void **state)
{
	(void)state;
	static const struct lookup cases[] = {
		{ "GET", "/api/health", 0, 0, { NULL } },
		{ "POST", "/api/chat", 1, 0, { NULL } },
		{ "GET", "/api/healthz", 5, 0, { "healthz" } },
		{ "GET", "/api/health/", 5, 0, { "health/" } },
		{ "GET", "/API/health", 6, 0, { "API/health" } },
	};
	for (size_t i = 0; i < N(cases); i++)
		check(&cases[i]);
}

static void params_are_captured_and_decoded(void **state)
{
	(void)state;
	static const struct lookup cases[] = {
		{ "GET", "/api/sessions/abc", 2, 0, { "abc" } },
		{ "DELETE", "/api/sessions/a%20b", 2, 0, { "a b" } },
		{ "PUT", "/api/sessions/s1/files/r%C3%A9sum%C3%A9.txt", 3, 0, { "s1", "r\xc3\xa9sum\xc3\xa9.txt" } },
		/* an empty segment is not a value for {id}: the fallback takes it */
		{ "GET", "/api/sessions/", 5, 0, { "sessions/" } },
		/* one segment only */
		{ "GET", "/api/sessions/a/b", 5, 0, { "sessions/a/b" } },
	};
	for (size_t i = 0; i < N(cases); i++)
		check(&cases[i]);
}

/* A capture that does not decode cleanly makes its route not match; nothing later may
 * take it either, since every other candidate needs the same decoding. */
static void bad_captures_do_not_match(void **state)
{
	(void)state;
	static const struct lookup cases[] = {
		{ "GET", "/api/sessions/a%2Fb", NO_ROUTE, 0, { NULL } },
		{ "GET", "/api/sessions/a%2fb", NO_ROUTE, 0, { NULL } },
		{ "GET", "/api/sessions/%00", NO_ROUTE, 0, { NULL } },
		{ "GET", "/api/sessions/%zz", NO_ROUTE, 0, { NULL } },
		{ "GET", "/x/a%5Cb", NO_ROUTE, 0, { NULL } },
	};
	for (size_t i = 0; i < N(cases); i++)
		check(&cases[i]);
}

static void star_captures_the_rest(void **state)
{
	(void)state;
	static const struct lookup cases[] = {
		{ "GET", "/", 6, 0, { "" } },
		{ "GET", "/index.html", 6, 0, { "index.html" } },
		{ "GET", "/css/app%20x.css", 6, 0, { "css/app x.css" } },
		{ "POST", "/api/", 5, 0, { "" } },
		{ "DELETE", "/api/a/b/c", 5, 0, { "a/b/c" } },
	};
	for (size_t i = 0; i < N(cases); i++)
		check(&cases[i]);
}

/* The path has a route but not for this method: 405 with Allow, never the fallback. */
static void method_not_allowed(void **state)
{
	(void)state;
	static const struct lookup cases[] = {
		{ "POST", "/api/health", NO_ROUTE, HTTP_GET | HTTP_HEAD, { NULL } },
		{ "GET", "/api/chat", NO_ROUTE, HTTP_POST, { NULL } },
		{ "HEAD", "/api/chat", NO_ROUTE, HTTP_POST, { NULL } },
		{ "PUT", "/api/sessions/x", NO_ROUTE, HTTP_GET | HTTP_HEAD | HTTP_DELETE, { NULL } },
		{ "GET", "/api/sessions/x/files/y", NO_ROUTE, HTTP_PUT, { NULL } },
		{ "GET", "/api/head-only", NO_ROUTE, HTTP_HEAD, { NULL } },
		/* a path no route takes falls back even for odd methods */
		{ "BREW", "/api/coffee", 5, 0, { "coffee" } },
		{ "POST", "/index.html", NO_ROUTE, HTTP_GET | HTTP_HEAD, { NULL } },
	};
	for (size_t i = 0; i < N(cases); i++)
		check(&cases[i]);
}

static void head_allowed_where_get_is(void **state)
{
	(void)state;
	static const struct lookup cases[] = {
		{ "HEAD", "/api/health", 0, 0, { NULL } },
		{ "HEAD", "/api/sessions/s", 2, 0, { "s" } },
		{ "HEAD", "/api/head-only", 4, 0, { NULL } },
		{ "HEAD", "/app.js", 6, 0, { "app.js" } },
	};
	for (size_t i = 0; i < N(cases); i++)
		check(&cases[i]);
}

static void method_names(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		unsigned bit;
	} cases[] = {
		{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST }, { "PUT", HTTP_PUT },
		{ "DELETE", HTTP_DELETE }, { "PATCH", HTTP_PATCH }, { "OPTIONS", HTTP_OPTIONS },
		{ "get", HTTP_OTHER }, { "CONNECT", HTTP_OTHER }, { "", HTTP_OTHER },
	};
	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(http_method_parse(cases[i].name), cases[i].bit);
}

/* Every capture slot taken before the '*': the route cannot match, and nothing is
 * written past params[] (ASan would say so). */
static void captures_past_the_limit_do_not_match(void **state)
{
	(void)state;
	static const struct http_route deep[] = {
		{ "/{a}/{b}/{c}/{d}/*", HTTP_GET, HTTP_BODY_NONE, dummy, 0, 0 },
		{ NULL, 0, 0, NULL, 0, 0 },
	};
	const char *paths[] = { "/1/2/3/4/rest", "/1/2/3/4/" };
	for (size_t i = 0; i < N(paths); i++) {
		struct http_req req;
		unsigned allowed = 0;
		memset(&req, 0, sizeof(req));
		assert_null(http_route_find(deep, HTTP_GET, paths[i], &req, &allowed));
		assert_int_equal(req.nparams, 0);
		http_req_free_params(&req);
	}
}

static void methods_format(void **state)
{
	(void)state;
	static const struct {
		unsigned set;
		const char *text;
	} cases[] = {
		{ HTTP_GET | HTTP_HEAD, "GET, HEAD" },
		{ HTTP_POST, "POST" },
		{ HTTP_DELETE | HTTP_GET | HTTP_HEAD, "GET, HEAD, DELETE" },
		{ 0, "" },
		{ HTTP_OTHER, "" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		char buf[128];
		memset(buf, 'Z', sizeof(buf));
		http_methods_format(cases[i].set, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
	}
	/* A small buffer stays terminated and is not overrun. */
	char small[12];
	memset(small, 'Z', sizeof(small));
	http_methods_format(HTTP_GET | HTTP_HEAD | HTTP_POST, small, 8);
	assert_true(strlen(small) < 8);
	assert_int_equal(small[8], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exact_matches),
		cmocka_unit_test(params_are_captured_and_decoded),
		cmocka_unit_test(bad_captures_do_not_match),
		cmocka_unit_test(star_captures_the_rest),
		cmocka_unit_test(method_not_allowed),
		cmocka_unit_test(head_allowed_where_get_is),
		cmocka_unit_test(method_names),
		cmocka_unit_test(methods_format),
		cmocka_unit_test(captures_past_the_limit_do_not_match),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}

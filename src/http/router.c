/* Matching a method and path against the route table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/path.h"

static const struct {
	const char *name;
	unsigned bit;
} methods[] = {
	{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST }, { "PUT", HTTP_PUT },
	{ "DELETE", HTTP_DELETE }, { "PATCH", HTTP_PATCH }, { "OPTIONS", HTTP_OPTIONS },
};

unsigned http_method_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(name, methods[i].name) == 0)
			return methods[i].bit;
	return HTTP_OTHER;
}

const char *http_method_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (bit == methods[i].bit)
			return methods[i].name;
	return "OTHER";
}

void http_methods_format(unsigned set, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(set & methods[i].bit))
			continue;
		int n = snprintf(buf + len, size - len, "%s%s", len ? ", " : "", methods[i].name);
		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
	}
}

void http_req_free_params(struct http_req *req)
{
	for (size_t i = 0; i < req->nparams; i++)
		free(req->params[i]);
	req->nparams = 0;
}

/* Segment by segment: "{x}" takes one segment, a final "*" takes the rest (possibly
 * nothing). Captured segments are percent-decoded; one that does not decode cleanly
 * (an encoded '/', NUL or control byte) makes the path not match. */
static bool pattern_match(const char *pat, const char *path, struct http_req *req)
{
	http_req_free_params(req);
	while (*pat && *path) {
		if (pat[0] == '*' && pat[1] == '\0') {
			if (req->nparams == HTTP_MAX_PARAMS)
				return false;
			char *v = http_path_decode_segment(path, strlen(path), true);
			if (v == NULL)
				return false;
			req->params[req->nparams++] = v;
			return true;
		}
		if (*pat == '{') {
			const char *pend = strchr(pat, '}');
			size_t n = strcspn(path, "/");
			if (pend == NULL || n == 0 || req->nparams == HTTP_MAX_PARAMS)
				return false;
			char *v = http_path_decode_segment(path, n, false);
			if (v == NULL)
				return false;
			req->params[req->nparams++] = v;
			pat = pend + 1;
			path += n;
			continue;
		}
		if (*pat != *path)
			return false;
		pat++, path++;
	}
	if (pat[0] == '*' && pat[1] == '\0' && *path == '\0' && req->nparams < HTTP_MAX_PARAMS) {
		req->params[req->nparams++] = strdup("");
		return req->params[req->nparams - 1] != NULL;
	}
	return *pat == '\0' && *path == '\0';
}

const struct http_route *http_route_find(const struct http_route *routes, unsigned method,
					 const char *path, struct http_req *req, unsigned *allowed)
{
	unsigned want = method == HTTP_HEAD ? (HTTP_HEAD | HTTP_GET) : method;
	*allowed = 0;
	for (const struct http_route *r = routes; r->pattern != NULL; r++) {
		/* A pattern ending in '*' is a fallback: once a route for this very path
		 * turned the method down, the answer is 405, not the fallback. */
		size_t plen = strlen(r->pattern);
		if (*allowed != 0 && r->pattern[plen - 1] == '*')
			break;
		if (!pattern_match(r->pattern, path, req))
			continue;
		unsigned m = r->methods & HTTP_GET ? r->methods | HTTP_HEAD : r->methods;
		if (m & want)
			return r;
		*allowed |= m;
	}
	http_req_free_params(req);
	return NULL;
}

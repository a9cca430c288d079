/* The HTTP headers of a Streamable HTTP POST: see include/mcp/mcp.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/base64.h"
#include "core/json.h"
#include "mcp_int.h"

static int add(struct mcp_headers *h, struct ad_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int add(struct mcp_headers *h, struct ad_err *err, const char *fmt, ...)
{
	if (h->n == MCP_HEADERS_MAX)
		return ad_err_code(err, E2BIG, "more than %d MCP headers", MCP_HEADERS_MAX);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(h->line[h->n], MCP_HEADER_LEN, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= MCP_HEADER_LEN)
		return ad_err_code(err, E2BIG, "an MCP header longer than %d bytes", MCP_HEADER_LEN - 1);
	h->n++;
	return 0;
}

/* A value that can go into a header as it is: visible ASCII and inner spaces, and not
 * one that would read as the base64 form. */
static bool plain_value(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return !(strncmp(s, "=?base64?", 9) == 0 && len >= 11 && strcmp(s + len - 2, "?=") == 0);
}

/* Mcp-Name: the tool's name, or =?base64?...?= when it cannot go plain. */
static int add_name(struct mcp_headers *h, const char *name, struct ad_err *err)
{
	if (plain_value(name))
		return add(h, err, "Mcp-Name: %s", name);
	size_t len = strlen(name);
	char enc[MCP_HEADER_LEN];
	if (base64_encoded_len(len) + 1 > sizeof(enc))
		return ad_err_code(err, E2BIG, "a tool name of %zu bytes for the Mcp-Name header", len);
	base64_encode(name, len, enc);
	return add(h, err, "Mcp-Name: =?base64?%s?=", enc);
}

int mcp_http_headers(const struct mcp_client *c, const cJSON *msg, struct mcp_headers *h, struct ad_err *err)
{
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
	const char *method = json_str(msg, "method");
	const char *version = json_str(cJSON_GetObjectItemCaseSensitive(params, "_meta"), MCP_META_VERSION);
	h->n = 0;
	if (add(h, err, "Accept: application/json, text/event-stream") < 0 ||
	    add(h, err, "Content-Type: application/json") < 0)
		return -1;
	if (version != NULL) {
		/* 2026-07-28: the headers mirror the body, so that they cannot disagree */
		if (!plain_value(version) || method == NULL || !plain_value(method))
			return ad_err_code(err, EINVAL, "a request whose version or method cannot be a header");
		if (add(h, err, "MCP-Protocol-Version: %s", version) < 0 || add(h, err, "Mcp-Method: %s", method) < 0)
			return -1;
		const char *name = strcmp(method, "resources/read") == 0 ? json_str(params, "uri")
									 : json_str(params, "name");
		bool named = strcmp(method, "tools/call") == 0 || strcmp(method, "prompts/get") == 0 ||
			     strcmp(method, "resources/read") == 0;
		if (named && name == NULL)
			return ad_err_code(err, EINVAL, "a %s request without its name", method);
		return named ? add_name(h, name, err) : 0;
	}
	if (c->version[0] != '\0' && add(h, err, "MCP-Protocol-Version: %s", c->version) < 0)
		return -1;
	if (c->session[0] != '\0' && add(h, err, "Mcp-Session-Id: %s", c->session) < 0)
		return -1;
	return 0;
}

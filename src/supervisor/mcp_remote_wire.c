/* What goes to a remote MCP server and what comes back, without I/O: the configured
 * headers with ${VAR} expanded, and a response body read for its answer. See
 * include/supervisor/mcp_remote.h. */
#include "supervisor/mcp_remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "claude/sse.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/utf8.h"

#define VAR_NAME_MAX 128          /* a variable's name in "${...}" */
#define HEADER_NAME_MAX 128
#define KEPT_MAX 4096             /* of a body that is not an answer: the start, for its words */

/* ${VAR} expansion. */

static bool var_name(const char *s, size_t len)
{
	if (len == 0 || len > VAR_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
			return false;
	return true;
}

/* One pass over value: with out NULL, *len gets the expanded length; else out (room
 * for *len + 1 bytes) gets the text. Two passes rather than a growing buffer, so that
 * no copy of a secret is left behind in memory given back. */
static int expand_pass(const char *value, char *out, size_t *len, struct ad_err *err)
{
	size_t n = 0, room = out != NULL ? *len : MCP_REMOTE_HEADER_MAX;
	for (const char *p = value;;) {
		const char *dollar = strstr(p, "${");
		const char *piece = p, *name = NULL, *close = NULL;
		size_t plen = dollar != NULL ? (size_t)(dollar - p) : strlen(p);
		char var[VAR_NAME_MAX + 1];
		if (dollar == NULL && plen == 0)
			break;
		if (dollar != NULL && plen == 0) {
			name = dollar + 2;
			if ((close = strchr(name, '}')) == NULL)
				return ad_err_code(err, EINVAL, "a \"${\" without its \"}\"");
			if (!var_name(name, (size_t)(close - name)))
				return ad_err_code(err, EINVAL,
						   "\"${...}\" must hold a variable's name (letters, digits, '_')");
			memcpy(var, name, (size_t)(close - name));
			var[close - name] = '\0';
			piece = getenv(var);
			if (piece == NULL || piece[0] == '\0')
				return ad_err_code(err, ENOENT, "the environment variable %s %s", var,
						   piece == NULL ? "is not set" : "is empty");
			plen = strlen(piece);
		}
		if (plen > room - n)
			return out != NULL ? ad_err_code(err, EAGAIN, "the environment changed during the expansion")
					   : ad_err_code(err, E2BIG, "longer than %d bytes once expanded",
							 MCP_REMOTE_HEADER_MAX);
		if (out != NULL)
			memcpy(out + n, piece, plen);
		n += plen;
		p = close != NULL ? close + 1 : piece + plen;
	}
	if (out != NULL)
		out[n] = '\0';
	*len = n;
	return 0;
}

char *mcp_remote_expand(const char *value, struct ad_err *err)
{
	size_t len, again;
	if (expand_pass(value, NULL, &len, err) < 0)
		return NULL;
	char *out = malloc(len + 1);
	if (out == NULL)
		return ad_err_set(err, ENOMEM, "expanding a header"), NULL;
	again = len;
	if (expand_pass(value, out, &again, err) < 0 || again != len) {
		/* another thread's setenv() between the passes */
		explicit_bzero(out, len + 1);
		free(out);
		return ad_err_code(err, EAGAIN, "the environment changed during the expansion"), NULL;
	}
	return out;
}

/* The configured headers. */

static bool header_token(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > HEADER_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", s[i]) != NULL)
			return false;
	return true;
}

/* Headers that agentd sets, or that describe the body or the connection. */
static bool reserved(const char *name)
{
	static const char *const names[] = { "Accept", "Content-Type", "Content-Length", "Content-Encoding",
					     "Host", "Transfer-Encoding", "Connection", "Expect",
					     "Last-Event-ID", "Upgrade", "TE" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return strncasecmp(name, "Mcp-", 4) == 0;   /* the protocol's own: session, version, method ... */
}

static void wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void mcp_remote_headers_wipe(struct mcp_remote_headers *h)
{
	for (size_t i = 0; i < h->n; i++)
		wipe_free(h->line[i]);
	memset(h, 0, sizeof(*h));
}

static int header_line(const cJSON *it, const struct mcp_remote_headers *h, char **line, struct ad_err *err)
{
	const char *name = it->string;
	if (name == NULL || !header_token(name))
		return ad_err_code(err, EINVAL, "\"%.64s\" is not a header name", name != NULL ? name : "");
	if (reserved(name))
		return ad_err_code(err, EINVAL, "%s is a header agentd sets itself", name);
	size_t nlen = strlen(name);
	for (size_t i = 0; i < h->n; i++)   /* each line is "Name: value" or "Name;" */
		if (strncasecmp(h->line[i], name, nlen) == 0 && (h->line[i][nlen] == ':' || h->line[i][nlen] == ';'))
			return ad_err_code(err, EINVAL, "%s is given twice", name);
	if (!cJSON_IsString(it))
		return ad_err_code(err, EINVAL, "%s: the value must be a string", name);
	char *v = mcp_remote_expand(it->valuestring, err);
	if (v == NULL)
		return ad_err_prefix(err, "%s", name);
	size_t vlen = strlen(v), need = nlen + 2 + vlen + 1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char)v[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			wipe_free(v);
			return ad_err_code(err, EINVAL, "%s: the value holds a control character once expanded", name);
		}
	}
	*line = need > MCP_REMOTE_HEADER_MAX ? NULL : malloc(need);
	if (*line != NULL)
		/* an empty value is "Name;" to libcurl: "Name:" would remove the header */
		snprintf(*line, need, vlen > 0 ? "%s: %s" : "%s;", name, v);
	wipe_free(v);
	if (*line == NULL)
		return need > MCP_REMOTE_HEADER_MAX
			       ? ad_err_code(err, E2BIG, "%s: longer than %d bytes", name, MCP_REMOTE_HEADER_MAX)
			       : ad_err_set(err, ENOMEM, "%s", name);
	return 0;
}

int mcp_remote_headers_make(const cJSON *headers, struct mcp_remote_headers *h, struct ad_err *err)
{
	memset(h, 0, sizeof(*h));
	if (headers == NULL)
		return 0;
	if (!cJSON_IsObject(headers))
		return ad_err_code(err, EINVAL, "headers: an object of names and values is expected");
	const cJSON *it;
	cJSON_ArrayForEach(it, headers) {
		if (h->n == MCP_REMOTE_HEADERS_MAX) {
			mcp_remote_headers_wipe(h);
			return ad_err_code(err, E2BIG, "headers: more than %d", MCP_REMOTE_HEADERS_MAX);
		}
		char *line = NULL;
		if (header_line(it, h, &line, err) < 0) {
			mcp_remote_headers_wipe(h);
			return ad_err_prefix(err, "headers");
		}
		h->line[h->n++] = line;
	}
	return 0;
}

/* A response body. */

enum body_kind { BODY_JSON, BODY_SSE, BODY_OTHER };

struct mcp_remote_body {
	struct mcp_client *client;
	int64_t want;
	enum body_kind kind;
	bool html;                  /* BODY_OTHER: markup to leave out of the words */
	struct sse_parser *sse;
	struct buf kept;            /* JSON: the message; OTHER: its start */
	size_t total, cap;
	mcp_remote_request_fn on_request;
	void *ctx;
	struct mcp_msg answer;
	bool answered, list_changed, failed;
	struct ad_err err;          /* why it failed */
};

static bool type_is(const char *type, const char *want)
{
	size_t n = strlen(want);
	return type != NULL && strncasecmp(type, want, n) == 0 && (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

struct mcp_remote_body *mcp_remote_body_new(struct mcp_client *c, int64_t want, const char *content_type,
					    mcp_remote_request_fn on_request, void *ctx)
{
	struct mcp_remote_body *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	b->client = c;
	b->want = want;
	b->on_request = on_request;
	b->ctx = ctx;
	b->kind = type_is(content_type, "application/json") ? BODY_JSON
		  : type_is(content_type, "text/event-stream") ? BODY_SSE : BODY_OTHER;
	b->html = b->kind == BODY_OTHER && content_type != NULL && strstr(content_type, "html") != NULL;
	b->cap = b->kind == BODY_SSE ? MCP_REMOTE_BODY_MAX : MCP_MESSAGE_MAX;
	buf_init(&b->kept, b->kind == BODY_JSON ? MCP_MESSAGE_MAX : KEPT_MAX);
	if (b->kind == BODY_SSE && (b->sse = sse_parser_new(MCP_MESSAGE_MAX)) == NULL) {
		free(b);
		return NULL;
	}
	return b;
}

void mcp_remote_body_free(struct mcp_remote_body *b)
{
	if (b == NULL)
		return;
	sse_parser_free(b->sse);
	buf_free(&b->kept);
	mcp_msg_free(&b->answer);
	free(b);
}

bool mcp_remote_body_answered(const struct mcp_remote_body *b)
{
	return b->answered;
}

bool mcp_remote_body_list_changed(const struct mcp_remote_body *b)
{
	return b->list_changed;
}

/* A message read from the body: the answer is kept, the rest handled and dropped. */
static int take(struct mcp_remote_body *b, struct mcp_msg *m, struct ad_err *err)
{
	int rc = 0;
	if ((m->kind == MCP_MSG_RESULT || m->kind == MCP_MSG_ERROR) && (m->id == b->want || m->id == 0)) {
		b->answer = *m;
		b->answered = true;
		return 0;
	}
	if (m->kind == MCP_MSG_NOTIFICATION && strcmp(m->method, MCP_TOOLS_LIST_CHANGED) == 0)
		b->list_changed = true;
	else if (m->kind == MCP_MSG_REQUEST && b->on_request != NULL)
		rc = b->on_request(b->ctx, m, err);
	else if (m->kind == MCP_MSG_RESULT || m->kind == MCP_MSG_ERROR)
		log_warn("mcp: the answer to request %lld came with that to %lld: dropped", (long long)m->id,
			 (long long)b->want);
	mcp_msg_free(m);
	return rc;
}

static int on_event(void *ctx, const char *event, const char *data, size_t len, struct ad_err *err)
{
	struct mcp_remote_body *b = ctx;
	struct mcp_msg m;
	/* an event of another name is not MCP's; one without data primes a reconnection */
	if (b->answered || strcmp(event, "message") != 0 || len == 0)
		return 0;
	if (mcp_read(b->client, data, len, &m, err) < 0)
		return ad_err_prefix(err, "an event of the stream");
	return take(b, &m, err);
}

static int fail(struct mcp_remote_body *b, struct ad_err *err)
{
	b->failed = true;
	b->err = *err;
	return -1;
}

int mcp_remote_body_feed(struct mcp_remote_body *b, const char *data, size_t len, struct ad_err *err)
{
	if (b->failed) {
		*err = b->err;
		return -1;
	}
	if (b->answered)
		return 0;
	if (len > b->cap - b->total) {
		ad_err_code(err, EMSGSIZE, "a response of more than %zu bytes", b->cap);
		return fail(b, err);
	}
	b->total += len;
	if (b->kind == BODY_SSE)
		return sse_parser_feed(b->sse, data, len, on_event, b, err) < 0 ? fail(b, err) : 0;
	buf_append(&b->kept, data, len);
	if (b->kept.oom) {
		ad_err_set(err, ENOMEM, "reading a response");
		return fail(b, err);
	}
	return 0;
}

int mcp_remote_body_end(struct mcp_remote_body *b, struct mcp_msg *answer, struct ad_err *err)
{
	if (b->failed) {
		*err = b->err;
		return -1;
	}
	if (b->kind == BODY_JSON && b->kept.len > 0 && !b->answered) {
		struct mcp_msg m;
		if (mcp_read(b->client, b->kept.data, b->kept.len, &m, err) < 0 || take(b, &m, err) < 0)
			return fail(b, err);
	}
	if (!b->answered)
		return 0;
	*answer = b->answer;
	memset(&b->answer, 0, sizeof(b->answer));
	b->answered = false;
	return 1;
}

void mcp_remote_body_words(const struct mcp_remote_body *b, char *out, size_t size)
{
	char flat[MCP_REMOTE_WORDS_MAX + 1];
	size_t n = 0;
	bool tag = false, space = true;
	for (const char *s = buf_str(&b->kept); *s != '\0' && n < sizeof(flat) - 1; s++) {
		char c = *s;
		if (b->html && (c == '<' || tag)) {
			tag = c != '>';
			c = ' ';            /* a tag parts words */
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (!space)
				flat[n++] = ' ';
			space = true;
			continue;
		}
		flat[n++] = c;
		space = false;
	}
	while (n > 0 && flat[n - 1] == ' ')
		n--;
	flat[n] = '\0';
	utf8_sanitise(flat, out, size < sizeof(flat) ? size : sizeof(flat));
}

/* The model's names for MCP tools, mcp__<server>__<tool>, and the way back: see
 * include/mcp/mcp.h.
 *
 * The Messages API takes names of 1 to 64 characters of [A-Za-z0-9_-]. A tool keeps
 * the plain name when it fits and no other tool would have it; otherwise the name is
 * cut and ends in _ and 8 hex digits of SHA-256(server NUL tool), and should two names
 * still meet, all but the first of them (in the order of server and tool names) are
 * hashed again with a round number. Every step looks only at the set of tools, so a
 * server listing its tools in another order changes no name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "toolset_int.h"

#define PREFIX "mcp__"
#define BASE_MAX (sizeof(PREFIX) + MCP_SERVER_NAME_MAX + 2 + MCP_TOOL_NAME_MAX)
#define HASH_HEX 8
#define ROUNDS 4     /* rehash rounds before a tool is left without a name */

static void sanitize(const char *in, char *out)
{
	for (; *in != '\0'; in++, out++) {
		char ch = *in;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '_' || ch == '-';
		*out = ok ? ch : '_';
	}
	*out = '\0';
}

/* mcp__<server>__<tool>, sanitized, whatever its length. */
static void base_name(const struct mcp_toolset *ts, const struct mcp_tool *t, char out[BASE_MAX])
{
	char server[MCP_SERVER_NAME_MAX + 1], tool[MCP_TOOL_NAME_MAX + 1];
	sanitize(ts->servers[t->server].name, server);
	sanitize(t->name, tool);
	snprintf(out, BASE_MAX, PREFIX "%s__%s", server, tool);
}

/* base cut so that _<8 hex> follows within the limit; round 0 is the first hash. */
static void hashed_name(const struct mcp_toolset *ts, const struct mcp_tool *t, const char *base, unsigned round,
			char out[MCP_API_NAME_MAX + 1])
{
	const char *server = ts->servers[t->server].name;
	struct sha256 h;
	uint8_t digest[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];
	unsigned char r = (unsigned char)round;
	sha256_init(&h);
	sha256_update(&h, server, strlen(server) + 1);
	sha256_update(&h, t->name, strlen(t->name));
	if (round > 0)
		sha256_update(&h, &r, 1);
	sha256_final(&h, digest);
	hex_encode(digest, HASH_HEX / 2, hex);
	snprintf(out, MCP_API_NAME_MAX + 1, "%.*s_%s", (int)(MCP_API_NAME_MAX - 1 - HASH_HEX), base, hex);
}

/* What the sort compares: the set, and the names (base names, or the model names when
 * NULL). */
struct sorting {
	const struct mcp_toolset *ts;
	const char (*names)[BASE_MAX];
};

/* By name, then by server and tool, so that equal names come in one fixed order. */
static int by_name(const void *a, const void *b, void *arg)
{
	const struct sorting *s = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	const struct mcp_tool *ti = &s->ts->tools[i], *tj = &s->ts->tools[j];
	int d = s->names != NULL ? strcmp(s->names[i], s->names[j]) : strcmp(ti->api, tj->api);
	if (d == 0)
		d = strcmp(s->ts->servers[ti->server].name, s->ts->servers[tj->server].name);
	return d != 0 ? d : strcmp(ti->name, tj->name);
}

static void sort(const struct mcp_toolset *ts, size_t *idx, const char (*names)[BASE_MAX])
{
	struct sorting s = { ts, names };
	for (size_t i = 0; i < ts->ntools; i++)
		idx[i] = i;
	qsort_r(idx, ts->ntools, sizeof(*idx), by_name, &s);
}

/* Rehash all but the first of each run of equal names; true when there was none. */
static bool part_equal(struct mcp_toolset *ts, const size_t *idx, const char (*base)[BASE_MAX], unsigned round)
{
	bool unique = true;
	for (size_t k = 1; k < ts->ntools; k++) {
		struct mcp_tool *t = &ts->tools[idx[k]];
		if (t->api[0] == '\0' || strcmp(t->api, ts->tools[idx[k - 1]].api) != 0)
			continue;
		unique = false;
		if (round < ROUNDS) {
			hashed_name(ts, t, base[idx[k]], round + 1, t->api);
		} else {
			struct mcp_server_list *s = &ts->servers[t->server];
			mcp_toolset_skip(s, "%.64s: no unique name for the model", t->name);
			s->count -= s->count > 0;
			t->api[0] = '\0';
		}
	}
	return unique;
}

int mcp_toolset_name(struct mcp_toolset *ts)
{
	if (ts->named)
		return 0;
	size_t n = ts->ntools;
	char (*base)[BASE_MAX] = malloc((n ? n : 1) * sizeof(*base));
	size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	if (base == NULL || idx == NULL) {
		free(base);
		free(idx);
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		base_name(ts, &ts->tools[i], base[i]);
	/* the plain name for those that fit it alone */
	sort(ts, idx, (const char (*)[BASE_MAX])base);
	for (size_t k = 0; k < n; k++) {
		size_t i = idx[k];
		bool shared = (k > 0 && strcmp(base[i], base[idx[k - 1]]) == 0) ||
			      (k + 1 < n && strcmp(base[i], base[idx[k + 1]]) == 0);
		if (!shared && strlen(base[i]) <= MCP_API_NAME_MAX)
			snprintf(ts->tools[i].api, sizeof(ts->tools[i].api), "%s", base[i]);
		else
			hashed_name(ts, &ts->tools[i], base[i], 0, ts->tools[i].api);
	}
	/* names that still meet (a plain name equal to a hashed one, a hash collision) */
	for (unsigned round = 0; round <= ROUNDS; round++) {
		sort(ts, idx, NULL);
		if (part_equal(ts, idx, (const char (*)[BASE_MAX])base, round))
			break;
	}
	sort(ts, idx, NULL);
	free(base);
	size_t named = 0;
	for (size_t k = 0; k < n; k++)
		if (ts->tools[idx[k]].api[0] != '\0')
			idx[named++] = idx[k];
	free(ts->by_api);
	ts->by_api = idx;
	ts->nby_api = named;
	ts->named = true;
	return 0;
}

int mcp_toolset_find(struct mcp_toolset *ts, const char *name, const char **server, const char **tool)
{
	if (mcp_toolset_name(ts) < 0)
		return -1;
	size_t lo = 0, hi = name != NULL ? ts->nby_api : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mcp_tool *t = &ts->tools[ts->by_api[mid]];
		int d = strcmp(name, t->api);
		if (d == 0) {
			*server = ts->servers[t->server].name;
			*tool = t->name;
			return 0;
		}
		if (d < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	errno = ENOENT;
	return -1;
}

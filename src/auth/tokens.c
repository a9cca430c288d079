/* API tokens in memory: the store's format, AGENTD_TOKENS, making a token, and the
 * comparison that decides whether a request is let in. See include/auth/tokens.h. */
#include "auth/tokens.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/json.h"
#include "core/sha256.h"

#define CREATED_MAX 24               /* "2025-01-31T12:00:00Z" and its NUL */
#define ENV_TOKEN_MAX 512            /* a token from AGENTD_TOKENS, in bytes */

struct token {
	char name[TOKEN_NAME_MAX + 1];
	uint8_t digest[SHA256_LEN];
	char created[CREATED_MAX];       /* "" for AGENTD_TOKENS */
	bool env;                        /* from AGENTD_TOKENS: never written to the store */
	bool admin;                      /* may use the admin API (never an env token) */
};

struct token_set {
	struct token *v;
	size_t n, cap;
};

static int from_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		const char *d = strchr("0123456789abcdef", s[i]);
		if (s[i] == '\0' || d == NULL)
			return -1;
		unsigned v = (unsigned)(d - "0123456789abcdef");
		out[i / 2] = (uint8_t)(i % 2 ? (out[i / 2] | v) : v << 4);
	}
	return 0;
}

struct token_set *token_set_new(void)
{
	return calloc(1, sizeof(struct token_set));
}

void token_set_free(struct token_set *ts)
{
	if (ts == NULL)
		return;
	free(ts->v);
	free(ts);
}

int token_name_check(const char *name, struct ad_err *err)
{
	size_t n = strlen(name);
	if (n == 0 || n > TOKEN_NAME_MAX)
		return ad_err_set(err, 0, "a token name is 1 to %d characters", TOKEN_NAME_MAX);
	if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
		return ad_err_set(err, 0, "token name \"%.64s\": letters, digits, '.', '_' and '-' only", name);
	if (strcmp(name, TOKEN_ANONYMOUS) == 0 || strncmp(name, TOKEN_ENV_PREFIX, strlen(TOKEN_ENV_PREFIX)) == 0)
		return ad_err_set(err, 0, "token name \"%s\" is kept for agentd (anonymous access, "
				  "AGENTD_TOKENS); choose another", name);
	return 0;
}

static int insert(struct token_set *ts, const char *name, const uint8_t digest[SHA256_LEN],
		  const char *created, bool env, bool admin, struct ad_err *err)
{
	for (size_t i = 0; i < ts->n; i++) {
		if (memcmp(ts->v[i].digest, digest, SHA256_LEN) == 0)
			return ad_err_set(err, 0, "token \"%s\" is the same as token \"%s\"", name, ts->v[i].name);
		if (strcmp(ts->v[i].name, name) == 0)
			return ad_err_set(err, 0, "a token named \"%s\" already exists", name);
	}
	if (ts->n >= TOKENS_MAX)
		return ad_err_set(err, 0, "more than %d tokens", TOKENS_MAX);
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 8;
		struct token *v = realloc(ts->v, cap * sizeof(*v));
		if (v == NULL)
			return ad_err_set(err, ENOMEM, "tokens");
		ts->v = v;
		ts->cap = cap;
	}
	struct token *t = &ts->v[ts->n++];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	memcpy(t->digest, digest, SHA256_LEN);
	snprintf(t->created, sizeof(t->created), "%s", created);
	t->env = env;
	t->admin = admin && !env;
	return 0;
}

/* {"name": "alice", "sha256": "<64 hex>", "created": "2025-01-31T12:00:00Z", "admin"?: true} */
static int parse_entry(struct token_set *ts, const cJSON *e, struct ad_err *err)
{
	if (!cJSON_IsObject(e))
		return ad_err_set(err, 0, "not an object");
	const char *name = NULL, *hash = NULL, *created = NULL;
	const cJSON *f, *admin = NULL;
	cJSON_ArrayForEach(f, e) {
		const char **slot = strcmp(f->string, "name") == 0 ? &name
				  : strcmp(f->string, "sha256") == 0 ? &hash
				  : strcmp(f->string, "created") == 0 ? &created : NULL;
		if (strcmp(f->string, "admin") == 0) {
			admin = f;
			continue;
		}
		if (slot == NULL)
			return ad_err_set(err, 0, "unknown field \"%s\"", f->string);
		if (!cJSON_IsString(f))
			return ad_err_set(err, 0, "\"%s\" must be a string", f->string);
		*slot = f->valuestring;
	}
	if (name == NULL || hash == NULL || created == NULL)
		return ad_err_set(err, 0, "\"name\", \"sha256\" and \"created\" are all required");
	if (token_name_check(name, err) < 0)
		return -1;
	if (admin != NULL && !cJSON_IsBool(admin))
		return ad_err_set(err, 0, "token \"%s\": \"admin\" must be true or false (no quotes)", name);
	uint8_t digest[SHA256_LEN];
	if (from_hex(hash, digest, SHA256_LEN) < 0)
		return ad_err_set(err, 0, "token \"%s\": \"sha256\" must be 64 lowercase hex digits", name);
	struct tm tm;
	const char *end = strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != '\0' || strlen(created) >= CREATED_MAX)
		return ad_err_set(err, 0, "token \"%s\": \"created\" must be a date like 2025-01-31T12:00:00Z", name);
	return insert(ts, name, digest, created, false, cJSON_IsTrue(admin), err);
}

int token_set_parse(struct token_set **out, const char *text, size_t len, struct ad_err *err)
{
	_cleanup_cjson_ cJSON *root = NULL;
	if (json_parse_strict(text, len, &root, err) < 0)
		return -1;
	if (!cJSON_IsObject(root))
		return ad_err_set(err, 0, "not a JSON object");
	const cJSON *item, *list = NULL;
	cJSON_ArrayForEach(item, root) {
		if (strcmp(item->string, "tokens") == 0)
			list = item;
		else if (item->string[0] != '_')       /* keys starting with '_' are comments */
			return ad_err_set(err, 0, "unknown key \"%s\"", item->string);
	}
	if (!cJSON_IsArray(list))
		return ad_err_set(err, 0, "\"tokens\" must be an array");
	struct token_set *ts = token_set_new();
	if (ts == NULL)
		return ad_err_set(err, ENOMEM, "tokens");
	size_t i = 0;
	cJSON_ArrayForEach(item, list) {
		if (parse_entry(ts, item, err) < 0) {
			token_set_free(ts);
			return ad_err_prefix(err, "entry %zu", i + 1);
		}
		i++;
	}
	*out = ts;
	return 0;
}

char *token_set_format(const struct token_set *ts)
{
	_cleanup_cjson_ cJSON *root = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "_comment", "agentd's API tokens (agentd token add/list/remove): "
				"names and SHA-256 hashes only, the tokens themselves are not kept");
	cJSON *list = cJSON_AddArrayToObject(root, "tokens");
	for (size_t i = 0; list != NULL && i < ts->n; i++) {
		const struct token *t = &ts->v[i];
		char hex[SHA256_HEX_LEN + 1];
		cJSON *e = cJSON_CreateObject();
		if (t->env || e == NULL) {
			cJSON_Delete(e);
			continue;
		}
		hex_encode(t->digest, SHA256_LEN, hex);
		cJSON_AddStringToObject(e, "name", t->name);
		cJSON_AddStringToObject(e, "sha256", hex);
		cJSON_AddStringToObject(e, "created", t->created);
		if (t->admin)                  /* absent: not an admin, as in stores made before */
			cJSON_AddTrueToObject(e, "admin");
		cJSON_AddItemToArray(list, e);
	}
	char *text = list != NULL ? cJSON_Print(root) : NULL;
	size_t n = text ? strlen(text) : 0;
	char *out = text ? malloc(n + 2) : NULL;     /* with the final newline of a text file */
	if (out != NULL)
		memcpy(out, text, n), memcpy(out + n, "\n", 2);
	cJSON_free(text);
	return out;
}

/* An AGENTD_TOKENS token's name, "env-" and 16 hex digits of the SHA-256 of its digest:
 * the same token has the same name whatever its place in the list, and another token
 * another name, so a session owned by a token that was taken out of the list is
 * nobody's (a name by position handed it to whichever token came to stand there). The
 * hash of the hash, not a prefix of the digest itself: the name is logged and the
 * digest is what requests are compared with. 64 bits: two of TOKENS_MAX tokens meet
 * by chance about once in 10^12 lists, and insert() refuses it when they do. */
static void env_name(const uint8_t digest[SHA256_LEN], char name[TOKEN_NAME_MAX + 1])
{
	uint8_t again[SHA256_LEN];
	sha256(digest, SHA256_LEN, again);
	memcpy(name, TOKEN_ENV_PREFIX, strlen(TOKEN_ENV_PREFIX));
	hex_encode(again, TOKEN_ENV_NAME_BYTES, name + strlen(TOKEN_ENV_PREFIX));
}

int token_set_add_env(struct token_set *ts, const char *list, struct ad_err *err)
{
	static const char blank[] = " \t\r\n";
	if (list == NULL || list[strspn(list, blank)] == '\0')
		return 0;
	size_t item = 0;
	for (const char *p = list;; p++) {
		const char *end = strchrnul(p, ',');
		p += strspn(p, blank);
		size_t n = (size_t)(end - p);
		while (n > 0 && strchr(blank, p[n - 1]) != NULL)
			n--;
		item++;
		if (n == 0 || n > ENV_TOKEN_MAX)
			return ad_err_set(err, 0, "AGENTD_TOKENS: item %zu is %s", item,
					  n ? "longer than 512 bytes" : "empty");
		for (size_t i = 0; i < n; i++)   /* it is compared with an HTTP header's value */
			if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
				return ad_err_set(err, 0, "AGENTD_TOKENS: item %zu has a character that is "
						  "not printable ASCII (at %zu)", item, i);
		char name[TOKEN_NAME_MAX + 1];
		uint8_t digest[SHA256_LEN];
		sha256(p, n, digest);
		env_name(digest, name);
		if (insert(ts, name, digest, "", true, false, err) < 0)
			return ad_err_prefix(err, "AGENTD_TOKENS: item %zu", item);
		if (*end == '\0')
			return 0;
		p = end;
	}
}

int token_set_make(struct token_set *ts, const char *name, bool admin, char *token, struct ad_err *err)
{
	if (token_name_check(name, err) < 0)
		return -1;
	uint8_t rnd[TOKEN_RANDOM_BYTES];
	ssize_t got;
	while ((got = getrandom(rnd, sizeof(rnd), 0)) < 0 && errno == EINTR)
		;
	if (got != (ssize_t)sizeof(rnd))
		return ad_err_sys(err, "getrandom");
	memcpy(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
	hex_encode(rnd, sizeof(rnd), token + strlen(TOKEN_PREFIX));
	explicit_bzero(rnd, sizeof(rnd));

	uint8_t digest[SHA256_LEN];
	char created[CREATED_MAX];
	struct tm tm;
	time_t now = time(NULL);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	sha256(token, TOKEN_LEN, digest);
	if (insert(ts, name, digest, created, false, admin, err) < 0) {
		explicit_bzero(token, TOKEN_LEN + 1);
		return -1;
	}
	return 0;
}

int token_set_remove(struct token_set *ts, const char *name, struct ad_err *err)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!ts->v[i].env && strcmp(ts->v[i].name, name) == 0) {
			memmove(&ts->v[i], &ts->v[i + 1], (ts->n - i - 1) * sizeof(ts->v[0]));
			ts->n--;
			return 0;
		}
	return ad_err_set(err, 0, "no token named \"%.64s\"", name);
}

size_t token_set_count(const struct token_set *ts)
{
	return ts != NULL ? ts->n : 0;
}

const char *token_set_name(const struct token_set *ts, size_t i)
{
	return ts->v[i].name;
}

const char *token_set_created(const struct token_set *ts, size_t i)
{
	return ts->v[i].created;
}

bool token_set_admin(const struct token_set *ts, size_t i)
{
	return ts->v[i].admin;
}

/* Timing-safe by construction: the presented token is hashed once, and its digest is
 * compared with every stored digest, each byte of each, with no early exit and no
 * branch on the data (differences are OR-ed together, the first match is picked with
 * masks). The time taken depends only on the number of tokens, so it tells an attacker
 * nothing about how close a guess came; and what is compared are hashes, whose
 * prefixes say nothing about the token's prefixes anyway. */
const char *token_set_match(const struct token_set *ts, const char *token, size_t len, bool *admin)
{
	if (ts == NULL || ts->n == 0)
		return NULL;
	uint8_t d[SHA256_LEN];
	sha256(token, len, d);
	size_t found = 0;
	unsigned matched = 0;
	for (size_t i = 0; i < ts->n; i++) {
		unsigned diff = 0;
		for (size_t j = 0; j < SHA256_LEN; j++)
			diff |= (unsigned)(d[j] ^ ts->v[i].digest[j]);
		unsigned equal = ((diff - 1) >> 8) & 1;           /* diff is 0..255: 1 when 0 */
		size_t take = (size_t)0 - (size_t)(equal & (matched ^ 1));
		found = (found & ~take) | (i & take);
		matched |= equal;
	}
	explicit_bzero(d, sizeof(d));
	if (admin != NULL)             /* read after the loop: the role says nothing of the match */
		*admin = matched && ts->v[found].admin;
	return matched ? ts->v[found].name : NULL;
}

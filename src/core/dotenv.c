/* .env parsing: see include/core/dotenv.h. */
#include "core/dotenv.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/cleanup.h"
#include "core/log.h"
#include "core/statefile.h"

#define DOTENV_MAX_BYTES (64 * 1024)
#define DOTENV_MAX_VARS 256

struct dotenv_var {
	char *key;
	char *value;
};

struct dotenv {
	struct dotenv_var vars[DOTENV_MAX_VARS];
	size_t count;
};

static bool key_valid(const char *k, size_t n)
{
	if (n == 0 || isdigit((unsigned char)k[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '_')
			return false;
	return true;
}

/* Decode a value starting at p (line without its newline, length n) into out. */
static int parse_value(const char *p, size_t n, char *out, size_t lineno, struct ad_err *err)
{
	size_t o = 0;
	if (n > 0 && (p[0] == '\'' || p[0] == '"')) {
		char q = p[0];
		size_t i = 1;
		for (; i < n && p[i] != q; i++) {
			if (q == '"' && p[i] == '\\' && i + 1 < n) {
				char c = p[++i];
				out[o++] = c == 'n' ? '\n' : c == 't' ? '\t' : c;
			} else {
				out[o++] = p[i];
			}
		}
		if (i >= n)
			return ad_err_set(err, 0, "line %zu: missing closing %c", lineno, q);
		for (i++; i < n; i++) {
			if (p[i] == '#')
				break;
			if (!isspace((unsigned char)p[i]))
				return ad_err_set(err, 0, "line %zu: text after the closing quote", lineno);
		}
	} else {
		/* Unquoted: up to a " #" comment, trailing blanks dropped. */
		for (size_t i = 0; i < n; i++) {
			if (p[i] == '#' && (i == 0 || isspace((unsigned char)p[i - 1])))
				break;
			out[o++] = p[i];
		}
		while (o > 0 && isspace((unsigned char)out[o - 1]))
			o--;
	}
	out[o] = '\0';
	return 0;
}

static int add_var(struct dotenv *env, const char *k, size_t kn, const char *v, size_t lineno,
		   struct ad_err *err)
{
	for (size_t i = 0; i < env->count; i++) {
		if (strlen(env->vars[i].key) == kn && memcmp(env->vars[i].key, k, kn) == 0) {
			char *nv = strdup(v);
			if (nv == NULL)
				return ad_err_set(err, ENOMEM, "line %zu", lineno);
			free(env->vars[i].value);
			env->vars[i].value = nv;   /* the last assignment wins, as in a shell */
			return 0;
		}
	}
	if (env->count == DOTENV_MAX_VARS)
		return ad_err_set(err, 0, "line %zu: more than %d variables", lineno, DOTENV_MAX_VARS);
	struct dotenv_var *var = &env->vars[env->count];
	/* k is not NUL-terminated: a bounded copy, not strndup() */
	var->key = malloc(kn + 1);
	if (var->key != NULL) {
		memcpy(var->key, k, kn);
		var->key[kn] = '\0';
	}
	var->value = strdup(v);
	if (var->key == NULL || var->value == NULL) {
		free(var->key);
		free(var->value);
		return ad_err_set(err, ENOMEM, "line %zu", lineno);
	}
	env->count++;
	return 0;
}

static int parse_lines(const char *text, size_t len, char *val, struct dotenv **out, struct ad_err *err);

int dotenv_parse(const char *text, size_t len, struct dotenv **out, struct ad_err *err)
{
	if (len > DOTENV_MAX_BYTES)
		return ad_err_set(err, 0, "larger than %d bytes", DOTENV_MAX_BYTES);
	if (memchr(text, '\0', len) != NULL)
		return ad_err_set(err, 0, "contains a NUL byte");
	char *val = malloc(len + 1);       /* each value as decoded: the key among them */
	if (val == NULL)
		return ad_err_set(err, ENOMEM, "parse");
	int rc = parse_lines(text, len, val, out, err);
	explicit_bzero(val, len + 1);
	free(val);
	return rc;
}

static int parse_lines(const char *text, size_t len, char *val, struct dotenv **out, struct ad_err *err)
{
	struct dotenv *env = calloc(1, sizeof(*env));
	if (env == NULL)
		return ad_err_set(err, ENOMEM, "parse");
	size_t lineno = 0;
	for (const char *line = text; line < text + len;) {
		const char *nl = memchr(line, '\n', (size_t)(text + len - line));
		const char *end = nl ? nl : text + len;
		lineno++;
		const char *p = line;
		while (p < end && isspace((unsigned char)*p))
			p++;
		const char *e = end;
		while (e > p && (e[-1] == '\r'))
			e--;
		if (p < e && *p != '#') {
			if ((size_t)(e - p) > 7 && memcmp(p, "export", 6) == 0 && isspace((unsigned char)p[6]))
				for (p += 6; p < e && isspace((unsigned char)*p);)
					p++;
			const char *eq = memchr(p, '=', (size_t)(e - p));
			size_t kn = eq ? (size_t)(eq - p) : 0;
			while (kn > 0 && isspace((unsigned char)p[kn - 1]))
				kn--;
			if (eq == NULL || !key_valid(p, kn)) {
				dotenv_free(env);
				return ad_err_set(err, 0, "line %zu: expected NAME=value", lineno);
			}
			const char *v = eq + 1;
			while (v < e && (*v == ' ' || *v == '\t'))
				v++;
			if (parse_value(v, (size_t)(e - v), val, lineno, err) < 0 ||
			    add_var(env, p, kn, val, lineno, err) < 0) {
				dotenv_free(env);
				return -1;
			}
		}
		line = nl ? nl + 1 : end;
	}
	*out = env;
	return 0;
}

int dotenv_load(const char *path, struct dotenv **out, struct ad_err *err)
{
	char *buf = NULL;
	size_t len;
	if (statefile_read(path, DOTENV_MAX_BYTES, &buf, &len, err) < 0)
		return err->errnum == ENOENT ? dotenv_parse("", 0, out, err) : -1;
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & 077))
		log_warn("%s is readable by other users; it may hold the API key (chmod 600 it)", path);
	int rc = dotenv_parse(buf, len, out, err);
	explicit_bzero(buf, len);      /* the file may hold the API key: only the set keeps it */
	free(buf);
	return rc < 0 ? ad_err_prefix(err, "%s", path) : 0;
}

const char *dotenv_get(const struct dotenv *env, const char *key)
{
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < env->count; i++)
		if (strcmp(env->vars[i].key, key) == 0)
			return env->vars[i].value;
	return NULL;
}

size_t dotenv_count(const struct dotenv *env)
{
	return env ? env->count : 0;
}

void dotenv_free(struct dotenv *env)
{
	if (env == NULL)
		return;
	for (size_t i = 0; i < env->count; i++) {
		free(env->vars[i].key);
		if (env->vars[i].value != NULL)
			explicit_bzero(env->vars[i].value, strlen(env->vars[i].value));
		free(env->vars[i].value);
	}
	free(env);
}

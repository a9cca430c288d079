/* Checks of settings that need more than a type and a range: see config_checks.h. */
#include "config_checks.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/cleanup.h"
#include "core/hostname.h"
#include "core/json.h"
#include "core/netclass.h"
#include "core/node_id.h"

int check_host_pattern(const char *v, struct ad_err *err)
{
	return host_pattern_check(v, err);
}

/* "NAME:ADDRESS", as Docker's --add-host: the name before the first ':'. */
int check_host_entry(const char *v, struct ad_err *err)
{
	const char *colon = strchr(v, ':');
	char name[HOSTNAME_MAX + 2];
	unsigned char addr[16];
	if (colon == NULL || (size_t)(colon - v) >= sizeof(name))
		return ad_err_set(err, 0, "\"%s\": expected NAME:ADDRESS", v);
	snprintf(name, sizeof(name), "%.*s", (int)(colon - v), v);
	if (!hostname_valid(name) || inet_pton(AF_INET, name, addr) == 1 || strchr(name, ':'))
		return ad_err_set(err, 0, "\"%s\": \"%s\" is not a host name", v, name);
	if (inet_pton(AF_INET, colon + 1, addr) != 1 && inet_pton(AF_INET6, colon + 1, addr) != 1)
		return ad_err_set(err, 0, "\"%s\": \"%s\" is not an IPv4 or IPv6 address", v, colon + 1);
	return 0;
}

int check_cidr(const char *v, struct ad_err *err)
{
	struct cidr c;
	return cidr_parse(v, &c, err);
}

static bool word(const char *s, size_t max, const char *more)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr(more, *p)))
			return false;
	return true;
}

/* {"NAME": "value", ...}: names as word() takes them, string values. */
static int string_map(const char *server, const char *field, const cJSON *m, const char *name_chars,
		      struct ad_err *err)
{
	const cJSON *it;
	if (!cJSON_IsObject(m))
		return ad_err_set(err, 0, "%s: \"%s\" must be an object of strings", server, field);
	cJSON_ArrayForEach(it, m)
		if (!word(it->string, 128, name_chars) || !cJSON_IsString(it))
			return ad_err_set(err, 0, "%s: %s \"%.100s\" must be a name of letters, digits and %s, "
					  "with a string value", server, field, it->string, name_chars);
	return 0;
}

static int check_server(const cJSON *s, struct ad_err *err)
{
	const char *name = s->string;
	const cJSON *command = cJSON_GetObjectItemCaseSensitive(s, "command");
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(s, "url"), *it;
	if (!word(name, 64, "_-"))
		return ad_err_set(err, 0, "\"%.100s\": a server's name is 1 to 64 letters, digits, '_' or '-'", name);
	if (!cJSON_IsObject(s) || (command == NULL) == (url == NULL))
		return ad_err_set(err, 0, "%s: give either \"command\" (a stdio server, run in the sandbox) or "
				  "\"url\" (a Streamable HTTP server)", name);
	cJSON_ArrayForEach(it, s) {
		static const char *const stdio_keys[] = { "command", "args", "env", "type" };
		static const char *const http_keys[] = { "url", "headers", "type" };
		const char *const *keys = command ? stdio_keys : http_keys;
		size_t n = command ? 4 : 3, i = 0;
		while (i < n && strcmp(it->string, keys[i]) != 0)
			i++;
		if (i == n)
			return ad_err_set(err, 0, "%s: unknown field \"%.100s\"", name, it->string);
	}
	const char *type = json_str(s, "type");
	if (cJSON_GetObjectItemCaseSensitive(s, "type") != NULL &&
	    (type == NULL || strcmp(type, command ? "stdio" : "http") != 0))
		return ad_err_set(err, 0, "%s: \"type\" is \"%s\" for this server", name, command ? "stdio" : "http");
	if (url != NULL) {
		if (!cJSON_IsString(url) || (strncmp(url->valuestring, "http://", 7) != 0 &&
					     strncmp(url->valuestring, "https://", 8) != 0))
			return ad_err_set(err, 0, "%s: \"url\" must be an http:// or https:// URL", name);
		const cJSON *headers = cJSON_GetObjectItemCaseSensitive(s, "headers");
		return headers ? string_map(name, "headers", headers, "-_", err) : 0;
	}
	if (!cJSON_IsString(command) || command->valuestring[0] == '\0')
		return ad_err_set(err, 0, "%s: \"command\" must be a program (a string)", name);
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(s, "args");
	if (args != NULL && !cJSON_IsArray(args))
		return ad_err_set(err, 0, "%s: \"args\" must be an array of strings", name);
	cJSON_ArrayForEach(it, args)
		if (!cJSON_IsString(it))
			return ad_err_set(err, 0, "%s: \"args\" must be an array of strings", name);
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(s, "env");
	return env ? string_map(name, "env", env, "_", err) : 0;
}

int check_mcp_servers(const char *v, struct ad_err *err)
{
	_cleanup_cjson_ cJSON *servers = cJSON_Parse(v);
	const cJSON *s;
	if (!cJSON_IsObject(servers))
		return ad_err_set(err, 0, "must be an object of servers");
	if (cJSON_GetArraySize(servers) > 32)
		return ad_err_set(err, 0, "at most 32 servers");
	cJSON_ArrayForEach(s, servers)
		if (check_server(s, err) < 0)
			return -1;
	return 0;
}

const char *const config_runtimes[] = { "agentd", "claude-code", "command", NULL };

int check_runtime(const char *v, struct ad_err *err)
{
	for (size_t i = 0; config_runtimes[i] != NULL; i++)
		if (strcmp(v, config_runtimes[i]) == 0)
			return 0;
	return ad_err_set(err, 0, "\"%s\": a runtime is agentd, claude-code or command", v);
}

int check_program(const char *v, struct ad_err *err)
{
	if (v[0] == '\0' || strlen(v) > 255 || strpbrk(v, " \t\n\r\"'\\$`;|&<>*?") != NULL)
		return ad_err_set(err, 0, "\"%s\": expected a program's name or absolute path, without spaces "
				  "or shell characters", v);
	if (strchr(v, '/') != NULL && v[0] != '/')
		return ad_err_set(err, 0, "\"%s\": a path must be absolute (as the sandbox sees it)", v);
	return 0;
}

/* A model's name as the API spells them: letters, digits and . - _ : @ */
static bool model_name(const char *v, size_t n)
{
	if (n == 0 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && strchr(".-_:@", v[i]) == NULL)
			return false;
	return true;
}

int check_model_map(const char *v, struct ad_err *err)
{
	const char *eq = strchr(v, '=');
	if (eq == NULL || !model_name(v, (size_t)(eq - v)) || !model_name(eq + 1, strlen(eq + 1)))
		return ad_err_set(err, 0, "\"%s\": expected FROM=TO, two model names", v);
	return 0;
}

int check_port(const char *v, struct ad_err *err)
{
	size_t n = strspn(v, "0123456789");
	if (n == 0 || n > 5 || v[n] != '\0' || v[0] == '0' || atoi(v) > 65535)
		return ad_err_set(err, 0, "\"%s\": expected a port number from 1 to 65535", v);
	return 0;
}

/* A DNS label: what sethostname() inside the sandbox will be given. */
int check_hostname(const char *v, struct ad_err *err)
{
	size_t n = strlen(v);
	if (n == 0 || n > 63)
		return ad_err_set(err, 0, "must be 1 to 63 characters");
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c == '-' && i > 0 && i < n - 1)))
			return ad_err_set(err, 0, "\"%s\": letters, digits and inner '-' only", v);
	}
	return 0;
}

int check_env_name(const char *v, struct ad_err *err)
{
	if (v[0] == '\0' || (v[0] >= '0' && v[0] <= '9'))
		return ad_err_set(err, 0, "\"%s\" is not a variable name", v);
	for (const char *p = v; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return ad_err_set(err, 0, "\"%s\" is not a variable name", v);
	return 0;
}

/* "SRC:DST", "SRC:DST:ro" or "SRC:DST:rw"; the checks on the paths themselves are
 * sandbox_policy's (policy.c), which also runs at --check-config. */
int check_bind(const char *v, struct ad_err *err)
{
	const char *c1 = strchr(v, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c1 == v || c1[1] == '\0' || c1[1] == ':')
		return ad_err_set(err, 0, "\"%s\": expected SRC:DST[:ro|rw]", v);
	if (c2 != NULL && strcmp(c2, ":ro") != 0 && strcmp(c2, ":rw") != 0)
		return ad_err_set(err, 0, "\"%s\": the mode must be ro or rw", v);
	return 0;
}

/* node.name: empty (the host name's) or a node name (core/node_id.h) */
int check_node_name(const char *v, struct ad_err *err)
{
	return v[0] == '\0' ? 0 : node_name_check(v, err);
}

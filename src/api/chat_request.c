/* Checking a chat request: see include/api/chat_request.h. */
#include "api/chat_request.h"

#include <stdio.h>
#include <string.h>

#include "core/cleanup.h"
#include "core/json.h"
#include "core/hostname.h"
#include "core/utf8.h"

/* Text from a user: NUL cannot reach here (the strict parser refuses it), ESC and the
 * other C0 controls but tab, newline and carriage return are refused by name. */
int chat_text_check(const char *field, const char *s, int64_t max_chars, struct ad_err *err)
{
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0x1b)
			return ad_err_set(err, 0, "%s contains an ESC character (0x1b) at byte %zu", field, i);
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			return ad_err_set(err, 0, "%s contains the control character 0x%02x at byte %zu", field, c, i);
	}
	size_t chars = utf8_count(s, len);
	if (max_chars > 0 && chars > (uint64_t)max_chars)
		return ad_err_set(err, 0, "%s is %zu characters long; the limit is %lld", field, chars,
				  (long long)max_chars);
	return 0;
}

/* The API refuses text that is empty or only white space. */
static int check_words(const char *field, const char *s, int64_t max_chars, struct ad_err *err)
{
	if (s[strspn(s, " \t\r\n")] == '\0')
		return ad_err_set(err, 0, "%s must hold more than white space", field);
	return chat_text_check(field, s, max_chars, err);
}

static int check_token(const char *field, const char *s, size_t max, const char *extra, struct ad_err *err)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return ad_err_set(err, 0, "%s must be 1 to %zu characters", field, max);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '-' || c == '_' || (c != '\0' && strchr(extra, c) != NULL);
		if (!ok)
			return ad_err_set(err, 0, "%s may hold only letters, digits, '-', '_'%s%s", field,
					  extra[0] ? " and " : "", extra);
	}
	return 0;
}

/* One history entry: {"role": "user"|"assistant", "content": string | [blocks]}. */
static int check_turn(const cJSON *t, int i, struct ad_err *err)
{
	char field[64];
	if (!cJSON_IsObject(t))
		return ad_err_set(err, 0, "history[%d] must be an object with role and content", i);
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(t, "role");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(t, "content");
	const char *want = i % 2 == 0 ? "user" : "assistant";
	if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") && strcmp(role->valuestring, "assistant")))
		return ad_err_set(err, 0, "history[%d].role must be \"user\" or \"assistant\"", i);
	if (strcmp(role->valuestring, want) != 0)
		return ad_err_set(err, 0, "history[%d].role must be \"%s\": messages alternate, starting with user", i, want);
	for (const cJSON *k = t->child; k; k = k->next)
		if (strcmp(k->string, "role") && strcmp(k->string, "content"))
			return ad_err_set(err, 0, "history[%d] has an unknown field \"%s\"", i, k->string);
	snprintf(field, sizeof(field), "history[%d].content", i);
	if (cJSON_IsString(content))
		return check_words(field, content->valuestring, 0, err);
	if (!cJSON_IsArray(content) || cJSON_GetArraySize(content) == 0)
		return ad_err_set(err, 0, "%s must be a string or a non-empty array of content blocks", field);
	int j = 0;
	for (const cJSON *b = content->child; b; b = b->next, j++) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(b, "type");
		if (!cJSON_IsObject(b) || !cJSON_IsString(type))
			return ad_err_set(err, 0, "%s[%d] must be an object with a \"type\"", field, j);
		const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
		char sub[96];
		snprintf(sub, sizeof(sub), "%s[%d]", field, j);
		/* a conversation's past, as a chat page keeps it: text only */
		if (strcmp(type->valuestring, "text") != 0)
			return ad_err_set(err, 0, "%s is a \"%s\" block; history takes text blocks only", sub,
					  type->valuestring);
		for (const cJSON *k = b->child; k; k = k->next)
			if (strcmp(k->string, "type") && strcmp(k->string, "text"))
				return ad_err_set(err, 0, "%s has an unknown field \"%s\"", sub, k->string);
		snprintf(sub, sizeof(sub), "%s[%d].text", field, j);
		if (!cJSON_IsString(text))
			return ad_err_set(err, 0, "%s must be a string", sub);
		if (check_words(sub, text->valuestring, 0, err) < 0)
			return -1;
	}
	return 0;
}

int chat_network_check(const cJSON *net, char *const *config_allow, struct ad_err *err)
{
	const cJSON *allow = cJSON_GetObjectItemCaseSensitive(net, "allow"), *p;
	if (!cJSON_IsObject(net) || !cJSON_IsArray(allow) || cJSON_GetArraySize(net) != 1)
		return ad_err_set(err, 0, "network must be {\"allow\": [names]}");
	if (cJSON_GetArraySize(allow) > CHAT_MAX_ALLOW)
		return ad_err_set(err, 0, "network.allow has more than %d names", CHAT_MAX_ALLOW);
	cJSON_ArrayForEach(p, allow) {
		if (!cJSON_IsString(p))
			return ad_err_set(err, 0, "network.allow holds names (strings)");
		if (host_pattern_check(p->valuestring, err) < 0)
			return ad_err_prefix(err, "network.allow");
		if (!host_patterns_cover(config_allow, p->valuestring))
			return ad_err_set(err, 0, "network.allow: \"%s\" is not within agentd's network.allow "
					  "(a session may narrow it, not widen it)", p->valuestring);
	}
	return 0;
}

int chat_mcp_check(const cJSON *names, const char *servers_json, struct ad_err *err)
{
	_cleanup_cjson_ cJSON *servers = cJSON_Parse(servers_json ? servers_json : "{}");
	const cJSON *n, *m;
	if (!cJSON_IsArray(names))
		return ad_err_set(err, 0, "mcp_servers must be an array of server names");
	cJSON_ArrayForEach(n, names) {
		if (!cJSON_IsString(n))
			return ad_err_set(err, 0, "mcp_servers holds names (strings)");
		if (cJSON_GetObjectItemCaseSensitive(servers, n->valuestring) == NULL)
			return ad_err_set(err, 0, "mcp_servers: \"%.100s\" is not one of agentd's MCP servers "
					  "(mcp.servers)", n->valuestring);
		for (m = names->child; m != n; m = m->next)
			if (strcmp(m->valuestring, n->valuestring) == 0)
				return ad_err_set(err, 0, "mcp_servers names \"%.100s\" twice", n->valuestring);
	}
	return 0;
}

/* "thinking", as the Messages API takes it: {"type": "enabled", "budget_tokens": N} or
 * {"type": "disabled"}; the budget's upper bound (anthropic.max_tokens) is the caller's. */
static int parse_thinking(const cJSON *k, int64_t *budget, struct ad_err *err)
{
	const char *type = json_str(k, "type");
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(k, "budget_tokens");
	if (type != NULL && strcmp(type, "disabled") == 0 && cJSON_GetArraySize(k) == 1) {
		*budget = 0;
		return 0;
	}
	if (!cJSON_IsObject(k) || type == NULL || strcmp(type, "enabled") != 0 || cJSON_GetArraySize(k) != 2 ||
	    !cJSON_IsNumber(b) || b->valuedouble < 1024 || b->valuedouble > 1e9 ||
	    b->valuedouble != (double)(int64_t)b->valuedouble)
		return ad_err_set(err, 0, "thinking must be {\"type\": \"enabled\", \"budget_tokens\": a whole number "
				  "from 1024} or {\"type\": \"disabled\"}");
	*budget = (int64_t)b->valuedouble;
	return 0;
}

int chat_request_parse(const cJSON *body, int64_t max_message_chars, struct chat_request *out,
		       struct ad_err *err)
{
	memset(out, 0, sizeof(*out));
	out->thinking = -1;
	if (!cJSON_IsObject(body))
		return ad_err_set(err, 0, "the body must be a JSON object");
	for (const cJSON *k = body->child; k; k = k->next) {
		const char *n = k->string;
		if (strcmp(n, "message") == 0) {
			if (!cJSON_IsString(k))
				return ad_err_set(err, 0, "message must be a string");
			out->message = k->valuestring;
		} else if (strcmp(n, "history") == 0) {
			if (!cJSON_IsArray(k) && !cJSON_IsNull(k))
				return ad_err_set(err, 0, "history must be an array of {role, content} messages");
			out->history = cJSON_IsArray(k) ? k : NULL;
		} else if (strcmp(n, "session_id") == 0) {
			if (!cJSON_IsString(k) || check_token("session_id", k->valuestring, CHAT_MAX_ID_LEN, ".", err) < 0)
				return cJSON_IsString(k) ? -1 : ad_err_set(err, 0, "session_id must be a string");
			out->session_id = k->valuestring;
		} else if (strcmp(n, "stream") == 0) {
			if (!cJSON_IsBool(k))
				return ad_err_set(err, 0, "stream must be true or false");
			out->stream = cJSON_IsTrue(k);
		} else if (strcmp(n, "system") == 0) {
			if (!cJSON_IsString(k))
				return ad_err_set(err, 0, "system must be a string");
			if (chat_text_check("system", k->valuestring, CHAT_MAX_SYSTEM_CHARS, err) < 0)
				return -1;
			out->system = k->valuestring;
		} else if (strcmp(n, "model") == 0) {
			if (!cJSON_IsString(k) || check_token("model", k->valuestring, CHAT_MAX_MODEL_LEN, ".:@", err) < 0)
				return cJSON_IsString(k) ? -1 : ad_err_set(err, 0, "model must be a string");
			out->model = k->valuestring;
		} else if (strcmp(n, "thinking") == 0) {
			if (parse_thinking(k, &out->thinking, err) < 0)
				return -1;
		} else if (strcmp(n, "runtime") == 0 || strcmp(n, "command") == 0) {
			if (!cJSON_IsString(k))
				return ad_err_set(err, 0, "%s must be a string", n);
			*(n[0] == 'r' ? &out->runtime : &out->command) = k->valuestring;
		} else if (strcmp(n, "network") == 0) {
			out->network = k;      /* checked against the config by the caller */
		} else if (strcmp(n, "mcp_servers") == 0) {
			out->mcp_servers = k;  /* likewise */
		} else {
			return ad_err_set(err, 0, "unknown field \"%s\"", n);
		}
	}
	if (out->message == NULL)
		return ad_err_set(err, 0, "message is required");
	if (out->message[0] == '\0')
		return ad_err_set(err, 0, "message must not be empty");
	if (check_words("message", out->message, max_message_chars, err) < 0)
		return -1;
	if (out->history != NULL) {
		int n = cJSON_GetArraySize(out->history);
		if (n > CHAT_MAX_HISTORY)
			return ad_err_set(err, 0, "history has %d messages; the limit is %d", n, CHAT_MAX_HISTORY);
		int i = 0;
		for (const cJSON *t = out->history->child; t; t = t->next, i++)
			if (check_turn(t, i, err) < 0)
				return -1;
		if (n % 2 != 0)
			return ad_err_set(err, 0, "history must end with an assistant turn: message is the next user turn");
	}
	return 0;
}

#define COMMAND_MAX_CHARS 8192

int chat_runtime_check(const struct config *cfg, const char *runtime, const char *command, bool history,
		       struct ad_err *err)
{
	if (runtime == NULL || strcmp(runtime, "agentd") == 0) {
		if (command != NULL)
			return ad_err_set(err, 0, "command goes with \"runtime\": \"command\"");
		if (runtime == NULL || config_runtime_allowed(cfg, runtime))
			return 0;
	}
	size_t i = 0;
	while (config_runtimes[i] != NULL && strcmp(config_runtimes[i], runtime) != 0)
		i++;
	if (config_runtimes[i] == NULL)
		return ad_err_set(err, 0, "runtime must be agentd, claude-code or command");
	if (!config_runtime_allowed(cfg, runtime))
		return ad_err_set(err, 0, "runtime \"%s\" is not allowed here (runtime.allow)", runtime);
	if (strcmp(runtime, "agentd") == 0)
		return 0;
	if (history)
		return ad_err_set(err, 0, "history seeds the built-in agent only; the %s runtime keeps its own "
				  "conversation", runtime);
	bool wants = strcmp(runtime, "command") == 0;
	if (wants != (command != NULL))
		return ad_err_set(err, 0, wants ? "the command runtime needs \"command\": what to run in the "
				  "workspace, e.g. \"node app.mjs\"" : "command goes with \"runtime\": \"command\"");
	if (command != NULL && (command[0] == '\0' || chat_text_check("command", command, COMMAND_MAX_CHARS, err) < 0))
		return command[0] == '\0' ? ad_err_set(err, 0, "command must not be empty") : -1;
	return 0;
}

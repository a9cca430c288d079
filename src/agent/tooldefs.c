/* The tools' definitions and dispatch: see include/agent/tooldefs.h. */
#include "agent/tooldefs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/bash.h"
#include "core/cleanup.h"

struct toolbox {
	char *workspace;
	unsigned timeout_s;
	const struct deny_list *deny;
	int cancel_fd;
	struct bash_session *bash;    /* from toolbox_start_shell or the first bash call on */
};

/* The session's shell, made when first wanted; NULL when out of memory. */
static struct bash_session *shell_of(struct toolbox *t)
{
	if (t->bash == NULL && (t->bash = bash_session_new("/bin/bash", t->workspace)) != NULL)
		bash_session_set_cancel_fd(t->bash, t->cancel_fd);
	return t->bash;
}

void toolbox_start_shell(struct toolbox *t)
{
	if (shell_of(t) != NULL)
		bash_session_start(t->bash);    /* else the first command says why */
}

void toolbox_stop_shell(struct toolbox *t)
{
	bash_session_free(t->bash);
	t->bash = NULL;
}

pid_t toolbox_shell_pid(const struct toolbox *t)
{
	return t->bash != NULL ? bash_session_pid(t->bash) : 0;
}

bool toolbox_shell_fresh(const struct toolbox *t)
{
	return t->bash != NULL && bash_session_fresh(t->bash);
}

static bool run_bash(struct toolbox *t, const cJSON *input, struct tool_result *r)
{
	const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(input, "command");
	const char *hit = cJSON_IsString(cmd) ? deny_list_match(t->deny, cmd->valuestring) : NULL;
	if (hit != NULL) {
		tool_result_error(r, "refused: the command matches agentd's deny-list (pattern: %s)", hit);
		return false;
	}
	if (shell_of(t) == NULL) {
		tool_result_error(r, "out of memory");
		return false;
	}
	tool_bash(t->bash, input, t->timeout_s, r);
	return bash_session_interrupted(t->bash);
}

static bool run_editor(struct toolbox *t, const cJSON *input, struct tool_result *r)
{
	tool_editor(t->workspace, input, r);
	return false;
}

static bool run_glob(struct toolbox *t, const cJSON *input, struct tool_result *r)
{
	tool_glob(t->workspace, input, r);
	return false;
}

static bool run_grep(struct toolbox *t, const cJSON *input, struct tool_result *r)
{
	tool_grep(t->workspace, input, r);
	return false;
}

/* type: an Anthropic-defined tool (its schema is the API's own), or NULL for one of
 * ours, defined by description and input_schema (JSON text). */
static const struct tooldef {
	const char *name, *type, *description, *schema;
	bool (*run)(struct toolbox *t, const cJSON *input, struct tool_result *r);
} tooldefs[] = {
	{ "bash", "bash_20250124", NULL, NULL, run_bash },
	{ "str_replace_based_edit_tool", "text_editor_20250728", NULL, NULL, run_editor },
	{ "glob", NULL,
	  "Find files by name. Returns the full paths of the files and directories below `path` that "
	  "match the glob `pattern` (taken relative to `path`), one per line, directories ending in `/`. "
	  "`*` and `?` match within one path "
	  "segment, `**` as a whole segment matches any number of directories (e.g. `**/*.c`, "
	  "`src/**/test_*`). Hidden files are only matched when the pattern names them (e.g. `.*`). "
	  "Symlinked directories are not followed. Prefer this to `find` in bash.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"pattern\":{\"type\":\"string\",\"description\":\"The glob, e.g. **/*.py\"},"
	  "\"path\":{\"type\":\"string\",\"description\":\"The directory to search below (default: the "
	  "workspace); relative paths are taken from the workspace\"}},"
	  "\"required\":[\"pattern\"],\"additionalProperties\":false}",
	  run_glob },
	{ "grep", NULL,
	  "Search file contents with a POSIX extended regular expression. Returns `file:line:text` for "
	  "every matching line of the text files below `path` (or of `path` itself when it is a file); "
	  "binary files are skipped, output is capped. Narrow the files with `glob` (e.g. `*.c`). "
	  "Prefer this to grep in bash.",
	  "{\"type\":\"object\",\"properties\":{"
	  "\"pattern\":{\"type\":\"string\",\"description\":\"An extended regular expression (ERE), "
	  "e.g. ^int main|TODO\"},"
	  "\"path\":{\"type\":\"string\",\"description\":\"A file or the directory to search below "
	  "(default: the workspace)\"},"
	  "\"glob\":{\"type\":\"string\",\"description\":\"Only files whose name matches this glob, "
	  "e.g. *.h\"},"
	  "\"ignore_case\":{\"type\":\"boolean\",\"description\":\"Match without regard to case "
	  "(default false)\"}},"
	  "\"required\":[\"pattern\"],\"additionalProperties\":false}",
	  run_grep },
};

#define N_TOOLS ARRAY_SIZE(tooldefs)

static cJSON *tooldef_json(const struct tooldef *d)
{
	cJSON *t = cJSON_CreateObject();
	if (d->type != NULL) {
		cJSON_AddStringToObject(t, "type", d->type);
		cJSON_AddStringToObject(t, "name", d->name);
		return t;
	}
	cJSON_AddStringToObject(t, "name", d->name);
	cJSON_AddStringToObject(t, "description", d->description);
	cJSON *schema = cJSON_Parse(d->schema);
	if (schema == NULL || !cJSON_AddItemToObject(t, "input_schema", schema)) {
		cJSON_Delete(schema);
		cJSON_Delete(t);
		return NULL;
	}
	return t;
}

cJSON *tooldefs_json(void)
{
	cJSON *tools = cJSON_CreateArray();
	for (size_t i = 0; tools != NULL && i < N_TOOLS; i++) {
		cJSON *t = tooldef_json(&tooldefs[i]);
		if (t == NULL || !cJSON_AddItemToArray(tools, t)) {
			cJSON_Delete(t);
			cJSON_Delete(tools);
			return NULL;
		}
	}
	return tools;
}

struct toolbox *toolbox_new(const char *workspace, unsigned timeout_s, const struct deny_list *deny,
			    int cancel_fd)
{
	struct toolbox *t = calloc(1, sizeof(*t));
	if (t == NULL || (t->workspace = strdup(workspace)) == NULL) {
		free(t);
		return NULL;
	}
	t->timeout_s = timeout_s;
	t->deny = deny;
	t->cancel_fd = cancel_fd;
	return t;
}

void toolbox_free(struct toolbox *t)
{
	if (t == NULL)
		return;
	bash_session_free(t->bash);
	free(t->workspace);
	free(t);
}

bool toolbox_has(const char *name)
{
	for (size_t i = 0; i < N_TOOLS; i++)
		if (strcmp(name, tooldefs[i].name) == 0)
			return true;
	return false;
}

bool toolbox_run(struct toolbox *t, const char *name, const cJSON *input, struct tool_result *r)
{
	for (size_t i = 0; i < N_TOOLS; i++)
		if (strcmp(name, tooldefs[i].name) == 0)
			return tooldefs[i].run(t, input, r);
	char names[256] = "";
	for (size_t i = 0; i < N_TOOLS; i++)
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? ", " : "",
			 tooldefs[i].name);
	tool_result_error(r, "unknown tool \"%.100s\"; the tools are: %s", name, names);
	return false;
}

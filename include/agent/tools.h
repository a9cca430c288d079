/* The agent's tools, run inside the sandbox as the model asks. Each takes the tool_use
 * input and fills a result: text for the model and whether it is an error. Output is
 * bounded (core/buf.h) and says what was cut. Relative paths are taken from base (the
 * workspace); the sandbox, not these functions, is what keeps the host out of reach. */
#ifndef AGENTD_AGENT_TOOLS_H
#define AGENTD_AGENT_TOOLS_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/buf.h"

#define TOOL_OUTPUT_MAX (100u << 10)
#define EDITOR_FILE_MAX (16u << 20)

struct tool_result {
	struct buf out;
	bool is_error;
};

void tool_result_init(struct tool_result *r);
void tool_result_error(struct tool_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text for the tool_result block, with a note when output was cut. */
const char *tool_result_text(struct tool_result *r);
void tool_result_free(struct tool_result *r);

/* str_replace_based_edit_tool (text_editor_20250728): view (files with line numbers,
 * view_range [first, last|-1], max_characters; directories two levels deep), create,
 * str_replace (exactly one match), insert (after insert_line, 0 for the top; the text
 * in insert_text or new_str). */
void tool_editor(const char *base, const cJSON *input, struct tool_result *r);

/* glob: {"pattern", "path"?}: paths below path (default: base) matching pattern, in
 * which a "**" segment takes any number of directories; hidden entries only when the
 * pattern names them. Symlinked directories are not followed. */
void tool_glob(const char *base, const cJSON *input, struct tool_result *r);

/* grep: {"pattern": ERE, "path"?, "glob"?, "ignore_case"?}: "file:line:text" for every
 * matching line of the text files below path (or path itself); binary files skipped. */
void tool_grep(const char *base, const cJSON *input, struct tool_result *r);

#endif

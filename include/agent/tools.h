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
	int exit_status;            /* a command's that ended by itself; -1: none */
	cJSON *blocks;              /* content blocks (text, image) instead of out, or NULL */
};

void tool_result_init(struct tool_result *r);
void tool_result_error(struct tool_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text for the tool_result block, with a note when output was cut: valid UTF-8
 * without NULs, whatever the output held (a bad byte or a NUL becomes U+FFFD). */
const char *tool_result_text(struct tool_result *r);
/* The result as content blocks (taken: an MCP tool's text and images); out gets their
 * text, an image as "[image: TYPE]", for the run's events. */
void tool_result_blocks(struct tool_result *r, cJSON *blocks);
void tool_result_free(struct tool_result *r);

/* Read fd to its end: a new buffer (free()), NUL-terminated, and *len; NULL with errno
 * set on a failure, EFBIG when there are more than max bytes. */
char *tool_read_all(int fd, size_t max, size_t *len);

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

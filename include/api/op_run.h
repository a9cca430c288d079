/* One OP on a session's sandbox (exec, a file read/write/delete/list, a snapshot) as
 * its asker waits for it: the session hands it the op's events; an HTTP client gets
 * the JSON result at the end, or (exec with streaming) its tool_start, tool_output and
 * tool_end events as SSE while it runs;
 * a sink, when set, takes every event instead (the hybrid snapshot writes them to a
 * file). References and locking as for chat_run (include/api/chat_run.h). */
#ifndef AGENTD_API_OP_RUN_H
#define AGENTD_API_OP_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "api/waiter.h"
#include "session/waiters.h"

/* What an exec's JSON reply keeps of its output. */
#define OP_OUTPUT_MAX (1u << 20)

struct op_run;

/* Made, referenced, and fed by the session: session/waiters.h. */

/* JSON: suspend conn until the op has ended; false if it has. */
bool op_run_wait(struct op_run *o, struct MHD_Connection *conn);
/* The op_end event (a copy; NULL when the op failed: *error says why), and for exec the
 * output gathered (the caller's, NUL-terminated; *cut when over OP_OUTPUT_MAX). */
cJSON *op_run_end(struct op_run *o, char **output, bool *cut, const char **error);

/* SSE (exec): content reader and free callback (drops the HTTP reference). */
ssize_t op_run_read(void *cls, uint64_t pos, char *buf, size_t max);
void op_run_release(void *cls);
void op_run_set_conn(struct op_run *o, struct MHD_Connection *conn);

#endif

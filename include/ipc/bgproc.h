/* A session's background processes (exec with "background": true, ipc/protocol.h) as
 * they lie in its sandbox's /tmp: written by the agent's keepers (agent/background.h),
 * read by the agent and, while a turn holds the agent, by the supervisor from the host.
 *
 *   /tmp/.agentd/procs-TAG/        a session's (TAG: 16 hex digits the gateway names it by)
 *       proc_<16 hex>/             one process
 *           proc.json              {"id", "pid", "command", "started", "state": "running"};
 *                                  at its end "state": "exited" | "killed", "exit_status",
 *                                  "signal"? and "ended" are added (written whole, renamed)
 *           output                 its stdout and stderr: a ring of BGPROC_OUTPUT_MAX bytes
 *                                  after an 8-byte count of every byte written to it
 *
 * Everything there is the sandbox's to change: a reader checks what it reads (types,
 * sizes, the kind of file) and hands out only the fields above. */
#ifndef AGENTD_IPC_BGPROC_H
#define AGENTD_IPC_BGPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "core/tree_view.h"

#define BGPROC_IN_TMP ".agentd"
#define BGPROC_ROOT "/tmp/" BGPROC_IN_TMP
#define BGPROC_TAG_LEN 16
#define BGPROC_ID_LEN 21                  /* "proc_" and 16 hex digits */
#define BGPROC_RECORD "proc.json"
#define BGPROC_OUTPUT "output"
/* The output kept of each process: its last MiB. */
#define BGPROC_OUTPUT_MAX (1u << 20)
#define BGPROC_HEADER 8
/* The most records a listing reads (the agent keeps far fewer). */
#define BGPROC_LIST_MAX 512

bool bgproc_tag_ok(const char *tag);
bool bgproc_id_ok(const char *id);
/* The session's folder below BGPROC_ROOT: "procs-TAG" (out: 32 bytes). */
void bgproc_dir_name(const char *tag, char out[32]);

/* The keeper's side: n bytes appended to the ring fd, whose count is *total; what
 * cannot be written (a full /tmp) is dropped, *total counting only what was. */
void bgproc_output_append(int fd, uint64_t *total, const char *data, size_t n);

/* The reader's side, in the session's folder t: one process as {"id", "pid", "command",
 * "state", "exit_status", "signal", "started", "ended"} (null where it has none yet), and
 * with output its "output" (the ring's text, UTF-8), "output_truncated" and
 * "output_bytes"; a missing one fails with ENOENT. */
cJSON *bgproc_read(const struct tree *t, const char *id, bool output, struct ad_err *why);
/* All of them, oldest first, without their output. */
cJSON *bgproc_list(const struct tree *t, struct ad_err *why);

/* A procs op (ipc/protocol.h) answered from the folder t (NULL: there is none yet):
 * its "proc" as end's "process", output and all; without one, all as "processes". */
int bgproc_answer(const struct tree *t, const cJSON *op, cJSON *end, struct ad_err *why);

#endif

/* An OP's end as it crosses processes (ipc/protocol.h): op_end {"type": "op_end", "id",
 * "ok": true, ...what the op returns} or, when it failed, {"type": "op_end", "id",
 * "ok": false, "error": "a sentence", "code": "ENOENT"}: "error" in UTF-8 (bytes that are
 * not, from names on disk or tar's words, replaced), "code" the errno's name when the
 * failure has one, so that whoever reads it decides by the code, never by the words.
 * Made by the agent and the supervisor alike; read by the gateway. */
#ifndef AGENTD_IPC_OP_END_H
#define AGENTD_IPC_OP_END_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/err.h"

/* id < 0: an op without a usable id (the op_end has none either). */
cJSON *op_end_ok(double id);
cJSON *op_end_failed(double id, const struct ad_err *why);
/* Whether a failed op_end carries errnum's code. */
bool op_end_code_is(const cJSON *end, int errnum);

#endif

/* One POST /api/chat run on the gateway's side: the session's supervisor is spawned,
 * the turn sent, and the run's events gathered as the hub hands them over, into the
 * JSON reply and, for a streaming client, into Server-Sent Events as they come.
 *
 * Two references hold a run: the HTTP request's (chat_run_release) and the hub's
 * (dropped when the link closes). The hub's thread fills it; MHD's threads read it;
 * a suspended connection is resumed when there is something for it. */
#ifndef AGENTD_API_CHAT_RUN_H
#define AGENTD_API_CHAT_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "api/chat_request.h"
#include "core/err.h"

struct app;
struct chat_run;

/* Spawn the session and send the turn (model and system already checked). */
struct chat_run *chat_run_start(struct app *app, const struct chat_request *cr, bool stream,
				struct ad_err *err);

/* JSON: suspend conn until the run has ended; false (nothing suspended) if it has. */
bool chat_run_wait(struct chat_run *r, struct MHD_Connection *conn);
/* JSON: the reply once ended: its status, and the body (the caller's). */
unsigned chat_run_result(struct chat_run *r, cJSON **body);

/* SSE: MHD's content reader and free callback (the latter drops the HTTP reference). */
ssize_t chat_run_read(void *cls, uint64_t pos, char *buf, size_t max);
void chat_run_release(void *cls);
/* SSE: the connection the reader suspends. */
void chat_run_set_conn(struct chat_run *r, struct MHD_Connection *conn);

/* The HTTP status for a run that ended with error type type. */
unsigned chat_error_status(const char *type);

#endif

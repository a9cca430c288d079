/* Running one turn on a session for an HTTP request, shared by POST /api/chat and
 * POST /api/sessions/{id}/messages: the checks on model and system, the JSON reply once
 * the turn ends or the SSE stream as it goes. */
#ifndef AGENTD_API_TURN_H
#define AGENTD_API_TURN_H

#include "api/app.h"
#include "api/chat_request.h"
#include "session/session.h"

/* 400 reasons that do not need a session: model and system against the config. */
enum MHD_Result api_turn_refuse(struct http_req *req, const struct chat_request *cr, bool *refused);
/* Start the turn on s (referenced by the caller, who keeps its reference) and answer;
 * an ephemeral session is destroyed if its turn cannot start. */
enum MHD_Result api_turn_start(struct http_req *req, struct session *s, const struct chat_request *cr);
/* The handler's second call, once the suspended connection was resumed. */
enum MHD_Result api_turn_resumed(struct http_req *req);

#endif

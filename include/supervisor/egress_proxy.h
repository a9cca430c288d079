/* The egress proxy (DESIGN.md section 5): an HTTP forward proxy and CONNECT tunnel,
 * served from the supervisor on a socket that listens on 127.0.0.1 inside the sandbox's
 * network namespace (sandbox_take_listener), the sandbox's one way out. Each request is
 * checked by the session's rules (egress.h) before anything is sent anywhere; a refusal
 * answers 403 with a sentence that says which name and why.
 *
 * It runs on threads of its own (one accepts, one per connection), so that the sandbox's
 * connections go on while the supervisor's loop is busy with a model call. Every decision
 * becomes an "egress" event the supervisor's loop collects (egress_proxy_take) and passes
 * to the gateway, for the session's history and log. */
#ifndef AGENTD_SUPERVISOR_EGRESS_PROXY_H
#define AGENTD_SUPERVISOR_EGRESS_PROXY_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/err.h"
#include "supervisor/egress.h"

struct egress_limits {
	unsigned max_connections;        /* at once; more are answered 429 */
	uint64_t max_bytes_per_turn;     /* both ways, from one egress_proxy_turn() to the next */
};

struct egress_proxy;

/* Serve listen_fd (taken, closed on failure too) by rules (kept: they must outlive the
 * proxy). */
struct egress_proxy *egress_proxy_start(int listen_fd, const struct egress_rules *rules,
					const struct egress_limits *lim, struct ad_err *err);
/* Readable when events wait; then egress_proxy_take() gives them, one at a time, until
 * NULL. */
int egress_proxy_event_fd(const struct egress_proxy *p);
cJSON *egress_proxy_take(struct egress_proxy *p);
/* A turn begins: its byte budget is whole again. */
void egress_proxy_turn(struct egress_proxy *p);
/* Every connection ended, every thread joined, all freed. NULL is fine. */
void egress_proxy_stop(struct egress_proxy *p);

#endif

/* The gateway's side of its supervisors: one thread that watches every session socket
 * (epoll), decodes the frames that come, and hands each run event to the link's owner
 * (an HTTP request waiting for the run, later a session). HTTP handlers never read a
 * socket themselves, so they never block.
 *
 * A link belongs to the hub from hub_attach() until its owner's closed() callback
 * returns; the owner may call hub_link_send() and hub_link_close() only before that,
 * and serialises those calls with closed() under a lock of its own. */
#ifndef AGENTD_SESSION_HUB_H
#define AGENTD_SESSION_HUB_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "core/err.h"

struct hub;
struct hub_link;

struct hub_link_ops {
	/* A run event from the supervisor, on the hub's thread; ev is the owner's. */
	void (*event)(void *owner, cJSON *ev);
	/* The link is gone: why is NULL after a clean hang-up, else what broke. The last
	 * call for this owner. */
	void (*closed)(void *owner, const char *why);
	/* Every HUB_TICK_MS on the hub's thread (may be NULL): time-driven work such as
	 * keep-alives, by which a client that went away is noticed. */
	void (*tick)(void *owner);
	/* The hub gave up on the supervisor, which took nothing it was sent for 30 s (it is
	 * stopped or hung: it will not see the hang-up); closed() follows. On the hub's
	 * thread, under its locks: it may take none of the owner's. May be NULL. */
	void (*stalled)(void *owner);
};

#define HUB_TICK_MS 5000

int hub_start(struct hub **out, struct ad_err *err);
/* Stop the thread, close every link left (their closed() runs), free. */
void hub_stop(struct hub *h);

/* Watch fd (taken, even on failure) for owner. */
struct hub_link *hub_attach(struct hub *h, int fd, const struct hub_link_ops *ops, void *owner,
			    struct ad_err *err);
/* One frame to the supervisor, from any thread. */
int hub_link_send(struct hub_link *l, unsigned type, const cJSON *payload, struct ad_err *err);
/* Stop reading the supervisor's frames (hold), or read them again, from any thread: an
 * owner whose client takes them slower than they come holds the supervisor back (its
 * queue fills, it stops reading its agent, which waits). Not for long: a supervisor
 * whose frames the gateway takes none of for 30 s ends the session. */
void hub_link_hold(struct hub_link *l, bool hold);
/* Hang up, from any thread: the supervisor sees EOF and tears the session down;
 * closed() follows on the hub's thread. */
void hub_link_close(struct hub_link *l);

#endif

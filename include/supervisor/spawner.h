/* The spawner: a single-threaded process forked from the gateway before its first
 * thread starts, which forks one supervisor per session. The gateway never forks
 * while threads run (DESIGN.md section 1). What every supervisor needs and costs time
 * to make — the init's sealed memfd, the cgroup layout, libcurl loaded and initialised — is
 * made once in the spawner and inherited, copy-on-write. */
#ifndef AGENTD_SUPERVISOR_SPAWNER_H
#define AGENTD_SUPERVISOR_SPAWNER_H

#include "core/err.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/policy.h"

struct spawner;

/* Fork the spawner. Call before any thread exists, after the cgroup layout was found
 * and prepared (sandbox_cgroup_prepare: on v2 it moves this process, and so the
 * spawner, into a leaf); the spawner has its own copy of cfg, policy and host (cfg is
 * not const: that copy takes the keys of spawner_set_key; the caller's is untouched). */
int spawner_start(struct spawner **out, struct config *cfg, const struct sandbox_policy *policy,
		  const struct cgroup_host *host, struct ad_err *err);

/* A new supervisor for session id with opts (JSON: {"policy"?: tightenings}): the
 * gateway's end of its socket (SOCK_STREAM, close-on-exec), and in *peer what names the
 * supervisor for spawner_end. Safe from any thread; never waits: err->errnum EAGAIN
 * when the spawner has more requests queued than it can take. */
int spawner_spawn(struct spawner *sp, const char *session_id, const char *opts, unsigned long *peer,
		  struct ad_err *err);

/* The supervisor named peer killed, if it still runs, and its sandbox's cgroup removed:
 * for one the gateway gave up on (stopped, or hung), which would never end by itself.
 * Safe from any thread; never waits. */
int spawner_end(struct spawner *sp, unsigned long peer, struct ad_err *err);

/* A new API key for the supervisors forked from now on (the spawner's copy of the
 * settings takes it; the old one is wiped there). Safe from any thread; in order with
 * spawner_spawn(): a session spawned after this returns gets key. */
int spawner_set_key(struct spawner *sp, const char *key, struct ad_err *err);

/* Tell the spawner to exit and wait for it: it waits for its supervisors to end their
 * sessions (up to 20 s, then they are killed), so call it after the sessions' links are
 * closed. Frees sp. */
void spawner_stop(struct spawner *sp);

#endif

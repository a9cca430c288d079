/* The application behind the HTTP front end: what every handler may look at. */
#ifndef AGENTD_API_APP_H
#define AGENTD_API_APP_H

#include <stdint.h>

#include "core/config.h"
#include "http/http.h"
#include "http/static_files.h"
#include "sandbox/cgroup_host.h"
#include "sandbox/policy.h"
#include "sandbox/probe.h"

struct app {
	struct config cfg;
	struct sandbox_policy policy;
	struct sandbox_probe probe;
	struct static_files *static_files;
	struct cgroup_host cgroups;
	struct spawner *spawner;      /* forks a supervisor per session */
	struct hub *hub;              /* the sessions' sockets */
	uint64_t start_ns;            /* CLOCK_MONOTONIC at start-up */
};

/* The route table, ending with a NULL pattern. */
extern const struct http_route api_routes[];

enum MHD_Result api_health(struct http_req *req);
enum MHD_Result api_chat(struct http_req *req);

#endif

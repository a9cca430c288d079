/* Inside the egress proxy: what its acceptor (egress_proxy.c) and its connections
 * (egress_conn.c) share. */
#ifndef AGENTD_SUPERVISOR_EGRESS_INT_H
#define AGENTD_SUPERVISOR_EGRESS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "supervisor/egress_proxy.h"
#include "note_queue.h"

struct egress_proxy {
	const struct egress_rules *rules;
	struct egress_limits lim;
	int listen_fd;
	int stop_fd;                 /* an eventfd, written once: every thread's poll wakes */
	struct note_queue events;    /* for the loop */
	pthread_t acceptor;
	bool started;
	pthread_mutex_t lock;        /* live */
	pthread_cond_t gone;         /* live went down */
	unsigned live;               /* connection threads */
	atomic_uint_fast64_t turn_bytes;
};

/* A connection thread's body: arg is a struct egress_conn_start (freed here). */
struct egress_conn_start {
	struct egress_proxy *proxy;
	int fd;
};
void *egress_conn_main(void *arg);

/* An event for the loop (taken); also logged. */
void egress_note(struct egress_proxy *p, cJSON *ev);
/* The answer to a request refused or failed before any byte went anywhere. */
void egress_reply_status(int fd, int status, const char *reason, const char *body);

#endif

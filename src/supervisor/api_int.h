/* Inside the sandbox's Messages API (include/supervisor/api_server.h): what its server
 * (api_server.c), its connections (api_conn.c) and its calls (api_forward.c) share. */
#ifndef AGENTD_SUPERVISOR_API_INT_H
#define AGENTD_SUPERVISOR_API_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "supervisor/api_server.h"
#include "note_queue.h"

/* Connections at once: a CLI keeps a few; past it, 429. */
#define API_CONN_MAX 32
/* The largest request body taken (the API's own limit is 32 MB). */
#define API_BODY_MAX (32u << 20)
/* The bodies of all the sandbox's requests in flight at once: the supervisor's memory
 * is not the sandbox's, and the sandbox may not make it grow without bound. */
#define API_BODIES_MAX (64u << 20)
/* A peer (client or API) that takes nothing for this long is given up on. */
#define API_STALL_MS 30000

struct api_server {
	struct relay *relay;
	int listen[API_LISTEN_MAX];
	unsigned nlisten;
	int stop_fd;                 /* an eventfd, written once: every thread's poll wakes */
	struct note_queue notes;     /* for the loop */
	pthread_mutex_t lock;        /* live, bodies */
	pthread_cond_t gone;         /* live went down */
	unsigned live;               /* connection threads */
	size_t bodies;               /* bytes of request bodies held */
};

/* A connection thread's body: arg is a struct api_conn_start (freed here). */
struct api_conn_start {
	struct api_server *server;
	int fd;
};
void *api_conn_main(void *arg);

/* A note for the loop (taken). */
void api_note(struct api_server *a, cJSON *note);

/* Write all of buf to the client, waiting at most API_STALL_MS for it to take a byte;
 * false when it is gone, stuck, or the server stops. */
bool api_write(const struct api_server *a, int fd, const char *buf, size_t n);
/* A whole answer with a JSON body in the API's error shape
 * {"type": "error", "error": {"type", "message"}}; extra: more header lines or "". */
bool api_reply_error(const struct api_server *a, int fd, int status, const char *type, const char *message,
		     const char *extra);

/* One request as the client sent it, to go on to the API. */
struct api_request {
	const char *target;          /* path and query, as they came */
	char **headers;              /* "name: value" lines passed on (anthropic-*, ...) */
	unsigned nheaders;
	const char *body;
	size_t body_len;
	bool close;                  /* the client asked for Connection: close */
};

/* What a forwarded call came to. */
struct api_outcome {
	long status;                 /* the API's, or ours when it was not reached */
	struct usage usage;          /* what its answer counted */
	bool client_gone;            /* the connection can no longer be used */
	bool open;                   /* the chunked body waits for its end (api_forward_end) */
	char error[256];             /* why it failed, for the note; "" when it did not */
	const char *outcome;         /* for metrics: claude_outcome()'s words, or agentd's own
					"refused" / "budget_exceeded" */
	uint64_t first_byte_ns;      /* from the forward's start to the answer's head (0: none) */
};

/* Forward rq to the API (the key added) and stream its answer to fd; the body's end
 * is written by api_forward_end, once the call is noted (a client that has its answer
 * may at once do what the note must come before). */
void api_forward(struct api_server *a, int fd, const struct api_request *rq, struct api_outcome *out);
void api_forward_end(struct api_server *a, int fd, struct api_outcome *out);

#endif

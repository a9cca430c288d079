/* Inside the ports proxy (api/ports.c): one proxied request, and the thread that talks
 * to the server in the sandbox for it (port_relay.c).
 *
 * The handler checks the request, opens the sandbox's network namespace and starts the
 * relay's thread, parking the connection. The thread enters that namespace (its own,
 * not the process's), connects to 127.0.0.1:port, sends the request and reads the
 * answer's head; then wakes the connection, whose handler answers with that head, and
 * pumps the body into the waiter's queue (the content reader takes it out), waiting
 * while the client is behind. A WebSocket upgrade is answered 101 once the server said
 * so, and the thread then carries bytes both ways on the two sockets. */
#ifndef AGENTD_API_PORTS_INT_H
#define AGENTD_API_PORTS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "api/waiter.h"

/* The body the relay reads ahead of its client. */
#define PORT_AHEAD_MAX (256u << 10)
#define PORT_HEAD_MAX (64u << 10)

enum port_state { PORT_WAITING, PORT_ANSWERED, PORT_FAILED };

struct port_relay {
	struct waiter w;              /* lock, references (handler, thread), the body's queue, ended */
	pthread_cond_t moved;         /* the reader took bytes; the upgrade came; the client left */
	int netns;                    /* the sandbox's network namespace, open */
	int stop;                     /* an eventfd: the client is gone */
	unsigned port;
	unsigned timeout_ms;          /* for the server's head (runtime.port_timeout_s) */
	char *request;                /* head and body, as they go to the server */
	size_t request_len;
	bool websocket;
	enum port_state state;
	int status;                   /* the server's, or ours when PORT_FAILED */
	char error[300];              /* then: why */
	char *head;                   /* the server's answer: its head (NUL-terminated lines) ... */
	size_t head_len;
	char *extra;                  /* ... and what came after it in the same reads */
	size_t extra_len;
	int upstream;                 /* the socket to the server */
	struct MHD_Connection *conn;
	bool parked;                  /* conn is suspended until the head */
	bool gone;                    /* the request ended */
	MHD_socket client;            /* the upgraded connection, or -1 */
	char *client_extra;           /* what it sent after its request, read already */
	size_t client_extra_len;
	struct MHD_UpgradeResponseHandle *urh;
};

struct session;
/* The session's sandbox's network namespace, open, checked to be the one the session
 * reported (its init's pid may have gone and been taken again); -1 with why. */
int ports_open_net(struct session *s, char *why, size_t n);

/* The thread's body (arg: the relay, one reference its own). */
void *port_relay_main(void *arg);
/* Drop a reference; the last frees. */
void port_relay_unref(struct port_relay *r);

#endif

/* The sandbox's Messages API: accepting, its notes and its end. See
 * include/supervisor/api_server.h; one connection is api_conn.c's. No thread waits on
 * the listeners: the supervisor's loop polls them (an idle session costs a task less). */
#include "api_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"

#define CONN_STACK (256u << 10)
/* Notes the loop has not collected; past it the oldest go (they are in the log). */
#define NOTES_MAX 1024

void api_note(struct api_server *a, cJSON *note)
{
	note_queue_push(&a->notes, note);
}

cJSON *api_server_take(struct api_server *a)
{
	return note_queue_take(&a->notes);
}

int api_server_event_fd(const struct api_server *a)
{
	return a->notes.rd;
}

static void take(struct api_server *a, int fd)
{
	pthread_mutex_lock(&a->lock);
	bool room = a->live < API_CONN_MAX;
	a->live += room;
	pthread_mutex_unlock(&a->lock);
	if (!room) {
		api_reply_error(a, fd, 429, "rate_limit_error",
				"agentd: this sandbox already has 32 connections to the API; close one first", "");
		close(fd);
		return;
	}
	struct api_conn_start *c = malloc(sizeof(*c));
	pthread_attr_t attr;
	pthread_t t;
	if (c != NULL) {
		*c = (struct api_conn_start){ a, fd };
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, CONN_STACK);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		int rc = pthread_create(&t, &attr, api_conn_main, c);
		pthread_attr_destroy(&attr);
		if (rc == 0)
			return;
		free(c);
	}
	api_reply_error(a, fd, 503, "api_error", "agentd: the sandbox's API is out of resources", "");
	close(fd);
	pthread_mutex_lock(&a->lock);
	a->live--;
	pthread_cond_broadcast(&a->gone);
	pthread_mutex_unlock(&a->lock);
}

unsigned api_server_listeners(const struct api_server *a, int fds[API_LISTEN_MAX])
{
	for (unsigned i = 0; i < a->nlisten; i++)
		fds[i] = a->listen[i];
	return a->nlisten;
}

void api_server_accept(struct api_server *a)
{
	for (unsigned i = 0; i < a->nlisten; i++)
		for (;;) {
			int fd = accept4(a->listen[i], NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				take(a, fd);
				continue;
			}
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("sandbox API: accept: %s", strerror(errno));
			break;
		}
}

struct api_server *api_server_start(const int *listeners, unsigned n, struct relay *relay, struct ad_err *err)
{
	struct api_server *a = calloc(1, sizeof(*a));
	if (a == NULL) {
		for (unsigned i = 0; i < n; i++)
			close(listeners[i]);
		ad_err_set(err, ENOMEM, "the sandbox's API");
		return NULL;
	}
	a->relay = relay;
	for (unsigned i = 0; i < n && i < API_LISTEN_MAX; i++) {
		a->listen[a->nlisten++] = listeners[i];
		fcntl(listeners[i], F_SETFL, fcntl(listeners[i], F_GETFL) | O_NONBLOCK);
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->gone, NULL);
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (note_queue_init(&a->notes, NOTES_MAX, err) < 0 || a->stop_fd < 0) {
		ad_err_sys(err, "the sandbox's API");
		api_server_stop(a);
		return NULL;
	}
	return a;
}

void api_server_stop(struct api_server *a)
{
	if (a == NULL)
		return;
	uint64_t one = 1;
	if (a->stop_fd >= 0)
		(void)!write(a->stop_fd, &one, sizeof(one));
	pthread_mutex_lock(&a->lock);
	while (a->live > 0)
		pthread_cond_wait(&a->gone, &a->lock);
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < a->nlisten; i++)
		close(a->listen[i]);
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	note_queue_free(&a->notes);
	pthread_cond_destroy(&a->gone);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* A session's event log and its listeners (GET /api/sessions/{id}/events): every event
 * is kept as the SSE frame it is sent as, the last EVENT_LOG_MAX of them (and at most
 * EVENT_LOG_BYTES), so that a client that comes back with Last-Event-ID gets what it
 * missed, then the events as they happen. */
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

static void drop_oldest(struct session *s)
{
	struct logged_event *e = &s->log[s->log_first];
	s->log_bytes -= e->len;
	free(e->frame);
	e->frame = NULL;
	s->log_first = (s->log_first + 1) % s->log_cap;
	s->log_count--;
}

/* Room for one more: a full ring below the maximum doubles (oldest first again). */
static bool grow(struct session *s)
{
	if (s->log_count < s->log_cap)
		return true;
	if (s->log_cap == EVENT_LOG_MAX)
		return false;
	unsigned cap = s->log_cap ? s->log_cap * 2 : 16;
	struct logged_event *nl = calloc(cap, sizeof(*nl));
	if (nl == NULL)
		return false;
	for (unsigned i = 0; i < s->log_count; i++)
		nl[i] = s->log[(s->log_first + i) % s->log_cap];
	free(s->log);
	s->log = nl;
	s->log_cap = cap;
	s->log_first = 0;
	return true;
}

char *session_event_frame(unsigned id, const char *type, cJSON *ev, size_t *len)
{
	/* "type" is the event's name, not part of its data: out while printing, then back
	 * (last: no copy of the event for it; cJSON 1.7.15's cJSON_InsertItemInArray loses an
	 * item put back between two others) */
	cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	if (t != NULL)
		cJSON_DetachItemViaPointer(ev, t);
	char *json = json_print(ev);
	if (t != NULL)
		cJSON_AddItemToArray(ev, t);
	char *frame = NULL;
	int n = json ? asprintf(&frame, "id: %u\nevent: %s\ndata: %s\n\n", id, type, json) : -1;
	cJSON_free(json);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return frame;
}

void session_log_frame(struct session *s, unsigned id, const char *frame, size_t n)
{
	while (s->log_count > 0 && ((!grow(s) && s->log_count == s->log_cap) || s->log_bytes + n > EVENT_LOG_BYTES))
		drop_oldest(s);
	char *copy = grow(s) ? malloc(n + 1) : NULL;
	if (copy == NULL)
		return;
	memcpy(copy, frame, n + 1);
	struct logged_event *e = &s->log[(s->log_first + s->log_count) % s->log_cap];
	*e = (struct logged_event){ id, copy, n };
	s->log_count++;
	s->log_bytes += n;
	for (struct session_listener *l = s->listeners; l != NULL; l = l->next)
		l->frame(l, copy, n);
}

void session_log_event(struct session *s, unsigned id, const char *type, cJSON *ev)
{
	size_t n;
	char *frame = session_event_frame(id, type, ev, &n);
	if (frame != NULL)
		session_log_frame(s, id, frame, n);
	free(frame);
}

void session_log_free(struct session *s)
{
	while (s->log_count > 0)
		drop_oldest(s);
	free(s->log);
	s->log = NULL;
}

void session_listeners_wake(struct session *s)
{
	/* a hybrid session whose sandbox goes at a suspend goes on: its readers stay */
	if (!session_is_over(s) && !registry_shutting_down(s->reg))
		return;
	for (struct session_listener *l = s->listeners; l != NULL; l = l->next)
		l->ended(l);
}


void session_listen(struct session *s, struct session_listener *l, unsigned last_id)
{
	pthread_mutex_lock(&s->lock);
	session_ref(s);
	unsigned oldest = s->log_count ? s->log[s->log_first].id : s->next_event_id + 1;
	if (last_id + 1 < oldest && last_id != 0)
		l->note(l, "some events are no longer kept; these are the oldest there are");
	for (unsigned i = 0; i < s->log_count; i++) {
		const struct logged_event *e = &s->log[(s->log_first + i) % s->log_cap];
		if (e->id > last_id)
			l->frame(l, e->frame, e->len);
	}
	l->next = s->listeners;
	s->listeners = l;
	if (s->state == SESSION_DESTROYED || s->state == SESSION_FAILED || registry_shutting_down(s->reg))
		l->ended(l);
	pthread_mutex_unlock(&s->lock);
}

void session_unlisten(struct session *s, struct session_listener *l)
{
	pthread_mutex_lock(&s->lock);
	for (struct session_listener **p = &s->listeners; *p != NULL; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	session_unref(s);
}

/* Views: a session's lists and reads of its workspace (and of its background processes'
 * records), which its supervisor answers itself (supervisor_files.c), whatever the agent
 * is doing: a client follows what a turn changes while it runs, and a listing never
 * holds up a message, an exec or a save. Up to SESSION_VIEWS_MAX are in flight at once
 * (tabs, pages); each is matched to its op_end by id. What lies on another mount (an
 * operator's bind) the supervisor leaves to the agent, which answers it as an op when it
 * is free. See session.c for the locking rules. */
#include "session_int.h"

#include <errno.h>
#include <string.h>

#include "session/waiters.h"
#include "ipc/frame.h"
#include "session/hub.h"

bool session_is_view(const cJSON *op)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "op");
	return cJSON_IsString(kind) && (strcmp(kind->valuestring, "list") == 0 || strcmp(kind->valuestring, "read") == 0 ||
					strcmp(kind->valuestring, "procs") == 0);
}

int session_send_view(struct session *s, cJSON *op, struct op_run *w, struct ad_err *err)
{
	struct session_view *v = NULL;
	for (size_t i = 0; i < SESSION_VIEWS_MAX && v == NULL; i++)
		if (s->view[i].w == NULL)
			v = &s->view[i];
	if (v == NULL)
		return ad_err_code(err, EBUSY, "session %s is reading %d files for its clients; try again",
				   s->id, SESSION_VIEWS_MAX);
	cJSON *copy = cJSON_Duplicate(op, true);
	if (copy == NULL)
		return ad_err_set(err, ENOMEM, "view");
	cJSON_DeleteItemFromObjectCaseSensitive(op, "id");
	cJSON_AddNumberToObject(op, "id", ++s->next_op_id);
	cJSON_AddTrueToObject(op, "view");
	if (hub_link_send(s->link, FRAME_OP, op, err) < 0) {
		cJSON_Delete(copy);
		return -1;
	}
	op_run_ref(w);
	*v = (struct session_view){ w, s->next_op_id, copy };
	return 0;
}

bool session_view_end(struct session *s, cJSON *ev)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev, "id");
	struct session_view *v = NULL;
	for (size_t i = 0; i < SESSION_VIEWS_MAX && v == NULL && cJSON_IsNumber(id); i++)
		if (s->view[i].w != NULL && (double)s->view[i].id == id->valuedouble)
			v = &s->view[i];
	if (v == NULL)
		return false;
	struct session_view done = *v;
	*v = (struct session_view){ 0 };
	struct ad_err e;
	bool agent = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "elsewhere")) && s->link != NULL &&
		     s->state != SESSION_DESTROYED && s->run == NULL && s->op == NULL && s->state != SESSION_SAVING &&
		     session_send_op(s, done.op, done.w, &e) == 0;
	pthread_mutex_unlock(&s->lock);
	if (!agent)
		op_run_event(done.w, ev);
	op_run_unref(done.w);
	cJSON_Delete(done.op);
	cJSON_Delete(ev);
	return true;
}

size_t session_views_take(struct session *s, struct op_run **out)
{
	size_t n = 0;
	for (size_t i = 0; i < SESSION_VIEWS_MAX; i++) {
		if (s->view[i].w == NULL)
			continue;
		out[n++] = s->view[i].w;
		cJSON_Delete(s->view[i].op);
		s->view[i] = (struct session_view){ 0 };
	}
	return n;
}

/* A supervisor's writes to its two peers, none of which ever waits on them: frames are
 * queued (ipc/link_out.h) and go out as the sockets take them. A producer of many frames
 * for the agent (a model call's stream, a restore) is paced: it waits while more than
 * AGENT_HIGH_WATER bytes are queued, reading what the agent sends meanwhile (so that
 * neither waits on the other with full sockets), and gives up when the agent takes
 * nothing for SUP_STALL_MS, the session's time is up or the gateway hangs up. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "ipc/link.h"
#include "ipc/op_end.h"
#include "sandbox/sandbox.h"
#include "supervisor_int.h"

/* Past this much queued for the agent, a paced producer waits for it to read. */
#define AGENT_HIGH_WATER (1u << 20)

/* A send to the gateway failed (rc < 0): the supervisor's work is over. */
static int gateway_sent(struct supervisor *s, int rc, const struct ad_err *e)
{
	if (rc == 0)
		return 0;
	if (s->gw >= 0)
		log_warn("the gateway cannot be written to: %s", e->msg);
	s->quit = true;
	return -1;
}

int sup_to_gateway(struct supervisor *s, cJSON *ev)
{
	struct ad_err e;
	if (s->gw < 0) {
		cJSON_Delete(ev);
		return gateway_sent(s, -1, &e);
	}
	return gateway_sent(s, link_out_send_take(&s->to_gw, s->gw, FRAME_RUN_EVENT, ev, &e), &e);
}

int sup_to_gateway_raw(struct supervisor *s, const char *payload, size_t n)
{
	struct ad_err e;
	int rc = s->gw < 0 ? -1 : link_out_send_raw(&s->to_gw, s->gw, FRAME_RUN_EVENT, payload, n, &e);
	return gateway_sent(s, rc, &e);
}

/* A frame the agent's queue refused: why. */
static int agent_refused(struct ad_err *err)
{
	if (err->errnum == ENOBUFS)
		ad_err_prefix(err, "the agent does not read");
	return -1;
}

int sup_to_agent(struct supervisor *s, unsigned type, const cJSON *payload, struct ad_err *err)
{
	if (s->agent < 0)
		return ad_err_code(err, EPIPE, "the agent has hung up");
	return link_out_send(&s->to_agent, s->agent, type, payload, err) < 0 ? agent_refused(err) : 0;
}

/* Until the agent has room for more (queued <= AGENT_HIGH_WATER): 0, or -1 when it is
 * stuck, gone, or the session must end (the gateway hung up, time is up). */
static int agent_room(struct supervisor *s, struct ad_err *err)
{
	while (link_out_queued(&s->to_agent) > AGENT_HIGH_WATER) {
		uint64_t now = clock_mono_ns(), deadline = sandbox_deadline_ns(s->sb);
		if (now >= deadline)
			return ad_err_code(err, ETIMEDOUT, "the session reached its time limit");
		if (link_out_stalled_ms(&s->to_agent, now) >= SUP_STALL_MS)
			return sup_agent_stuck(s, err);
		struct pollfd p[2] = {
			{ s->agent, POLLOUT | POLLIN, 0 },
			{ s->gw, POLLRDHUP | (link_out_pending(&s->to_gw) ? POLLOUT : 0), 0 },
		};
		uint64_t left = (deadline - now) / 1000000u + 1;
		if (poll(p, 2, left > 1000 ? 1000 : (int)left) < 0 && errno != EINTR)
			return ad_err_sys(err, "poll");
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			s->quit = true;
			return ad_err_code(err, ECONNRESET, "the gateway hung up");
		}
		if ((p[1].revents & POLLOUT) && link_out_flush(&s->to_gw, s->gw, err) < 0) {
			s->quit = true;
			return -1;
		}
		if ((p[0].revents & POLLOUT) && link_out_flush(&s->to_agent, s->agent, err) < 0)
			return -1;
		if ((p[0].revents & (POLLIN | POLLHUP)) && sup_read_agent(s, err) < 0)
			return -1;
	}
	return 0;
}

/* Before a frame to the agent: what the agent made of the frames before (its text, as
 * it is written) goes on to the gateway first, so that a streaming client sees it as it
 * comes; then room in the agent's queue. */
static int pace(struct supervisor *s, struct ad_err *err)
{
	int rc = s->agent < 0 ? ad_err_code(err, EPIPE, "the agent has hung up") : sup_read_agent(s, err);
	if (rc == 0 && link_out_pending(&s->to_gw) && link_out_flush(&s->to_gw, s->gw, err) < 0)
		rc = -1, s->quit = true;
	return rc == 0 ? agent_room(s, err) : rc;
}

int sup_to_agent_paced(struct supervisor *s, unsigned type, cJSON *payload, struct ad_err *err)
{
	int rc = pace(s, err);
	if (rc == 0)
		rc = sup_to_agent(s, type, payload, err);
	cJSON_Delete(payload);
	return rc;
}

int sup_to_agent_paced_raw(struct supervisor *s, unsigned type, const char *payload, size_t n,
			   struct ad_err *err)
{
	int rc = pace(s, err);
	if (rc == 0 && link_out_send_raw(&s->to_agent, s->agent, type, payload, n, err) < 0)
		rc = agent_refused(err);
	return rc;
}

int sup_read_agent(struct supervisor *s, struct ad_err *err)
{
	struct pollfd p = { s->agent, POLLIN, 0 };
	while (s->agent >= 0 && poll(&p, 1, 0) > 0) {
		int rc = link_recv(s->agent, s->agent_dec, sup_agent_frame, s, err);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return ad_err_code(err, EPIPE, "the agent hung up");
	}
	return 0;
}

int sup_agent_stuck(struct supervisor *s, struct ad_err *err)
{
	return ad_err_code(err, ETIMEDOUT, "the agent took nothing it was sent for %u s (it is stopped or hung)",
			   SUP_STALL_MS / 1000);
}

void sup_end(struct supervisor *s, const char *type, const char *why)
{
	if (s->quit)
		return;
	struct sandbox_result res;
	if (s->sb != NULL && !s->joined)
		sandbox_stop(s->sb, SANDBOX_CANCELLED, &res);
	log_warn("ending it: %s", why);
	if (s->op_active)
		sup_op_failed(s, s->op_id, why);
	sup_send_error(s, type, why);
	s->quit = true;
}

void sup_send_error_step(struct supervisor *s, const char *type, const char *message, const char *step)
{
	sup_flush_usage(s);
	cJSON *ev = json_error(type, message);
	cJSON_AddStringToObject(ev, "type", "error");
	if (step != NULL)
		cJSON_AddStringToObject(ev, "step", step);
	sup_to_gateway(s, ev);
	s->running = false;
	s->cancel_by_ns = 0;
}

void sup_send_error(struct supervisor *s, const char *type, const char *message)
{
	sup_send_error_step(s, type, message, NULL);
}

void sup_build_failed(struct supervisor *s, const char *step, const char *what, struct ad_err *e)
{
	if (what != NULL)
		ad_err_prefix(e, "%s", what);
	log_error("%s", e->msg);
	sup_send_error_step(s, "sandbox_error", e->msg, step);
}

void sup_op_failed(struct supervisor *s, double id, const char *why)
{
	struct ad_err e;
	ad_err_set(&e, 0, "%s", why);
	s->op_active = false;
	s->op_by_ns = 0;
	sup_to_gateway(s, op_end_failed(id, &e));
}

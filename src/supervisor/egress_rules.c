/* The session's egress rules: see include/supervisor/egress.h. */
#include "supervisor/egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

static int parse_addr(const char *text, uint16_t port, struct sockaddr_storage *out)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
	} else {
		return -1;
	}
	return 0;
}

static char **copy_list(char *const *from)
{
	size_t n = 0;
	while (from != NULL && from[n] != NULL)
		n++;
	char **to = calloc(n + 1, sizeof(*to));
	for (size_t i = 0; to != NULL && i < n; i++)
		if ((to[i] = strdup(from[i])) == NULL) {
			while (i > 0)
				free(to[--i]);
			free(to);
			return NULL;
		}
	return to;
}

static int narrow(struct egress_rules *r, char *const *config_allow, const cJSON *session_allow, struct ad_err *err)
{
	if (!cJSON_IsArray(session_allow))
		return ad_err_set(err, 0, "network.allow must be an array of names");
	size_t n = (size_t)cJSON_GetArraySize(session_allow), i = 0;
	if ((r->allow = calloc(n + 1, sizeof(*r->allow))) == NULL)
		return ad_err_set(err, ENOMEM, "network rules");
	const cJSON *p;
	cJSON_ArrayForEach(p, session_allow) {
		if (!cJSON_IsString(p) || host_pattern_check(p->valuestring, err) < 0)
			return ad_err_set(err, 0, "network.allow holds names and \"*.suffix\" patterns");
		if (!host_patterns_cover(config_allow, p->valuestring))
			return ad_err_set(err, 0, "network.allow: \"%s\" is not within agentd's network.allow",
					  p->valuestring);
		if ((r->allow[i++] = strdup(p->valuestring)) == NULL)
			return ad_err_set(err, ENOMEM, "network rules");
	}
	return 0;
}

int egress_rules_init(struct egress_rules *r, const struct config *cfg, const cJSON *session_allow,
		      struct ad_err *err)
{
	memset(r, 0, sizeof(*r));
	r->connect_timeout_s = (unsigned)cfg->network.connect_timeout_s;
	if (session_allow != NULL ? narrow(r, cfg->network.allow, session_allow, err) < 0
				  : (r->allow = copy_list(cfg->network.allow)) == NULL)
		goto fail;
	size_t nh = 0, np = 0;
	while (cfg->network.hosts && cfg->network.hosts[nh])
		nh++;
	while (cfg->network.allow_private && cfg->network.allow_private[np])
		np++;
	r->hosts = calloc(nh + 1, sizeof(*r->hosts));
	r->private_ok = calloc(np + 1, sizeof(*r->private_ok));
	if (r->hosts == NULL || r->private_ok == NULL) {
		ad_err_set(err, ENOMEM, "network rules");
		goto fail;
	}
	for (size_t i = 0; i < nh; i++) {      /* checked by the config: NAME:ADDRESS */
		const char *e = cfg->network.hosts[i], *colon = strchr(e, ':');
		struct egress_host *h = &r->hosts[r->nhosts];
		char name[HOSTNAME_MAX + 2];
		snprintf(name, sizeof(name), "%.*s", (int)(colon - e), e);
		if (hostname_normal(name, h->name, sizeof(h->name)) == 0 && parse_addr(colon + 1, 0, &h->addr) == 0)
			r->nhosts++;
	}
	for (size_t i = 0; i < np; i++)
		if (cidr_parse(cfg->network.allow_private[i], &r->private_ok[r->nprivate], err) == 0)
			r->nprivate++;
	return 0;
fail:
	egress_rules_free(r);
	return -1;
}

void egress_rules_free(struct egress_rules *r)
{
	for (size_t i = 0; r->allow != NULL && r->allow[i] != NULL; i++)
		free(r->allow[i]);
	free(r->allow);
	free(r->hosts);
	free(r->private_ok);
	memset(r, 0, sizeof(*r));
}

bool egress_rules_any(const struct egress_rules *r)
{
	return r->allow != NULL && r->allow[0] != NULL;
}

void egress_addr_text(const struct sockaddr_storage *a, char *buf, size_t size)
{
	const void *bytes = a->ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
						    : (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr;
	if (inet_ntop(a->ss_family, bytes, buf, (socklen_t)size) == NULL)
		snprintf(buf, size, "?");
}

/* The name's addresses, the fixed ones first: how many (0: none, why says so). */
static unsigned resolve(const struct egress_rules *r, const char *host, uint16_t port,
			struct sockaddr_storage *out, struct ad_err *why)
{
	for (size_t i = 0; i < r->nhosts; i++)
		if (strcmp(r->hosts[i].name, host) == 0) {
			out[0] = r->hosts[i].addr;
			((struct sockaddr_in *)&out[0])->sin_port = htons(port);   /* same place in v6 */
			return 1;
		}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res, *ai;
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0) {
		ad_err_set(why, 0, "%s: the name could not be resolved (%s)", host, gai_strerror(rc));
		return 0;
	}
	unsigned n = 0;
	for (ai = res; ai != NULL && n < EGRESS_MAX_ADDRS; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) && ai->ai_addrlen <= sizeof(*out)) {
			memset(&out[n], 0, sizeof(out[n]));
			memcpy(&out[n++], ai->ai_addr, ai->ai_addrlen);
		}
	freeaddrinfo(res);
	if (n == 0)
		ad_err_set(why, 0, "%s: the name has no IPv4 or IPv6 address", host);
	return n;
}

static bool private_ok(const struct egress_rules *r, const struct sockaddr_storage *a)
{
	for (size_t i = 0; i < r->nprivate; i++)
		if (cidr_contains(&r->private_ok[i], (const struct sockaddr *)a))
			return true;
	return false;
}

int egress_check(const struct egress_rules *r, const char *host, uint16_t port, struct egress_target *t,
		 struct ad_err *why)
{
	memset(t, 0, sizeof(*t));
	if (hostname_normal(host, t->host, sizeof(t->host)) < 0)
		return ad_err_set(why, 0, "\"%.300s\" is not a host name", host);
	t->port = port;
	if (!host_patterns_match(r->allow, t->host))
		return ad_err_set(why, 0, "%s is not on this session's allow-list (network.allow)", t->host);
	struct sockaddr_storage found[EGRESS_MAX_ADDRS];
	unsigned n = resolve(r, t->host, port, found, why);
	if (n == 0)
		return -1;
	const char *first_kind = NULL;
	char first[INET6_ADDRSTRLEN];
	for (unsigned i = 0; i < n; i++) {
		const char *kind = netclass_reserved((const struct sockaddr *)&found[i]);
		if (kind == NULL || private_ok(r, &found[i])) {
			t->addrs[t->naddrs++] = found[i];
		} else if (first_kind == NULL) {
			first_kind = kind;
			egress_addr_text(&found[i], first, sizeof(first));
		}
	}
	if (t->naddrs == 0)
		return ad_err_set(why, 0, "%s resolves to %s, which is %s: refused (network.allow_private "
				  "would let its block through)", t->host, first, first_kind);
	return 0;
}

/* One address: a non-blocking connect, waited for until deadline. */
static int connect_one(const struct sockaddr_storage *a, uint64_t deadline_ns, int cancel_fd, struct ad_err *err)
{
	int fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ad_err_sys(err, "socket");
	socklen_t len = a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	if (connect(fd, (const struct sockaddr *)a, len) == 0)
		return fd;
	int e = errno;
	while (e == EINPROGRESS || e == EINTR) {
		uint64_t now = clock_mono_ns();
		if (now >= deadline_ns) {
			e = ETIMEDOUT;
			break;
		}
		struct pollfd p[2] = { { fd, POLLOUT, 0 }, { cancel_fd, POLLIN, 0 } };
		int n = poll(p, 2, (int)((deadline_ns - now) / 1000000u) + 1);
		if (n > 0 && p[1].revents) {
			e = ECANCELED;
			break;
		}
		if (n > 0) {
			socklen_t sl = sizeof(e);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) < 0)
				e = errno;
			if (e == 0)
				return fd;
			break;
		}
		e = n < 0 ? errno : EINPROGRESS;
	}
	close(fd);
	return ad_err_set(err, e, "connect");
}

int egress_connect(const struct egress_rules *r, const struct egress_target *t, int cancel_fd,
		   struct sockaddr_storage *used, struct ad_err *err)
{
	uint64_t deadline = clock_mono_ns() + (uint64_t)r->connect_timeout_s * 1000000000u;
	char addr[INET6_ADDRSTRLEN] = "";
	for (unsigned i = 0; i < t->naddrs; i++) {
		int fd = connect_one(&t->addrs[i], deadline, cancel_fd, err);
		egress_addr_text(&t->addrs[i], addr, sizeof(addr));
		if (fd >= 0) {
			*used = t->addrs[i];
			return fd;
		}
	}
	return ad_err_prefix(err, "%s (%s) port %u", t->host, addr, t->port);
}

void egress_log(const cJSON *ev)
{
	const char *decision = json_str(ev, "decision"), *reason = json_str(ev, "reason");
	const char *method = json_str(ev, "method"), *host = json_str(ev, "host"), *address = json_str(ev, "address");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(ev, "port");
	log_info("egress %s %s %s:%d%s%s%s%s", decision ? decision : "?", method ? method : "",
		 host ? host : "", cJSON_IsNumber(port) ? port->valueint : 0, address ? " at " : "",
		 address ? address : "", reason ? ": " : "", reason ? reason : "");
}

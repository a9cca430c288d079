/* The session's way out (DESIGN.md section 5): which names it may reach, what they
 * resolve to, and whether that address may be reached, for the egress proxy
 * (egress_proxy.h) and the fetch tools alike.
 *
 * A name is looked up once, by the supervisor (network.hosts, then the host's resolver:
 * /etc/hosts, DNS); each address is checked (loopback, private, link-local, CGNAT,
 * multicast and metadata addresses are refused unless network.allow_private lets their
 * block through) and the connection goes to an address that passed: a second lookup
 * that could answer otherwise (DNS rebinding) never happens. */
#ifndef AGENTD_SUPERVISOR_EGRESS_H
#define AGENTD_SUPERVISOR_EGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "core/err.h"
#include "core/hostname.h"
#include "core/netclass.h"

#define EGRESS_MAX_ADDRS 8

struct egress_host {
	char name[HOSTNAME_MAX + 2];
	struct sockaddr_storage addr;
};

struct egress_rules {
	char **allow;                   /* NULL-terminated, owned: the session's patterns */
	struct egress_host *hosts;
	size_t nhosts;
	struct cidr *private_ok;
	size_t nprivate;
	unsigned connect_timeout_s;
};

/* The config's rules, narrowed to the session's own list when it gave one (an array of
 * patterns, each within the config's: checked again here). */
int egress_rules_init(struct egress_rules *r, const struct config *cfg, const cJSON *session_allow,
		      struct ad_err *err);
void egress_rules_free(struct egress_rules *r);
/* Whether any name may be reached at all. */
bool egress_rules_any(const struct egress_rules *r);

/* Where a request may go: the name (normal form) and the addresses that passed. */
struct egress_target {
	char host[HOSTNAME_MAX + 2];
	uint16_t port;
	struct sockaddr_storage addrs[EGRESS_MAX_ADDRS];
	unsigned naddrs;
};

/* 0 and t filled, or -1 with why: a sentence that names the host and the reason (not
 * on the allow-list, no such name, an address of a refused kind). Nothing is sent to
 * any address here. */
int egress_check(const struct egress_rules *r, const char *host, uint16_t port, struct egress_target *t,
		 struct ad_err *why);
/* A TCP connection to the first of t's addresses that answers within the rules'
 * timeout (O_NONBLOCK, O_CLOEXEC), or -1; *used gets its address. cancel_fd (-1: none)
 * readable gives up at once (ECANCELED). */
int egress_connect(const struct egress_rules *r, const struct egress_target *t, int cancel_fd,
		   struct sockaddr_storage *used, struct ad_err *err);
/* One "egress" event (decision, method, host, port, address?, reason?) as a log line (of
 * the supervisor's session: log_set_about). */
void egress_log(const cJSON *ev);
/* "203.0.113.5" / "2001:db8::1" */
void egress_addr_text(const struct sockaddr_storage *a, char *buf, size_t size);

#endif

/* What kind of address an IP address is, for the egress policy: those no sandbox may
 * reach through agentd (loopback, private, link-local, CGNAT, multicast, cloud metadata,
 * ...), and CIDR blocks an operator lets through all the same. */
#ifndef AGENTD_CORE_NETCLASS_H
#define AGENTD_CORE_NETCLASS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/err.h"

struct cidr {
	int family;                   /* AF_INET or AF_INET6 */
	unsigned char addr[16];       /* network byte order; the first 4 for IPv4 */
	unsigned bits;
};

/* "10.0.0.0/8", "fd00::/8", or one address ("192.168.1.5": /32, /128). */
int cidr_parse(const char *text, struct cidr *out, struct ad_err *err);
bool cidr_contains(const struct cidr *c, const struct sockaddr *sa);

/* NULL for an address on the public internet; else what it is, as a person reads it:
 * "loopback", "private (RFC 1918)", "the cloud metadata service", ... An IPv6 address
 * that carries an IPv4 one (mapped, NAT64, 6to4) is what the IPv4 address is. */
const char *netclass_reserved(const struct sockaddr *sa);

#endif

/* Listen addresses: "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:80", "[::]:8080",
 * "localhost:8080". Numeric only (no DNS at start-up); port 0 asks the kernel for a free
 * port. */
#ifndef AGENTD_CORE_NETADDR_H
#define AGENTD_CORE_NETADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/err.h"

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

int netaddr_parse(const char *text, struct netaddr *out, struct ad_err *err);
/* "127.0.0.1:8080" / "[::1]:8080" into buf. */
void netaddr_format(const struct netaddr *a, char *buf, size_t size);
bool netaddr_is_loopback(const struct netaddr *a);

#endif

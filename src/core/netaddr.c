/* Listen address parsing: see include/core/netaddr.h. */
#include "core/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int netaddr_parse(const char *text, struct netaddr *out, struct ad_err *err)
{
	char host[64];
	const char *port_s;
	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return ad_err_set(err, 0, "\"%s\": expected [IPv6]:PORT", text);
		size_t n = (size_t)(close - text - 1);
		if (n >= sizeof(host))
			return ad_err_set(err, 0, "\"%s\": address too long", text);
		memcpy(host, text + 1, n);
		host[n] = '\0';
		port_s = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL || strchr(text, ':') != colon)
			return ad_err_set(err, 0, "\"%s\": expected HOST:PORT (IPv6 as [ADDR]:PORT)", text);
		size_t n = (size_t)(colon - text);
		if (n == 0 || n >= sizeof(host))
			return ad_err_set(err, 0, "\"%s\": expected HOST:PORT", text);
		memcpy(host, text, n);
		host[n] = '\0';
		port_s = colon + 1;
	}
	char *end;
	long port = strtol(port_s, &end, 10);
	if (port_s[0] < '0' || port_s[0] > '9' || *end != '\0' || port < 0 || port > 65535 ||
	    end - port_s > 5)
		return ad_err_set(err, 0, "\"%s\": port must be a number from 0 to 65535", text);

	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
	if (text[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		out->len = sizeof(*v4);
	} else if (text[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		out->len = sizeof(*v6);
	} else {
		return ad_err_set(err, 0, "\"%s\": \"%s\" is not a numeric IPv4 or [IPv6] address", text, host);
	}
	return 0;
}

void netaddr_format(const struct netaddr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
		inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(v4->sin_port));
	} else {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
		inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(v6->sin6_port));
	}
}

bool netaddr_is_loopback(const struct netaddr *a)
{
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a->ss;
		return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
	}
	const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&a->ss;
	if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr))
		return v6->sin6_addr.s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
}

/* Address kinds and CIDR blocks: see include/core/netclass.h. */
#include "core/netclass.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cidr_parse(const char *text, struct cidr *out, struct ad_err *err)
{
	char addr[64];
	const char *slash = strchr(text, '/');
	size_t n = slash ? (size_t)(slash - text) : strlen(text);
	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(addr))
		return ad_err_set(err, 0, "\"%s\" is not an address or a CIDR block", text);
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return ad_err_set(err, 0, "\"%s\": \"%s\" is not an IPv4 or IPv6 address", text, addr);
	unsigned max = out->family == AF_INET ? 32 : 128;
	out->bits = max;
	if (slash != NULL) {
		char *end;
		long bits = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits < 0 || bits > (long)max)
			return ad_err_set(err, 0, "\"%s\": the prefix length must be 0 to %u", text, max);
		out->bits = (unsigned)bits;
	}
	return 0;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

bool cidr_contains(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family != c->family)
		return false;
	const unsigned char *a = sa->sa_family == AF_INET
		? (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr
		: (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	return prefix_equal(a, c->addr, c->bits);
}

struct block {
	const char *net;
	unsigned bits;
	const char *what;
};

/* Most specific first: the metadata addresses before the blocks that hold them. */
static const struct block v4_blocks[] = {
	{ "169.254.169.254", 32, "the cloud metadata service" },
	{ "0.0.0.0", 8, "\"this network\" (0.0.0.0/8)" },
	{ "10.0.0.0", 8, "private (RFC 1918)" },
	{ "100.64.0.0", 10, "shared address space (CGNAT, RFC 6598)" },
	{ "127.0.0.0", 8, "loopback" },
	{ "169.254.0.0", 16, "link-local" },
	{ "172.16.0.0", 12, "private (RFC 1918)" },
	{ "192.0.0.0", 24, "IETF protocol assignments (192.0.0.0/24)" },
	{ "192.168.0.0", 16, "private (RFC 1918)" },
	{ "198.18.0.0", 15, "benchmarking (198.18.0.0/15)" },
	{ "224.0.0.0", 4, "multicast" },
	{ "240.0.0.0", 4, "reserved (240.0.0.0/4) or broadcast" },
};

static const struct block v6_blocks[] = {
	{ "fd00:ec2::254", 128, "the cloud metadata service" },
	{ "::", 128, "unspecified" },
	{ "::1", 128, "loopback" },
	{ "fc00::", 7, "unique local (ULA, private)" },
	{ "fe80::", 10, "link-local" },
	{ "fec0::", 10, "site-local" },
	{ "ff00::", 8, "multicast" },
	{ "100::", 64, "discard-only (100::/64)" },
};

static const char *in_blocks(const struct block *b, size_t n, int family, const unsigned char *a)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char net[16];
		if (inet_pton(family, b[i].net, net) == 1 && prefix_equal(a, net, b[i].bits))
			return b[i].what;
	}
	return NULL;
}

/* The IPv4 address an IPv6 one stands for: mapped (::ffff:a.b.c.d), NAT64
 * (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::). */
static bool embedded_v4(const unsigned char *a, unsigned char *v4)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
		memcpy(v4, a + 12, 4);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) {
		memcpy(v4, a + 2, 4);
		return true;
	}
	return false;
}

const char *netclass_reserved(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return in_blocks(v4_blocks, sizeof(v4_blocks) / sizeof(v4_blocks[0]), AF_INET,
				 (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family != AF_INET6)
		return "not an IP address";
	const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	unsigned char v4[4];
	if (embedded_v4(a, v4)) {
		struct sockaddr_in in = { .sin_family = AF_INET };
		memcpy(&in.sin_addr, v4, 4);
		return netclass_reserved((const struct sockaddr *)&in);
	}
	return in_blocks(v6_blocks, sizeof(v6_blocks) / sizeof(v6_blocks[0]), AF_INET6, a);
}

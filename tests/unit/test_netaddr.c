/* Unit tests for listen addresses (include/core/netaddr.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <string.h>

#include "core/netaddr.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void parse_format_round_trip(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
		int family;
		bool loopback;
	} cases[] = {
		{ "127.0.0.1:8080", "127.0.0.1:8080", AF_INET, true },
		{ "127.1.2.3:1", "127.1.2.3:1", AF_INET, true },
		{ "0.0.0.0:80", "0.0.0.0:80", AF_INET, false },
		{ "192.168.1.10:65535", "192.168.1.10:65535", AF_INET, false },
		{ "localhost:8080", "127.0.0.1:8080", AF_INET, true },
		{ "[::1]:0", "[::1]:0", AF_INET6, true },
		{ "[::1]:8080", "[::1]:8080", AF_INET6, true },
		{ "[0:0:0:0:0:0:0:1]:443", "[::1]:443", AF_INET6, true },
		{ "[::]:8080", "[::]:8080", AF_INET6, false },
		{ "[2001:db8::1]:80", "[2001:db8::1]:80", AF_INET6, false },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct netaddr a;
		struct ad_err e = { 0 };
		if (netaddr_parse(cases[i].in, &a, &e) != 0)
			fail_msg("refused %s: %s", cases[i].in, e.msg);
		assert_int_equal(a.ss.ss_family, cases[i].family);
		assert_int_equal(a.len, cases[i].family == AF_INET ? sizeof(struct sockaddr_in)
								   : sizeof(struct sockaddr_in6));
		char buf[64];
		netaddr_format(&a, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].out);
		if (netaddr_is_loopback(&a) != cases[i].loopback)
			fail_msg("%s: loopback should be %d", cases[i].in, cases[i].loopback);

		/* The formatted text parses back to the same address. */
		struct netaddr b;
		assert_int_equal(netaddr_parse(buf, &b, &e), 0);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(&a.ss, &b.ss, a.len);
	}
}

static void port_in_network_order(void **state)
{
	(void)state;
	struct netaddr a;
	assert_int_equal(netaddr_parse("10.0.0.1:258", &a, NULL), 0);
	const struct sockaddr_in *v4 = (const struct sockaddr_in *)&a.ss;
	assert_int_equal(ntohs(v4->sin_port), 258);
	assert_int_equal(ntohl(v4->sin_addr.s_addr), 0x0a000001);
}

static void refused(void **state)
{
	(void)state;
	static const struct {
		const char *in, *needle;
	} cases[] = {
		{ "1.2.3.4", "expected HOST:PORT" },
		{ ":8080", "expected HOST:PORT" },
		{ "1.2.3.4:", "port must be a number" },
		{ "1.2.3.4:http", "port must be a number" },
		{ "1.2.3.4:65536", "port must be a number from 0 to 65535" },
		{ "localhost:99999", "port must be a number" },
		{ "1.2.3.4:-1", "port must be a number" },
		{ "1.2.3.4:80x", "port must be a number" },
		{ "example.com:80", "not a numeric IPv4" },
		{ "256.1.1.1:80", "not a numeric IPv4" },
		{ "::1:8080", "IPv6 as [ADDR]:PORT" },
		{ "[::1]8080", "expected [IPv6]:PORT" },
		{ "[::1:8080", "expected [IPv6]:PORT" },
		{ "[::1]:", "port must be a number" },
		{ "[1.2.3.4]:80", "not a numeric IPv4 or [IPv6]" },
		{ "[localhost]:80", "not a numeric" },
		{ "[fe80::1%eth0]:80", "not a numeric" },
		{ "", "expected HOST:PORT" },
		{ "127.0.0.1: 80", "port must be a number" },
		{ "127.0.0.1:+80", "port must be a number" },
		{ "127.0.0.1:-0", "port must be a number" },
		{ "127.0.0.1:000080", "port must be a number" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct netaddr a;
		struct ad_err e = { 0 };
		if (netaddr_parse(cases[i].in, &a, &e) == 0)
			fail_msg("accepted \"%s\"", cases[i].in);
		if (strstr(e.msg, cases[i].needle) == NULL)
			fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].in, e.msg, cases[i].needle);
	}
}

static void long_host_refused_without_overflow(void **state)
{
	(void)state;
	char text[300];
	memset(text, '1', sizeof(text));
	strcpy(text + 200, ":80");
	struct netaddr a;
	assert_int_equal(netaddr_parse(text, &a, NULL), -1);
	text[0] = '[';
	memcpy(text + 200, "]:80", 5);
	assert_int_equal(netaddr_parse(text, &a, NULL), -1);
}

static void format_truncates_to_buffer(void **state)
{
	(void)state;
	struct netaddr a;
	assert_int_equal(netaddr_parse("[2001:db8::1]:8080", &a, NULL), 0);
	char buf[8];
	memset(buf, 'Z', sizeof(buf));
	netaddr_format(&a, buf, 6);
	assert_string_equal(buf, "[2001");
	assert_int_equal(buf[6], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_format_round_trip),
		cmocka_unit_test(port_in_network_order),
		cmocka_unit_test(refused),
		cmocka_unit_test(long_host_refused_without_overflow),
		cmocka_unit_test(format_truncates_to_buffer),
	};
	return cmocka_run_group_tests_name("netaddr", tests, NULL, NULL);
}

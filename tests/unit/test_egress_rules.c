/* Unit tests for allow-list patterns (core/hostname.h), address kinds and CIDR blocks
 * (core/netclass.h), and the egress rules built on them (supervisor/egress.h): every
 * refusal is decided here without a packet sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "core/hostname.h"
#include "core/netclass.h"
#include "supervisor/egress.h"

static struct sockaddr_storage addr(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("not an address: %s", text);
	return ss;
}

static const char *kind(const char *text)
{
	struct sockaddr_storage ss = addr(text);
	return netclass_reserved((const struct sockaddr *)&ss);
}

static void names_and_patterns(void **state)
{
	(void)state;
	static const char *const good[] = { "example.com", "a-b.example.com", "x", "_dmarc.example.com",
					    "example.com.", "203.0.113.5", "2001:db8::1" };
	static const char *const bad[] = { "", ".", "-a.com", "a-.com", "a..b", "a b", "a/b", "ex*mple.com",
					   "a.com:80", "\xc3\xa9.com" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(hostname_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hostname_valid(bad[i]))
			fail_msg("\"%s\" taken as a name", bad[i]);
	char long_label[80];
	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".com");
	assert_false(hostname_valid(long_label));
	char out[HOSTNAME_MAX + 2];
	assert_int_equal(hostname_normal("WWW.Example.COM.", out, sizeof(out)), 0);
	assert_string_equal(out, "www.example.com");
	assert_int_equal(hostname_normal("[2001:DB8::1]", out, sizeof(out)), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(hostname_normal("bad name", out, sizeof(out)), -1);

	struct ad_err e;
	assert_int_equal(host_pattern_check("*.example.com", &e), 0);
	assert_int_equal(host_pattern_check("pypi.org", &e), 0);
	assert_int_equal(host_pattern_check("*", &e), -1);
	assert_int_equal(host_pattern_check("*.*.com", &e), -1);
	assert_int_equal(host_pattern_check("a.*.com", &e), -1);
	assert_int_equal(host_pattern_check("*.203.0.113.5", &e), -1);
	assert_int_equal(host_pattern_check("example.com.", &e), -1);
	assert_non_null(strstr(e.msg, "example.com."));
}

static void matching_and_narrowing(void **state)
{
	(void)state;
	char *list[] = { "pypi.org", "*.pythonhosted.org", "203.0.113.5", NULL };
	assert_true(host_patterns_match(list, "pypi.org"));
	assert_true(host_patterns_match(list, "PyPI.org"));
	assert_true(host_patterns_match(list, "files.pythonhosted.org"));
	assert_true(host_patterns_match(list, "a.b.pythonhosted.org"));
	assert_false(host_patterns_match(list, "pythonhosted.org"));      /* the wildcard is below it */
	assert_false(host_patterns_match(list, "evilpythonhosted.org"));
	assert_false(host_patterns_match(list, "pypi.org.evil.com"));
	assert_false(host_patterns_match(list, "www.pypi.org"));
	assert_true(host_patterns_match(list, "203.0.113.5"));
	assert_false(host_patterns_match(list, "203.0.113.6"));
	assert_false(host_patterns_match(NULL, "pypi.org"));

	assert_true(host_patterns_cover(list, "pypi.org"));
	assert_true(host_patterns_cover(list, "*.pythonhosted.org"));
	assert_true(host_patterns_cover(list, "*.files.pythonhosted.org"));
	assert_true(host_patterns_cover(list, "files.pythonhosted.org"));
	assert_false(host_patterns_cover(list, "*.org"));
	assert_false(host_patterns_cover(list, "*.pypi.org"));            /* a name holds no wildcard */
	assert_false(host_patterns_cover(list, "example.com"));
}

static void address_kinds(void **state)
{
	(void)state;
	static const char *const public_ones[] = { "203.0.113.5", "8.8.8.8", "1.1.1.1", "172.32.0.1",
						   "100.128.0.1", "2001:db8::1", "2606:4700::1111" };
	for (size_t i = 0; i < sizeof(public_ones) / sizeof(public_ones[0]); i++)
		if (kind(public_ones[i]) != NULL)
			fail_msg("%s taken as %s", public_ones[i], kind(public_ones[i]));
	static const struct { const char *a, *words; } reserved[] = {
		{ "127.0.0.1", "loopback" }, { "127.255.0.9", "loopback" }, { "10.1.2.3", "RFC 1918" },
		{ "172.16.0.1", "RFC 1918" }, { "172.31.255.255", "RFC 1918" }, { "192.168.1.1", "RFC 1918" },
		{ "169.254.169.254", "metadata" }, { "169.254.1.1", "link-local" }, { "100.64.0.1", "CGNAT" },
		{ "0.0.0.0", "this network" }, { "224.0.0.1", "multicast" }, { "255.255.255.255", "broadcast" },
		{ "::1", "loopback" }, { "::", "unspecified" }, { "fd00:ec2::254", "metadata" },
		{ "fd12::1", "ULA" }, { "fe80::1", "link-local" }, { "ff02::1", "multicast" },
		{ "::ffff:127.0.0.1", "loopback" }, { "::ffff:169.254.169.254", "metadata" },
		{ "64:ff9b::10.0.0.1", "RFC 1918" }, { "2002:c0a8:0101::1", "RFC 1918" },
	};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		const char *k = kind(reserved[i].a);
		if (k == NULL || strstr(k, reserved[i].words) == NULL)
			fail_msg("%s: %s, not %s", reserved[i].a, k ? k : "public", reserved[i].words);
	}
}

static void cidr_blocks(void **state)
{
	(void)state;
	struct cidr c;
	struct ad_err e;
	assert_int_equal(cidr_parse("10.0.0.0/8", &c, &e), 0);
	struct sockaddr_storage in = addr("10.200.1.1"), out = addr("11.0.0.1"), v6 = addr("::1");
	assert_true(cidr_contains(&c, (struct sockaddr *)&in));
	assert_false(cidr_contains(&c, (struct sockaddr *)&out));
	assert_false(cidr_contains(&c, (struct sockaddr *)&v6));
	assert_int_equal(cidr_parse("192.168.1.5", &c, &e), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(cidr_parse("fd00::/8", &c, &e), 0);
	struct sockaddr_storage ula = addr("fd12::1");
	assert_true(cidr_contains(&c, (struct sockaddr *)&ula));
	assert_int_equal(cidr_parse("10.0.0.0/33", &c, &e), -1);
	assert_int_equal(cidr_parse("10.0.0.0/", &c, &e), -1);
	assert_int_equal(cidr_parse("nonsense/8", &c, &e), -1);
	assert_int_equal(cidr_parse("", &c, &e), -1);
	assert_int_equal(cidr_parse("0.0.0.0/0", &c, &e), 0);
	assert_true(cidr_contains(&c, (struct sockaddr *)&out));
}

/* The rules, with fixed answers only: a name off the list, one whose address is refused
 * (and let through by allow_private), one that passes. */
static void rules(void **state)
{
	(void)state;
	char *allow[] = { "ok.test", "*.wild.test", "loop.test", "lan.test", NULL };
	char *hosts[] = { "ok.test:203.0.113.9", "loop.test:127.0.0.1", "lan.test:10.1.2.3",
			  "a.wild.test:2001:db8::5", NULL };
	char *private_ok[] = { "10.0.0.0/8", NULL };
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.network.allow = allow;
	cfg.network.hosts = hosts;
	cfg.network.allow_private = private_ok;
	cfg.network.connect_timeout_s = 1;
	struct egress_rules r;
	struct egress_target t;
	struct ad_err e;
	assert_int_equal(egress_rules_init(&r, &cfg, NULL, &e), 0);
	assert_true(egress_rules_any(&r));
	assert_int_equal(egress_check(&r, "OK.test.", 443, &t, &e), 0);
	assert_string_equal(t.host, "ok.test");
	assert_int_equal(t.naddrs, 1);
	char text[64];
	egress_addr_text(&t.addrs[0], text, sizeof(text));
	assert_string_equal(text, "203.0.113.9");
	assert_int_equal(ntohs(((struct sockaddr_in *)&t.addrs[0])->sin_port), 443);
	assert_int_equal(egress_check(&r, "a.wild.test", 80, &t, &e), 0);
	assert_int_equal(t.addrs[0].ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&t.addrs[0])->sin6_port), 80);
	assert_int_equal(egress_check(&r, "lan.test", 80, &t, &e), 0);       /* allow_private */
	assert_int_equal(egress_check(&r, "loop.test", 80, &t, &e), -1);
	assert_non_null(strstr(e.msg, "loop.test resolves to 127.0.0.1, which is loopback"));
	assert_int_equal(egress_check(&r, "other.test", 80, &t, &e), -1);
	assert_non_null(strstr(e.msg, "other.test is not on this session's allow-list"));
	assert_int_equal(egress_check(&r, "bad name", 80, &t, &e), -1);
	egress_rules_free(&r);

	/* a session's own, narrower list; one that is wider is refused */
	cJSON *mine = cJSON_Parse("[\"ok.test\"]"), *wider = cJSON_Parse("[\"*.test\"]");
	assert_int_equal(egress_rules_init(&r, &cfg, mine, &e), 0);
	assert_int_equal(egress_check(&r, "a.wild.test", 80, &t, &e), -1);
	assert_int_equal(egress_check(&r, "ok.test", 80, &t, &e), 0);
	egress_rules_free(&r);
	assert_int_equal(egress_rules_init(&r, &cfg, wider, &e), -1);
	assert_non_null(strstr(e.msg, "*.test"));
	cJSON_Delete(mine);
	cJSON_Delete(wider);

	/* no list: nothing may be reached */
	cfg.network.allow = NULL;
	assert_int_equal(egress_rules_init(&r, &cfg, NULL, &e), 0);
	assert_false(egress_rules_any(&r));
	assert_int_equal(egress_check(&r, "ok.test", 80, &t, &e), -1);
	egress_rules_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_and_patterns),
		cmocka_unit_test(matching_and_narrowing),
		cmocka_unit_test(address_kinds),
		cmocka_unit_test(cidr_blocks),
		cmocka_unit_test(rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

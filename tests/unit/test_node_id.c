/* Unit tests for node names and the session ids that carry them (src/core/node_id.c):
 * what a balancer routes by must be exactly what agentd makes and accepts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "core/node_id.h"

static void node_names_are_short_dns_labels(void **state)
{
	(void)state;
	struct ad_err e;
	const char *good[] = { "a", "node-a", "web1", "0", "a-b-c", "abcdefghijabcdefghijabcdefghijabcdefghij" };
	const char *bad[] = { "", "-a", "a-", "Node", "a_b", "a.b", "a b", "abcdefghijabcdefghijabcdefghijabcdefghijk",
			      "é" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(node_name_check(good[i], &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(node_name_check(bad[i], &e), -1);
		assert_non_null(strstr(e.msg, "not a node name"));
	}
}

static void a_new_id_ends_with_its_node_and_parses_back(void **state)
{
	(void)state;
	const unsigned char rnd[12] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xff };
	char id[NODE_SESSION_ID_MAX];
	node_id_make(id, rnd, "node-b");
	assert_string_equal(id, "sess_00112233445566778899aaff.node-b");
	const char *node = NULL;
	assert_true(node_id_parse(id, &node));
	assert_string_equal(node, "node-b");
	/* the longest node name fits */
	const char *longest = "abcdefghijabcdefghijabcdefghijabcdefghij";
	node_id_make(id, rnd, longest);
	assert_int_equal(strlen(id), NODE_SESSION_ID_MAX - 1);
	assert_true(node_id_parse(id, &node));
	assert_string_equal(node, longest);
}

static void old_ids_name_no_node_and_others_are_no_ids(void **state)
{
	(void)state;
	const char *node = "x";
	assert_true(node_id_parse("sess_0123456789abcdef01234567", &node));
	assert_string_equal(node, "");
	const char *bad[] = { "", "sess_", "sess_.node", "sess_XYZ", "sess_00.", "sess_00.Node", "sess_00.a.b",
			      "sess_00.-a", "sess_00/x", "xsess_00", "sess_00.a_b", "sess_00..a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(node_id_parse(bad[i], &node));
}

/* A host whose name is no node name still gets one, and a valid one. */
static void a_host_name_becomes_a_node_name(void **state)
{
	(void)state;
	const char *cases[][2] = {
		{ "web-2.example.com", "web-2" }, { "Web_Server_01", "web-server-01" }, { "--a__b--", "a-b" },
		{ "_.example", "node" }, { "", "node" }, { "\xc3\xa9t\xc3\xa9", "t" },
		{ "abcdefghijabcdefghijabcdefghijabcdefghij-klm", "abcdefghijabcdefghijabcdefghijabcdefghij" },
		{ "abcdefghijabcdefghijabcdefghijabcdefghi_x", "abcdefghijabcdefghijabcdefghijabcdefghi" },
	};
	struct ad_err e;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[NODE_NAME_MAX + 1];
		node_name_from(cases[i][0], out);
		assert_string_equal(out, cases[i][1]);
		assert_int_equal(node_name_check(out, &e), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(node_names_are_short_dns_labels),
		cmocka_unit_test(a_new_id_ends_with_its_node_and_parses_back),
		cmocka_unit_test(old_ids_name_no_node_and_others_are_no_ids),
		cmocka_unit_test(a_host_name_becomes_a_node_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

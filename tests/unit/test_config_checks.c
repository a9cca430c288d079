/* Unit tests for the checks of the network, MCP and runtime settings (config_settings_check):
 * every refusal names what is wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static void refused(const char *key, const char *value, const char *words)
{
	struct ad_err e = { 0, "" };
	if (config_settings_check(key, value, &e) == 0)
		fail_msg("%s = %s was taken", key, value);
	if (strstr(e.msg, words) == NULL)
		fail_msg("%s = %s: \"%s\" does not say \"%s\"", key, value, e.msg, words);
}

static void taken(const char *key, const char *value)
{
	struct ad_err e = { 0, "" };
	if (config_settings_check(key, value, &e) != 0)
		fail_msg("%s = %s refused: %s", key, value, e.msg);
}

static void network_settings(void **state)
{
	(void)state;
	taken("network.allow", "pypi.org");
	taken("network.allow", "*.github.com");
	refused("network.allow", "*", "wildcard is allowed only as the first label");
	refused("network.allow", "bad name", "not a host name");
	refused("network.allow", "a.*.com", "first label");
	taken("network.hosts", "allowed.test:203.0.113.2");
	taken("network.hosts", "v6.test:2001:db8::1");
	refused("network.hosts", "allowed.test", "NAME:ADDRESS");
	refused("network.hosts", "allowed.test:nowhere", "not an IPv4 or IPv6 address");
	refused("network.hosts", "1.2.3.4:5.6.7.8", "not a host name");
	taken("network.allow_private", "10.0.0.0/8");
	refused("network.allow_private", "10.0.0.0/40", "prefix length");
}

static void mcp_servers(void **state)
{
	(void)state;
	taken("mcp.servers", "{}");
	taken("mcp.servers", "{\"e\":{\"command\":\"node\",\"args\":[\"x.js\",\"stdio\"],\"env\":{\"A_B\":\"1\"}}}");
	taken("mcp.servers", "{\"r\":{\"url\":\"https://mcp.example.com/mcp\",\"headers\":{\"Authorization\":\"Bearer ${T}\"}}}");
	taken("mcp.servers", "{\"r\":{\"type\":\"http\",\"url\":\"http://127.0.0.1:1/mcp\"}}");
	refused("mcp.servers", "[]", "object of servers");
	refused("mcp.servers", "{\"e\":{}}", "either \"command\"");
	refused("mcp.servers", "{\"e\":{\"command\":\"a\",\"url\":\"http://x\"}}", "either \"command\"");
	refused("mcp.servers", "{\"e\":{\"command\":\"\"}}", "a program");
	refused("mcp.servers", "{\"e\":{\"command\":\"a\",\"args\":\"x\"}}", "array of strings");
	refused("mcp.servers", "{\"e\":{\"command\":\"a\",\"args\":[1]}}", "array of strings");
	refused("mcp.servers", "{\"e\":{\"command\":\"a\",\"env\":{\"A-B\":\"1\"}}}", "env");
	refused("mcp.servers", "{\"e\":{\"command\":\"a\",\"cwd\":\"/\"}}", "unknown field \"cwd\"");
	refused("mcp.servers", "{\"e\":{\"url\":\"ftp://x\"}}", "http:// or https://");
	refused("mcp.servers", "{\"e\":{\"url\":\"http://x\",\"headers\":{\"A\":1}}}", "headers");
	refused("mcp.servers", "{\"e\":{\"url\":\"http://x\",\"type\":\"stdio\"}}", "\"type\" is \"http\"");
	refused("mcp.servers", "{\"bad name\":{\"command\":\"a\"}}", "a server's name");
}

static void runtime_settings(void **state)
{
	(void)state;
	taken("runtime.allow", "claude-code");
	refused("runtime.allow", "gpt", "agentd, claude-code or command");
	taken("runtime.claude_code", "claude");
	taken("runtime.claude_code", "/opt/claude-code/claude");
	refused("runtime.claude_code", "opt/claude", "absolute");
	refused("runtime.claude_code", "claude --yolo", "shell characters");
	refused("runtime.claude_code", "$(id)", "shell characters");
	taken("runtime.model_map", "claude-opus-4-1=claude-sonnet-4-5");
	refused("runtime.model_map", "claude-opus-4-1", "FROM=TO");
	refused("runtime.model_map", "=claude-sonnet-4-5", "FROM=TO");
	refused("runtime.model_map", "a b=c", "FROM=TO");
	taken("runtime.ports", "8000");
	taken("runtime.ports", "65535");
	refused("runtime.ports", "0", "port number");
	refused("runtime.ports", "65536", "port number");
	refused("runtime.ports", "80a", "port number");
	refused("runtime.ports", "08000", "port number");
}

/* A map's target must be allowed, and the API's port is not the proxy's. */
static void runtime_together(void **state)
{
	(void)state;
	struct config cfg;
	struct ad_err e = { 0, "" };
	setenv("AGENTD_RUNTIME_MODEL_MAP", "claude-x=claude-nowhere", 1);
	assert_int_equal(config_load(&cfg, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "claude-nowhere is not an allowed model"));
	unsetenv("AGENTD_RUNTIME_MODEL_MAP");
	setenv("AGENTD_RUNTIME_API_PORT", "3128", 1);
	assert_int_equal(config_load(&cfg, NULL, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "ports of their own"));
	unsetenv("AGENTD_RUNTIME_API_PORT");
	assert_int_equal(config_load(&cfg, NULL, NULL, &e), 0);
	assert_string_equal(config_model_for(&cfg, cfg.anthropic.model), cfg.anthropic.model);
	assert_null(config_model_for(&cfg, "claude-elsewhere"));
	assert_true(config_port_exposed(&cfg, 8000));
	assert_false(config_port_exposed(&cfg, 22));
	assert_true(config_runtime_allowed(&cfg, "claude-code"));
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(network_settings),
		cmocka_unit_test(mcp_servers),
		cmocka_unit_test(runtime_settings),
		cmocka_unit_test(runtime_together),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

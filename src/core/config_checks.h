/* Inside the config module: the checks of settings that need more than a type and a range (config_checks.c),
 * for the table (config_table.c). Not for other modules. */
#ifndef AGENTD_CORE_CONFIG_CHECKS_H
#define AGENTD_CORE_CONFIG_CHECKS_H

#include "core/err.h"

int check_host_pattern(const char *v, struct ad_err *err);
int check_host_entry(const char *v, struct ad_err *err);
int check_cidr(const char *v, struct ad_err *err);
int check_mcp_servers(const char *v, struct ad_err *err);
/* runtime.*: a runtime's name, a program (a name or an absolute path), a FROM=TO pair */
int check_runtime(const char *v, struct ad_err *err);
int check_program(const char *v, struct ad_err *err);
int check_model_map(const char *v, struct ad_err *err);
int check_port(const char *v, struct ad_err *err);
/* sandbox.hostname: a DNS label; an environment variable's name; a bind "SRC:DST[:ro|rw]" */
int check_hostname(const char *v, struct ad_err *err);
int check_env_name(const char *v, struct ad_err *err);
int check_bind(const char *v, struct ad_err *err);
int check_node_name(const char *v, struct ad_err *err);

#endif

/* Subcommands of the agentd binary besides the daemon itself. */
#ifndef AGENTD_CLI_CLI_H
#define AGENTD_CLI_CLI_H

/* agentd sandbox run [--config FILE] [--set KEY=VALUE]... [--] CMD [ARGS...] */
int cli_sandbox(int argc, char **argv);

/* agentd check-api [--config FILE] [--message TEXT] */
int cli_check_api(int argc, char **argv);

/* agentd token add NAME | list | remove NAME [--config FILE] */
int cli_token(int argc, char **argv);

#endif

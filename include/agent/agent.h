/* The agent: what runs inside the sandbox. It speaks include/ipc/protocol.h with its
 * supervisor over one socket: HELLO both ways, then TURNs, one at a time, each worked
 * on with model calls (made by the supervisor, which holds the API key) and tool calls
 * (run here, in the workspace), and reported as RUN_EVENTs. The conversation persists
 * from TURN to TURN for the life of the process. */
#ifndef AGENTD_AGENT_AGENT_H
#define AGENTD_AGENT_AGENT_H

/* Serve the supervisor on fd (a connected SOCK_STREAM, made close-on-exec here so that
 * no command the model runs inherits it). Returns the exit status: 0 when the supervisor
 * hung up between runs, 1 when it broke the protocol (a protocol_error event is sent
 * first when a run was in flight), hung up in the middle of a run, or setup failed. */
int agent_main(int fd);

#endif

/* What the frames of ipc/frame.h carry between agentd's three roles, version 1.
 *
 *   gateway <-> supervisor: one SOCK_STREAM socketpair per session; supervisor <-> agent:
 *   another, whose agent end is fd SANDBOX_PASS_FD (sandbox/sandbox.h) inside the
 *   sandbox. Every payload is one JSON object; fields not named here are refused by the
 *   reader where it says so, ignored elsewhere.
 *
 * supervisor -> agent
 *   HELLO      {"role": "supervisor", "version": 1, "config": {
 *                  "model", "max_tokens", "system" (string, may be ""), "max_model_calls",
 *                  "command_timeout_s", "deny_commands": [ERE...], "workspace",
 *                  "claude_code"?: the Claude Code CLI's path or name (absent: "claude"),
 *                  "session_id"?: the session's (names the CLI's conversation),
 *                  "cache_ttl"?: "off" | "5m" | "1h" (prompt caching; absent: off),
 *                  "context_window"?: tokens (absent: 200000),
 *                  "thinking_budget"?: tokens of extended thinking (absent or 0: none),
 *                  "host_tools"?: [tool definitions]}}
 *              first frame, once; host_tools are the supervisor's own (fetch_url,
 *              fetch_html, remote MCP servers' tools), offered to the model beside
 *              the agent's and run by a TOOL_CALL
 *   TURN       {"message": "...", "history"?: [{role, content}...], "model"?, "system"?,
 *               "thinking"?: budget tokens (0: none), "runtime"?: "agentd" | "claude-code"
 *               | "command", "command"?: for the command runtime (agent/runtime.h)}
 *              a user message to work on; history only seeds an empty conversation;
 *              model/system (checked by the gateway) replace the config's for this run
 *   API_EVENT  {"event": "content_block_delta", "data": {the event's JSON object}}: the
 *              bytes the API sent, checked and spliced in, not printed again
 *   API_END    {"ok": true}
 *              {"ok": false, "error": {"type": "rate_limit_error", "message": "..."},
 *               "status": 429}   the call failed; message is for the user
 *   TOOL_RESULT {"id", "content": "text" | [content blocks], "is_error": bool,
 *               "host_tools"?: [tool definitions]}   a TOOL_CALL's answer; host_tools
 *              when they changed (a remote MCP server's list): all of them, anew
 *   CANCEL     {}   stop the run in flight (the running tool's process group is killed)
 *
 *   OP         {"id": N, "op": ...}: work on the sandbox between turns (never during one),
 *              answered by RUN_EVENTs op_output* then one op_end with the same id:
 *     exec      {"command", "timeout_s"}: bash -c COMMAND in /workspace, its own process
 *               group, stdin /dev/null, stdout+stderr as op_output {"id", "data"} pieces
 *               (UTF-8 text, invalid bytes replaced) as they come; op_end {"id", "ok": true,
 *               "exit_status", "signal"?, "timed_out", "duration_ms", "output_bytes"}
 *     exec      {"command", "background": true, "procs": TAG, "max": N}: the same command
 *               started below a keeper (agent/background.h), where it goes on running after
 *               the op, and turns, until it ends or is killed; refused (code EAGAIN) while N
 *               of the session's are running; op_end {"id", "ok", "process": {"id":
 *               "proc_<16 hex>", "pid" (in the sandbox), "command", "state": "running",
 *               "exit_status": null, "signal": null, "started", "ended": null}}. TAG (16
 *               hex digits, the gateway's name for the session) names the folder of the
 *               session's records, /tmp/.agentd/procs-TAG (ipc/bgproc.h)
 *     procs     {"procs": TAG, "proc"?}: op_end {"id", "ok", "process": {..., "state":
 *               "running" | "exited" | "killed", "output", "output_truncated",
 *               "output_bytes"}}, or without "proc" {"id", "ok", "processes": [{...}
 *               without output, oldest first]}; a process not there fails with ENOENT
 *     kill      {"procs": TAG, "proc"}: the keeper kills it with all it started and
 *               records it killed; op_end {"id", "ok", "process": {... as it ended}};
 *               one that ended already is answered as it is
 *     read      {"path"}: op_end {"id", "ok", "size", "data_b64"} (at most PROTO_FILE_MAX)
 *     write     {"path", "data_b64", "mode"?}: parents made; op_end {"id", "ok", "size"}
 *     delete    {"path"}: a file, or a directory with all in it; op_end {"id", "ok"}
 *     list      {"path"}: op_end {"id", "ok", "entries": [{"name", "type": "file" | "dir"
 *               | "link" | "other", "size"}]}
 *     snapshot  {}: the workspace as a tar stream, op_output {"id", "data_b64"} pieces,
 *               then op_end {"id", "ok", "bytes"}
 *     restore   {"data_b64", "last": bool}: pieces of such a tar stream, unpacked into
 *               the workspace; op_end {"id", "ok"} after the last
 *   An OP with "view": true (list, read, procs) is the supervisor's to answer itself, at
 *   any time, from the sandbox's files as the host reaches them; one that leads onto
 *   another mount fails with "elsewhere": true, and goes to the agent between turns.
 *   A hybrid session's gateway asks for {"op": "snapshot", "save": true} and
 *   {"op": "restore", "saved": true} instead: its supervisor turns them into the two
 *   above, with the pieces going to and from the state directory (session/snapshot_io.h).
 *   Paths are relative to /workspace (or absolute below it) and may not leave it; a
 *   failure is op_end {"id", "ok": false, "error": "a sentence", "code": "ENOENT"?}
 *   (ipc/op_end.h: the code is the errno's name, when the failure has one).
 *
 * agent -> supervisor
 *   HELLO        {"role": "agent", "version": 1}   once, when ready for a TURN
 *   API_REQUEST  {"request": {Messages API body: model, max_tokens, system?, messages,
 *                 tools, stream: true}}   one at a time; answered by API_EVENTs, API_END
 *   TOOL_CALL    {"id": tool_use id, "name": a host tool's, "input": {...}}   during a
 *                 run, one at a time; answered by one TOOL_RESULT (also after a CANCEL)
 *   RUN_EVENT    one event of the run, in the order it happens:
 *     {"type": "text", "text": "..."}                      a piece of the model's text
 *     {"type": "thinking", "thinking": "..."}              a piece of its extended thinking
 *     {"type": "tool_start", "id", "name", "input"}          a tool call begins
 *     {"type": "tool_output", "id", "output"}                its output (capped, cut noted)
 *     {"type": "tool_end", "id", "name", "is_error", "duration_ms", "exit_status"?}
 *                                         exit_status: bash's, when the command ended by itself
 *     {"type": "message", "message": {role, content}}        appended to the transcript:
 *                 the user's text first, then each reply and each message of tool results
 *     {"type": "compact", "kind": "cleared", "tool_results", "tokens_before", "tokens_after"}
 *                 old tool results were cleared so that the conversation fits the
 *                 model's context window (estimates, in tokens)
 *     {"type": "compact", "kind": "summary", "summary", "tokens_before", "tokens_after"}
 *                 clearing was not enough: the conversation was replaced by a summary
 *     {"type": "done", "reply", "stop_reason", "model_calls"}   the run ended
 *     {"type": "error", "error": {"type", "message"}}        the run ended on an error
 *   stop_reason: end_turn, max_tokens, stop_sequence, refusal, pause_turn (after the
 *   model paused more times in a row than max_model_calls allows), max_model_calls,
 *   interrupted. A turn is one TURN frame: a user message and the model calls it takes.
 *
 * supervisor -> gateway: the agent's RUN_EVENTs, passed on after checks, plus its own:
 *     {"type": "ready", "cgroup": {"version", dirs...}}   the sandbox is up (agent HELLO)
 *     {"type": "usage", "call": {4 counters}, "total": {4 counters}, "cost_usd", "model",
 *      "outcome", "first_byte_ms"?, "duration_ms"?, "retries"?: {reason: n}}   after
 *      each model call, whatever its end: outcome is one of claude_outcome()'s words
 *      (claude/retry.h) or agentd's own "refused" / "budget_exceeded" (no call made:
 *      no timing); retries by claude_retry_reason_names (the metrics count them)
 *     {"type": "egress", "decision": "allowed" | "refused" | "failed", "method", "host",
 *      "port", "address"?, "reason"?, "bytes_out"?, "bytes_in"?, "duration_ms"?}   one
 *   connection of the egress proxy (at its end) or of a fetch tool, or one refusal
 *   after each model call (counted by the supervisor from the API's stream, not taken
 *   from the agent), "done" with "usage" and "cost_usd" added, and "error" when the
 *   sandbox or the session failed ("step": the set-up step that failed, when the
 *   sandbox could not be built: a word of sandbox_failed_step()'s, "workspace", "spawn"). The socket's EOF ends the session.
 * gateway -> supervisor: TURN and CANCEL, passed on to the agent; and the supervisor's own:
 *   API_KEY    {"api_key": "..."}   agentd reloaded the Anthropic API key (SIGHUP): the
 *              relay's next call, and the sandbox API server's next, use it; a call in
 *              flight ends with the key it started with. The old key is wiped from the
 *              supervisor's memory. Checked as a reload checks it (printable ASCII,
 *              CONFIG_API_KEY_MIN to _MAX characters); a bad one ends the session. It
 *              never goes further: not to the agent, not into an event, not into a log.
 *   OWNER      {"owner": "..."}   a pooled sandbox was taken by a session of this token:
 *              the supervisor's log lines name it from here on (the spawn's options carry
 *              "owner" for every other sandbox).
 */
#ifndef AGENTD_IPC_PROTOCOL_H
#define AGENTD_IPC_PROTOCOL_H

#define PROTO_VERSION 1

/* The largest file read or written in one OP (base64 makes it 4/3 larger in a frame). */
#define PROTO_FILE_MAX (4u << 20)
/* The size of op_output pieces. */
#define PROTO_CHUNK (64u << 10)

#endif

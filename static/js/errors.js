// agentd's errors as a sentence for a person: what happened, and what to do about it.

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);

export function explain(err) {
  const status = err.status || 0;
  const type = err.type || "";
  const msg = (err.message || "").replace(/[.\s]+$/, "");
  const wait = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : " Wait a little and send it again.";
  switch (type) {
    case "budget_exceeded_error":
      return `This session has used its budget (${msg}). Start a new chat to go on.`;
    case "rate_limit_error":
      return `Too many requests: ${msg}.${wait}`;
    case "overloaded_error": // agentd's own words may say it already
      return /overloaded/i.test(msg) ? `${cap(msg)}.${wait}` : `The Anthropic API is overloaded (${msg}).${wait}`;
    case "timeout_error":
      return `The session reached its time limit (${msg}). Start a new chat to go on.`;
    case "sandbox_error":
      return `The sandbox failed (${msg}). Start a new chat; if it happens again, ask the administrator to look at agentd's log.`;
    case "agent_error":
      return `The agent failed (${msg}). Send the message again, or start a new chat.`;
    case "authentication_error":
      if (status === 401) return `agentd refused the API token (${msg}).`;
      return `The Anthropic API refused agentd's key (${msg}). Ask the administrator to check ANTHROPIC_API_KEY.`;
    case "session_ended_error": // agentd's words end with what to do over the API
      return `This session has ended (${msg.replace(/; start a new session.*$/, "")}). Start a new chat.`;
    case "conflict_error":
      return `The session is busy with another turn (${msg}). Wait for it to end, or stop it, then send again.`;
    case "unavailable_error":
      return `agentd cannot start this now (${msg}).${wait}`;
    case "invalid_request_error":
      return `agentd did not accept the message: ${msg}.`;
    case "not_found_error":
      return `${msg}. Start a new chat.`;
    case "request_too_large":
      return `That is too large for agentd: ${msg}.`;
    case "network_error":
      return `${msg}. Check that agentd is running, then send again.`;
    default:
      break;
  }
  if (status === 502 || type === "api_error" || type === "api_connection_error")
    return `The Anthropic API failed (${msg}). Send the message again in a moment.`;
  if (status === 503) return `agentd is unavailable (${msg}).${wait}`;
  if (status === 504) return `The turn timed out (${msg}).`;
  if (status >= 500) return `agentd failed (${msg}). Send the message again; if it persists, look at agentd's log.`;
  return msg || "Something went wrong.";
}

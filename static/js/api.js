// Every request to agentd goes through here: the bearer token (kept in localStorage),
// a 401 that asks for a token and tries again, and agentd's JSON errors as ApiError.

const TOKEN_KEY = "agentd.token";

export class ApiError extends Error {
  constructor(status, type, message, extra = {}) {
    super(message);
    this.status = status;
    this.type = type;
    this.eventId = extra.eventId;        // set when the error is also an event of the session
    this.retryAfter = extra.retryAfter;  // seconds, from Retry-After
  }
}

function storedToken() {
  try {
    return localStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return "";
  }
}

// A token typed in is used at once but kept (localStorage) only once agentd accepts it.
let memoryToken = null;
let confirmed = true;
const currentToken = () => (memoryToken !== null ? memoryToken : storedToken());
export const getToken = currentToken;

export function setToken(token) {
  memoryToken = token;
  confirmed = false;
}

function keepToken(token) {
  confirmed = true;
  try {
    localStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage refused (private mode): the token lasts as long as the page */
  }
}

function dropToken(token) {
  try {
    if (localStorage.getItem(TOKEN_KEY) === token) localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* nothing kept */
  }
}

// askToken(message, refusedToken) -> Promise that resolves once a new token is set.
let askToken = null;
export function onUnauthorized(fn) {
  askToken = fn;
}

// agentd needs a token (/api/health says so): ask for one before the first request
// rather than after its 401.
export async function needToken() {
  if (!currentToken() && askToken) await askToken("", null);
}

export function authHeaders(headers = {}) {
  const h = new Headers(headers);
  const t = currentToken();
  if (t) h.set("Authorization", `Bearer ${t}`);
  return h;
}

// agentd's error body as an ApiError (any body: a proxy in front may answer HTML).
export async function errorOf(res) {
  let type = "http_error";
  let message = `${res.status} ${res.statusText}`;
  let eventId;
  try {
    const j = await res.json();
    if (j && j.error) {
      type = j.error.type || type;
      message = j.error.message || message;
      eventId = j.error.event_id;
    }
  } catch {
    /* not JSON: keep the status line */
  }
  const ra = Number(res.headers.get("Retry-After"));
  return new ApiError(res.status, type, message, { eventId, retryAfter: ra > 0 ? ra : undefined });
}

// fetch() with the token; a 401 asks for a (new) token and tries again.
export async function authedFetch(path, init = {}) {
  for (;;) {
    const tokenUsed = currentToken();
    const res = await fetch(path, { ...init, headers: authHeaders(init.headers) });
    if (res.status !== 401 || !askToken) {
      if (res.status !== 401 && !confirmed && tokenUsed && tokenUsed === currentToken()) keepToken(tokenUsed);
      return res;
    }
    const err = await errorOf(res);
    // Another request may have set a new token meanwhile: try that one first.
    if (currentToken() !== tokenUsed) continue;
    if (tokenUsed) {
      dropToken(tokenUsed);      // a refused token is not kept...
      memoryToken = tokenUsed;   // ...and the prompt says it was refused
    }
    await askToken(err.message, tokenUsed);
  }
}

// A JSON request: resolves to the parsed answer, rejects with ApiError.
export async function api(method, path, { json, body, headers, signal } = {}) {
  const init = { method, headers: { ...(headers || {}) }, signal };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let res;
  try {
    res = await authedFetch(path, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", `agentd could not be reached (${e.message})`);
  }
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

export const sessionPath = (id, rest = "") => `/api/sessions/${encodeURIComponent(id)}${rest}`;

// A workspace path, each segment encoded, for .../files/<path>.
export function filesPath(id, path) {
  const enc = path.split("/").filter((s) => s !== "").map(encodeURIComponent).join("/");
  return sessionPath(id, `/files/${enc}`);
}

"""The prompt cache of the mock Messages API, and how it counts a prompt's tokens.

The prompt is read in the API's order for caching, tools -> system -> messages, as a
flat list of blocks: each tool definition, each system block (a string system is one
text block) and each message content block (a string content is one text block). A
cache_control marker on a block is a breakpoint: the prefix up to and including that
block may be cached. The model here is the one the API documents:

- at most 4 breakpoints (the top-level automatic one included), and a ttl='1h' one
  never after a ttl='5m' one;
- a read: from each breakpoint the cache looks for an entry ending there or at any of
  the 20 blocks before it (the lookback), and the longest hit is read;
- a write: the prefix up to the last breakpoint, less what was read, and every
  breakpoint's prefix is kept, each for its ttl from its last use;
- a prefix shorter than the minimum cacheable length is neither written nor read.

Tokens: ceil(bytes / 4) of the prompt's canonical compact JSON, cumulated block after
block, so that a prefix never counts more than a longer one and the whole prompt counts
what its last block's prefix does. cache_control markers, and every field that is not
prompt (max_tokens, stream, sampling), count nothing: the same prompt counts the same in
/v1/messages and in /v1/messages/count_tokens.
"""

import hashlib
import json
import math
import threading
import time

MAX_BREAKPOINTS = 4
LOOKBACK = 20                       # blocks before a breakpoint that a read looks at
TTL_SECONDS = {"5m": 300, "1h": 3600}
DEFAULT_MIN_TOKENS = 1024           # the shortest prefix the API caches (most models)
DEFAULT_CONTEXT_WINDOW = 200_000
# Blocks whose "content" holds blocks of their own, which may carry markers too.
NESTING = ("tool_result", "search_result")
# Blocks that cannot carry a marker: the automatic breakpoint skips them.
UNCACHEABLE = ("thinking", "redacted_thinking")


class PromptError(ValueError):
    """A prompt the API refuses with 400 invalid_request_error (the message is its)."""


def _compact(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _tokens(size):
    return max(1, math.ceil(size / 4))


def _flatten(body):
    """[(path, role, block)] in prompt order; role is tool, system, user or assistant."""
    out = [(f"tools.{i}", "tool", t) for i, t in enumerate(body.get("tools") or [])]
    system = body.get("system")
    if isinstance(system, str):
        if system:
            out.append(("system", "system", {"type": "text", "text": system}))
    else:
        out += [(f"system.{i}", "system", b) for i, b in enumerate(system or [])]
    for i, m in enumerate(body["messages"]):
        content = m["content"]
        if isinstance(content, str):           # the shorthand for one text block
            content = [{"type": "text", "text": content}] if content else []
        out += [(f"messages.{i}.content.{j}", m["role"], b) for j, b in enumerate(content)]
    return out


def _strip(block):
    """The block without its markers (nested ones too): they are not part of the key,
    so that a breakpoint moved forward still finds the prefix cached before."""
    out = {k: v for k, v in block.items() if k != "cache_control"}
    if block.get("type") in NESTING and isinstance(out.get("content"), list):
        out["content"] = [_strip(s) if isinstance(s, dict) else s for s in out["content"]]
    return out


def _markers(path, block):
    """[(path of the marker, ttl)] on a block and on the blocks nested in its content:
    a nested marker is a breakpoint at its enclosing block."""
    found = []
    cc = block.get("cache_control")
    if isinstance(cc, dict):
        found.append((f"{path}.cache_control", cc.get("ttl", "5m")))
    if block.get("type") in NESTING and isinstance(block.get("content"), list):
        for k, sub in enumerate(block["content"]):
            if isinstance(sub, dict):
                found += _markers(f"{path}.content.{k}", sub)
    return found


def _message_settings(body):
    """What keys the message part of the prompt besides its blocks: the API documents
    that a change of tool_choice or of the thinking settings invalidates the cached
    messages (not the tools and system before them)."""
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "disabled":
        thinking = None
    return _compact(["settings", body.get("tool_choice"), thinking]).encode("utf-8")


class Prompt:
    """One request's prompt as the cache sees it."""

    def __init__(self, body):
        flat = _flatten(body)
        self.tokens = []       # tokens of the prefix ending at each block
        self.keys = []         # cache key of the prefix ending at each block
        self.markers = []      # (block index, ttl, path), in prompt order
        h = hashlib.sha256(_compact(["model", body["model"]]).encode("utf-8"))
        size, in_messages = 0, False
        for i, (path, role, block) in enumerate(flat):
            if role in ("user", "assistant") and not in_messages:
                in_messages = True
                h.update(_message_settings(body))
            data = _compact([role, _strip(block)]).encode("utf-8")
            size += len(data)
            h.update(data)
            self.keys.append(h.hexdigest())
            self.tokens.append(_tokens(size))
            self.markers += [(i, ttl, p) for p, ttl in _markers(path, block)]
        if isinstance(body.get("cache_control"), dict):
            self.markers.append((self._last_cacheable(flat), body["cache_control"].get("ttl", "5m"),
                                 "cache_control"))
        self.total = self.tokens[-1] if self.tokens else 1

    @staticmethod
    def _last_cacheable(flat):
        """Where automatic caching puts its breakpoint: the last block that may carry one."""
        for i in range(len(flat) - 1, -1, -1):
            if flat[i][2].get("type") not in UNCACHEABLE:
                return i
        return len(flat) - 1

    def check(self):
        """Raise PromptError for what the API refuses in the breakpoints."""
        if len(self.markers) > MAX_BREAKPOINTS:
            raise PromptError(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may "
                              f"be provided. Found {len(self.markers)}.")
        seen_5m = False
        for _, ttl, path in self.markers:
            if ttl == "1h" and seen_5m:
                raise PromptError(f"{path}.ttl: a ttl='1h' cache_control block must not come "
                                  f"after a ttl='5m' cache_control block. Note that blocks are "
                                  f"processed in the following order: `tools`, `system`, "
                                  f"`messages`.")
            seen_5m = seen_5m or ttl == "5m"


def prompt_tokens(body):
    """The input tokens of a request's whole prompt (a valid body): what count_tokens
    answers, and input + cache read + cache write of a /v1/messages request."""
    return Prompt(body).total


def prefix_tokens(body):
    """The tokens of each prefix of a valid body's prompt, by block index (tools, system,
    messages' blocks in that order): what a breakpoint on that block writes or reads."""
    return Prompt(body).tokens


class PromptCache:
    """Cached prefixes, by key, with the time each expires; thread-safe."""

    def __init__(self, min_tokens=DEFAULT_MIN_TOKENS, clock=time.monotonic):
        self.min_tokens = min_tokens
        self._clock = clock
        self._offset = 0.0            # advance(): tests move time on instead of sleeping
        self._entries = {}            # prefix key -> [expires at, ttl seconds]
        self._lock = threading.Lock()

    def now(self):
        return self._clock() + self._offset

    def advance(self, seconds):
        with self._lock:
            self._offset += seconds

    def clear(self):
        with self._lock:
            self._entries.clear()

    def __len__(self):
        with self._lock:
            self._expire(self.now())
            return len(self._entries)

    def use(self, prompt):
        """Read and write the cache for one request the API processes; returns what it
        did: {"breakpoints", "read", "read_at", "write", "write_5m", "write_1h", "total",
        "blocks"}."""
        with self._lock:
            now = self.now()
            self._expire(now)
            hit = self._longest_hit(prompt)
            read = prompt.tokens[hit] if hit is not None else 0
            if hit is not None:           # a hit lives on from its use
                self._keep(prompt.keys[hit], now, self._entries[prompt.keys[hit]][1])
            writes = self._write(prompt, read, now)
        return {"breakpoints": [i for i, _, _ in prompt.markers], "read": read, "read_at": hit,
                "write": writes["5m"] + writes["1h"], "write_5m": writes["5m"],
                "write_1h": writes["1h"], "total": prompt.total, "blocks": len(prompt.tokens)}

    def _expire(self, now):
        for key in [k for k, (t, _) in self._entries.items() if t <= now]:
            del self._entries[key]

    def _keep(self, key, now, ttl_s):
        old = self._entries.get(key, [0, 0])
        self._entries[key] = [max(old[0], now + ttl_s), max(old[1], ttl_s)]

    def _longest_hit(self, prompt):
        """The block index of the longest cached prefix that a breakpoint's lookback
        finds (each breakpoint stops at its nearest hit), or None."""
        best = None
        for i in sorted({m[0] for m in prompt.markers}):
            for j in range(i, max(-1, i - LOOKBACK - 1), -1):
                if prompt.keys[j] in self._entries and prompt.tokens[j] >= self.min_tokens:
                    best = j if best is None else max(best, j)
                    break
        return best

    def _write(self, prompt, read, now):
        """Keep every breakpoint's prefix; charge each stretch not yet cached to the
        ttl of the breakpoint that ends it (1h ones come first, so do their tokens)."""
        writes, pos = {"5m": 0, "1h": 0}, read
        for i, ttl, _ in prompt.markers:
            if prompt.tokens[i] < self.min_tokens:
                continue                  # too short to cache: no write, no error
            if prompt.tokens[i] > pos:
                writes[ttl] += prompt.tokens[i] - pos
                pos = prompt.tokens[i]
            self._keep(prompt.keys[i], now, TTL_SECONDS[ttl])
        return writes


def usage_for(cache):
    """The input side of a message's usage, from what the cache did (PromptCache.use)."""
    return {"input_tokens": cache["total"] - cache["read"] - cache["write"],
            "cache_creation_input_tokens": cache["write"],
            "cache_read_input_tokens": cache["read"],
            "cache_creation": {"ephemeral_5m_input_tokens": cache["write_5m"],
                               "ephemeral_1h_input_tokens": cache["write_1h"]}}

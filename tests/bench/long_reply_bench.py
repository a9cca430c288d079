#!/usr/bin/python3
"""Benchmark of long replies: is a streamed reply's way through agentd linear in its length?

An ephemeral POST /api/chat whose model reply is one text block of N characters, streamed
by the mock (tests/mock/anthropic_server.py, script mode, its own process) in deltas of
--delta characters, for a short and a long N (8 times longer by default). Every delta
crosses the supervisor's relay, the agent's stream assembly, a "text" run event, the
gateway's event log and, with --stream, the client's Server-Sent Events.

Prints, per size, over --runs runs (after one uncounted warm-up run): the median time
of the whole request at the client, beside the median time of the same stream read
straight from the mock by this script (the floor that the mock and Python set; the
mock's own t_done - t_received would not do, as it waits whenever agentd reads slowly);
the text events per second through agentd that the client's median makes (each delta
is one event: the API's, the agent's, the gateway's), and the CPU time agentd's processes
(gateway, supervisor, agent) spent per event; then the ratio of the long to the short
median at the client. Linear means a ratio near the ratio of the sizes (8); a
copy of the whole text per delta makes it grow with the size (36 was measured before
the fix at 40,000 and 320,000 characters). It prints figures; it does not judge them.
It fails when a reply does not come back whole.

Usage: long_reply_bench.py [--runs N] [--sizes 40000,320000] [--delta 8] [--stream]
                           [--timeout S] [--agentd PATH]
"""
import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_bench import KEY, MODEL, ROOT, get_json, mock_and_agentd  # noqa: E402

# every character class a reply may carry on its way: JSON escapes, UTF-8 of 2 to 4 bytes
ALPHABET = 'abcdefghij KLMNOP "quoted" back\\slash\nnew line\ttab é ß € 中文 🙂 '


def reply_text(n):
    """n characters of text, the same for the same n."""
    reps = n // len(ALPHABET) + 1
    return (ALPHABET * reps)[:n]


def post_json(addr, path, obj):
    c = http.client.HTTPConnection(*addr, timeout=30)
    try:
        c.request("POST", path, body=json.dumps(obj), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"POST {path}: {r.status} {data[:300]!r}")
    finally:
        c.close()


def read_stream_reply(r, deadline):
    """The reply of a streamed chat: the text events joined, and the done event's reply.
    (The socket's timeout alone would not end a hung run: keep-alive comments come.)"""
    texts, event, done = [], None, None
    for raw in r:
        if time.monotonic() > deadline:
            raise RuntimeError("the stream did not end in time")
        line = raw.decode("utf-8").rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            if event == "text":
                texts.append(data["text"])
            elif event == "done":
                done = data
            elif event == "error":
                raise RuntimeError(f"the turn failed: {data}")
    if done is None:
        raise RuntimeError("the stream ended without its done event")
    return "".join(texts), done["reply"]


def one_run(addr, mock_addr, text, delta, stream, timeout):
    """Seconds at the client, after checking the reply came back whole."""
    post_json(mock_addr, "/_mock/enqueue", {"text": text, "chunk_chars": delta})
    conn = http.client.HTTPConnection(*addr, timeout=timeout)
    body = {"message": "write a long text"}
    headers = {"Content-Type": "application/json"}
    if stream:
        headers["Accept"] = "text/event-stream"
    t0 = time.monotonic()
    conn.request("POST", "/api/chat", body=json.dumps(body), headers=headers)
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError(f"POST /api/chat: {r.status} {r.read()[:500]!r}")
    if stream:
        streamed, reply = read_stream_reply(r, t0 + timeout)
    else:
        reply = json.loads(r.read())["reply"]
        streamed = reply
    secs = time.monotonic() - t0
    conn.close()
    if reply != text or streamed != text:
        raise RuntimeError(f"the reply of {len(text)} characters came back as {len(reply)} "
                           f"(streamed: {len(streamed)}), not the same text")
    return secs


def tree_cpu(pid):
    """CPU seconds spent so far by agentd's processes: the gateway's own, and its
    children's (the spawner) with what they reaped (the supervisors, and the sandboxes
    each supervisor reaped)."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(p):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return [int(x) for x in fields[11:15]]       # utime stime cutime cstime
    total = sum(stat(pid)[:2])
    for child in os.listdir("/proc"):
        if child.isdigit():
            try:
                with open(f"/proc/{child}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    total += sum(stat(int(child)))
            except (OSError, ValueError):
                pass
    return total / tick


def mock_alone(mock_addr, text, delta):
    """Seconds to read the same reply streamed by the mock itself, without agentd."""
    post_json(mock_addr, "/_mock/enqueue", {"text": text, "chunk_chars": delta})
    conn = http.client.HTTPConnection(*mock_addr, timeout=600)
    body = {"model": MODEL, "max_tokens": 128000, "stream": True,
            "messages": [{"role": "user", "content": "write a long text"}]}
    t0 = time.monotonic()
    conn.request("POST", "/v1/messages", body=json.dumps(body),
                 headers={"Content-Type": "application/json", "x-api-key": KEY,
                          "anthropic-version": "2023-06-01"})
    r = conn.getresponse()
    n = sum(len(line) for line in r)
    secs = time.monotonic() - t0
    conn.close()
    if r.status != 200 or n < len(text):
        raise RuntimeError(f"the mock alone: {r.status}, {n} bytes")
    return secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="40000,320000", help="two reply lengths, in characters")
    ap.add_argument("--delta", type=int, default=8, help="characters per text delta")
    ap.add_argument("--stream", action="store_true", help="ask for Server-Sent Events")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a run may take (a hang fails it)")
    ap.add_argument("--agentd", default=os.path.join(ROOT, "agentd"))
    args = ap.parse_args()
    # SIGTERM (timeout(1), a CI job's end) still stops agentd and the mock
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("benchmark: terminated"))
    sizes = [int(s) for s in args.sizes.split(",")]
    if len(sizes) != 2:
        sys.exit("benchmark: --sizes takes two lengths")

    with mock_and_agentd(args.agentd, ["--max-output-tokens", "128000"],
                         {"AGENTD_MAX_TOKENS": "128000", "AGENTD_POOL_SIZE": "0"},
                         "agentd-long-reply-bench-") as (mock_addr, addr, daemon):
        client, alone, cpu = {}, {}, {}
        try:
            for n in sizes:
                text = reply_text(n)
                one_run(addr, mock_addr, text, args.delta, args.stream, args.timeout)      # warm-up
                time.sleep(0.5)          # the warm-up's supervisor reaped (its CPU counted before)
                c0 = tree_cpu(daemon.p.pid)
                client[n] = [one_run(addr, mock_addr, text, args.delta, args.stream, args.timeout)
                             for _ in range(args.runs)]
                time.sleep(0.5)
                cpu[n] = tree_cpu(daemon.p.pid) - c0
                alone[n] = [mock_alone(mock_addr, text, args.delta) for _ in range(args.runs)]
        except (RuntimeError, OSError, http.client.HTTPException, ValueError, KeyError) as e:
            sys.exit(f"benchmark: a run failed: {e}\nagentd's log:\n" + "\n".join(daemon.lines[-20:]))
        state = get_json(mock_addr, "/_mock/state")
        if state["violations"]:
            sys.exit("benchmark: the mock saw invalid requests:\n  " + "\n  ".join(state["violations"][:20]))

    print(f"ephemeral POST /api/chat ({'SSE' if args.stream else 'JSON'}), one text reply in "
          f"{args.delta}-character deltas; {args.runs} runs per size")
    # every delta is one event through agentd: the API's, the agent's text event, the
    # gateway's log and (--stream) the client's
    print(f"{'reply, characters':>18} {'median s, client':>18} {'median s, mock alone':>22} "
          f"{'text events/s':>15} {'agentd CPU us/event':>20}")
    for n in sizes:
        events = -(-n // args.delta)
        print(f"{n:>18} {statistics.median(client[n]):18.3f} {statistics.median(alone[n]):22.3f} "
              f"{events / statistics.median(client[n]):15.0f} {cpu[n] * 1e6 / (events * args.runs):20.1f}")
    a, b = sizes
    print(f"ratio of the medians at the client, {b} / {a} characters: "
          f"{statistics.median(client[b]) / statistics.median(client[a]):.1f}  (linear: ~{b / a:.0f})")


if __name__ == "__main__":
    main()

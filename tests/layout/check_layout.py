#!/usr/bin/env python3
"""The tree reads like the three processes (DESIGN.md section 1): checked, not hoped.

- Each folder of src/ (and its headers in include/) includes only the folders below it
  in the table: the gateway (api, http, auth, session) never the supervisor's code but
  the spawner that forks it; the supervisor nothing of the gateway; the agent nothing
  of either; the libraries (core, ipc, claude, sandbox) nothing above them.
- libcurl is the supervisor's alone; libmicrohttpd the gateway's HTTP side's.
- A folder's internal headers (*_int.h) are included from that folder only.
- No source file is over 400 lines.
- Every folder of src/ has a README.md, first in its listing, that says what it is.

Run from the tree's root: python3 tests/layout/check_layout.py; prints each breach and
exits 1 if there is any."""
import os
import re
import sys

# what each folder may include, besides itself
ALLOWED = {
    "core": set(),
    "ipc": {"core"},
    "claude": {"core"},
    "sandbox": {"core"},
    "mcp": {"core"},
    "agent": {"core", "ipc", "claude", "mcp"},
    "supervisor": {"core", "ipc", "claude", "sandbox", "mcp"},
    "http": {"core"},
    "auth": {"core"},
    "session": {"core", "ipc", "claude", "sandbox", "supervisor/spawner.h"},
    "api": {"core", "ipc", "claude", "sandbox", "http", "auth", "session", "supervisor/spawner.h"},
    "cli": {"core", "ipc", "claude", "sandbox", "auth", "supervisor"},
}
# system headers that only some folders may use
LIBRARY_HEADERS = {
    "curl/curl.h": {"supervisor"},
    "microhttpd.h": {"http", "api"},
}
MAX_LINES = 400
INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', re.M)


def sources(root):
    for top in ("src", "include"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    yield os.path.join(d, f)


def folder_of(path):
    parts = path.split(os.sep)
    return parts[1] if len(parts) > 2 else None     # src/main.c: the whole program


def check_file(root, rel, breaches):
    with open(os.path.join(root, rel), encoding="utf-8") as f:
        text = f.read()
    lines = text.count("\n")
    if lines > MAX_LINES:
        breaches.append(f"{rel}: {lines} lines (at most {MAX_LINES})")
    folder = folder_of(rel)
    if folder is None:
        return
    if folder not in ALLOWED:
        breaches.append(f"{rel}: folder {folder!r} is not in the layout table (tests/layout/check_layout.py)")
        return
    for kind, name in INCLUDE.findall(text):
        if kind == "<":
            users = LIBRARY_HEADERS.get(name)
            if users is not None and folder not in users:
                breaches.append(f"{rel}: includes <{name}>, which only {sorted(users)} may")
            continue
        if "/" not in name:
            if name.endswith("_int.h") and not os.path.exists(os.path.join(root, os.path.dirname(rel), name)):
                breaches.append(f"{rel}: includes {name}, another folder's internals")
            continue
        target = name.split("/")[0]
        if target == folder or target in ALLOWED[folder] or name in ALLOWED[folder]:
            if name.endswith("_int.h") and target != folder:
                breaches.append(f"{rel}: includes {name}, another folder's internals")
            continue
        breaches.append(f"{rel}: includes {name}: {folder}/ may include only "
                        f"{', '.join(sorted(ALLOWED[folder])) or 'core'} (a layer above, or another process's code)")


def check_readmes(root, breaches):
    src = os.path.join(root, "src")
    for d in sorted(os.listdir(src)):
        path = os.path.join(src, d)
        if not os.path.isdir(path):
            continue
        listing = sorted(os.listdir(path))
        if "README.md" not in listing:
            breaches.append(f"src/{d}: no README.md saying what the folder is")
        elif listing[0] != "README.md":
            breaches.append(f"src/{d}: README.md is not the first file of its listing")
        elif os.path.getsize(os.path.join(path, "README.md")) < 80:
            breaches.append(f"src/{d}/README.md: too short to say what the folder is")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    breaches = []
    for path in sources(root):
        check_file(root, os.path.relpath(path, root), breaches)
    check_readmes(root, breaches)
    for b in breaches:
        print(b)
    if breaches:
        print(f"check-layout: {len(breaches)} breach(es)", file=sys.stderr)
        return 1
    print("check-layout: the tree keeps its layout")
    return 0


if __name__ == "__main__":
    sys.exit(main())

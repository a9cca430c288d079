"""The layout check finds what it is there to find: each rule broken once in a small
tree of its own, and a tree that keeps the rules passes."""
import os
import subprocess
import sys

CHECK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "check_layout.py")
README = "# src/{0}\n\nWhat this folder is: which process its code runs in, and what it may include.\n"


def make_tree(root, files):
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    for d in os.listdir(os.path.join(root, "src")):
        if os.path.isdir(os.path.join(root, "src", d)) and not os.path.exists(os.path.join(root, "src", d, "README.md")):
            with open(os.path.join(root, "src", d, "README.md"), "w") as f:
                f.write(README.format(d))


def run(root):
    p = subprocess.run([sys.executable, CHECK, str(root)], capture_output=True, text=True)
    return p.returncode, p.stdout


GOOD = {
    "src/core/err.c": '#include "core/err.h"\n',
    "include/core/err.h": "/* errors */\n",
    "src/session/registry.c": '#include "session/session.h"\n#include "supervisor/spawner.h"\n#include "core/err.h"\n',
    "src/api/chat.c": '#include <microhttpd.h>\n#include "session/session.h"\n#include "http/http.h"\n',
    "src/supervisor/relay.c": '#include <curl/curl.h>\n#include "claude/usage.h"\n#include "supervisor_int.h"\n',
    "src/supervisor/supervisor_int.h": "/* inside */\n",
}


def test_a_tree_that_keeps_the_rules_passes(tmp_path):
    make_tree(tmp_path, GOOD)
    rc, out = run(tmp_path)
    assert rc == 0, out


def test_each_rule_broken_is_found(tmp_path):
    bad = dict(GOOD)
    bad["src/session/hybrid.c"] = '#include "api/chat_run.h"\n'                  # upward
    bad["src/session/pool.c"] = '#include "supervisor/relay.h"\n'               # another process
    bad["src/supervisor/frames.c"] = '#include "session/session.h"\n'            # the gateway
    bad["src/http/server.c"] = '#include <curl/curl.h>\n'                        # libcurl
    bad["src/agent/loop.c"] = '#include <microhttpd.h>\n'                        # libmicrohttpd
    bad["src/api/turn.c"] = '#include "supervisor_int.h"\n'                      # internals
    bad["src/core/big.c"] = "int x;\n" * 401                                     # size
    bad["src/newfolder/x.c"] = "int y;\n"                                        # unknown folder
    make_tree(tmp_path, bad)
    os.makedirs(os.path.join(tmp_path, "src", "ipc"))                              # no README
    with open(os.path.join(tmp_path, "src", "ipc", "frame.c"), "w") as f:
        f.write("int z;\n")
    rc, out = run(tmp_path)
    assert rc == 1
    for expected in ("src/session/hybrid.c: includes api/chat_run.h",
                     "src/session/pool.c: includes supervisor/relay.h",
                     "src/supervisor/frames.c: includes session/session.h",
                     "src/http/server.c: includes <curl/curl.h>",
                     "src/agent/loop.c: includes <microhttpd.h>",
                     "src/api/turn.c: includes supervisor_int.h",
                     "src/core/big.c: 401 lines",
                     "src/newfolder/x.c: folder 'newfolder' is not in the layout table",
                     "src/ipc: no README.md"):
        assert expected in out, (expected, out)

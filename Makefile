# agentd: self-hosted Claude agents in Linux sandboxes.
#
#   make            build ./agentd
#   make deps       install the Debian packages needed to build and test
#   make run        deps + build + start on 127.0.0.1:8080 with config/agentd.json
#   make test       deps + build + every test, then again on an ASan+UBSan build
#   make ui-test    the chat page's browser tests (Chromium) against ./agentd
#   make check-layout  the tree keeps its folders per process (in make test)
#   make static-deps  the page's third-party files into static/vendor/ (npm)
#   make bench      sandbox start-up and memory, beside bubblewrap and unshare; chat,
#                   session, first and later tool call and long-reply timings; prompt-cache
#                   tokens and cost; workspaces on disk beside tmpfs (suspend/resume, session
#                   start); density: 10 000 idle sessions (may raise kernel.pid_max for its
#                   run, and put it back)
#   make fuzz       libFuzzer on every parser (FUZZ_SECONDS each)
#   make install    PREFIX=/usr/local DESTDIR= : binary, static files, config, unit

VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share/agentd
SYSCONFDIR ?= /etc
UNITDIR    ?= /etc/systemd/system
DESTDIR    ?=

CC         ?= cc
PKG_CONFIG ?= pkg-config
PYTHON     ?= /usr/bin/python3
PKGS       := libmicrohttpd libcurl libcjson libseccomp

# Debian packages: to build, and to test (the tests run real peers).
DEB_BUILD  := build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev \
              libseccomp-dev
# e2fsprogs: mkfs.ext4 makes the loop store's workspace images (sandbox.workspace_store)
DEB_RUN    := e2fsprogs
# haproxy: the multi-node test's load balancer (config/haproxy.cfg, test_multinode.py)
DEB_TEST   := libcmocka-dev python3 python3-pytest python3-yaml curl iproute2 procps util-linux chromium xfsprogs \
              prometheus haproxy
DEB_BENCH  := bubblewrap
DEB_PKGS   := $(DEB_BUILD) $(DEB_RUN) $(DEB_TEST) $(DEB_BENCH)

CFLAGS     ?= -O2 -g
# -Wno-format-truncation: error and log text is bounded by snprintf and cut on purpose.
WARNINGS   := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wundef \
              -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition -Wvla \
              -Wpointer-arith -Wimplicit-fallthrough -Wcast-qual -Wno-unused-parameter \
              -Wno-format-truncation
HARDEN     := -fstack-protector-strong -fPIE -D_FORTIFY_SOURCE=2
DEFS        = -D_GNU_SOURCE -DAGENTD_VERSION='"$(VERSION)"' \
              -DAGENTD_STATIC_DIR='"$(DATADIR)/static"' \
              -DAGENTD_CONFIG_PATH='"$(SYSCONFDIR)/agentd/agentd.json"' \
              $(if $(MHD_SONAME),-DMHD_SONAME='"$(MHD_SONAME)"') \
              $(if $(CURL_SONAME),-DCURL_SONAME='"$(CURL_SONAME)"') \
              -DSANDBOX_INIT_ELF='"$(INIT_ELF)"' \
              -DSANDBOX_SECCOMP_BPF='"$(CURDIR)/$(SECCOMP_BPF)"'
PKG_CFLAGS  = $(shell $(PKG_CONFIG) --cflags $(PKGS))
# libmicrohttpd and libcurl are not linked but dlopen()ed when first needed
# (src/http/mhd_loader.c, src/supervisor/curl_loader.c), so that processes that serve no
# HTTP or call no API (the sandbox's init, agentd sandbox run) never load them and the
# TLS libraries behind them.
# libseccomp is linked in whole (its .a): what agentd uses of it at run time is the
# self-check's; one shared library fewer to map and relocate at each start, which is
# most of what a short-lived `agentd sandbox run` costs (page faults).
LINKED      = $(filter-out libmicrohttpd libcurl libseccomp,$(PKGS))
PKG_LIBS    = $(shell $(PKG_CONFIG) --libs $(LINKED)) -Wl,-Bstatic $(shell $(PKG_CONFIG) --libs libseccomp) -Wl,-Bdynamic
soname      = $(shell objdump -p "$$($(PKG_CONFIG) --variable=libdir $(1))/$(1).so" 2>/dev/null \
                | awk '/SONAME/ { print $$2 }')
MHD_SONAME  = $(call soname,libmicrohttpd)
CURL_SONAME = $(call soname,libcurl)
ALL_CFLAGS  = -std=gnu11 -Iinclude $(DEFS) $(WARNINGS) $(HARDEN) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(LDFLAGS)

SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all

SRCS       := $(sort $(wildcard src/*/*.c))
MAIN_SRC   := src/main.c
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HDRS  := $(wildcard tests/unit/*.h)
FUZZ_SRCS  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)

# The sandbox's init: a small static program without libc (src/sandbox/tiny_init/),
# embedded in agentd (src/sandbox/init_image.c) and run from a sealed memfd as each
# sandbox's PID 1. One for both flavours: it is never built with the sanitizers.
INIT_ELF    := build/init/agentd-init
INIT_CFLAGS := -std=gnu11 -Isrc -Os -ffreestanding -fno-builtin -fno-stack-protector -fno-pie \
               -fno-asynchronous-unwind-tables -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror -D_FORTIFY_SOURCE=0
INIT_LDFLAGS := -static -nostdlib -no-pie -s -Wl,--build-id=none,-z,norelro,-z,noexecstack,-z,noseparate-code
$(INIT_ELF): src/sandbox/tiny_init/init.c src/sandbox/tiny_init/sys.h src/sandbox/init_wire.h
	@mkdir -p $(@D)
	$(CC) $(INIT_CFLAGS) $< -o $@ $(INIT_LDFLAGS)

# The sandbox's seccomp program, compiled at build time with libseccomp by the code
# that would compile it at run time (src/sandbox/seccomp_filter.c), embedded by
# src/sandbox/seccomp_builtin.c; test_seccomp_builtin checks that they agree.
SECCOMP_BPF := build/gen/seccomp_bpf.inc
SECCOMP_GEN := build/gen/seccomp_gen
$(SECCOMP_GEN): src/sandbox/seccomp_gen/main.c src/sandbox/seccomp_filter.c src/core/err.c \
                src/sandbox/seccomp_int.h include/sandbox/seccomp_filter.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Isrc $(filter %.c,$^) -o $@ $(ALL_LDFLAGS) $(shell $(PKG_CONFIG) --libs libseccomp)
$(SECCOMP_BPF): $(SECCOMP_GEN)
	$(SECCOMP_GEN) > $@.tmp && mv -f $@.tmp $@

# Two flavours of the same tree: build/rel (the ./agentd you run) and build/asan.
define flavour
$(1)_OBJS  := $$(SRCS:src/%.c=build/$(1)/%.o)
$(1)_MAIN  := build/$(1)/main.o
$(1)_UNITS := $$(UNIT_SRCS:tests/unit/%.c=build/$(1)/tests/%)
$(1)_FUZZ  := $$(FUZZ_NAMES:%=build/$(1)/fuzz/fuzz_%)

build/$(1)/%.o: src/%.c
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $(2) -c $$< -o $$@

build/$(1)/sandbox/init_image.o: $(INIT_ELF)
build/$(1)/sandbox/seccomp_builtin.o: $(SECCOMP_BPF)

build/$(1)/tests/%: tests/unit/%.c $$(UNIT_HDRS) $$($(1)_OBJS)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $(2) -Wno-missing-prototypes $$< $$($(1)_OBJS) -o $$@ \
		$$(ALL_LDFLAGS) $(2) $$(PKG_LIBS) -lcmocka

# fuzz targets with the replay driver: the corpus runs in make test
build/$(1)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $$($(1)_OBJS)
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) $(2) -Wno-missing-prototypes $$(filter %.c,$$^) $$($(1)_OBJS) -o $$@ \
		$$(ALL_LDFLAGS) $(2) $$(PKG_LIBS)

build/$(1)/agentd: $$($(1)_MAIN) $$($(1)_OBJS)
	$$(CC) $$^ -o $$@ $$(ALL_LDFLAGS) $(2) $$(PKG_LIBS)

-include $$($(1)_OBJS:.o=.d) $$($(1)_MAIN:.o=.d)
endef

$(eval $(call flavour,rel,))
$(eval $(call flavour,asan,$(SAN_CFLAGS)))

.PHONY: all deps ui-deps mcp-deps runtime-deps run test test-rel test-asan run-tests check-layout ui-test static-deps bench fuzz install \
        uninstall clean
.DEFAULT_GOAL := all

all: agentd

# copy, then rename: a running ./agentd is replaced, not written over
agentd: build/rel/agentd
	cp $< $@.tmp && mv -f $@.tmp $@

# Debian's prometheus package (the tests' Prometheus and promtool) enables and starts a
# system Prometheus on :9090; its haproxy package a system HAProxy (with a config that
# listens nowhere). The tests start their own on free loopback ports; a machine that runs
# them should not keep a stray server running, so the one a package started is stopped
# and kept from starting at boot. Done only right after deps installed the package,
# never to one that was there before. $(1): the service.
DISABLE_SERVICE = $$sudo systemctl disable --now $(1).service >/dev/null 2>&1; \
	if [ -x /etc/init.d/$(1) ]; then $$sudo /etc/init.d/$(1) stop >/dev/null 2>&1; \
		$$sudo update-rc.d $(1) disable >/dev/null 2>&1; fi; true

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present"; $(MAKE) --no-print-directory ui-deps mcp-deps runtime-deps; exit $$?; fi; \
	echo "deps: installing$$missing"; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update -q && $$sudo apt-get install -y -q --no-install-recommends $$missing && \
	for svc in prometheus haproxy; do case " $$missing " in *" $$svc "*) \
		echo "deps: stopping and disabling the system $$svc that Debian's package starts"; \
		$(call DISABLE_SERVICE,$$svc);; esac; done
	@$(MAKE) --no-print-directory ui-deps mcp-deps runtime-deps

# npm packages the tests need, each folder pinned by its package-lock.json: installed
# again when node_modules is missing or older than the lockfile. Node.js and npm are the
# machine's (node --test needs Node 20). $(1): the folder, $(2): what for.
define npm_ci
	@command -v npm >/dev/null 2>&1 || { echo "$@: Node.js 20 and npm are needed for $(2)" >&2; exit 1; }
	@if [ ! -d $(1)/node_modules ] || [ $(1)/package-lock.json -nt $(1)/node_modules ]; then \
		echo "$@: npm ci in $(1)"; \
		(cd $(1) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) && touch $(1)/node_modules; \
	else echo "$@: $(1)/node_modules up to date"; fi
endef

# The browser tests' one package (playwright-core).
UI_DIR := tests/ui
ui-deps:
	$(call npm_ci,$(UI_DIR),the browser tests)

# The MCP tests' server (@modelcontextprotocol/server-everything), bound into the
# sandboxes of tests/integration/test_mcp.py.
MCP_DIR := tests/mcp
mcp-deps:
	$(call npm_ci,$(MCP_DIR),the MCP tests)

# The real Claude Code CLI (the native binary is then
# tests/runtime/node_modules/@anthropic-ai/claude-code-linux-x64/claude: npm ci runs no
# install scripts) and the Claude Agent SDK, which tests/runtime/sdk_app.mjs drives.
RUNTIME_DIR := tests/runtime
runtime-deps:
	$(call npm_ci,$(RUNTIME_DIR),the Claude Code runtime tests)

# make run keeps its state in the tree: the settings below are what the CLI needs too
# (tokens live in the state directory), so they are printed as the command to use.
RUN_STATE ?= $(CURDIR)/.run/state
RUN_SETTINGS = AGENTD_STATE_DIR=$(RUN_STATE)
RUN_ARGS = --config config/agentd.json
run: deps
	@$(MAKE) --no-print-directory all
	@echo "agentd: http://127.0.0.1:8080/ (Ctrl-C stops it), its state in $(RUN_STATE)"
	@echo "agentd: API tokens for this agentd: $(RUN_SETTINGS) ./agentd token add NAME $(RUN_ARGS)"
	$(RUN_SETTINGS) ./agentd $(RUN_ARGS)

# Unit tests, then the integration tests against the real binary; for both flavours, side
# by side: most of a test's time is spent waiting on a daemon, so two flavours share two
# cores well. Each keeps its sandboxes on uids of its own (AGENTD_TEST_UID_SHIFT, the ASan
# flavour's 5000 further) and prints its output in one piece when it ends.
TEST_UID_SHIFT ?= $(or $(AGENTD_TEST_UID_SHIFT),0)
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check-layout
	@echo "make test: the normal and the ASan+UBSan flavours run side by side; each prints when it ends"
	@$(MAKE) --no-print-directory -j2 --output-sync=recurse test-rel test-asan

test-rel: agentd $(rel_UNITS) $(rel_FUZZ)
	@$(MAKE) --no-print-directory FLAVOUR=rel BIN=$(CURDIR)/agentd \
		AGENTD_TEST_UID_SHIFT=$(TEST_UID_SHIFT) run-tests

test-asan: build/asan/agentd $(asan_UNITS) $(asan_FUZZ)
	@$(MAKE) --no-print-directory FLAVOUR=asan BIN=$(CURDIR)/build/asan/agentd \
		AGENTD_TEST_UID_SHIFT=$(shell echo $$(($(TEST_UID_SHIFT) + 5000))) run-tests

# ASan aborts on the first error; UBSan as well (-fno-sanitize-recover).
SAN_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:strict_string_checks=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run-tests:
	@echo "== unit tests ($(FLAVOUR)) =="
	@set -e; for t in $(UNIT_SRCS:tests/unit/%.c=build/$(FLAVOUR)/tests/%); do \
		$(SAN_ENV) $$t; done
	@echo "== fuzz corpus replay ($(FLAVOUR)) =="
	@set -e; for f in $(FUZZ_NAMES); do \
		$(SAN_ENV) build/$(FLAVOUR)/fuzz/fuzz_$$f tests/fuzz/corpus/$$f; done
	@echo "== integration tests ($(FLAVOUR)) =="
	$(SAN_ENV) AGENTD_BIN=$(BIN) $(PYTHON) -m pytest -q -p no:cacheprovider --durations=10 tests/integration \
		$(if $(filter rel,$(FLAVOUR)),tests/mock)
	@echo "== browser tests ($(FLAVOUR)) =="
	$(SAN_ENV) AGENTD_BIN=$(BIN) node --test --test-concurrency=1 $(UI_DIR)/

# The tree keeps the shape of the three processes (tests/layout/check_layout.py): no
# include runs back up, libcurl is the supervisor's, no file over 400 lines, a README per
# folder. Its own tests first, so that a check that cannot fail is caught.
check-layout:
	@$(PYTHON) -m pytest -q -p no:cacheprovider tests/layout
	@$(PYTHON) tests/layout/check_layout.py

# The chat page in Debian's Chromium, against the real daemon and the mock Messages API.
UI_BIN ?= $(CURDIR)/agentd
ui-test: agentd
	@$(MAKE) --no-print-directory ui-deps
	AGENTD_BIN=$(UI_BIN) node --test --test-concurrency=1 $(UI_DIR)/

# The page's third-party files (marked, DOMPurify, highlight.js), pinned in static/'s
# lockfile, copied into static/vendor/ (committed: serving the page needs no Node.js).
static-deps:
	static/tools/vendor.sh

# Speed and memory, side by side with bubblewrap and unshare(1); not a test (these
# machines are shared and noisy): it prints figures, it does not judge them.
bench:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	$(PYTHON) tests/bench/sandbox_bench.py --runs 200
	$(PYTHON) tests/bench/chat_bench.py --runs 200 --pool 0
	$(PYTHON) tests/bench/chat_bench.py --runs 200 --pool 2
	$(PYTHON) tests/bench/pool_bench.py --runs 40 --pool 2 --bursts 6 --burst 8
	$(PYTHON) tests/bench/tool_bench.py --runs 40 --pool 2
	$(PYTHON) tests/bench/session_bench.py --runs 200
	$(PYTHON) tests/bench/density_bench.py --sessions 10000 --pid-max
	$(PYTHON) tests/bench/density_bench.py --sessions 1000 --no-shell-ahead
	$(PYTHON) tests/bench/long_reply_bench.py --runs 5
	$(PYTHON) tests/bench/long_reply_bench.py --runs 5 --stream
	$(PYTHON) tests/bench/cache_bench.py
	$(PYTHON) tests/bench/runtime_bench.py --runs 10
	$(PYTHON) tests/bench/workspace_bench.py

# Coverage-guided fuzzing with libFuzzer (clang), FUZZ_SECONDS per target, starting
# from tests/fuzz/corpus/NAME; what it finds lands in build/fuzz/. A crash file replays
# with build/rel/fuzz/fuzz_NAME FILE.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
fuzz: $(INIT_ELF) $(SECCOMP_BPF)
	@$(MAKE) --no-print-directory deps DEB_PKGS="$(DEB_BUILD) clang libclang-rt-14-dev"
	@mkdir -p build/fuzz
	@set -e; for f in $(FUZZ_NAMES); do \
		echo "== fuzz_$$f ($(FUZZ_SECONDS) s) =="; \
		$(FUZZ_CC) -std=gnu11 -Iinclude $(DEFS) $(PKG_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer \
			tests/fuzz/fuzz_$$f.c $(SRCS) -o build/fuzz/fuzz_$$f $(PKG_LIBS); \
		mkdir -p build/fuzz/corpus-$$f; cp -n tests/fuzz/corpus/$$f/* build/fuzz/corpus-$$f/; \
		build/fuzz/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/ \
			build/fuzz/corpus-$$f; \
	done

install: agentd
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/static $(DESTDIR)$(SYSCONFDIR)/agentd \
		$(DESTDIR)$(UNITDIR)
	install -m 0755 agentd $(DESTDIR)$(BINDIR)/agentd
	cp -R static/. $(DESTDIR)$(DATADIR)/static/
	sed -e 's|"static_dir": *"[^"]*"|"static_dir": "$(DATADIR)/static"|' \
		config/agentd.json > $(DESTDIR)$(SYSCONFDIR)/agentd/agentd.json.new
	@# never overwrite an operator's config
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/agentd/agentd.json ]; then \
		echo "keeping existing $(SYSCONFDIR)/agentd/agentd.json (new one: agentd.json.new)"; \
	else mv $(DESTDIR)$(SYSCONFDIR)/agentd/agentd.json.new $(DESTDIR)$(SYSCONFDIR)/agentd/agentd.json; fi
	sed -e 's|/usr/local/bin/agentd|$(BINDIR)/agentd|' -e 's|/etc/agentd/|$(SYSCONFDIR)/agentd/|g' \
		config/agentd.service > $(DESTDIR)$(UNITDIR)/agentd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/agentd.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/agentd $(DESTDIR)$(UNITDIR)/agentd.service
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build agentd .run

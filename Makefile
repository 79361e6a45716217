# luamockit: one c-shared build per Lua ABI, from that version's headers.
#
#   make build   build/lua5.1/luamockit.so and build/lua5.4/luamockit.so
#   make demo    install what is missing (Debian), build, run a timer daemon in lua5.4
#   make test    go test -race, busted under lua5.1, lua5.4 and luajit, the C host tests,
#                the handle and GC specs against an ASan/UBSan build (test-asan),
#                the LuaRocks round trips, the examples (test-examples), then the same
#                for lua5.2 and lua5.3 (test-extra),
#                the portable path (test-portable) and the Go version check (test-gocheck)
#   make test-portable  the portable path (pipe, poll; what macOS and the BSDs build)
#                on Linux into build/portable/lua5.X/, and the busted suite against it
#   make lint    go vet, gofmt, luacheck, actionlint (not part of make test)
#   make soak    the long soak (test/soak/run.sh), minutes
#
# LuaJIT loads the Lua 5.1 build. Lua 5.2 and 5.3 get their own builds under
# build/extra/lua5.X/ (make build-extra). One interpreter at a time, as CI
# runs them: make busted-lua5.1 | busted-lua5.2 | busted-lua5.3 | busted-lua5.4 | busted-luajit
#
# Header directories are overridable (LuaRocks passes LUA_INCDIR):
#   make build LUA51_INCDIR=/opt/lua51/include LUA54_INCDIR=/opt/lua54/include

GO           ?= go
CC           ?= cc
LUA51_INCDIR ?= /usr/include/lua5.1
LUA54_INCDIR ?= /usr/include/lua5.4
LUA52_INCDIR ?= /usr/include/lua5.2
LUA53_INCDIR ?= /usr/include/lua5.3
LUAJIT       ?= luajit
LUAJIT_INCDIR ?= /usr/include/luajit-2.1
BUILD        ?= build
GOFLAGS_BUILD ?= -trimpath -ldflags=-s
BUSTED       ?= /usr/bin/busted
# Shared libraries that leave the Lua C API to the loading interpreter:
# ELF linkers allow undefined symbols; macOS's needs to be told. (The test
# producer pins itself with dlopen(RTLD_NODELETE) too.)
ifeq ($(shell uname -s),Darwin)
SHLIB_LDFLAGS ?= -Wl,-undefined,dynamic_lookup
else
SHLIB_LDFLAGS ?= -Wl,-z,nodelete
endif
# Debian packages the build, the tests, the demo and lint need: every group
# of .ci/packages (which .ci/run and the workflow read too).
APT_PACKAGES ?= $(shell sh .ci/packages.sh)

GO_SRC := go.mod $(wildcard cmd/luamockit/*.go cmd/luamockit/*.c cmd/luamockit/*.h internal/*/*.go)

.PHONY: all build go-check test-gocheck test-portable deps demo test test-asan build-asan test-asan-lua5.1 test-asan-lua5.4 test-asan-luajit \
        build-asan-lua5.1 build-asan-lua5.4 build-asan-luajit test-faults test-soak-short test-go test-busted test-host test-modules test-rocks test-examples rock install-rock bench clean \
        build-extra test-modules-extra test-extra test-go-extra rock-smoke lint soak \
        build-lua5.1 build-lua5.2 build-lua5.3 build-lua5.4 build-luajit \
        busted-lua5.1 busted-lua5.2 busted-lua5.3 busted-lua5.4 busted-luajit

all: build

build: $(BUILD)/lua5.1/luamockit.so $(BUILD)/lua5.4/luamockit.so

# Go: at least go.mod's `go` version. Without Go, or with an older one,
# every Go build stops first with one line saying what to do
# (.ci/gocheck.sh); the check runs only when a Go build is about to.
GO_PROBLEM = $(shell GO="$(GO)" sh .ci/gocheck.sh)
go-check:
	$(if $(GO_PROBLEM),$(error $(GO_PROBLEM)))

# $(call cshared,incdir,out[,tags]): the module for one ABI; the .so leaves
# every lua_* symbol undefined for the loading interpreter to provide.
define cshared
	@mkdir -p $(dir $(2))
	CGO_ENABLED=1 CGO_CFLAGS="-I$(1) -O2" $(GO) build -buildmode=c-shared $(GOFLAGS_BUILD) $(if $(3),-tags $(3)) -o $(2) ./cmd/luamockit
	@rm -f $(basename $(2)).h
endef

$(BUILD)/lua5.1/luamockit.so: $(GO_SRC) | go-check
	$(call cshared,$(LUA51_INCDIR),$@)

$(BUILD)/lua5.4/luamockit.so: $(GO_SRC) | go-check
	$(call cshared,$(LUA54_INCDIR),$@)

# Installs the Debian packages that are missing, when it can (root or sudo).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; \
	else echo "deps: missing:$$missing (install them as root)"; exit 1; fi; \
	echo "deps: installing$$missing"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing

demo: deps build
	LUA_CPATH="$(BUILD)/lua5.4/?.so" lua5.4 test/demo/daemon.lua

test: deps build test-hub test-asan test-go test-busted test-host test-rocks test-examples test-extra test-portable test-gocheck test-soak-short


# The hub (cmd/luamockit/hub.c: producer items, waking the Lua thread)
# alone, with real threads and exact books, under ThreadSanitizer and
# under AddressSanitizer/UBSan, for the Linux path (futexes, eventfd) and
# the portable one (condition variables, a pipe): HUB_SEEDS runs each.
HUB_SEEDS ?= 30
HUB_TEST_CC = $(CC) -O1 -g -Wall -Wextra -I$(LUA54_INCDIR) -Icmd/luamockit test/hub_test.c cmd/luamockit/hub.c cmd/luamockit/hubwake.c cmd/luamockit/port.c -lpthread -ldl
test-hub:
	@mkdir -p $(BUILD)/host
	$(HUB_TEST_CC) -fsanitize=thread -o $(BUILD)/host/hub_test_tsan
	$(HUB_TEST_CC) -fsanitize=address,undefined -fno-sanitize-recover=undefined -o $(BUILD)/host/hub_test_asan
	$(HUB_TEST_CC) -DLMK_PORTABLE -fsanitize=thread -o $(BUILD)/host/hub_test_tsan_portable
	$(BUILD)/host/hub_test_tsan $(HUB_SEEDS)
	$(BUILD)/host/hub_test_asan $(HUB_SEEDS)
	$(BUILD)/host/hub_test_tsan_portable $(HUB_SEEDS)

# The real luamockit.so under AddressSanitizer and UBSan, loaded by a host
# (test/asanhost.c: what lua.c does for `lua script args`, linked with the
# same sanitizers against Debian's liblua5.1 / liblua5.4 / libluajit-5.1)
# that runs busted on the specs about timer handles, the collector and
# closing states (ASAN_SPECS), under lua5.1, lua5.4 and LuaJIT.
#
# The module: `go build -asan` (the Go code instrumented too: a C access to
# Go memory, or Go's to C's, is checked as well) with the shim compiled
# with $(ASAN_CFLAGS); not -ldflags=-s, so reports name functions and lines.
# Plain CGO_CFLAGS/CGO_LDFLAGS builds work as well (measured: same run
# times; the Go build is 10 s longer once, then cached), but check only C.
# A sanitized .so needs the ASan runtime first in the process: the stock
# interpreter refuses it ("ASan runtime does not come first in initial
# library list"). A host linked with -fsanitize=address rather than
# LD_PRELOAD of libasan into lua5.X: the preload would reach every process
# the specs start (sh, and the interpreter of H.run_lua) and needs the
# runtime's gcc-specific file name; the host's children are the host
# again (LMK_LUA), so the specs' subprocesses run sanitized too. The test
# producer is built with the sanitizers too (build/asan/test/lua5.X).
#
# ASAN_OPTIONS: detect_leaks stays on: Go's heap is not malloc's (LSan
# neither tracks nor scans it) and no C block is held only by Go memory
# (handles cross as integers), so a leak report is a C block really lost
# (the test producer keeps its retired jobs reachable on purpose). 5.4's
# busted closes the state at exit (os.exit(code, true)): the close path
# runs under LSan. abort_on_error=0 and exitcode=1 (the defaults, spelled
# out): a report ends the process with status 1, busted's run fails.
# handle_segv stays on (Go's handler, installed after ASan's at load,
# forwards faults outside Go code to it). UBSAN_OPTIONS: print_stacktrace.
# busted's TAP output names each test as it starts: a report aborts the
# process, and the last "# file @ line: name" before it is the culprit.
# It fits CI's time, so it is part of make test (its specs mostly sleep).
ASAN_CFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
ASAN_DIR   := $(BUILD)/asan
ASAN_SPECS ?= test/handles_spec.lua test/gc_spec.lua test/lifecycle_spec.lua test/timers_spec.lua test/errors_spec.lua \
              test/api_spec.lua test/waitloop_spec.lua test/args_spec.lua test/events_spec.lua \
              test/co_spec.lua test/coroutines_spec.lua test/fuzz_spec.lua test/rearm_spec.lua test/vclock_spec.lua
ASAN_ENV    = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ASAN_HOST_CC = $(CC) -O1 -g -Wall -Wextra $(ASAN_CFLAGS)
# $(call ASAN_RUN,host,abi): busted under the host, module and producer from build/asan/abi
ASAN_RUN = $(ASAN_ENV) LMK_LUA=$(CURDIR)/$(ASAN_DIR)/host/$(1) $(ASAN_DIR)/host/$(1) $(BUSTED) \
  --cpath="$(ASAN_DIR)/$(2)/?.so;$(ASAN_DIR)/test/$(2)/?.so" --lpath="lua/?.lua;lua/?/init.lua" -o TAP $(ASAN_SPECS)

# $(call asanshared,incdir,out)
define asanshared
	@mkdir -p $(dir $(2))
	CGO_ENABLED=1 CGO_CFLAGS="-I$(1) -O1 -g $(ASAN_CFLAGS)" CGO_LDFLAGS="$(ASAN_CFLAGS)" $(GO) build -asan -buildmode=c-shared -trimpath -o $(2) ./cmd/luamockit
	@rm -f $(basename $(2)).h
endef

$(ASAN_DIR)/lua5.1/luamockit.so: $(GO_SRC) | go-check
	$(call asanshared,$(LUA51_INCDIR),$@)

$(ASAN_DIR)/lua5.4/luamockit.so: $(GO_SRC) | go-check
	$(call asanshared,$(LUA54_INCDIR),$@)

$(ASAN_DIR)/test/lua5.1/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(ASAN_HOST_CC) -shared -fPIC $(SHLIB_LDFLAGS) -I$(LUA51_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

$(ASAN_DIR)/test/lua5.4/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(ASAN_HOST_CC) -shared -fPIC $(SHLIB_LDFLAGS) -I$(LUA54_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

$(ASAN_DIR)/host/asanhost51: test/asanhost.c
	@mkdir -p $(dir $@)
	$(ASAN_HOST_CC) -I$(LUA51_INCDIR) -o $@ $< -llua5.1 -lm -ldl

$(ASAN_DIR)/host/asanhost54: test/asanhost.c
	@mkdir -p $(dir $@)
	$(ASAN_HOST_CC) -I$(LUA54_INCDIR) -o $@ $< -llua5.4 -lm -ldl

$(ASAN_DIR)/host/asanhostjit: test/asanhost.c
	@mkdir -p $(dir $@)
	$(ASAN_HOST_CC) -I$(LUAJIT_INCDIR) -o $@ $< -lluajit-5.1 -lm -ldl

# One interpreter each, building only its ABI (as a CI leg would).
build-asan-lua5.1: $(ASAN_DIR)/lua5.1/luamockit.so $(ASAN_DIR)/test/lua5.1/testproducer.so $(ASAN_DIR)/host/asanhost51
build-asan-lua5.4: $(ASAN_DIR)/lua5.4/luamockit.so $(ASAN_DIR)/test/lua5.4/testproducer.so $(ASAN_DIR)/host/asanhost54
build-asan-luajit: $(ASAN_DIR)/lua5.1/luamockit.so $(ASAN_DIR)/test/lua5.1/testproducer.so $(ASAN_DIR)/host/asanhostjit
build-asan: build-asan-lua5.1 build-asan-lua5.4 build-asan-luajit

test-asan-lua5.1: build-asan-lua5.1
	$(call ASAN_RUN,asanhost51,lua5.1)
test-asan-lua5.4: build-asan-lua5.4
	$(call ASAN_RUN,asanhost54,lua5.4)
test-asan-luajit: build-asan-luajit
	$(call ASAN_RUN,asanhostjit,lua5.1)

test-asan: test-asan-lua5.1 test-asan-lua5.4 test-asan-luajit

# The queue alone, then the real binding in an in-process golua state, for
# each ABI (the shim is compiled against the matching headers; -idirafter
# lets golua keep its own copies first).
test-go: go-check
	$(GO) vet ./internal/...
	$(GO) test -race -count=1 ./internal/...
	CGO_CFLAGS="-idirafter $(LUA51_INCDIR)" $(GO) test -race -count=1 -tags lmkhost ./cmd/luamockit
	CGO_CFLAGS="-idirafter $(LUA54_INCDIR)" $(GO) test -race -count=1 -tags lmkhost,lua54 ./cmd/luamockit

BUSTED_RUN = $(1) $(BUSTED) --cpath="$(BUILD)/$(2)/?.so;$(BUILD)/test/$(2)/?.so" --lpath="lua/?.lua;lua/?/init.lua" -o utfTerminal

# Test-only Lua modules: a real producer library (C, pthreads) that uses
# the producer C API through luamockit_api.h only, never linking luamockit.
TEST_MODULES = $(if $(wildcard test/producer/testproducer.c),$(BUILD)/test/lua5.1/testproducer.so $(BUILD)/test/lua5.4/testproducer.so)
API_H = cmd/luamockit/luamockit_api.h

$(BUILD)/test/lua5.1/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -shared -fPIC $(SHLIB_LDFLAGS) -I$(LUA51_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

$(BUILD)/test/lua5.4/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -shared -fPIC $(SHLIB_LDFLAGS) -I$(LUA54_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

# test/sigburst.c: sends a signal as fast as kill() goes (test/sigevents_spec.lua).
$(BUILD)/test/sigburst: test/sigburst.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -o $@ $<

test-modules: $(TEST_MODULES) $(BUILD)/test/sigburst

# The whole busted suite under one interpreter (LMK_LUA: the interpreter
# the specs start subprocesses with). LuaJIT runs the Lua 5.1 build.
BUSTED_lua5.1 = LMK_LUA=lua5.1 $(call BUSTED_RUN,lua5.1,lua5.1)
BUSTED_lua5.4 = LMK_LUA=lua5.4 $(call BUSTED_RUN,lua5.4,lua5.4)
BUSTED_luajit = LMK_LUA=$(LUAJIT) $(call BUSTED_RUN,$(LUAJIT),lua5.1)

test-busted: build test-modules
	$(BUSTED_lua5.1)
	$(BUSTED_lua5.4)
	$(BUSTED_luajit)

# One interpreter each, building only its ABI (a CI leg has only that
# version's headers).
build-lua5.1 build-luajit: $(BUILD)/lua5.1/luamockit.so $(BUILD)/test/lua5.1/testproducer.so
build-lua5.4: $(BUILD)/lua5.4/luamockit.so $(BUILD)/test/lua5.4/testproducer.so

busted-lua5.1: build-lua5.1
	$(BUSTED_lua5.1)
busted-lua5.4: build-lua5.4
	$(BUSTED_lua5.4)
busted-luajit: build-luajit
	$(BUSTED_luajit)

# The C hosts, for each ABI (and LuaJIT's library for the fault hosts):
# multistate opens several Lua states (same thread and one per pthread) in
# one process; forkhost forks; oomhost sweeps a failing allocation over
# luamockit's paths (OOM_STRIDE: every budget up to 64, then every
# OOM_STRIDE-th); sigstorm runs sleep, wait and a timer loop under 1, 5 and
# 20 kHz of signals (SIGSTORM_MS per part).
OOM_STRIDE ?= 3
SIGSTORM_MS ?= 300
HOST_CC = $(CC) -O2 -Wall

test-host: build test-modules
	@mkdir -p $(BUILD)/host
	$(HOST_CC) -I$(LUA51_INCDIR) -o $(BUILD)/host/multistate51 test/multistate.c -llua5.1 -lpthread -ldl -lm
	$(HOST_CC) -I$(LUA54_INCDIR) -o $(BUILD)/host/multistate54 test/multistate.c -llua5.4 -lpthread -ldl -lm
	$(HOST_CC) -I$(LUA51_INCDIR) -o $(BUILD)/host/forkhost51 test/forkhost.c -llua5.1 -lm
	$(HOST_CC) -I$(LUA54_INCDIR) -o $(BUILD)/host/forkhost54 test/forkhost.c -llua5.4 -lm
	$(BUILD)/host/multistate51 $(BUILD)/lua5.1/luamockit.so
	$(BUILD)/host/multistate54 $(BUILD)/lua5.4/luamockit.so
	$(BUILD)/host/forkhost51 $(BUILD)/lua5.1/luamockit.so
	$(BUILD)/host/forkhost54 $(BUILD)/lua5.4/luamockit.so
	$(MAKE) --no-print-directory test-faults

test-faults: build test-modules
	@mkdir -p $(BUILD)/host
	$(HOST_CC) -I$(LUA51_INCDIR) -o $(BUILD)/host/oomhost51 test/oomhost.c -llua5.1 -ldl -lm
	$(HOST_CC) -I$(LUA54_INCDIR) -o $(BUILD)/host/oomhost54 test/oomhost.c -llua5.4 -ldl -lm
	$(HOST_CC) -I$(LUAJIT_INCDIR) -o $(BUILD)/host/oomhostjit test/oomhost.c -lluajit-5.1 -ldl -lm
	$(HOST_CC) -I$(LUA51_INCDIR) -o $(BUILD)/host/sigstorm51 test/sigstorm.c -llua5.1 -lpthread -ldl -lm
	$(HOST_CC) -I$(LUA54_INCDIR) -o $(BUILD)/host/sigstorm54 test/sigstorm.c -llua5.4 -lpthread -ldl -lm
	$(HOST_CC) -I$(LUAJIT_INCDIR) -o $(BUILD)/host/sigstormjit test/sigstorm.c -lluajit-5.1 -lpthread -ldl -lm
	$(BUILD)/host/oomhost51 $(BUILD)/lua5.1 $(BUILD)/test/lua5.1 $(OOM_STRIDE)
	$(BUILD)/host/oomhost54 $(BUILD)/lua5.4 $(BUILD)/test/lua5.4 $(OOM_STRIDE)
	$(BUILD)/host/oomhostjit $(BUILD)/lua5.1 $(BUILD)/test/lua5.1 $(OOM_STRIDE)
	$(BUILD)/host/sigstorm51 $(BUILD)/lua5.1 $(SIGSTORM_MS)
	$(BUILD)/host/sigstorm54 $(BUILD)/lua5.4 $(SIGSTORM_MS)
	$(BUILD)/host/sigstormjit $(BUILD)/lua5.1 $(SIGSTORM_MS)

# LuaRocks round trips (make, pack, install of the source rock) into
# temporary trees for 5.1 and 5.4, each followed by a smoke spec.
test-rocks:
	sh test/rock/roundtrip.sh

# The examples of examples/ (test/examples.sh): luarocks make into
# temporary trees for 5.1 and 5.4, then each example under lua5.1, LuaJIT
# and lua5.4 as a user would run it (that tree's `luarocks path`), its
# output checked; the producer example built by its own Makefile against
# the installed header. copas4_echo.lua runs only with LMK_COPAS4_PATH
# (see test/copas_spec.lua), else it is skipped with the reason printed.
test-examples:
	sh test/examples.sh

# ---- Lua 5.2 and 5.3 ----------------------------------------------------
# Built from Debian's lua5.2/lua5.3 headers into build/extra/lua5.X/ (module)
# and build/extra/test/lua5.X/ (test producer); the build/lua5.1 and
# build/lua5.4 layout above is unchanged. test-extra: the busted suite, the
# golua host (-tags lua52/lua53) and a LuaRocks round trip for each.
EXTRA := $(BUILD)/extra
BUSTED_RUN_EXTRA = $(1) $(BUSTED) --cpath="$(EXTRA)/$(2)/?.so;$(EXTRA)/test/$(2)/?.so" --lpath="lua/?.lua;lua/?/init.lua" -o utfTerminal
BUSTED_lua5.2 = LMK_LUA=lua5.2 $(call BUSTED_RUN_EXTRA,lua5.2,lua5.2)
BUSTED_lua5.3 = LMK_LUA=lua5.3 $(call BUSTED_RUN_EXTRA,lua5.3,lua5.3)

$(EXTRA)/lua5.2/luamockit.so: $(GO_SRC) | go-check
	$(call cshared,$(LUA52_INCDIR),$@)

$(EXTRA)/lua5.3/luamockit.so: $(GO_SRC) | go-check
	$(call cshared,$(LUA53_INCDIR),$@)

$(EXTRA)/test/lua5.2/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -shared -fPIC $(SHLIB_LDFLAGS) -I$(LUA52_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

$(EXTRA)/test/lua5.3/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -shared -fPIC $(SHLIB_LDFLAGS) -I$(LUA53_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

build-extra: $(EXTRA)/lua5.2/luamockit.so $(EXTRA)/lua5.3/luamockit.so
test-modules-extra: $(EXTRA)/test/lua5.2/testproducer.so $(EXTRA)/test/lua5.3/testproducer.so

build-lua5.2: $(EXTRA)/lua5.2/luamockit.so $(EXTRA)/test/lua5.2/testproducer.so
build-lua5.3: $(EXTRA)/lua5.3/luamockit.so $(EXTRA)/test/lua5.3/testproducer.so

busted-lua5.2: build-lua5.2
	$(BUSTED_lua5.2)
busted-lua5.3: build-lua5.3
	$(BUSTED_lua5.3)

# The binding in an in-process golua state (golua's lua52/lua53 tags).
test-go-extra: go-check
	CGO_CFLAGS="-idirafter $(LUA52_INCDIR)" $(GO) test -race -count=1 -tags lmkhost,lua52 ./cmd/luamockit
	CGO_CFLAGS="-idirafter $(LUA53_INCDIR)" $(GO) test -race -count=1 -tags lmkhost,lua53 ./cmd/luamockit

test-extra: busted-lua5.2 busted-lua5.3 test-go-extra
	$(MAKE) --no-print-directory rock-smoke ROCK_LUA_VERSION=5.2
	$(MAKE) --no-print-directory rock-smoke ROCK_LUA_VERSION=5.3

# One LuaRocks round trip for one Lua version (what CI runs per leg):
# luarocks make into a temporary tree, then the smoke spec with that tree's
# `luarocks path`, under ROCK_LUA (luajit: ROCK_LUA_VERSION=5.1 ROCK_LUA=luajit).
ROCK_LUA_VERSION ?= 5.4
ROCK_LUA         ?= lua$(ROCK_LUA_VERSION)
rock-smoke:
	@tree=$$(mktemp -d) && trap 'rm -rf "$$tree"' EXIT && \
	echo "luarocks make --lua-version=$(ROCK_LUA_VERSION) --tree=$$tree" && \
	luarocks make rockspec/luamockit-scm-1.rockspec --tree="$$tree" --lua-version=$(ROCK_LUA_VERSION) >/dev/null && \
	eval "$$(luarocks path --tree "$$tree" --lua-version $(ROCK_LUA_VERSION))" && \
	LMK_ROCK_TREE="$$tree" $(ROCK_LUA) $(BUSTED) --no-auto-insulate -o utfTerminal test/rock/smoke_spec.lua

# ---- the portable path on Linux -------------------------------------------
# -tags lmkportable builds what macOS and the BSDs build (cmd/luamockit/port.h):
# a pipe instead of the eventfd, poll() instead of ppoll(), no prctl() timer
# slack, nanosleep() instead of clock_nanosleep(), sockets flagged by
# fcntl. Into build/portable/lua5.X/; neither .so may import a Linux-only
# call (the default build must: proof that the check can fail); then the
# busted suite under lua5.1 and lua5.4, the golua host for 5.4 and the
# signal storm, each against the portable build.
PORTABLE   := $(BUILD)/portable
LINUX_ONLY := eventfd ppoll prctl timerfd_create epoll_create1
BUSTED_PORTABLE = LMK_PORTABLE=1 LMK_LUA=$(1) $(1) $(BUSTED) --cpath="$(PORTABLE)/$(1)/?.so;$(BUILD)/test/$(1)/?.so" --lpath="lua/?.lua;lua/?/init.lua" -o utfTerminal

$(PORTABLE)/lua5.1/luamockit.so: $(GO_SRC) | go-check
	$(call cshared,$(LUA51_INCDIR),$@,lmkportable)

$(PORTABLE)/lua5.4/luamockit.so: $(GO_SRC) | go-check
	$(call cshared,$(LUA54_INCDIR),$@,lmkportable)

# imports(so): the dynamic symbols a .so takes from elsewhere, bare names.
imports = nm -D --undefined-only $(1) | awk '{ print $$NF }' | sed 's/@.*//'

test-portable: $(PORTABLE)/lua5.1/luamockit.so $(PORTABLE)/lua5.4/luamockit.so $(BUILD)/lua5.4/luamockit.so $(TEST_MODULES)
	@for f in $(LINUX_ONLY); do $(call imports,$(BUILD)/lua5.4/luamockit.so) | grep -qx $$f || \
	  { echo "test-portable: the default build does not import $$f: the check below proves nothing"; exit 1; }; done
	@for so in $(PORTABLE)/lua5.1/luamockit.so $(PORTABLE)/lua5.4/luamockit.so; do \
	  bad=""; for f in $(LINUX_ONLY); do $(call imports,$$so) | grep -qx $$f && bad="$$bad $$f"; done; \
	  if [ -n "$$bad" ]; then echo "test-portable: $$so imports$$bad"; exit 1; fi; \
	  echo "test-portable: $$so imports none of $(LINUX_ONLY)"; \
	done
	$(call BUSTED_PORTABLE,lua5.1)
	$(call BUSTED_PORTABLE,lua5.4)
	CGO_CFLAGS="-idirafter $(LUA54_INCDIR)" $(GO) test -race -count=1 -tags lmkhost,lua54,lmkportable ./cmd/luamockit
	@mkdir -p $(BUILD)/host
	$(HOST_CC) -I$(LUA54_INCDIR) -o $(BUILD)/host/sigstorm54 test/sigstorm.c -llua5.4 -lpthread -ldl -lm
	$(BUILD)/host/sigstorm54 $(PORTABLE)/lua5.4 $(SIGSTORM_MS)

# Without Go, and with a Go older than go.mod's, make build stops with one
# line naming the minimum (test/gocheck.sh).
test-gocheck:
	sh test/gocheck.sh

# ---- lint (not part of make test) ---------------------------------------
# go vet for both ABIs and the portable path (the golua host test file needs
# the headers, as in test-go), the queue vetted for macOS and FreeBSD too,
# gofmt, luacheck (.luacheckrc) and actionlint on the workflows.
ACTIONLINT_VERSION ?= v1.7.7
LUACHECK ?= luacheck

lint: go-check
	$(GO) vet ./internal/...
	GOOS=darwin $(GO) vet ./internal/...
	GOOS=freebsd $(GO) vet ./internal/...
	CGO_CFLAGS="-idirafter $(LUA51_INCDIR)" $(GO) vet -tags lmkhost ./cmd/luamockit
	CGO_CFLAGS="-idirafter $(LUA54_INCDIR)" $(GO) vet -tags lmkhost,lua54 ./cmd/luamockit
	CGO_CFLAGS="-idirafter $(LUA54_INCDIR)" $(GO) vet -tags lmkhost,lua54,lmkportable ./cmd/luamockit
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not gofmt'ed:"; echo "$$out"; exit 1; fi; echo "gofmt -l .: clean"
	$(LUACHECK) --no-color -q lua test examples
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION) .github/workflows/*.yml

# The soak (test/soak/run.sh): minutes of load under each interpreter;
# then the fault hosts at every budget, with 2 s parts under the storm.
soak: build test-modules
	BUILD=$(BUILD) sh test/soak/run.sh
	$(MAKE) --no-print-directory test-faults OOM_STRIDE=1 SIGSTORM_MS=2000

# The short version of each soak part, for make test: 3 s of producers,
# the 1 000 000-timer churn (under a second; RSS bound 25 % instead of the
# soak's 10 %, for the noise of a single measurement), 20 wait-loop rounds,
# 5 exit runs per mode, 40 + 40 model seeds (the busted suite runs more).
test-soak-short: build test-modules
	BUILD=$(BUILD) SOAK_SECS=3 CHURN_N=1000000 CHURN_TOL=25 WAIT_ROUNDS=20 EXIT_RUNS=5 MODEL_SEEDS=40 sh test/soak/run.sh

# LuaRocks' build (rockspec/luamockit-*.rockspec): one .so for the Lua it
# targets, from LUA_INCDIR, with its CFLAGS (LIBFLAG is not needed: Go links),
# and the test producer beside it for `luarocks test` (build/rock/test/, not
# installed; a failure there does not fail the install; .busted task "rock").
LUA_INCDIR ?= $(LUA54_INCDIR)
CFLAGS     ?= -O2 -fPIC
INST_PREFIX ?= /usr/local
INST_LIBDIR ?= $(INST_PREFIX)/lib/lua/5.4
INST_LUADIR ?= $(INST_PREFIX)/share/lua/5.4
INST_INCDIR ?= $(INST_PREFIX)/include
INST_BINDIR ?= $(INST_PREFIX)/bin

rock: go-check
	@mkdir -p $(BUILD)/rock/test
	CGO_ENABLED=1 CGO_CFLAGS="-I$(LUA_INCDIR) $(CFLAGS)" $(GO) build -buildmode=c-shared $(GOFLAGS_BUILD) -o $(BUILD)/rock/luamockit.so ./cmd/luamockit
	@rm -f $(BUILD)/rock/luamockit.h
	-$(CC) $(CFLAGS) -Wall -shared $(SHLIB_LDFLAGS) -I$(LUA_INCDIR) -Icmd/luamockit -o $(BUILD)/rock/test/testproducer.so test/producer/testproducer.c -lpthread
	@v=$$(sed -n 's/^#define LUA_VERSION_NUM[^0-9]*\([0-9]\)0\([0-9]\).*/\1.\2/p' "$(LUA_INCDIR)/lua.h"); \
	sed -e "s|@LUA_INCDIR@|$(LUA_INCDIR)|" -e "s|@LUA_VERSION@|$$v|" rockspec/luamockit-config.in > $(BUILD)/rock/luamockit-config.in

# The header goes to $(INST_INCDIR): under LuaRocks, the rock's own
# directory (<tree>/lib/luarocks/rocks-5.x/luamockit/<version>/include),
# on no include path; so the rock also installs luamockit-config (from
# rockspec/luamockit-config.in) into the tree's bin/, which says where it
# is: cc $$(luamockit-config --cflags) ... (see examples/README.md).
install-rock:
	install -d $(INST_LIBDIR) $(INST_LUADIR)/luamockit $(INST_INCDIR) $(INST_BINDIR)
	install -m 755 $(BUILD)/rock/luamockit.so $(INST_LIBDIR)/luamockit.so
	install -m 644 lua/luamockit/*.lua $(INST_LUADIR)/luamockit/
	install -m 644 cmd/luamockit/luamockit_api.h $(INST_INCDIR)/luamockit_api.h
	@incdir=$$(cd "$(INST_INCDIR)" && pwd); tail=""; \
	case "$$incdir" in */lib/luarocks/rocks-*) tail="lib/luarocks/$${incdir#*/lib/luarocks/}" ;; esac; \
	sed -e "s|@INCDIR@|$$incdir|" -e "s|@ROCKTAIL@|$$tail|" $(BUILD)/rock/luamockit-config.in > $(BUILD)/rock/luamockit-config
	install -m 755 $(BUILD)/rock/luamockit-config $(INST_BINDIR)/luamockit-config

# Benchmarks against luv (Debian's lua-luv) and the floor, for each ABI.
bench: build test-modules
	BUILD=$(BUILD) sh test/bench/run.sh
	@mkdir -p $(BUILD)/host
	$(CC) -O2 -Wall -o $(BUILD)/host/pingpong test/bench/pingpong.c -lpthread
	@for v in 5.1 5.4; do \
	  LMK_PINGPONG=$(BUILD)/host/pingpong LUA_CPATH="$(BUILD)/lua$$v/?.so;$(BUILD)/test/lua$$v/?.so" lua$$v test/producer/bench.lua || exit 1; \
	done

clean:
	rm -rf $(BUILD)

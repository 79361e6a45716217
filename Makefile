# luamockit: one c-shared build per Lua ABI, from that version's headers.
#
#   make build   build/lua5.1/luamockit.so and build/lua5.4/luamockit.so
#   make demo    install what is missing (Debian), build, run a timer daemon in lua5.4
#   make test    go test -race, busted under lua5.1, lua5.4 and luajit, the C host tests
#
# Header directories are overridable (LuaRocks passes LUA_INCDIR):
#   make build LUA51_INCDIR=/opt/lua51/include LUA54_INCDIR=/opt/lua54/include

GO           ?= go
CC           ?= cc
LUA51_INCDIR ?= /usr/include/lua5.1
LUA54_INCDIR ?= /usr/include/lua5.4
BUILD        ?= build
GOFLAGS_BUILD ?= -trimpath -ldflags=-s
BUSTED       ?= /usr/bin/busted
# Debian packages the build, the tests and the demo need.
APT_PACKAGES ?= gcc make git lua5.1 lua5.4 liblua5.1-0-dev liblua5.4-dev lua-busted luajit luarocks \
                lua-socket lua-luv lua-posix lua-copas

GO_SRC := go.mod $(wildcard cmd/luamockit/*.go cmd/luamockit/*.c cmd/luamockit/*.h internal/*/*.go)

.PHONY: all build deps demo test test-go test-busted test-host test-modules test-rocks rock install-rock bench clean

all: build

build: $(BUILD)/lua5.1/luamockit.so $(BUILD)/lua5.4/luamockit.so

# $(call cshared,incdir,out): the module for one ABI; the .so leaves every
# lua_* symbol undefined for the loading interpreter to provide.
define cshared
	@mkdir -p $(dir $(2))
	CGO_ENABLED=1 CGO_CFLAGS="-I$(1) -O2" $(GO) build -buildmode=c-shared $(GOFLAGS_BUILD) -o $(2) ./cmd/luamockit
	@rm -f $(basename $(2)).h
endef

$(BUILD)/lua5.1/luamockit.so: $(GO_SRC)
	$(call cshared,$(LUA51_INCDIR),$@)

$(BUILD)/lua5.4/luamockit.so: $(GO_SRC)
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

test: deps build test-go test-busted test-host test-rocks

# The queue alone, then the real binding in an in-process golua state, for
# each ABI (the shim is compiled against the matching headers; -idirafter
# lets golua keep its own copies first).
test-go:
	$(GO) vet ./internal/...
	$(GO) test -race -count=1 ./internal/...
	CGO_CFLAGS="-idirafter $(LUA51_INCDIR)" $(GO) test -race -count=1 ./cmd/luamockit
	CGO_CFLAGS="-idirafter $(LUA54_INCDIR)" $(GO) test -race -count=1 -tags lua54 ./cmd/luamockit

BUSTED_RUN = $(1) $(BUSTED) --cpath="$(BUILD)/$(2)/?.so;$(BUILD)/test/$(2)/?.so" --lpath="lua/?.lua;lua/?/init.lua" -o utfTerminal

# Test-only Lua modules: a real producer library (C, pthreads) that uses
# the producer C API through luamockit_api.h only, never linking luamockit.
TEST_MODULES = $(if $(wildcard test/producer/testproducer.c),$(BUILD)/test/lua5.1/testproducer.so $(BUILD)/test/lua5.4/testproducer.so)
API_H = cmd/luamockit/luamockit_api.h

$(BUILD)/test/lua5.1/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -shared -fPIC -Wl,-z,nodelete -I$(LUA51_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

$(BUILD)/test/lua5.4/testproducer.so: test/producer/testproducer.c $(API_H)
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -shared -fPIC -Wl,-z,nodelete -I$(LUA54_INCDIR) -Icmd/luamockit -o $@ $< -lpthread

test-modules: $(TEST_MODULES)

test-busted: build test-modules
	LMK_LUA=lua5.1 $(call BUSTED_RUN,lua5.1,lua5.1)
	LMK_LUA=lua5.4 $(call BUSTED_RUN,lua5.4,lua5.4)
	LMK_LUA=luajit $(call BUSTED_RUN,luajit,lua5.1)

# A C program that opens several Lua states (same thread and one per
# pthread) in one process, for each ABI.
test-host: build
	@mkdir -p $(BUILD)/host
	$(CC) -O2 -Wall -I$(LUA51_INCDIR) -o $(BUILD)/host/multistate51 test/multistate.c -llua5.1 -lpthread -ldl -lm
	$(CC) -O2 -Wall -I$(LUA54_INCDIR) -o $(BUILD)/host/multistate54 test/multistate.c -llua5.4 -lpthread -ldl -lm
	$(CC) -O2 -Wall -I$(LUA51_INCDIR) -o $(BUILD)/host/forkhost51 test/forkhost.c -llua5.1 -lm
	$(CC) -O2 -Wall -I$(LUA54_INCDIR) -o $(BUILD)/host/forkhost54 test/forkhost.c -llua5.4 -lm
	$(BUILD)/host/multistate51 $(BUILD)/lua5.1/luamockit.so
	$(BUILD)/host/multistate54 $(BUILD)/lua5.4/luamockit.so
	$(BUILD)/host/forkhost51 $(BUILD)/lua5.1/luamockit.so
	$(BUILD)/host/forkhost54 $(BUILD)/lua5.4/luamockit.so

# LuaRocks round trips (make, pack, install of the source rock) into
# temporary trees for 5.1 and 5.4, each followed by a smoke spec.
test-rocks:
	sh test/rock/roundtrip.sh

# LuaRocks' build (rockspec/luamockit-scm-1.rockspec): one .so for the Lua it
# targets, from LUA_INCDIR, with its CFLAGS (LIBFLAG is not needed: Go links).
LUA_INCDIR ?= $(LUA54_INCDIR)
CFLAGS     ?= -O2 -fPIC
INST_PREFIX ?= /usr/local
INST_LIBDIR ?= $(INST_PREFIX)/lib/lua/5.4
INST_LUADIR ?= $(INST_PREFIX)/share/lua/5.4
INST_INCDIR ?= $(INST_PREFIX)/include

rock:
	@mkdir -p $(BUILD)/rock
	CGO_ENABLED=1 CGO_CFLAGS="-I$(LUA_INCDIR) $(CFLAGS)" $(GO) build -buildmode=c-shared $(GOFLAGS_BUILD) -o $(BUILD)/rock/luamockit.so ./cmd/luamockit
	@rm -f $(BUILD)/rock/luamockit.h

install-rock:
	install -d $(INST_LIBDIR) $(INST_LUADIR)/luamockit $(INST_INCDIR)
	install -m 755 $(BUILD)/rock/luamockit.so $(INST_LIBDIR)/luamockit.so
	install -m 644 lua/luamockit/*.lua $(INST_LUADIR)/luamockit/
	install -m 644 cmd/luamockit/luamockit_api.h $(INST_INCDIR)/luamockit_api.h

# Benchmarks against luv (Debian's lua-luv) and the floor, for each ABI.
bench: build
	BUILD=$(BUILD) sh test/bench/run.sh

clean:
	rm -rf $(BUILD)

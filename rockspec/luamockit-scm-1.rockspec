-- luamockit: timers and safe delivery of work from background threads.
-- Built by the Makefile (a Go c-shared build for the Lua LuaRocks targets);
-- needs Go >= 1.23 and a C compiler, and no network. In a checkout,
-- `luarocks make` then `luarocks test` runs the busted suite against what
-- was built (the .busted task "rock").
rockspec_format = "3.0"
package = "luamockit"
version = "scm-1"

source = {
  url = "git+https://github.com/luamockit/luamockit.git",
}

description = {
  summary = "Timers and thread-safe event delivery for Lua: callbacks run only in process_events()",
  detailed = [[
Timers (one-off, interval) and native producer threads only enqueue events;
Lua dequeues them in process_events(), where callbacks run on the calling
lua_State; wait(timeout) blocks until something is queued. Keeps the API of
the original C luamockit, with per-state queues, error reporting, drift-free
interval timers, event-loop wake-ups (fd, UDP) and a C API for producer
libraries. Pure Lua modules: luamockit.co (tasks that sleep on luamockit's
timers), luamockit.copas and luamockit.cqueues (adapters for those loops),
luamockit.socket (LuaSocket select and copas wakers).]],
  homepage = "https://github.com/luamockit/luamockit",
  license = "MIT",
}

-- Linux (eventfd, ppoll) and the portable path (a pipe, poll), which
-- macOS and FreeBSD build; see the README's platform table.
supported_platforms = { "linux", "macosx", "freebsd" }

-- LuaSocket is optional: only the helper luamockit.socket needs it.
dependencies = {
  "lua >= 5.1, < 5.5",
}

build = {
  type = "make",
  build_target = "rock",
  build_variables = {
    LUA_INCDIR = "$(LUA_INCDIR)",
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
  },
  -- install-rock copies luamockit.so, every lua/luamockit/*.lua (co,
  -- socket, copas, cqueues, adapter: luamockit.<name>; types: the LuaLS
  -- definitions, a ---@meta file for editors) and the header;
  -- test/rock/smoke_spec.lua checks that each module is in the tree.
  install_target = "install-rock",
  install_variables = {
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_PREFIX = "$(PREFIX)",
  },
}

test = {
  type = "busted",
  flags = { "--run=rock" },
}

-- Signals as events (issue 24): mit.signal and co.signal.
--
-- A daemon in a child process ($LMK_LUA, the module from this cpath)
-- catches SIGHUP and SIGTERM as events, runs its cleanup and exits 0:
-- under a wait() loop, a LuaSocket select() on mit.fd(), the copas and
-- cqueues adapters, and luamockit.co tasks. A burst of 10 000 SIGUSR1 is
-- counted (merged by the kernel while pending, never more than sent),
-- without a crash. Once the last handle of a signal is gone, the signal
-- has its previous disposition again (SIGUSR1 kills, lua.c's Ctrl-C
-- handler is back). In-process: argument errors, stop/start/destroy
-- (nothing of a stopped or destroyed handle runs, even if deliveries were
-- queued), collection, the error handler's source, timers()/stats().
--
-- Synchronisation is by handshake: the child prints a line when it is
-- ready for the next signal, and the parent sends it only then. Every
-- child arms a 20 s backstop that ends it (rc 3) should a signal be lost.
--
-- Lua 5.1 syntax only: runs under lua5.1-5.4 and LuaJIT.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")

-- ------------------------------------------------------------ children --

-- A child script: package.path and cpath as here, a say() that flushes,
-- and the backstop.
local function script(body)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb"))
  f:write(string.format("package.path = %q\npackage.cpath = %q\n", package.path, package.cpath))
  f:write([[
local mit = require("luamockit")
local function say(...) io.stdout:write(table.concat({ ... }, " "), "\n"); io.stdout:flush() end
local backstop = mit.oneoff(20000, function() say("backstop"); os.exit(3) end)
]])
  f:write(body)
  f:close()
  return name
end

local function kill(sig, pid)
  os.execute("kill -" .. sig .. " " .. pid)
end

-- signum(name): the number of signal name ("USR1") on this system, from
-- the shell's kill -l (which maps numbers to names in every sh).
local signums
local function signum(name)
  if not signums then
    signums = {}
    local p = assert(io.popen("i=1; while [ $i -lt 32 ]; do echo \"$i $(kill -l $i)\"; i=$((i+1)); done 2>/dev/null"))
    for line in p:lines() do
      local n, s = line:match("^(%d+) (%S+)$")
      if n then signums[s:gsub("^SIG", "")] = tonumber(n) end
    end
    p:close()
  end
  return (assert(signums[name], "no signal " .. name .. " in kill -l"))
end

-- Runs body in a child and talks to it: plan is a list of { line, action }:
-- once the child prints line, action(pid) runs (a signal name: kill -NAME).
-- Returns { out = the child's lines, rc, err = its stderr, done = every
-- line of the plan came }.
local function converse(body, plan)
  local path = script(body)
  local errf = os.tmpname()
  local cmd = string.format(
    "%s %s 2>%s </dev/null & echo \"__LMK_PID__=$!\"; { wait $!; } 2>/dev/null; echo \"__LMK_RC__=$?\"",
    H.shquote(H.interp()), H.shquote(path), H.shquote(errf))
  local p = assert(io.popen(cmd, "r"))
  local res, pid, step = { out = {} }, nil, 1
  for line in p:lines() do
    local n = line:match("^__LMK_PID__=(%d+)$")
    local rc = line:match("^__LMK_RC__=(%d+)$")
    if n then
      pid = n
    elseif rc then
      res.rc = tonumber(rc)
    else
      res.out[#res.out + 1] = line
      local want = plan[step]
      if want and pid and line == want[1] then
        step = step + 1
        local action = want[2]
        if type(action) == "string" then kill(action, pid) elseif action then action(pid) end
      end
    end
  end
  p:close()
  res.done = step > #plan
  res.err = H.readfile(errf)
  res.text = table.concat(res.out, "\n")
  os.remove(errf)
  os.remove(path)
  return res
end

local function assert_clean(res, want)
  local ctx = string.format("rc=%s\nstdout:\n%s\nstderr:\n%s", tostring(res.rc), res.text, res.err)
  assert.is_true(res.done, "the child did not get through the handshake: " .. ctx)
  assert.are.same(want, res.out, ctx)
  assert.are.equal(0, res.rc, ctx)
end

-- The daemon's signal handlers, shared by the loops below: on_term is the
-- loop's own clean-up (an adapter's detach).
local DAEMON = [[
local done, hups, on_term, term = false, 0, nil, nil
local hup = mit.signal("HUP", function() hups = hups + 1; say("reload", hups) end)
term = mit.signal("TERM", function(what)
  say("term", what, tostring(term):match("%(SIGTERM, armed%)") and "armed" or tostring(term))
  done = true
  if on_term then on_term() end
end, "received")
]]

local CLEANUP = [[
hup:destroy(); term = term:destroy(); backstop:destroy()
say("cleanup", hups, tostring(hup):match("destroyed") or tostring(hup))
]]

local WANT = { "ready", "reload 1", "term received armed", "cleanup 1 destroyed" }
local PLAN = { { "ready", "HUP" }, { "reload 1", "TERM" } }

local has = function(m) return (pcall(require, m)) end

describe("mit.signal: a daemon in a child process catches SIGHUP and SIGTERM, cleans up, exits 0", function()
  it("under a wait()/process_events() loop", function()
    assert_clean(converse(DAEMON .. [[
say("ready")
while not done do mit.wait(); mit.process_events() end
]] .. CLEANUP, PLAN), WANT)
  end)

  it("under a LuaSocket select() on mit.fd() (luamockit.socket's fd waker)", function()
    if not has("socket") then return pending("LuaSocket is not installed for " .. _VERSION) end
    assert_clean(converse(DAEMON .. [[
local socket, msock = require("socket"), require("luamockit.socket")
local w = msock.newfd()
say("ready")
while not done do socket.select({ w }, nil, 5); w:handle() end
w:close()
]] .. CLEANUP, PLAN), WANT)
  end)

  it("under a LuaSocket select() on a UDP waker (mit.setport: Go's queue turns active)", function()
    if not has("socket") then return pending("LuaSocket is not installed for " .. _VERSION) end
    assert_clean(converse(DAEMON .. [[
local socket, msock = require("socket"), require("luamockit.socket")
local w = assert(msock.new())
say("ready")
while not done do socket.select({ w.socket }, nil, 5); w:handle() end
w:close()
]] .. CLEANUP, PLAN), WANT)
  end)

  it("with the copas adapter attached (copas.step loop)", function()
    if not (has("socket") and has("copas")) then
      return pending("copas is not installed for " .. _VERSION .. " (Debian packages 1.x for 5.1 and 5.2)")
    end
    assert_clean(converse(DAEMON .. [[
local copas = require("copas")
local h = require("luamockit.copas").attach(copas)
on_term = function() h:detach() end
say("ready")
while not done do copas.step(1) end
for _ = 1, 10 do copas.step(0) end -- the drain thread ends
say(coroutine.status(h.thread))
]] .. CLEANUP, PLAN), { "ready", "reload 1", "term received armed", "dead", "cleanup 1 destroyed" })
  end)

  it("with copas 4.x from $LMK_COPAS4_PATH attached (copas.loop() returns after detach)", function()
    local dir = os.getenv("LMK_COPAS4_PATH")
    if not dir or dir == "" or not has("socket") then
      return pending("LMK_COPAS4_PATH is not set (a directory with copas.lua 4.x and its dependencies)")
    end
    assert_clean(converse(string.format("package.path = %q .. package.path\n", dir .. "/?.lua;" .. dir .. "/?/init.lua;")
      .. DAEMON .. [[
local copas = require("copas")
assert(copas._VERSION:match("^Copas 4"), copas._VERSION)
local h = require("luamockit.copas").attach(copas)
on_term = function() h:detach() end
say("ready")
copas.loop()
say("loop returned")
]] .. CLEANUP, PLAN), { "ready", "reload 1", "term received armed", "loop returned", "cleanup 1 destroyed" })
  end)

  it("with the cqueues adapter attached (cq:loop() returns after detach)", function()
    if not has("cqueues") then return pending("cqueues is not installed for " .. _VERSION) end
    assert_clean(converse(DAEMON .. [[
local cqueues = require("cqueues")
local cq = cqueues.new()
local h = require("luamockit.cqueues").attach(cq)
on_term = function() h:detach() end
say("ready")
repeat
  local ok, err = cq:loop()
  if not ok then say("loop:", tostring(err)) end
until done and cq:empty()
]] .. CLEANUP, PLAN), WANT)
  end)

  it("in luamockit.co tasks (co.signal), co.run() returning once they end", function()
    assert_clean(converse([[
local co = require("luamockit.co")
local hups = 0
local reloader = co.spawn(function()
  while true do
    local name = co.signal("HUP")
    hups = hups + 1
    say("reload", hups, name)
  end
end)
co.spawn(function()
  local name = co.signal(15)
  say("term", name)
  reloader:cancel()
end)
co.spawn(function() say("ready", mit.stats().signals_armed) end)
co.run()
backstop:destroy()
say("cleanup", hups, mit.stats().signals)
]], { { "ready 2", "HUP" }, { "reload 1 SIGHUP", "TERM" } }),
      { "ready 2", "reload 1 SIGHUP", "term SIGTERM", "cleanup 1 0" })
  end)
end)

-- sigburst: build/test/sigburst (make test-modules), else compiled here.
local burst_bin
local function sigburst()
  if burst_bin then return burst_bin end
  local f = io.open("build/test/sigburst", "rb")
  if f then
    f:close()
    burst_bin = "build/test/sigburst"
  else
    local out = os.tmpname()
    if os.execute("cc -O2 -o " .. H.shquote(out) .. " test/sigburst.c 2>/dev/null") == true
      or os.execute("cc -O2 -o " .. H.shquote(out) .. " test/sigburst.c 2>/dev/null") == 0 then
      burst_bin = out
    end
  end
  return burst_bin
end

describe("mit.signal: a burst", function()
  it("of 10 000 SIGUSR1 is counted (1 to 10 000: pending ones merge), then SIGTERM ends the child with rc 0", function()
    local bin = sigburst()
    if not bin then return pending("no build/test/sigburst and no cc to build test/sigburst.c") end
    local sent
    local res = converse([[
local n, done = 0, false
local usr1 = mit.signal("USR1", function() n = n + 1 end)
local term = mit.signal("TERM", function() done = true end)
say("ready")
while not done do mit.wait(); mit.process_events() end
-- what Go's router passes on after SIGTERM (lower signals come first)
local t0 = mit.monotime()
while mit.monotime() - t0 < 200 do mit.wait(50); mit.process_events() end
usr1:destroy(); term:destroy(); backstop:destroy()
say("count", n)
]], { { "ready", function(pid)
      local p = assert(io.popen(H.shquote(bin) .. " " .. pid .. " " .. signum("USR1") .. " 10000", "r"))
      sent = tonumber((p:read("*a") or ""):match("sent (%d+)"))
      p:close()
      kill("TERM", pid)
    end } })
    local ctx = string.format("rc=%s\nstdout:\n%s\nstderr:\n%s", tostring(res.rc), res.text, res.err)
    assert.are.equal(10000, sent, "sigburst sent " .. tostring(sent) .. "; " .. ctx)
    assert.are.equal(0, res.rc, ctx)
    local n = tonumber(res.text:match("count (%d+)"))
    assert.is_number(n, ctx)
    H.between(n, 1, 10000, "SIGUSR1 deliveries counted of 10 000 sent")
    print(string.format("signal burst (%s): 10000 SIGUSR1 sent, %d counted (the rest merged while pending)", H.interp(), n))
  end)
end)

describe("mit.signal: the previous disposition comes back", function()
  it("after the last handle of SIGUSR1 is destroyed, SIGUSR1 kills the child (its default action)", function()
    local res = converse([[
local got = 0
local a = mit.signal("USR1", function() got = got + 1 end)
local b = mit.signal("SIGUSR1", function() got = got + 1 end)
say("ready")
while got < 2 do mit.wait(); mit.process_events() end
a:destroy()
say("one left")
while got < 3 do mit.wait(); mit.process_events() end
b:stop()
say("restored")
mit.sleep(10000, true)
say("survived")
]], { { "ready", "USR1" }, { "one left", "USR1" }, { "restored", "USR1" } })
    local ctx = string.format("rc=%s\nstdout:\n%s\nstderr:\n%s", tostring(res.rc), res.text, res.err)
    assert.is_true(res.done, ctx)
    assert.is_nil(res.text:find("survived", 1, true), ctx)
    -- the shell reports death by signal n as 128 + n
    assert.are.equal(128 + signum("USR1"), res.rc, ctx)
  end)

  it("SIGINT caught as an event, then released: lua.c's Ctrl-C handler is back ('interrupted!')", function()
    local res = converse([[
local got = false
local h = mit.signal("INT", function() got = true; say("caught SIGINT") end)
say("ready")
while not got do mit.wait(); mit.process_events() end
h:destroy()
say("released")
mit.wait(10000)
say("NOT INTERRUPTED")
]], { { "ready", "INT" }, { "released", "INT" } })
    local ctx = string.format("rc=%s\nstdout:\n%s\nstderr:\n%s", tostring(res.rc), res.text, res.err)
    assert.is_true(res.done, ctx)
    assert.are.same({ "ready", "caught SIGINT", "released" }, res.out, ctx)
    assert.matches("interrupted!", res.err)
    assert.are_not.equal(0, res.rc, ctx)
  end)
end)

-- ------------------------------------------------------------ in-process --
-- SIGWINCH (default action: ignore), sent to this process by a shell
-- whose parent it is: harmless should it arrive with no handle armed.

local function winch()
  os.execute("kill -WINCH $PPID")
end

describe("mit.signal in this process", function()
  before_each(H.reset)
  after_each(H.reset)

  it("raises clear errors for bad arguments", function()
    local f = function() end
    H.raises("bad argument #1 to 'signal' %(unknown signal 'SIGFOO'%)", function() mit.signal("SIGFOO", f) end)
    H.raises("bad argument #1 to 'signal' %(unknown signal 'FOO'%)", function() mit.signal("FOO", f) end)
    H.raises("unknown signal ''", function() mit.signal("", f) end)
    H.raises("bad argument #1 to 'signal' %(SIGKILL cannot be caught%)", function() mit.signal("KILL", f) end)
    H.raises("SIGKILL cannot be caught", function() mit.signal(9, f) end)
    H.raises("SIGSTOP cannot be caught", function() mit.signal("SIGSTOP", f) end)
    H.raises("SIGSEGV reports a fault of the thread that raises it", function() mit.signal("SEGV", f) end)
    for _, s in ipairs({ "BUS", "FPE", "ILL", "TRAP", "ABRT", "SYS" }) do
      H.raises("SIG" .. s .. " reports a fault", function() mit.signal(s, f) end)
    end
    H.raises("SIGURG is used by the Go runtime", function() mit.signal("URG", f) end)
    H.raises("SIGPROF is used by the Go runtime", function() mit.signal("PROF", f) end)
    H.raises("no signal numbered 0", function() mit.signal(0, f) end)
    H.raises("no signal numbered 1000", function() mit.signal(1000, f) end)
    H.raises("signal number must be an integer", function() mit.signal(1.5, f) end)
    H.raises("bad argument #1 to 'signal' %(signal name or number expected, got table%)", function() mit.signal({}, f) end)
    H.raises("signal name or number expected, got nil", function() mit.signal(nil, f) end)
    H.raises("signal name or number expected, got boolean", function() mit.signal(true, f) end)
    H.raises("bad argument #2 to 'signal' %(function expected, got no value%)", function() mit.signal("TERM") end)
    H.raises("bad argument #2 to 'signal' %(function expected, got string%)", function() mit.signal("TERM", "f") end)
    assert.are.equal(0, mit.stats().signals, "a failed call left a handle")
  end)

  it("names: 'TERM', 'SIGTERM', any case and numbers name one signal; :signal() gives its name", function()
    for _, name in ipairs({ "TERM", "SIGTERM", "term", "SigTerm", signum("TERM") }) do
      local h = H.track(mit.signal(name, function() end))
      assert.are.equal("SIGTERM", h:signal())
      assert.matches("^luamockit%.signal: 0?x?%x+ %(SIGTERM, armed%)$", tostring(h))
      h:destroy()
    end
    local h = H.track(mit.signal("winch", function() end))
    assert.are.equal("SIGWINCH", h:signal())
    h:destroy()
  end)

  it("runs the callback once per delivery, with its arguments, in order with timers", function()
    local log = {}
    local h = H.track(mit.signal("WINCH", function(a, b) log[#log + 1] = a .. b end, "win", "ch"))
    winch()
    H.await_pending(1)
    H.track(mit.oneoff(0, function() log[#log + 1] = "timer" end))
    mit.sleep(1)
    assert.are.equal(2, mit.process_events())
    assert.are.same({ "winch", "timer" }, log) -- the signal arrived first
    winch()
    assert.is_true(H.drain_until(function() return #log == 3 end, 3000))
    assert.are.equal("winch", log[3])
    assert.are.equal(0, mit.pending())
    h:destroy()
  end)

  it("stop() drops queued deliveries and catches none until start(); nothing runs after destroy()", function()
    local n = 0
    local h = H.track(mit.signal("WINCH", function() n = n + 1 end))
    assert.are.equal(h, h:stop())
    assert.are.equal("stopped", h:state())
    assert.matches("%(SIGWINCH, stopped%)", tostring(h))
    h:start()
    winch()
    H.await_pending(1)
    h:stop() -- with a delivery queued
    assert.are.equal(0, mit.pending())
    winch() -- not caught while stopped (SIGWINCH's default: ignored)
    mit.sleep(50)
    assert.are.equal(0, mit.process_events())
    assert.are.equal(0, n)
    assert.are.equal(h, h:start())
    assert.are.equal(h, h:start()) -- twice: nothing more
    assert.are.equal("armed", h:state())
    winch()
    assert.is_true(H.drain_until(function() return n == 1 end, 3000))
    winch()
    H.await_pending(1)
    assert.is_nil(h:destroy()) -- with a delivery queued
    assert.are.equal("destroyed", h:state())
    assert.are.equal(0, mit.pending())
    assert.are.equal(0, mit.process_events())
    assert.are.equal(1, n)
    assert.is_nil(h:destroy()) -- twice: harmless
    assert.is_nil(h:cancel())
    H.raises("luamockit: signal handle is destroyed", h.start, h)
    H.raises("luamockit: signal handle is destroyed", h.stop, h)
    assert.are.equal("SIGWINCH", h:signal())
  end)

  it("a callback that destroys another handle: nothing of it runs, though its delivery was queued", function()
    local ran = {}
    local b
    local a = H.track(mit.signal("WINCH", function() ran[#ran + 1] = "a"; b:destroy() end))
    b = H.track(mit.signal("WINCH", function() ran[#ran + 1] = "b" end))
    winch()
    H.await_pending(2)
    assert.are.equal(1, mit.process_events())
    assert.are.same({ "a" }, ran)
    a:destroy()
  end)

  it("broadcasts: every armed handle of the signal gets each delivery", function()
    local n = { 0, 0, 0 }
    local hs = {}
    for i = 1, 3 do hs[i] = H.track(mit.signal("WINCH", function() n[i] = n[i] + 1 end)) end
    hs[2]:stop()
    winch()
    assert.is_true(H.drain_until(function() return n[1] == 1 and n[3] == 1 end, 3000))
    assert.are.same({ 1, 0, 1 }, n)
  end)

  it("the error handler gets the signal handle as the failing source", function()
    local got
    local h = H.track(mit.signal("WINCH", function() error("boom") end))
    mit.seterrorhandler(function(err, source) got = { err = err, source = source } end)
    winch()
    assert.is_true(H.drain_until(function() return got ~= nil end, 3000))
    assert.matches("boom", got.err)
    assert.are.equal(h, got.source)
    assert.matches("^luamockit%.signal: ", tostring(got.source))
    -- without a handler, process_events raises it
    mit.seterrorhandler(nil)
    winch()
    H.await_pending(1)
    H.raises("boom", mit.process_events)
  end)

  it("is not in mit.timers(); mit.stats() counts signal handles", function()
    local t = H.track(mit.getit(60000, function() end))
    local a = H.track(mit.signal("WINCH", function() end))
    local b = H.track(mit.signal("USR2", function() end))
    b:stop()
    local list = mit.timers()
    assert.are.equal(1, #list)
    assert.are.equal(t, list[1])
    local s = mit.stats()
    assert.are.equal(1, s.timers)
    assert.are.equal(2, s.signals)
    assert.are.equal(1, s.signals_armed)
    a:destroy(); b:destroy()
    assert.are.equal(0, mit.stats().signals)
  end)

  it("armed means alive: a collected handle goes on catching; stopped and collected, it is destroyed", function()
    local n = 0
    mit.signal("WINCH", function() n = n + 1; error("find me") end)
    H.collect()
    assert.are.equal(1, mit.stats().signals_armed)
    local found
    mit.seterrorhandler(function(_, source) found = source end)
    winch()
    assert.is_true(H.drain_until(function() return n == 1 end, 3000))
    assert.matches("%(SIGWINCH, armed%)", tostring(found)) -- a new handle for the same record
    found:destroy()
    found = nil
    assert.are.equal(0, mit.stats().signals)
    local h = mit.signal("WINCH", function() end)
    h:stop()
    h = nil -- luacheck: ignore
    H.collect()
    assert.are.equal(0, mit.stats().signals)
  end)

  it("<close> (5.4) destroys the handle", function()
    if not H.is54 then return pending("<close> needs Lua 5.4") end
    local chunk = assert(load([[
      local mit = ...
      local h
      do
        local s <close> = mit.signal("WINCH", function() end)
        h = s
      end
      return h
    ]]))
    local h = chunk(mit)
    assert.are.equal("destroyed", h:state())
    assert.are.equal(0, mit.stats().signals)
  end)
end)

describe("co.signal in this process", function()
  local co = require("luamockit.co")
  before_each(H.reset)
  after_each(H.reset)

  it("suspends the task until a delivery and returns the signal's name; the handle goes with it", function()
    local got
    co.spawn(function() got = co.signal("winch") end)
    mit.process_events() -- the task starts and waits
    assert.are.equal(1, mit.stats().signals_armed)
    winch()
    co.run() -- returns once the task has ended: a signal handle keeps it waiting meanwhile
    assert.are.equal("SIGWINCH", got)
    assert.are.equal(0, mit.stats().signals)
  end)

  it("raises outside a task and for bad names; cancelling a waiting task destroys its handle", function()
    H.raises("luamockit.co: signal called outside a task", co.signal, "TERM")
    local err
    local t = co.spawn(function() err = select(2, pcall(co.signal, "SIGFOO")) end)
    mit.process_events()
    assert.matches("unknown signal 'SIGFOO'", err)
    assert.are.equal("done", t:status())
    local w = co.spawn(function() co.signal("WINCH") end)
    mit.process_events()
    assert.are.equal(1, mit.stats().signals)
    assert.is_true(w:cancel())
    assert.are.equal(0, mit.stats().signals)
  end)
end)

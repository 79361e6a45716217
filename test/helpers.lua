-- test/helpers.lua: shared helpers for the busted suite.
--
-- busted loads this file once (see .busted: helper = "test/helpers.lua")
-- before any spec; it registers itself as package.loaded["test.helpers"],
-- so a spec gets it with
--
--   local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
--
-- Lua 5.1 syntax only: it runs under lua5.1, lua5.4 and luajit.

local luassert = require("luassert")
local mit = require("luamockit")

local H = {}
H.mit = mit

H.is51 = _VERSION == "Lua 5.1"
H.is54 = _VERSION == "Lua 5.4"
H.isjit = type(rawget(_G, "jit")) == "table"

-- ---------------------------------------------------------------- clock --

-- Milliseconds on the monotonic clock (float).
function H.now()
  return mit.monotime()
end

-- { n = select("#", ...), ... }
function H.pack(...)
  return { n = select("#", ...), ... }
end

-- table.unpack / unpack, keeping trailing nils when t.n is set.
local function unpack_(t, i, j)
  local u = rawget(table, "unpack") or rawget(_G, "unpack")
  return u(t, i or 1, j or t.n or #t)
end
H.unpack = unpack_

-- Runs f(...) and returns the milliseconds it took, then f's results.
function H.timed(f, ...)
  local t0 = mit.monotime()
  local r = H.pack(f(...))
  local dt = mit.monotime() - t0
  return dt, unpack_(r)
end

-- The shortest of n timings of f(...) in ms. For "returns at once"
-- checks: one run can be preempted on a loaded machine, a real delay shows
-- in every run.
function H.fastest(n, f, ...)
  local best = math.huge
  for _ = 1, n do
    local dt = H.timed(f, ...)
    if dt < best then best = dt end
  end
  return best
end

-- ----------------------------------------------------------- assertions --

-- Asserts lo <= x <= hi with a message that shows the numbers.
function H.between(x, lo, hi, what)
  luassert.is_number(x, (what or "value") .. " is not a number")
  luassert.is_true(x >= lo and x <= hi,
    string.format("%s = %s, expected within [%s, %s]", what or "value",
      tostring(x), tostring(lo), tostring(hi)))
  return x
end

-- Asserts that f(...) raises an error whose message (as a string) matches
-- each of the given Lua patterns (a string or a list of strings); returns
-- the message.
function H.raises(patterns, f, ...)
  local ok, err = pcall(f, ...)
  luassert.is_false(ok, "expected an error, got none")
  local msg = tostring(err)
  if type(patterns) == "string" then patterns = { patterns } end
  for _, p in ipairs(patterns) do
    luassert.is_truthy(msg:find(p),
      string.format("error message %q does not match %q", msg, p))
  end
  return msg
end

-- The number of keys in t.
function H.count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- ---------------------------------------------------------- event loops --

-- Drains with wait/process_events until cond() is true or timeout_ms
-- passes. Returns whether cond() became true, and the number of callbacks
-- run. cond is checked before the first wait, so a true condition returns
-- at once. process_events errors propagate.
function H.drain_until(cond, timeout_ms, slice_ms)
  local deadline = mit.monotime() + (timeout_ms or 2000)
  local ran = 0
  while true do
    if cond() then return true, ran end
    local left = deadline - mit.monotime()
    if left <= 0 then return false, ran end
    -- wait(0) means "no timeout": always pass a positive value.
    mit.wait(math.max(0.5, math.min(left, slice_ms or 50)))
    ran = ran + mit.process_events()
  end
end

-- Runs the event loop for about ms milliseconds; returns callbacks run.
function H.drain_for(ms)
  local deadline = mit.monotime() + ms
  local ran = 0
  while true do
    local left = deadline - mit.monotime()
    if left <= 0 then break end
    mit.wait(math.max(0.5, left))
    ran = ran + mit.process_events()
  end
  return ran
end

-- Polls cond() without running any callback (sleeping 1 ms between checks)
-- until it is true or timeout_ms passes; returns whether it became true.
function H.poll_until(cond, timeout_ms)
  local deadline = mit.monotime() + (timeout_ms or 2000)
  while not cond() do
    if mit.monotime() >= deadline then return false end
    mit.sleep(1)
  end
  return true
end

-- Waits, without running callbacks, until at least n events are pending.
function H.await_pending(n, timeout_ms)
  local ok = H.poll_until(function() return mit.pending() >= n end, timeout_ms or 2000)
  luassert.is_true(ok, string.format("expected %d pending events, have %d", n, mit.pending()))
end

-- Full garbage collection, twice: finalizers run in the first cycle, what
-- they released is freed in the second.
function H.collect()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- ---------------------------------------------------------- test hygiene --
-- Every spec file shares one Lua universe (one queue). Tests register the
-- timers they create with H.track, and call H.reset in before_each and
-- after_each, so no event of one test runs in another.

local tracked = {}

function H.track(t)
  tracked[#tracked + 1] = t
  return t
end

-- Cancels luamockit.co's live tasks, destroys tracked timers and every
-- other live timer (armed means alive:
-- one a test dropped would run on into the next tests; mit.timers() finds
-- them), restores the default error handler and drops whatever is left in
-- the queue (running leftover callbacks, errors ignored).
function H.reset()
  mit.seterrorhandler(nil)
  mit.setrunner(nil) -- an adapter a failed test did not detach
  -- luamockit.co's tasks first: destroying their timers behind co's back
  -- would leave them live for ever (co.run() then raises).
  local co = package.loaded["luamockit.co"]
  if co then
    for _, task in ipairs(co.tasks()) do task:cancel() end
  end
  for i = #tracked, 1, -1 do
    pcall(tracked[i].destroy, tracked[i])
    tracked[i] = nil
  end
  for _, t in ipairs(mit.timers()) do t:destroy() end
  H.collect()
  for _ = 1, 100 do
    if mit.inqueue() == 0 then break end
    pcall(mit.process_events)
  end
end

-- A test that fails midway skips its own clean-up: an interval timer it
-- armed would go on queueing events into every later test, turning one
-- failure into dozens. After a failed test the suite resets.
do
  local ok, busted = pcall(require, "busted")
  if ok and type(busted) == "table" and busted.subscribe then
    busted.subscribe({ "test", "end" }, function(_, _, status)
      if status == "failure" or status == "error" then
        local left = mit.inqueue()
        H.reset()
        io.stderr:write(("helpers: reset after a failed test (%d queue entries were left)\n"):format(left))
      end
      return nil, true
    end)
  end
end

-- ----------------------------------------------------------- subprocess --

-- The interpreter busted runs under: $LMK_LUA (set by make test-busted),
-- else guessed from the running VM.
function H.interp()
  local l = os.getenv("LMK_LUA")
  if l and l ~= "" then return l end
  if H.isjit then return "luajit" end
  return "lua" .. _VERSION:match("%d+%.%d+")
end

-- Quotes s for /bin/sh.
function H.shquote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function readfile(name)
  local f = io.open(name, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s or ""
end
H.readfile = readfile

-- Writes code to a temporary script, preceded by a line that sets
-- package.cpath to this process's (the one busted got via --cpath), so
-- require("luamockit") in the child loads the same .so. Returns the path.
function H.script(code)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb"))
  f:write(string.format("package.cpath = %q\n", package.cpath))
  f:write(code)
  f:close()
  return name
end

-- Runs code in a new process of the same interpreter; returns
-- { rc = exit status, out = stdout, err = stderr }.
function H.run_lua(code)
  local script = H.script(code)
  local errf = os.tmpname()
  local cmd = string.format("%s %s 2>%s </dev/null; echo \"__LMK_RC__=$?\"",
    H.shquote(H.interp()), H.shquote(script), H.shquote(errf))
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a") or ""
  p:close()
  local rc = tonumber(out:match("__LMK_RC__=(%d+)%s*$"))
  out = out:gsub("__LMK_RC__=%d+%s*$", "")
  local err = readfile(errf)
  os.remove(errf)
  os.remove(script)
  return { rc = rc, out = out, err = err }
end

-- Runs setup in a new process (with mit and P = posix.poll loaded); setup
-- sets the globals fd (mit.fd()) and t0 (a monotime()). The child polls fd
-- for up to 2 s, then runs process_events. Asserts that the child exited
-- cleanly and fd turned readable; returns the ms from t0 until it did and
-- the callbacks run.
function H.fd_child(setup)
  local r = H.run_lua([[
    local mit = require("luamockit")
    local P = require("posix.poll")
  ]] .. setup .. [[
    local r, err, errno
    repeat -- poll() may be cut short by a signal (EINTR), as in any poll loop
      r, err, errno = P.rpoll(fd, math.max(0, math.floor(t0 + 2000 - mit.monotime())))
    until r or errno ~= 4
    if not r then error("rpoll: " .. tostring(err)) end
    io.write(r, " ", mit.monotime() - t0, " ", mit.process_events(), "\n")
  ]])
  luassert.are.equal(0, r.rc, r.err)
  local ready, took, ran = r.out:match("^(%S+) (%S+) (%S+)")
  luassert.are.equal("1", ready, "fd not readable: " .. r.out)
  return tonumber(took), tonumber(ran)
end

package.loaded["test.helpers"] = H
return H

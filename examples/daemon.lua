-- examples/daemon.lua: a daemon built on one wait()/process_events() loop.
--
--   lua5.4 examples/daemon.lua          runs until SIGTERM or Ctrl-C (SIGINT), then shuts down cleanly
--   LMK_EXAMPLE_SECONDS=2 lua5.4 examples/daemon.lua   stops by itself after 2 s
--   kill -HUP <pid>                     logs a "reload" (stats so far)
--
-- Shows: a heartbeat (interval timer), a watchdog (one-off re-armed on each
-- sign of activity with t:stop() + t:start()), a periodic job that fails
-- now and then, an error handler that names the failing timer, mit.stats(),
-- and a clean shutdown: SIGTERM and SIGHUP are caught as events
-- (mit.signal: their callbacks run in the loop like the timers'), and
-- SIGINT in the stock interpreter makes wait() return and the interpreter
-- raise "interrupted!", which a pcall catches (SIGINT keeps lua.c's
-- handler: it is not asked for); on Lua 5.4 the heartbeat is a `<close>`
-- variable, destroyed however its scope ends. Runs under lua5.1, LuaJIT
-- and lua5.4; exits 0.
local mit = require("luamockit")

local seconds = tonumber(os.getenv("LMK_EXAMPLE_SECONDS") or "")
local t0 = mit.monotime()
local function log(fmt, ...)
  io.write(string.format("%8.1f ms  " .. fmt .. "\n", mit.monotime() - t0, ...))
  io.flush()
end

-- Callback errors go to the handler, with their source (the timer's handle,
-- or a producer's name), and the loop goes on. Without a handler,
-- process_events() would raise the error after leaving the rest queued.
mit.seterrorhandler(function(err, source)
  log("error from %s: %s", tostring(source), tostring(err):match("^[^\n]*"))
end)

-- The watchdog: fires once if no activity was seen for 600 ms. Activity
-- re-arms it: stop() drops an expiration already queued but not yet run,
-- start() arms it again, 600 ms from now.
local watchdog = mit.oneoff(600, function()
  log("watchdog: no activity for 600 ms")
end)
local function activity(what)
  watchdog:stop()
  watchdog:start()
  log("activity: %s (watchdog re-armed)", what)
end

-- Simulated activity: bursts of 5 events 200 ms apart, every 5 s.
local ticks = 0
local source = mit.getit(200, function()
  ticks = ticks + 1
  if ticks % 25 <= 5 and ticks % 25 > 0 then activity("request " .. ticks) end
end)

-- A periodic job; every third run fails, and the handler above reports it.
local runs = 0
local job = mit.getit(300, function(name)
  runs = runs + 1
  if runs % 3 == 0 then error(name .. " run " .. runs .. " failed") end
  log("%s run %d ok", name, runs)
end, "job")

local stop, deadline = false, nil
if seconds then
  deadline = mit.oneoff(seconds * 1000, function() stop = true end)
end

-- Signals as events: SIGTERM ends the loop (then the clean shutdown below
-- runs), SIGHUP "reloads". Each delivery runs its callback once, in the
-- loop, in order with the timers.
local why = "time is up"
local term = mit.signal("TERM", function()
  log("SIGTERM: shutting down")
  stop, why = true, "SIGTERM"
end)
local hup = mit.signal("HUP", function()
  local s = mit.stats()
  log("SIGHUP: reload (callbacks so far %d, errors %d)", s.callbacks, s.errors)
end)

-- The loop: block until something is queued, run it, repeat.
local function loop(heartbeat)
  log("started: %s on %s, heartbeat %s", mit._VERSION, _VERSION, tostring(heartbeat))
  while not stop do
    mit.wait(1000)
    mit.process_events()
  end
end

local heartbeat_cb = function()
  log("heartbeat (pending %d)", mit.pending())
end

-- Runs the loop with a heartbeat that is destroyed when it ends, however
-- it ends: a `<close>` variable on Lua 5.4 (compiled only there), explicit
-- destroy() elsewhere. Returns pcall's results and the heartbeat's handle.
local function run()
  if _VERSION >= "Lua 5.4" then
    local scoped = assert(load([[
      local mit, cb, loop, keep = ...
      local heartbeat <close> = mit.getit(500, cb)
      keep.t = heartbeat
      return loop(heartbeat)
    ]], "=daemon(<close>)"))
    local keep = {}
    local ok, err = pcall(scoped, mit, heartbeat_cb, loop, keep)
    return ok, err, keep.t
  end
  local heartbeat = mit.getit(500, heartbeat_cb)
  local ok, err = pcall(loop, heartbeat)
  heartbeat:destroy()
  return ok, err, heartbeat
end

local ok, err, heartbeat = run()
if ok then
  log("shutdown: %s", why)
elseif tostring(err):find("interrupted!", 1, true) then
  log("shutdown: interrupted (SIGINT)")
else
  error(err, 0)
end

-- Clean shutdown: destroy what is left, report.
term:destroy() -- SIGTERM and SIGHUP have their previous dispositions again
hup:destroy()
source:destroy()
job:destroy()
watchdog:destroy()
if deadline then deadline:destroy() end
log("heartbeat after shutdown: %s", heartbeat:state())
local s = mit.stats()
log("stats: timers=%d callbacks=%d errors=%d drains=%d late_max_ms=%.3f",
  s.timers, s.callbacks, s.errors, s.drains, s.late_max_ms)
log("bye")

-- Row 5, drift: one 10 ms interval timer for TICKS ticks.
--   mit: mit.getit(10, cb) in a wait()/process_events() loop (mitfd:
--        select() on mit.fd() instead of wait()).
--   luv: uv.update_time(); t:start(10, 10, cb) under uv.run("default").
-- t0 is the clock read just before arming; tick i is ideally at
-- t0 + i*10 ms. Prints the final lag (tick TICKS - ideal, ms) and the p99
-- and max of the per-tick deviation from the ideal schedule (ms); per tick,
-- the CPU and wake-ups of the threads other than the main one (luamockit:
-- Go's) and the main thread's wake-ups while the timer ran
-- (C.emit_threads).
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local TICKS = tonumber(arg[2]) or 400
local PERIOD = tonumber(arg[3]) or 10

local at = {}
local t0, s0, s1

if C.impl == "mit" then
  local mit = C.mit()
  local now = mit.monotime
  local t
  local function cb() at[#at + 1] = now() end
  s0 = C.threads()
  t0 = now()
  t = mit.getit(PERIOD, cb)
  C.mit_loop(mit, t0 + TICKS * PERIOD * 2 + 5000, function() return #at >= TICKS end)
  s1 = C.threads_end(s0)
  t:destroy()
elseif C.impl == "luv" then
  local uv = require("luv")
  local hrtime = uv.hrtime
  local t = uv.new_timer()
  local function cb()
    at[#at + 1] = hrtime() / 1e6
    if #at >= TICKS then t:close() end
  end
  s0 = C.threads()
  uv.update_time()
  t0 = hrtime() / 1e6
  t:start(PERIOD, PERIOD, cb)
  uv.run("default")
  s1 = C.threads_end(s0)
else
  error("no floor for this row")
end

if #at < TICKS then error("only " .. #at .. " ticks") end
local dev = {}
for i = 1, TICKS do dev[i] = at[i] - (t0 + i * PERIOD) end
C.emit("drift.lag_ms", dev[TICKS])
local absdev = {}
for i = 1, TICKS do absdev[i] = math.abs(dev[i]) end
C.emit("drift.p99_dev_ms", C.percentile(absdev, 99))
-- Period jitter: deviation of each interval from PERIOD, independent of
-- accumulated drift.
local pj = {}
for i = 2, TICKS do pj[#pj + 1] = math.abs(at[i] - at[i - 1] - PERIOD) end
C.emit("drift.p99_period_jitter_ms", C.percentile(pj, 99))
C.emit_threads("drift", s0, s1, #at)

-- Row 3, prompt loop: 8 interval timers at 1 ms for 1 s.
--   mit: mit.getit(1, cb) x 8 in a wait()/process_events() loop until 1 s
--        has passed (mitfd: select() on mit.fd() instead of wait()).
--   luv: 8 repeating 1 ms timers under uv.run("default"); a 1 s timer
--        stops them.
-- Prints delivered callbacks/s (ideal 8000) and process CPU (every thread:
-- os.clock) per callback; per callback, the CPU and wake-ups of the threads
-- other than the main one (luamockit: Go's) and the main thread's wake-ups
-- (C.emit_threads; the snapshots are taken before arming and after the
-- loop, outside the timed window).
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local K = tonumber(arg[2]) or 8
local DUR = tonumber(arg[3]) or 1000

local n = 0
local function cb() n = n + 1 end
local ts = {}
local c0, c1, w0, w1, s0, s1

if C.impl == "mit" then
  local mit = C.mit()
  local now = mit.monotime
  s0 = C.threads()
  for i = 1, K do ts[i] = mit.getit(1, cb) end
  c0, w0 = os.clock(), now()
  local waits = C.mit_loop(mit, w0 + DUR)
  w1, c1 = now(), os.clock()
  s1 = C.threads_end(s0)
  C.emit("prompt.loops_per_s", waits / ((w1 - w0) / 1000))
  for i = 1, K do ts[i]:destroy() end
elseif C.impl == "luv" then
  local uv = require("luv")
  s0 = C.threads()
  uv.update_time()
  for i = 1, K do
    local t = uv.new_timer()
    t:start(1, 1, cb)
    ts[i] = t
  end
  local stopper = uv.new_timer()
  stopper:start(DUR, 0, function()
    for i = 1, K do ts[i]:close() end
    stopper:close()
  end)
  c0, w0 = os.clock(), uv.hrtime() / 1e6
  uv.run("default")
  w1, c1 = uv.hrtime() / 1e6, os.clock()
  s1 = C.threads_end(s0)
else
  error("no floor for this row")
end

C.emit("prompt.cb_per_s", n / ((w1 - w0) / 1000))
C.emit("prompt.cpu_us_per_cb", (c1 - c0) * 1e6 / n)
C.emit("prompt.cpu_pct", (c1 - c0) / ((w1 - w0) / 1000) * 100)
C.emit_threads("prompt", s0, s1, n)

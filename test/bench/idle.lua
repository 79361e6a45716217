-- Row 7, idle: block for DUR ms with nothing to do.
--   mit: nothing armed; loop mit.wait(remaining) until DUR has passed
--        (mitfd: select() on mit.fd() for the remaining time).
--   luv: one DUR ms timer; loop uv.run("once") until DUR has passed.
-- Prints process CPU (os.clock, every thread), how many times the wait
-- returned (1 is ideal), and the context switches of all the process's
-- threads during the wait (how often anything woke up; from the reads
-- after the thread listing at the start to those after the one at the
-- end, so that listing counts), and the totals over the wait of the CPU
-- and wake-ups of the threads other than the main one (luamockit: Go's)
-- and the main thread's wake-ups (C.emit_threads: from the same reads at
-- the start to reads taken before the listing at the end).
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local DUR = tonumber(arg[2]) or 2000

local returns, c0, c1, w0, w1, cs0, cs1, nthreads, s0, s1, _
if C.impl == "mit" then
  local mit = C.mit()
  local now, wait = mit.monotime, C.mit_wait(mit)
  mit.sleep(100) -- let the Go runtime settle after start-up
  cs0, _, s0 = C.ctxt_switches()
  returns = 0
  c0, w0 = os.clock(), now()
  local tend = w0 + DUR
  while true do
    local left = tend - now()
    if left <= 0 then break end
    local rc, msg = wait(left)
    if rc ~= 0 then error("wait failed: " .. tostring(msg)) end
    returns = returns + 1
  end
  w1, c1 = now(), os.clock()
  s1 = C.threads_end(s0)
  cs1, nthreads = C.ctxt_switches()
elseif C.impl == "luv" then
  local uv = require("luv")
  local function now() return uv.hrtime() / 1e6 end
  uv.sleep(100)
  cs0, _, s0 = C.ctxt_switches()
  local fired = false
  local t = uv.new_timer()
  returns = 0
  uv.update_time()
  c0, w0 = os.clock(), now()
  t:start(DUR, 0, function() fired = true end)
  -- Until the timer ran (libuv's ms clock may run it up to 1 ms before
  -- DUR has passed on CLOCK_MONOTONIC: overshoot < 0).
  while not fired do
    uv.run("once")
    returns = returns + 1
  end
  w1, c1 = now(), os.clock()
  s1 = C.threads_end(s0)
  cs1, nthreads = C.ctxt_switches()
  t:close()
  uv.run("default") -- finish the close (luv crashes at exit otherwise)
else
  error("no floor for this row")
end

C.emit("idle.cpu_s", c1 - c0)
C.emit("idle.returns", returns)
C.emit("idle.ctxsw", cs1 - cs0)
C.emit("idle.threads", nthreads)
C.emit("idle.overshoot_ms", w1 - w0 - DUR)
C.emit_threads("idle", s0, s1)

-- Row 6, scale: K timers in one process (run.sh starts a fresh process per
-- K, so VmHWM is the peak of that K alone).
--   interval mode: K interval timers at 100 ms, run DUR ms in the event
--     loop (mit: wait()/process_events(), mitfd: select() on mit.fd() and
--     process_events(); luv: uv.run until a stopper timer), then destroy
--     them all (mit: t:destroy(); luv: t:close() and
--     the uv.run that finishes the closes).
--   oneoff mode: K one-offs armed at 60 s, then destroyed (nothing fires).
-- Prints peak RSS (VmHWM, MB), its growth per timer (bytes), arm time,
-- loop CPU (os.clock, every thread), delivered callbacks vs the ideal
-- count, and teardown time; in interval mode, per delivered callback, the
-- CPU and wake-ups of the threads other than the main one (luamockit:
-- Go's) and the main thread's wake-ups over the loop (C.emit_threads; the
-- snapshots are taken just outside the os.clock window).
-- Ideal: sum over timers of floor((end - arm_i) / 100 ms), end = the last
-- arm + DUR + 50 ms (or the last time the loop took events, if later);
-- arm times are read every CHUNK arms (luv: uv.update_time() there too,
-- so its cached loop time, which timers are scheduled from, stays close
-- to the truth).
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local K = tonumber(arg[2]) or 1000
local MODE = arg[3] or "interval"
local DUR = tonumber(arg[4]) or 2000
local PERIOD = 100
local CHUNK = 100
local ONEOFF_MS = 60000

local n = 0
local function cb() n = n + 1 end
local ts = {}
local marks = {} -- marks[j] = clock after arming timers (j-1)*CHUNK+1 .. j*CHUNK
collectgarbage("collect")
local hwm0 = C.status_kb("VmHWM")

local now, arm, loop, teardown
if C.impl == "mit" then
  local mit = C.mit()
  now = mit.monotime
  local getit, oneoff = mit.getit, mit.oneoff
  hwm0 = C.status_kb("VmHWM") -- after the Go runtime started
  if MODE == "interval" then
    arm = function(i) ts[i] = getit(PERIOD, cb) end
  else
    arm = function(i) ts[i] = oneoff(ONEOFF_MS, cb) end
  end
  loop = function(tend)
    local waits, last = C.mit_loop(mit, tend)
    C.emit("scale.waits", waits)
    return last
  end
  teardown = function()
    for i = 1, K do ts[i]:destroy() end
    mit.process_events() -- drops what was queued for them
  end
elseif C.impl == "luv" then
  local uv = require("luv")
  local hrtime, new_timer = uv.hrtime, uv.new_timer
  now = function() return hrtime() / 1e6 end
  local p, r = PERIOD, PERIOD
  if MODE ~= "interval" then p, r = ONEOFF_MS, 0 end
  arm = function(i)
    local t = new_timer()
    t:start(p, r, cb)
    ts[i] = t
    if i % CHUNK == 0 then uv.update_time() end
  end
  loop = function(tend)
    local stopper = uv.new_timer()
    uv.update_time()
    local last
    stopper:start(math.max(0, math.floor(tend - now() + 0.5)), 0, function()
      last = now()
      stopper:close()
      uv.stop()
    end)
    uv.run("default")
    return last
  end
  teardown = function()
    for i = 1, K do ts[i]:close() end
    uv.run("default")
  end
else
  error("no floor for this row")
end

if C.impl == "luv" then require("luv").update_time() end
local a0 = now()
for j = 1, math.ceil(K / CHUNK) do
  local hi = math.min(K, j * CHUNK)
  for i = (j - 1) * CHUNK + 1, hi do arm(i) end
  marks[j] = now()
end
local a1 = now()
C.emit("scale.arm_ms", a1 - a0)

if MODE == "interval" then
  -- Ends half a period off the schedule of the last-armed timer, so no
  -- expiration is due right at the end.
  local tend = a1 + DUR + PERIOD / 2
  local s0 = C.threads()
  local c0 = os.clock()
  -- The loop returns when it last took events (mit: the last
  -- process_events call; luv: the stopper's callback, the last loop
  -- iteration); normally about tend, later if the process was descheduled
  -- there. Expirations due by then count as ideal.
  local n0 = n
  tend = math.max(tend, loop(tend))
  local c1 = os.clock()
  local s1 = C.threads_end(s0)
  local ideal = 0
  local prev = a0
  for j = 1, #marks do
    -- timers of chunk j were armed between prev and marks[j]: use the middle
    local cnt = math.min(K, j * CHUNK) - (j - 1) * CHUNK
    ideal = ideal + cnt * math.floor((tend - (prev + marks[j]) / 2) / PERIOD)
    prev = marks[j]
  end
  C.emit("scale.cpu_s", c1 - c0)
  C.emit("scale.delivered", n)
  C.emit("scale.ideal", ideal)
  C.emit("scale.delivered_pct", n / ideal * 100)
  C.emit_threads("scale", s0, s1, n - n0)
end

local d0 = now()
teardown()
local d1 = now()
C.emit("scale.teardown_ms", d1 - d0)
if n ~= 0 and MODE ~= "interval" then error("one-offs at 60 s fired") end

C.emit("scale.proc_cpu_s", os.clock()) -- the whole process: start-up, arm, loop, teardown
local hwm = C.status_kb("VmHWM")
C.emit("scale.rss_mb", hwm / 1024)
C.emit("scale.bytes_per_timer", (hwm - hwm0) * 1024 / K)

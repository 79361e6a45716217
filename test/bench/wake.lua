-- Row 4, wake latency: a 20 ms one-off armed just before the loop blocks,
-- REPS times in a row. Latency = time the callback starts - due, where
-- due = the clock read just before arming + 20 ms (CLOCK_MONOTONIC).
--   mit: mit.oneoff(20, cb); mit.wait(); mit.process_events()
--        (mitfd: select() on mit.fd() instead of mit.wait())
--   luv: uv.update_time(); t:start(20, 0, cb); uv.run("default")
--        (update_time first, so libuv's cached loop time is not stale).
-- Prints p50/p90/p99/max in µs over the REPS samples, and per expiration
-- the CPU and wake-ups of the threads other than the main one (luamockit:
-- Go's) and the main thread's wake-ups over the REPS rounds
-- (C.emit_threads).
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local REPS = tonumber(arg[2]) or 200
local DELAY = tonumber(arg[3]) or 20

local lat = {}
local due, s0, s1

if C.impl == "mit" then
  local mit = C.mit()
  local now = mit.monotime
  local wait = C.mit_wait(mit)
  local function cb() lat[#lat + 1] = (now() - due) * 1000 end
  s0 = C.threads()
  for i = 1, REPS do
    due = now() + DELAY
    mit.oneoff(DELAY, cb)
    while #lat < i do
      local rc, msg = wait(5000)
      if rc ~= 0 then error("wait failed: " .. tostring(msg)) end
      mit.process_events()
      if now() - due > 5000 then error("no callback within 5 s") end
    end
  end
  s1 = C.threads_end(s0)
elseif C.impl == "luv" then
  local uv = require("luv")
  local hrtime = uv.hrtime
  local function cb() lat[#lat + 1] = (hrtime() / 1e6 - due) * 1000 end
  local t = uv.new_timer()
  s0 = C.threads()
  for i = 1, REPS do
    uv.update_time()
    due = hrtime() / 1e6 + DELAY
    t:start(DELAY, 0, cb)
    uv.run("default")
    if #lat ~= i then error("no callback") end
  end
  s1 = C.threads_end(s0)
  t:close()
  uv.run("default")
else
  error("no floor for this row")
end

table.sort(lat)
C.emit("wake.p50_us", C.percentile(lat, 50, true))
C.emit("wake.p90_us", C.percentile(lat, 90, true))
C.emit("wake.p99_us", C.percentile(lat, 99, true))
C.emit("wake.max_us", lat[#lat])
C.emit("wake.min_us", lat[1])
C.emit_threads("wake", s0, s1, #lat)

-- Soak (a): several producer sources into one Lua loop, with exact counts.
--
--   LUA_CPATH=... lua test/soak/producers.lua [seconds]
--
-- Sources, all drained by one wait()/process_events() loop:
--  * 8 interval timers at 1 ms. Each callback checks that its timer has
--    not run more often than its absolute schedule allows (count <=
--    floor((now - t_before_arm) / 1 ms): exact, a callback never runs
--    before its expiration). At the end the loop is drained, each timer
--    stopped, and its count compared with floor(elapsed / 1 ms) at the
--    stop: at most that (exact), at least that minus 2 (the expiration due
--    just before the stop may not have been queued yet, and the one queued
--    between the last drain and the stop is dropped by it).
--  * testproducer plain jobs (4 threads, api->deliver), in waves: every
--    item (thread, seq) must arrive exactly once and in order per thread;
--    a wave's job stats must show every delivery accepted and decoded.
--  * testproducer deliver-and-wait jobs (4 threads, api->deliver_wait),
--    in waves: every item exactly once, in order per thread, the result
--    (a + b) handed back to the thread (mismatches = 0), status OK for all.
-- Prints one summary line; exits non-zero on any discrepancy.
--
-- Lua 5.1 syntax only: runs under lua5.1, lua5.4 and luajit.
local SECS = tonumber(arg and arg[1]) or 30
local mit = require("luamockit")
local tp = require("testproducer")

local NT = 8 -- interval timers
local PLAIN_THREADS, PLAIN_COUNT = 4, 20000
local WAIT_THREADS, WAIT_COUNT = 4, 500

local problems = {}
local function problem(fmt, ...)
  if #problems < 20 then problems[#problems + 1] = string.format(fmt, ...) end
end

-- ------------------------------------------------------------- timers --
local tcount, tearly, tarm0, tarm1, timers = {}, {}, {}, {}, {}
for i = 1, NT do
  tcount[i], tearly[i] = 0, 0
  local function cb()
    local c = tcount[i] + 1
    tcount[i] = c
    if c > math.floor(mit.monotime() - tarm0[i] + 1e-6) then tearly[i] = tearly[i] + 1 end
  end
  tarm0[i] = mit.monotime()
  timers[i] = mit.getit(1, cb)
  tarm1[i] = mit.monotime()
end

-- ---------------------------------------------------------- producers --
local plain = { waves = 0, items = 0, active = nil }
local waitj = { waves = 0, items = 0, active = nil }

local function start_plain()
  local w = { last = {}, bad = 0, got = 0 }
  for t = 1, PLAIN_THREADS do w.last[t] = 0 end
  w.job = tp.start({ threads = PLAIN_THREADS, count = PLAIN_COUNT, name = "soak.plain",
    cb = function(thread, seq)
      local l = w.last[thread]
      if l == nil or seq ~= l + 1 then
        w.bad = w.bad + 1
        if w.bad <= 3 then
          problem("plain wave %d: thread %s seq %s after %s",
            plain.waves + 1, tostring(thread), tostring(seq), tostring(l))
        end
      end
      if l ~= nil then w.last[thread] = seq end
      w.got = w.got + 1
    end })
  plain.active = w
end

local function finish_plain()
  local w = plain.active
  local st = w.job:join()
  plain.waves = plain.waves + 1
  plain.items = plain.items + w.got
  local want = PLAIN_THREADS * PLAIN_COUNT
  if w.bad > 0 or w.got ~= want or st.delivered ~= want or st.decoded ~= want or st.status.OK ~= want then
    problem("plain wave %d: got %d/%d callbacks, %d out of order, delivered %d, decoded %d, OK %d",
      plain.waves, w.got, want, w.bad, st.delivered, st.decoded, st.status.OK)
  end
  for t = 1, PLAIN_THREADS do
    if w.last[t] ~= PLAIN_COUNT then problem("plain wave %d: thread %d ended at seq %d", plain.waves, t, w.last[t]) end
  end
  w.job:unregister()
  plain.active = nil
end

local function start_wait()
  local w = { last = {}, bad = 0, got = 0 }
  for t = 1, WAIT_THREADS do w.last[t] = 0 end
  w.job = tp.start_wait({ threads = WAIT_THREADS, count = WAIT_COUNT, name = "soak.wait",
    cb = function(a, b, thread, seq)
      local l = w.last[thread]
      if l == nil or seq ~= l + 1 then
        w.bad = w.bad + 1
        if w.bad <= 3 then
          problem("wait wave %d: thread %s seq %s after %s",
            waitj.waves + 1, tostring(thread), tostring(seq), tostring(l))
        end
      end
      if l ~= nil then w.last[thread] = seq end
      w.got = w.got + 1
      return a + b
    end })
  waitj.active = w
end

local function finish_wait()
  local w = waitj.active
  local st = w.job:join()
  waitj.waves = waitj.waves + 1
  waitj.items = waitj.items + w.got
  local want = WAIT_THREADS * WAIT_COUNT
  if w.bad > 0 or w.got ~= want or st.status.OK ~= want or st.mismatches ~= 0 or st.results ~= want then
    problem("wait wave %d: got %d/%d callbacks, %d out of order, OK %d, results %d, mismatches %d",
      waitj.waves, w.got, want, w.bad, st.status.OK, st.results, st.mismatches)
  end
  w.job:unregister()
  waitj.active = nil
end

-- --------------------------------------------------------------- loop --
local errors, wait_errors, loops = 0, 0, 0
local t0 = mit.monotime()
local stop_at = t0 + SECS * 1000
local function pe()
  local ok, err = pcall(mit.process_events)
  if not ok then
    errors = errors + 1
    problem("process_events raised: %s", tostring(err))
  end
end
while true do
  local now = mit.monotime()
  local running = now < stop_at
  if running and not plain.active then start_plain() end
  if running and not waitj.active then start_wait() end
  if not running and not plain.active and not waitj.active then break end
  local rc, msg = mit.wait(5)
  if rc ~= 0 then
    wait_errors = wait_errors + 1
    problem("wait failed: %s", tostring(msg))
  end
  pe()
  loops = loops + 1
  if plain.active and plain.active.job:done() then
    -- every item is queued once the threads are done; one process_events
    -- call may leave some for the next (it runs at most the number pending
    -- when called, and timer expirations coalesce ahead of items): drain
    -- until nothing is pending
    local guard = 0
    while plain.active.got < PLAIN_THREADS * PLAIN_COUNT and mit.pending() > 0 and guard < 10000 do
      pe()
      guard = guard + 1
    end
    finish_plain()
  end
  if waitj.active and waitj.active.job:done() then finish_wait() end
  if now > stop_at + 60000 then
    problem("producers did not finish within 60 s of the end")
    break
  end
end

-- Stop the timers right after a drain; compare with their schedule.
local tsum, tmin, tmax, early = 0, math.huge, -math.huge, 0
for i = 1, NT do
  -- Drain until nothing is pending, so that only the expirations that fall
  -- due in the few microseconds before stop() can be dropped by it (a
  -- single drain leaves those that fell due while it ran, which is most
  -- when a backlog of producer items is still being drained).
  local guard = 0
  repeat pe(); guard = guard + 1 until mit.pending() == 0 or guard > 1000
  local before = mit.monotime()
  timers[i]:stop()
  local after = mit.monotime()
  local hi = math.floor(after - tarm0[i] + 1e-6) -- expirations due by the stop, at most
  local lo = math.floor(before - tarm1[i]) -- at least, if every one was queued in time
  local c = tcount[i]
  tsum = tsum + c
  local dev = c - lo
  if dev < tmin then tmin = dev end
  if dev > tmax then tmax = dev end
  if c > hi then problem("timer %d ran %d times, more than its %d expirations", i, c, hi) end
  if c < lo - 2 then problem("timer %d ran %d times, expected %d (-2) expirations by its stop", i, c, lo) end
  if tearly[i] > 0 then problem("timer %d ran %d callbacks ahead of its schedule", i, tearly[i]) end
  early = early + tearly[i]
end
local after_stop = tsum
pe()
mit.sleep(5)
pe()
if tsum ~= after_stop then problem("timer callbacks ran after stop") end
for i = 1, NT do timers[i]:destroy() end

local secs = (mit.monotime() - t0) / 1000
local ok = #problems == 0 and errors == 0 and wait_errors == 0
print(string.format(
  "producers: %.1f s, %d loops; timers: %d x 1 ms, %d callbacks, "
    .. "count - floor(elapsed/1ms) at stop in [%d, %d] (allowed -2..0), %d ahead of schedule; "
    .. "plain: %d waves x %d threads x %d = %d items, each once in order; "
    .. "wait: %d waves x %d threads x %d = %d items, each once in order, results ok; "
    .. "%d process_events errors, %d wait errors %s",
  secs, loops, NT, tsum, tmin, tmax, early,
  plain.waves, PLAIN_THREADS, PLAIN_COUNT, plain.items, waitj.waves, WAIT_THREADS, WAIT_COUNT, waitj.items,
  errors, wait_errors, ok and "PASS" or "FAIL"))
for _, p in ipairs(problems) do print("producers:   " .. p) end
os.exit(ok and 0 or 1)

-- bench.lua: the producer C API end to end, with test/producer/testproducer.c
-- (plain C + pthreads) as the producer library.
--
--   make build test-modules
--   LUA_CPATH='build/lua5.4/?.so;build/test/lua5.4/?.so' lua5.4 test/producer/bench.lua
--
-- (lua5.1 / luajit: build/lua5.1 and build/test/lua5.1.) Environment:
--   BENCH_ROUNDS (default 5), BENCH_PER (plain items per thread, 250000),
--   BENCH_WAIT (deliver_wait round trips per scenario, 20000).
--
-- Scenarios:
--   plain 4 threads -> Lua      4 threads deliver() while one Lua loop
--                               (wait + process_events) drains: ns per event
--                               from thread start to the last callback.
--   plain 1 thread -> Lua       the same with one producer thread.
--   plain drain only            items queued first (threads joined), then
--                               timed: process_events() alone, ns per event.
--   deliver_wait 1 / 4 threads  deliver_wait round trips per second (each
--                               thread waits for its callback's result),
--                               and their CPU time and context switches
--                               per round trip, split by thread.
--   first call                  a fresh pthread's first delivery, us.
--   trickle                     one deliver_wait every 2 ms: process CPU.
-- Each scenario runs BENCH_ROUNDS times; the table shows median, min, max,
-- and the floor where one applies: test/bench/pingpong.c, if LMK_PINGPONG
-- names its binary (make bench builds it).
local mit = require("luamockit")
local tp = require("testproducer")

local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS")) or 5
local PER = tonumber(os.getenv("BENCH_PER")) or 250000
local WAITN = tonumber(os.getenv("BENCH_WAIT")) or 20000

local function stats(t)
  table.sort(t)
  local n = #t
  local med = n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
  return med, t[1], t[n]
end

local function drain(cond)
  while not cond() do
    mit.wait(100)
    mit.process_events()
  end
end

-- ns per event, 'threads' producers delivering while Lua drains.
local function plain_concurrent(threads)
  local total = threads * math.floor(PER * 4 / threads)
  local per = total / threads
  local n = 0
  local t0 = mit.monotime()
  local job = tp.start{ threads = threads, count = per, cb = function() n = n + 1 end }
  drain(function() return n >= total end)
  local dt = mit.monotime() - t0
  job:join()
  job:unregister()
  assert(n == total, "lost events")
  return dt * 1e6 / total
end

-- ns per event of process_events alone, the queue filled beforehand.
local function plain_drain_only()
  local total = 4 * PER
  local n = 0
  local job = tp.start{ threads = 4, count = PER, cb = function() n = n + 1 end }
  job:join()
  while mit.pending() < total do mit.sleep(1) end
  local t0 = mit.monotime()
  mit.process_events()
  local dt = mit.monotime() - t0
  job:unregister()
  assert(n == total, "lost events")
  return dt * 1e6 / total
end

-- CPU time and context switches per round trip, split by thread: the Lua
-- thread (this one), the producer threads, and the rest of the process
-- (Go's runtime threads).
local function split(before, after, st, n)
  local unpack = table.unpack or unpack
  local p0, pc0, l0, lc0 = unpack(before)
  local p1, pc1, l1, lc1 = unpack(after)
  return {
    cpu = (p1 - p0) / n, cpu_lua = (l1 - l0) / n, cpu_prod = st.cpu_us / n,
    cpu_other = ((p1 - p0) - (l1 - l0) - st.cpu_us) / n,
    csw = (pc1 - pc0) / n, csw_lua = (lc1 - lc0) / n, csw_prod = st.csw / n,
    csw_other = ((pc1 - pc0) - (lc1 - lc0) - st.csw) / n,
  }
end

-- deliver_wait round trips per second, and the split of their cost.
local function wait_rt(threads)
  local per = math.floor(WAITN / threads)
  local before = { tp.rusage() }
  local t0 = mit.monotime()
  local job = tp.start_wait{ threads = threads, count = per, cb = function(a, b) return a + b end }
  drain(function() return job:done() end)
  local dt = mit.monotime() - t0
  local st = job:join()
  local after = { tp.rusage() }
  job:unregister()
  assert(st.status.OK == per * threads and st.mismatches == 0, "bad round trips")
  return per * threads / (dt / 1000), split(before, after, st, per * threads)
end

-- The first delivery of a fresh pthread, us.
local function first_call()
  local n = 0
  local job = tp.start{ threads = 1, count = 0, cb = function() n = n + 1 end }
  local us = job:first_calls(20)
  drain(function() return n >= 20 end)
  job:join()
  job:unregister()
  table.sort(us)
  return us[10], us[20]
end

-- A trickle: one deliver_wait every 2 ms for 1 s: process CPU, % of a
-- core (the waits between items must cost nothing).
local function trickle()
  local before = { tp.rusage() }
  local t0 = mit.monotime()
  local job = tp.start_wait{ threads = 1, count = 500, interval_us = 2000, cb = function(a, b) return a + b end }
  drain(function() return job:done() end)
  local dt = mit.monotime() - t0
  local st = job:join()
  local after = { tp.rusage() }
  job:unregister()
  assert(st.status.OK == 500, "bad round trips")
  return (after[1] - before[1]) / 1000 / dt * 100
end

-- The floor (test/bench/pingpong.c), if LMK_PINGPONG names its binary.
local PINGPONG = os.getenv("LMK_PINGPONG")
local function floor(threads)
  if not PINGPONG then return nil end
  local f = io.popen(PINGPONG .. " " .. threads .. " " .. WAITN)
  local out = {}
  for line in f:lines() do
    local k, v = line:match("^(%S+) (%S+)$")
    if k then out[k] = tonumber(v) end
  end
  f:close()
  return out.rate and out or nil
end

local interp = type(rawget(_G, "jit")) == "table" and jit.version or _VERSION
print(string.format("luamockit producer benchmark: %s, %d rounds, %d plain items/round, %d round trips/round",
  interp, ROUNDS, 4 * PER, WAITN))
print(string.format("%-34s %-15s %10s %10s %10s %10s", "scenario", "unit", "median", "min", "max", "floor"))
local function row(name, unit, v, fl)
  local med, lo, hi = stats(v)
  local fmt = med < 100 and "%10.2f" or "%10.0f"
  print(string.format("%-34s %-15s " .. fmt .. " " .. fmt .. " " .. fmt .. " %10s", name, unit, med, lo, hi,
    fl and string.format(med < 100 and "%.2f" or "%.0f", fl) or "-"))
end

local function collect(f)
  local v = {}
  collectgarbage("collect")
  for r = 1, ROUNDS do v[r] = f() end
  return v
end

row("plain 4 threads -> Lua", "ns/event", collect(function() return plain_concurrent(4) end))
row("plain 1 thread -> Lua", "ns/event", collect(function() return plain_concurrent(1) end))
row("plain drain only (pre-queued)", "ns/event", collect(plain_drain_only))
for _, threads in ipairs({ 1, 4 }) do
  local rates, parts, floors = {}, {}, {}
  for r = 1, ROUNDS do
    collectgarbage("collect")
    rates[r], parts[r] = wait_rt(threads)
    floors[r] = floor(threads)
  end
  local function fl(k)
    local v = {}
    for r = 1, ROUNDS do if floors[r] then v[#v + 1] = floors[r][k] end end
    return #v > 0 and (stats(v)) or nil
  end
  local function part(k)
    local v = {}
    for r = 1, ROUNDS do v[r] = parts[r][k] end
    return v
  end
  local label = "deliver_wait " .. threads .. (threads == 1 and " thread" or " threads")
  row(label, "round trips/s", rates, fl("rate"))
  row("  CPU per round trip", "us, process", part("cpu"), fl("cpu_us"))
  row("    Lua thread", "us", part("cpu_lua"))
  row("    producer thread(s)", "us", part("cpu_prod"))
  row("    other threads (Go runtime)", "us", part("cpu_other"))
  row("  context switches per round trip", "process", part("csw"), fl("csw"))
  row("    Lua thread", "", part("csw_lua"))
  row("    producer thread(s)", "", part("csw_prod"))
  row("    other threads (Go runtime)", "", part("csw_other"))
end
do
  local med, mx = {}, {}
  for r = 1, ROUNDS do med[r], mx[r] = first_call() end
  row("first call from a fresh pthread", "us, median of 20", med)
  row("first call from a fresh pthread", "us, max of 20", mx)
end
row("trickle: deliver_wait every 2 ms", "CPU % of a core", collect(trickle))
print("floor: test/bench/pingpong.c, two pthreads (1) or luamockit's shape in C (4) waking each other with futexes,")
print("no spinning; CPU and switches are per round trip. Lua thread, producers: RUSAGE_THREAD; other: the rest.")

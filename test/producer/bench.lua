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
--                               thread waits for its callback's result).
-- Each scenario runs BENCH_ROUNDS times; the table shows median, min, max.
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

-- deliver_wait round trips per second.
local function wait_rt(threads)
  local per = math.floor(WAITN / threads)
  local t0 = mit.monotime()
  local job = tp.start_wait{ threads = threads, count = per, cb = function(a, b) return a + b end }
  drain(function() return job:done() end)
  local dt = mit.monotime() - t0
  local st = job:join()
  job:unregister()
  assert(st.status.OK == per * threads and st.mismatches == 0, "bad round trips")
  return per * threads / (dt / 1000)
end

local rows = {
  { "plain 4 threads -> Lua", "ns/event", function() return plain_concurrent(4) end },
  { "plain 1 thread -> Lua", "ns/event", function() return plain_concurrent(1) end },
  { "plain drain only (pre-queued)", "ns/event", plain_drain_only },
  { "deliver_wait 1 thread", "round trips/s", function() return wait_rt(1) end },
  { "deliver_wait 4 threads", "round trips/s", function() return wait_rt(4) end },
}

local interp = type(rawget(_G, "jit")) == "table" and jit.version or _VERSION
print(string.format("luamockit producer benchmark: %s, %d rounds, %d plain items/round, %d round trips/round",
  interp, ROUNDS, 4 * PER, WAITN))
print(string.format("%-32s %-14s %12s %12s %12s", "scenario", "unit", "median", "min", "max"))
for _, row in ipairs(rows) do
  local v = {}
  collectgarbage("collect")
  for r = 1, ROUNDS do v[r] = row[3]() end
  local med, lo, hi = stats(v)
  print(string.format("%-32s %-14s %12.0f %12.0f %12.0f", row[1], row[2], med, lo, hi))
end

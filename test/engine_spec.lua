-- The sequences that used to lose or reorder expirations when schedules
-- were handed between C and Go (issue 12), each in a fresh process, with
-- and without fd() in use: the two must not differ (Go's queue holds every
-- schedule either way).
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local prelude = [=[
local mit = require("luamockit")
local now, floor = mit.monotime, math.floor
if MODE == "fd" then mit.fd() end
local function check(ok, msg)
  if not ok then error(msg or "check failed", 2) end
end
local log = {}
local function logger(name) return function() log[#log + 1] = name end end
]=]

local function child(mode, body)
  local r = H.run_lua("MODE = " .. string.format("%q", mode) .. "\n" .. prelude .. body .. "\nio.write('ok\\n')")
  assert.are.equal(0, r.rc, r.err)
  assert.are.equal("ok\n", r.out, r.err)
end

-- t:start() on an interval timer whose expirations fell due while nobody
-- looked: they still run (one record, before the new schedule's).
local restart = [=[
local others = {}
for i = 1, EXTRA do others[i] = mit.getit(60000, function() end) end
local n, at = 0, {}
local a0 = now()
local t = mit.getit(10, function() n = n + 1; at[n] = now() end)
local a1 = now()
mit.wait(1)
mit.process_events()
local base = n
mit.sleep(55)
local s0 = now()
t:start()
local s1 = now()
local ran = mit.process_events() -- before the new schedule's first expiration
local lo, hi = floor((s0 - a1) / 10) - base, floor((s1 - a0) / 10) - base
check(n - base >= lo and n - base <= hi,
  ("%d expirations due before start() ran, expected %d..%d"):format(n - base, lo, hi))
check(n - base >= 4, "only " .. (n - base) .. " expirations were due: the test did not test")
check(ran == n - base, "process_events returned " .. ran)
-- the new schedule: one interval after start() (a loaded machine may
-- oversleep past it: then the first new callback must not be early)
local r0 = n
while now() < s0 + 9 do mit.sleep(0.5) end
mit.process_events()
check(n == r0 or at[r0 + 1] >= s0 + 10 - 0.05,
  ("the restarted timer ran %.3f ms after start(), before one interval had passed"):format((at[r0 + 1] or 0) - s0))
while now() < s1 + 25 do mit.wait(5); mit.process_events() end
check(n - r0 >= 2, "the restarted timer ran " .. (n - r0) .. " times in 25 ms")
]=]

-- A one-off armed while another is waited for, both overdue, then a call
-- that used to hand a schedule over: they run in due order.
local order_after = [=[
local a = mit.oneoff(10, logger("A"))
mit.wait(2)                              -- sleeps with A armed
local b = mit.oneoff(12, logger("B"))    -- armed meanwhile, due later
local c = mit.getit(1000, function() end)
mit.wait(0.5)                            -- another short wait: nothing due yet
mit.sleep(20)                            -- both overdue
if HOW == "pending" then check(mit.pending() == 2, "pending " .. mit.pending())
elseif HOW == "state" then check(a:state() == "due", a:state())
else c:stop() end
mit.process_events()
check(table.concat(log, " ") == "A B", "ran: " .. table.concat(log, " "))
]=]

-- A one-off armed after another but due before it runs first, whether
-- anything waited or not (a frame loop of process_events and sleep).
local order_arms = [=[
local a = mit.oneoff(5, logger("A"))
mit.pending()                            -- A is scheduled
local b = mit.oneoff(2, logger("B"))     -- due 3 ms before A
if LOOP then -- frames longer than A's delay
  for _ = 1, 5 do mit.sleep(6); mit.process_events() end
else
  mit.sleep(10)
  mit.process_events()
end
check(table.concat(log, " ") == "B A", "ran: " .. table.concat(log, " "))
]=]

for _, mode in ipairs({ "default", "fd" }) do
  describe("restarts and order (" .. mode .. " mode)", function()
    it("start() on an armed interval timer runs the expirations that fell due before it (timing-sensitive)", function()
      child(mode, "EXTRA = 0\n" .. restart)
    end)

    it("... with 65 timers armed too (timing-sensitive)", function()
      child(mode, "EXTRA = 64\n" .. restart)
    end)

    for _, how in ipairs({ "pending", "state", "stop" }) do
      it("two overdue one-offs run in due order after " .. how .. "() (timing-sensitive)", function()
        child(mode, "HOW = '" .. how .. "'\n" .. order_after)
      end)
    end

    it("a one-off armed later but due sooner runs first, before any wait() (timing-sensitive)", function()
      child(mode, "LOOP = false\n" .. order_arms)
    end)

    it("... in a frame loop of process_events() and sleep() (timing-sensitive)", function()
      child(mode, "LOOP = true\n" .. order_arms)
    end)
  end)
end

-- Timers in a wait()/process_events() loop. Go's queue holds every
-- schedule and decides every expiration; a drain takes what was due when
-- it began in one call (cmd/luamockit/sched.c), and wait() sleeps until the
-- due time Go publishes. The user must see exactly what Go's queue
-- decides: every expiration once, on the absolute schedule, in order with
-- everything else, whatever the callbacks do, with and without fd().
--
-- Each test runs in a fresh process: fd(), once called, stays in use.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local prelude = [=[
local mit = require("luamockit")
local now = mit.monotime -- reads the clock only: no call into Go
local floor = math.floor

local function check(ok, msg)
  if not ok then error(msg or "check failed", 2) end
end

local function between(x, lo, hi, what)
  check(x >= lo and x <= hi, ("%s = %s, expected within [%s, %s]"):format(what, x, lo, hi))
end

local function equal(want, got, what)
  check(want == got, ("%s: %s, expected %s"):format(what or "value", tostring(got), tostring(want)))
end

local function busy(ms)
  local t0 = now()
  while now() - t0 < ms do end
end

local function drain_for(ms)
  local deadline = now() + ms
  while true do
    local left = deadline - now()
    if left <= 0 then return end
    mit.wait(math.max(0.5, left))
    mit.process_events()
  end
end

local function drain_until(cond, ms)
  local deadline = now() + ms
  while not cond() do
    if now() >= deadline then return false end
    mit.wait(50)
    mit.process_events()
  end
  return true
end

local function collect()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- Runs process_events once more and checks each timer's count against its
-- schedule: everything due when process_events was called has run (lower
-- bound), nothing ran before it was due (upper bound). Both bounds are
-- exact: no timing tolerance.
local function check_counts(timers)
  local before = now()
  mit.process_events()
  local after = now()
  for i, t in ipairs(timers) do
    between(t.n, floor((before - t.t1) / t.ms), floor((after - t.t0) / t.ms), "expirations of timer " .. i)
  end
end

-- Restarts the stopped one-off t (its runs counted in t.n, none so far)
-- and checks that it runs once, not before ms have passed.
local function restart_runs_once(t, ms)
  equal("stopped", t.h:state())
  local started = now()
  t.h:start()
  check(drain_until(function() return t.n > 0 end, 2000), "the restarted one-off did not run")
  check(now() - started >= ms, "the restarted one-off ran early")
  drain_for(2 * ms)
  equal(1, t.n)
end

-- Arms an interval timer that counts its runs, and remembers when: t0
-- before, t1 after.
local function counted(ms, extra)
  local t = { n = 0, ms = ms }
  t.t0 = now()
  t.h = mit.getit(ms, function()
    t.n = t.n + 1
    if extra then extra(t) end
  end)
  t.t1 = now()
  return t
end
]=]

-- it(name, body): body runs in a fresh process after the prelude above.
local function it_child(name, body)
  it(name, function()
    local r = H.run_lua(prelude .. body .. "\nio.write('done')\n")
    assert.are.equal(0, r.rc, r.err)
    assert.are.equal("done", r.out, r.err)
  end)
end

describe("interval timers in a wait loop", function()
  it_child("run every expiration once, on each timer's schedule", [[
    local ts = {}
    for i = 1, 6 do ts[i] = counted(2 + i / 4) end
    drain_for(250)
    check_counts(ts)
  ]])

  it_child("leave pending() what wait() returned for", [[
    local a = counted(3)
    for _ = 1, 5 do
      equal(0, mit.wait(1000), "wait()")
      local p = mit.pending()
      check(p >= 1, "wait() returned with pending() = " .. p)
      check(mit.process_events() >= p)
    end
    check_counts({ a })
  ]])

  it_child("run a one-off armed before the loop on time (timing-sensitive)", [[
    local a, b = counted(3), counted(4)
    local armed, fired = now(), nil
    local _ = mit.oneoff(45, function() fired = now() end)
    check(drain_until(function() return fired ~= nil end, 2000))
    between(fired - armed, 45, 45 + 300, "one-off ran after (ms)")
    check_counts({ a, b })
  ]])

  it_child("run a one-off armed in a callback on time (timing-sensitive)", [[
    local armed, fired
    local a = counted(2, function(t)
      if t.n == 10 then
        armed = now()
        local _ = mit.oneoff(20, function() fired = now() end)
      end
    end)
    check(drain_until(function() return fired ~= nil end, 2000))
    between(fired - armed, 20, 20 + 300, "one-off ran after (ms)")
    check_counts({ a })
  ]])

  it_child("leave the expirations after a failing callback to the next call, none lost or run twice", [[
    local boom = false
    local ts = {}
    ts[1] = counted(2, function()
      if boom then
        boom = false
        error("boom")
      end
    end)
    ts[2], ts[3] = counted(2), counted(2)
    drain_for(30)
    busy(20) -- about 10 expirations of each due, in one batch
    boom = true
    local ok, err = pcall(mit.process_events)
    check(not ok, "process_events did not raise")
    check(tostring(err):find("boom"), tostring(err))
    check(mit.pending() >= 15, "pending after the error: " .. mit.pending())
    check_counts(ts)
  ]])

  it_child("go on after a failing callback with an error handler", [[
    local errs = 0
    mit.seterrorhandler(function() errs = errs + 1 end)
    local a = counted(2, function(t) if t.n % 3 == 0 then error("every third") end end)
    local b = counted(3)
    drain_for(30)
    busy(20)
    drain_for(20)
    check_counts({ a, b })
    equal(floor(a.n / 3), errs)
  ]])

  it_child("stop running a timer destroyed or stopped by another's callback", [[
    local b, c
    local a = counted(2, function(t)
      if t.n == 5 then
        b.h:destroy()
        c.h:stop()
      end
    end)
    b, c = counted(2), counted(2)
    check(drain_until(function() return a.n >= 5 end, 2000))
    local nb, nc = b.n, c.n
    drain_for(40)
    equal(nb, b.n, "a destroyed timer ran")
    equal(nc, c.n, "a stopped timer ran")
    equal("destroyed", b.h:state())
    equal("stopped", c.h:state())
    c.h:start()
    drain_for(30)
    check(c.n > nc, "a restarted timer did not run")
    check_counts({ a })
  ]])

  it_child("drop the queued expirations of a timer that destroys itself", [[
    local other = counted(2)
    local s = counted(2, function(t) if t.n == 3 then t.h:destroy() end end)
    drain_for(10)
    busy(20) -- s has several expirations due when it destroys itself
    drain_for(20)
    equal(3, s.n)
    check_counts({ other })
  ]])

  it_child("run at most max of the due expirations, the rest on the next call", [[
    local a, b = counted(2), counted(2)
    drain_for(20)
    busy(20)
    equal(3, mit.process_events(3))
    check(mit.pending() >= 12, "pending after process_events(3): " .. mit.pending())
    check_counts({ a, b })
  ]])

  it_child("count right with process_events nested in a callback", [[
    local nest = false
    local ts = {}
    ts[1] = counted(2, function()
      if nest then
        nest = false
        mit.process_events()
      end
    end)
    ts[2] = counted(2)
    drain_for(20)
    busy(20)
    nest = true
    drain_for(20)
    check(not nest, "the nested call did not happen")
    check_counts(ts)
  ]])

  it_child("keep a dropped timer running when the collector runs in a callback", [[
    local dropped = 0
    local t0 = now()
    do
      mit.getit(2, function() dropped = dropped + 1 end) -- nobody holds it
    end
    local t1 = now()
    local gc_now = false
    local a = counted(2, function()
      if gc_now then
        gc_now = false
        collect()
      end
    end)
    drain_for(20)
    gc_now = true
    drain_for(30)
    local before = now()
    mit.process_events()
    local after = now()
    between(dropped, floor((before - t1) / 2), floor((after - t0) / 2), "expirations of the dropped timer")
    check_counts({ a })
  ]])

  it_child("keep a stopped and restarted timer on its new schedule", [[
    local a, b = counted(2), counted(3)
    drain_for(20)
    b.h:stop()
    local nb = b.n
    drain_for(20)
    equal(nb, b.n)
    b.n, b.t0 = 0, now()
    b.h:start()
    b.t1 = now()
    drain_for(30)
    check_counts({ a, b })
  ]])

  it("make fd() readable for timers when it is called mid-loop", function()
    if not pcall(require, "posix.poll") then return pending("luaposix poll not installed for " .. _VERSION) end
    local took, ran = H.fd_child([[
      local t = mit.getit(5, function() end)
      local stop = mit.monotime() + 30
      while mit.monotime() < stop do mit.wait(50); mit.process_events() end
      fd = mit.fd()
      t0 = mit.monotime()
    ]])
    assert.is_true(took < 1500, "fd readable after " .. took .. " ms")
    assert.is_true(ran >= 1)
  end)
end)

describe("one-offs in a wait loop", function()
  it_child("run each once, none early, in due order", [[
    local ran, order = {}, {}
    local delays = { 30, 6, 18, 6, 42, 12, 24, 3 }
    local armed = {}
    for i, d in ipairs(delays) do
      armed[i] = now()
      local _ = mit.oneoff(d, function()
        ran[i] = (ran[i] or 0) + 1
        order[#order + 1] = i
        check(now() - armed[i] >= d, "one-off " .. i .. " ran early")
      end)
    end
    check(drain_until(function() return #order == #delays end, 3000), "not all one-offs ran")
    drain_for(20)
    for i = 1, #delays do equal(1, ran[i], "runs of one-off " .. i) end
    equal("8 2 4 6 3 7 1 5", table.concat(order, " "), "order")
  ]])

  it_child("leave pending() the one-off wait() returned for, and run it once", [[
    local n = 0
    local t = mit.oneoff(5, function() n = n + 1 end)
    equal(0, mit.wait(1000), "wait()")
    equal(1, mit.pending(), "pending()")
    equal("due", t:state())
    equal(1, mit.process_events())
    equal(1, n)
    equal(0, mit.pending())
    drain_for(20)
    equal(1, n)
  ]])

  it_child("not run one-offs destroyed or stopped by another callback; run a restarted one once", [[
    local b, c = { n = 0 }, { n = 0 }
    local a = counted(2, function(t)
      if t.n == 3 then
        b.h:destroy()
        c.h:stop()
      end
    end)
    b.h = mit.oneoff(30, function() b.n = b.n + 1 end)
    c.h = mit.oneoff(30, function() c.n = c.n + 1 end)
    drain_for(60)
    equal(0, b.n, "a destroyed one-off ran")
    equal(0, c.n, "a stopped one-off ran")
    restart_runs_once(c, 30)
    check_counts({ a })
  ]])

  it_child("raise a one-off's error once, and run the one-offs due with it on the next call", [[
    local n = { 0, 0, 0 }
    local hs = {}
    for i = 1, 3 do
      hs[i] = mit.oneoff(5, function()
        n[i] = n[i] + 1
        if i == 1 then error("boom") end
      end)
    end
    equal(0, mit.wait(1000), "wait()")
    busy(2) -- all three due
    local ok, err = pcall(mit.process_events)
    check(not ok and tostring(err):find("boom"), "process_events did not raise: " .. tostring(err))
    equal(2, mit.pending(), "pending after the error")
    equal(2, mit.process_events())
    drain_for(20)
    equal("1 1 1", table.concat(n, " "), "runs")
  ]])

  it_child("release a one-off's callback and arguments once it has run", [[
    local weak = setmetatable({}, { __mode = "k" })
    local ran = false
    do
      local arg = {}
      weak[arg] = true
      local _ = mit.oneoff(3, function(x) ran = x ~= nil end, arg)
    end
    drain_for(30)
    check(ran, "the one-off did not run with its argument")
    collect()
    check(next(weak) == nil, "the one-off's argument is still held after it ran")
  ]])

  it_child("run one-offs armed in callbacks, one after another", [[
    local runs, late = 0, 0
    local function again()
      runs = runs + 1
      if runs < 50 then
        local armed = now()
        local _ = mit.oneoff(2, function()
          check(now() - armed >= 2, "ran early")
          again()
        end)
      end
    end
    again()
    check(drain_until(function() return runs == 50 end, 5000), "only " .. runs .. " of 50 ran")
    drain_for(10)
    equal(50, runs)
  ]])
end)

describe("timers armed in callbacks", function()
  it_child("keep an interval timer armed in a callback on its schedule, counted while nobody drains", [[
    local b
    local a = counted(3, function(t)
      if t.n == 2 then b = counted(2) end
    end)
    check(drain_until(function() return b ~= nil and b.n >= 5 end, 2000), "the timer armed in a callback did not run")
    busy(7) -- some of b's expirations due, not run
    check(mit.pending() >= 3, "pending() after the hand-over: " .. mit.pending()) -- Go counts b's expirations
    equal("armed", b.h:state())
    drain_for(30)
    check_counts({ a, b })
  ]])

  it_child("never run a timer armed in a callback and destroyed in another callback", [[
    local b
    local a = counted(2, function(t)
      if t.n == 2 then b = counted(2) end
      if t.n == 8 then b.h:destroy() end
    end)
    check(drain_until(function() return a.n >= 8 end, 2000))
    local nb = b.n
    check(nb >= 1, "b never ran")
    drain_for(20)
    local _ = mit.pending() -- asks Go (used to hand a lease back)
    drain_for(20)
    equal(nb, b.n, "a destroyed timer ran")
    equal("destroyed", b.h:state())
    check_counts({ a })
  ]])

  it_child("stop and restart a one-off armed in a callback", [[
    local b = { n = 0 }
    local a = counted(2, function(t)
      if t.n == 2 then b.h = mit.oneoff(20, function() b.n = b.n + 1 end) end
      if t.n == 4 then b.h:stop() end
    end)
    drain_for(60)
    equal(0, b.n, "a stopped one-off ran")
    restart_runs_once(b, 20)
    check_counts({ a })
  ]])

  it_child("leave one-offs armed in a callback that a failing callback kept from running to the next call", [[
    local n = { 0, 0, 0 }
    local first = mit.oneoff(2, function()
      for i = 1, 3 do
        local _ = mit.oneoff(5, function()
          n[i] = n[i] + 1
          if i == 1 then error("boom") end
        end)
      end
    end)
    equal(0, mit.wait(1000))
    equal(1, mit.process_events())
    equal(0, mit.wait(1000)) -- the three fall due
    busy(2)
    local ok, err = pcall(mit.process_events)
    check(not ok and tostring(err):find("boom"), "process_events did not raise: " .. tostring(err))
    equal(2, mit.pending(), "pending after the error") -- two left to run
    equal(2, mit.process_events())
    drain_for(20)
    equal("1 1 1", table.concat(n, " "), "runs")
    equal("fired", first:state())
  ]])
end)

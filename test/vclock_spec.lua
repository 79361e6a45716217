-- The virtual clock (issue 25): mit.clock("virtual"), mit.advance(ms),
-- mit.run_all([limit]), mit.now(), and the time functions, wait() and
-- luamockit.co following it.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local co = require("luamockit.co")
local M = dofile("test/model.lua")

local HOUR = 3600000

-- Back to the real clock, whatever a test left.
local function real()
  H.reset()
  if mit.clock() == "virtual" then mit.clock("real") end
end

describe("the virtual clock", function()
  before_each(real)
  after_each(real)

  it("stands still until told; sleep(), wait(), monotime(), now() and time() follow it", function()
    assert.equal("real", mit.clock())
    assert.equal("real", mit.clock("virtual")) -- returns the clock it replaces
    assert.equal("virtual", mit.clock())
    local v0, s0 = mit.now(), mit.time()
    assert.equal(0, v0 % 1, "the virtual clock starts at a whole ms")
    local c0 = os.clock()
    while os.clock() - c0 < 0.02 do end -- real time passes
    assert.equal(v0, mit.now(), "the virtual clock moved by itself")
    assert.equal(v0, mit.monotime())
    local ms, err = mit.sleep(30000)
    assert.equal(0, ms)
    assert.equal(0, err)
    assert.equal(v0 + 30000, mit.now())
    assert.equal(s0 + 30, (mit.time()))
    -- wait(timeout) with nothing armed: the clock moves by the timeout
    assert.equal(0, mit.wait(500))
    assert.equal(v0 + 30500, mit.now())
    -- wait() with a timer armed: the clock moves to its due time, not past
    local t = H.track(mit.oneoff(HOUR, function() end))
    assert.equal(0, mit.wait())
    assert.equal(v0 + 30500 + HOUR, mit.now())
    assert.equal("due", t:state())
    assert.equal(1, mit.pending())
    assert.equal(0, mit.next_due())
    assert.equal(1, mit.process_events())
    assert.is_true(os.clock() - c0 < 2, "virtual waits took real time")
  end)

  it("advance(ms) runs each expiration at its virtual time, in (due, arming) order, with exact counts", function()
    mit.clock("virtual")
    local t0 = mit.now()
    local log = {}
    local function rec(name) return function() log[#log + 1] = { name, mit.now() - t0 } end end
    H.track(mit.getit(1000, rec("a")))
    H.track(mit.getit(500, rec("b")))
    H.track(mit.oneoff(1500, rec("o")))
    assert.equal(0, mit.advance(499))
    assert.equal(7, mit.advance(1501)) -- to 2000: b at 500, 1000, 1500, 2000; a at 1000, 2000; o at 1500
    assert.same({ { "b", 500 }, { "a", 1000 }, { "b", 1000 }, { "b", 1500 }, { "o", 1500 }, { "a", 2000 }, { "b", 2000 } }, log)
    assert.equal(t0 + 2000, mit.now())
  end)

  it("runs a 24-hour schedule of interval and one-off timers with exact counts, each at its due time", function()
    mit.clock("virtual")
    local t0 = mit.now()
    local spec = { 1000, 7000, 60000, HOUR, 6 * HOUR }
    local counts, bad = {}, {}
    for i, ms in ipairs(spec) do
      counts[i] = 0
      H.track(mit.getit(ms, function()
        counts[i] = counts[i] + 1
        -- (ms as a float of ns / 1e6: equal within a nanosecond)
        if math.abs(mit.now() - t0 - counts[i] * ms) > 1e-6 then bad[#bad + 1] = ("%d ms #%d at %.3f"):format(ms, counts[i], mit.now() - t0) end
      end))
    end
    local once = {}
    for k = 1, 48 do -- one-offs every half hour, armed in reverse order
      local at = (49 - k) * HOUR / 2
      H.track(mit.oneoff(at, function() once[#once + 1] = mit.now() - t0 end))
    end
    local c0 = os.clock()
    local ran = mit.advance(24 * HOUR)
    local cpu = os.clock() - c0
    print(("\nvirtual clock: 24 h, %d callbacks in %.3f s of CPU"):format(ran, cpu))
    assert.same({}, bad)
    assert.same({ 86400, 12342, 1440, 24, 4 }, counts)
    assert.equal(48, #once)
    for k = 1, 48 do assert.is_true(math.abs(k * HOUR / 2 - once[k]) < 1e-6, "one-off " .. k .. " at " .. once[k]) end
    assert.equal(86400 + 12342 + 1440 + 24 + 4 + 48, ran)
    assert.is_true(cpu < 20, "24 virtual hours took " .. cpu .. " s of CPU")
  end)

  it("honours at their virtual time what callbacks arm, stop, start and destroy", function()
    mit.clock("virtual")
    local t0 = mit.now()
    local log = {}
    local function at() return ("%.0f"):format(mit.now() - t0) end
    local tick
    tick = H.track(mit.getit(1000, function() log[#log + 1] = "tick@" .. at() end))
    H.track(mit.oneoff(2500, function()
      log[#log + 1] = "stop@" .. at()
      tick:stop()
      H.track(mit.oneoff(1000, function() log[#log + 1] = "start@" .. at(); tick:start() end))
    end))
    H.track(mit.oneoff(6000, function() log[#log + 1] = "destroy@" .. at(); tick:destroy() end))
    H.track(mit.oneoff(0, function() -- a callback that arms one due at once: same instant
      H.track(mit.oneoff(0, function() log[#log + 1] = "zero@" .. at() end))
    end))
    mit.advance(10000)
    assert.same({ "zero@0", "tick@1000", "tick@2000", "stop@2500", "start@3500", "tick@4500", "tick@5500",
      "destroy@6000" }, log)
  end)

  it("run_all() runs until nothing is armed; it stops at its limit while an interval timer lives", function()
    mit.clock("virtual")
    local t0 = mit.now()
    local chain = {}
    local function link(n)
      chain[#chain + 1] = mit.now() - t0
      if n < 5 then H.track(mit.oneoff(n * 1000, link, n + 1)) end
    end
    H.track(mit.oneoff(1000, link, 1))
    assert.equal(5, mit.run_all())
    assert.same({ 1000, 2000, 4000, 7000, 11000 }, chain)
    assert.is_nil(mit.next_due())
    local iv = H.track(mit.getit(10, function() end))
    H.raises("run_all stopped after 50 callbacks with timers still armed", mit.run_all, 50)
    iv:destroy()
    assert.equal(0, mit.run_all())
    H.raises("max must be a positive number", mit.run_all, 0)
  end)

  it("refuses advance and run_all on the real clock and inside callbacks, and clock() inside a callback", function()
    H.raises("advance and run_all need the virtual clock", mit.advance, 10)
    H.raises("advance and run_all need the virtual clock", mit.run_all)
    mit.clock("virtual")
    local errs = {}
    H.track(mit.oneoff(10, function()
      errs[1] = select(2, pcall(mit.advance, 10))
      errs[2] = select(2, pcall(mit.run_all))
      errs[3] = select(2, pcall(mit.clock, "real"))
    end))
    assert.equal(1, mit.advance(10))
    assert.truthy(tostring(errs[1]):find("cannot run inside a callback", 1, true), tostring(errs[1]))
    assert.truthy(tostring(errs[2]):find("cannot run inside a callback", 1, true), tostring(errs[2]))
    assert.truthy(tostring(errs[3]):find("cannot switch clocks inside a callback", 1, true), tostring(errs[3]))
    H.raises("invalid option 'fast'", mit.clock, "fast")
    H.raises("milliseconds must not be negative", mit.advance, -1)
    -- a callback's error leaves the clock at its instant
    H.track(mit.oneoff(100, function() error("boom") end))
    local t = mit.now()
    local ok, err = pcall(mit.advance, 1000)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("boom", 1, true))
    assert.equal(t + 100, mit.now())
  end)

  it("co tasks with sleeps and timeouts run in virtual time, in microseconds", function()
    mit.clock("virtual")
    local t0 = mit.now()
    local got = {}
    co.spawn(function()
      co.sleep(30000)
      got.slept = mit.now() - t0
      got.r, got.err = co.timeout(5000, function() co.sleep(60000) end)
      got.timed_out = mit.now() - t0
      got.fast = co.timeout(5000, function() co.sleep(10); return "fast" end)
    end)
    local beats = 0
    local beat = co.every(1000, function() beats = beats + 1 end)
    co.spawn(function() co.sleep(40000); beat:cancel() end)
    local c0 = os.clock()
    co.run()
    assert.equal(30000, got.slept)
    assert.is_nil(got.r)
    assert.equal("timeout", got.err)
    assert.equal(35000, got.timed_out)
    assert.equal("fast", got.fast)
    -- at 1 s .. 40 s: at 40 s the tick (its timer armed by co.every) runs
    -- before the cancel (the canceller's sleep was armed later, when it started)
    assert.equal(40, beats)
    assert.is_true(os.clock() - c0 < 2, "co.run on the virtual clock took real time")
  end)

  it("switching with timers armed: each keeps its distance to now, both ways", function()
    local o = H.track(mit.oneoff(HOUR, function() end))
    local left = o:remaining()
    mit.clock("virtual")
    H.between(o:remaining(), left - 50, left, "remaining() after the switch to virtual")
    mit.advance(HOUR - 2000)
    H.between(o:remaining(), 1950, 2000, "remaining() after advancing")
    local n = 0
    local iv = H.track(mit.getit(500, function() n = n + 1 end))
    mit.advance(1000)
    assert.equal(2, n)
    assert.equal("virtual", mit.clock("real"))
    H.between(o:remaining(), 950, 1000, "remaining() after the switch back to real")
    H.between(iv:remaining(), 450, 500, "the interval timer's remaining() after the switch back")
    -- on the real clock again: the interval keeps its 500 ms steps, the one-off comes in a second
    assert.is_true(H.drain_until(function() return o:state() == "fired" end, 5000))
    assert.is_true(n >= 3, "the interval ran " .. n .. " times")
    iv:destroy()
  end)

  it("merges producer items at the virtual now: after every expiration due by then, before later ones", function()
    local ok_tp, tp = pcall(require, "testproducer")
    if not ok_tp then return pending("testproducer is not built") end
    mit.clock("virtual")
    local order = {}
    local job = tp.start{ threads = 1, count = 2, cb = function(_, seq) order[#order + 1] = "item" .. seq end }
    job:join()
    H.await_pending(2)
    H.track(mit.oneoff(0, function() order[#order + 1] = "timer0" end))
    H.track(mit.oneoff(1000, function() order[#order + 1] = "timer1000" end))
    -- the items arrived (in real time) while the clock stood at t0: they run
    -- at t0, after the expiration due at t0 and before the one at t0 + 1 s
    mit.advance(1000)
    assert.same({ "timer0", "item1", "item2", "timer1000" }, order)
    job:unregister()
  end)

  it("keeps the model: random operations, advance among them, on the virtual clock", function()
    mit.clock("virtual")
    for seed = 1, 30 do
      local ok, r = M.run(mit, seed, 300, { virtual = true, fd_at = -1 })
      assert(ok, r)
    end
  end)
end)

-- Timers and coroutines: callbacks run on the thread that calls
-- process_events, whatever thread armed the timer.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local track = H.track

-- coroutine.running() without 5.4's second result.
local function running()
  return (coroutine.running())
end

describe("coroutines", function()
  before_each(H.reset)
  after_each(H.reset)

  it("a one-off armed inside a coroutine that has ended still fires and runs its callback", function()
    local got
    local co = coroutine.create(function(x)
      track(mit.oneoff(20, function(a) got = a end, x))
    end)
    assert.is_true(coroutine.resume(co, "from-coroutine"))
    assert.equal("dead", coroutine.status(co))
    co = nil
    H.collect()
    assert.is_true(H.drain_until(function() return got ~= nil end))
    assert.equal("from-coroutine", got)
  end)

  it("an interval timer armed inside an ended coroutine keeps running and can be destroyed from outside", function()
    local runs = 0
    local co = coroutine.wrap(function()
      return mit.getit(5, function() runs = runs + 1 end)
    end)
    local t = track(co())
    H.collect()
    assert.is_true(H.drain_until(function() return runs >= 3 end))
    t:destroy()
    local n = runs
    H.drain_for(30)
    assert.equal(n, runs)
  end)

  it("the callback runs on the thread that calls process_events, not on the arming coroutine", function()
    local seen, armer = "unset", nil
    local co = coroutine.create(function()
      armer = running()
      track(mit.oneoff(0, function() seen = running() end))
    end)
    assert.is_true(coroutine.resume(co))
    local me = running()
    assert.is_true(H.drain_until(function() return seen ~= "unset" end))
    assert.equal(me, seen)
    assert.are_not.equal(armer, seen)
  end)

  it("process_events called inside a coroutine runs the callbacks on that coroutine", function()
    local seen = "unset"
    track(mit.oneoff(10, function() seen = running() end))
    local co = coroutine.create(function()
      return H.drain_until(function() return seen ~= "unset" end)
    end)
    local resumed, ok = coroutine.resume(co)
    assert.is_true(resumed, tostring(ok))
    assert.is_true(ok)
    assert.equal(co, seen)
  end)

  it("a coroutine can drive the event loop, yielding between process_events calls", function()
    local seen = {}
    track(mit.getit(5, function() seen[#seen + 1] = running() end))
    local co = coroutine.create(function()
      while true do
        mit.wait(50)
        coroutine.yield(mit.process_events())
      end
    end)
    local total, rounds = 0, 0
    while total < 5 and rounds < 200 do
      local ok, n = coroutine.resume(co)
      assert.is_true(ok, tostring(n))
      total, rounds = total + n, rounds + 1
    end
    assert.is_true(total >= 5)
    assert.equal(total, #seen)
    for _, th in ipairs(seen) do assert.equal(co, th) end
  end)

  it("callbacks see the coroutine of each process_events call, main thread or not", function()
    local seen = {}
    local function cb(tag) seen[#seen + 1] = { tag = tag, th = running() } end
    track(mit.oneoff(0, cb, "first"))
    H.await_pending(1)
    local co = coroutine.create(function() return mit.process_events() end)
    local ok, n = coroutine.resume(co)
    assert.is_true(ok)
    assert.equal(1, n)
    track(mit.oneoff(0, cb, "second"))
    H.await_pending(1)
    assert.equal(1, mit.process_events())
    assert.equal(2, #seen)
    assert.equal("first", seen[1].tag)
    assert.equal(co, seen[1].th)
    assert.equal("second", seen[2].tag)
    assert.equal(running(), seen[2].th)
  end)

  it("a callback may resume its own coroutines", function()
    local log = {}
    track(mit.oneoff(0, function()
      local inner = coroutine.wrap(function(a)
        local b = coroutine.yield(a + 1)
        return b * 2
      end)
      log[#log + 1] = inner(1)
      log[#log + 1] = inner(5)
    end))
    assert.is_true(H.drain_until(function() return #log == 2 end))
    assert.same({ 2, 10 }, log)
  end)
end)

-- What daemon writers reach for (issue 24): t:again() (luv's re-arm: what
-- is due and has not run is dropped), state() "due", the catch-up policy
-- (t:catchup("all"|"once"), t:missed()), and t:unref()/t:ref() with
-- mit.alive() and mit.wakeonidle().
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local track = H.track

local socket_ok, socket = pcall(require, "socket")

-- Whether mit.fd() is readable right now.
local function fd_readable()
  local fd = mit.fd()
  local r = socket.select({ { getfd = function() return fd end } }, nil, 0)
  return #r > 0
end

describe("t:again()", function()
  before_each(H.reset)
  after_each(H.reset)

  it("re-arms a watchdog from now: kicked in time, it never runs; left alone, it runs once", function()
    local bites = 0
    local dog = track(mit.oneoff(60, function() bites = bites + 1 end))
    for _ = 1, 8 do -- 8 kicks 20 ms apart: 160 ms in all, never 60 ms without one
      mit.sleep(20)
      mit.process_events()
      assert.equal(dog, dog:again())
    end
    assert.equal(0, bites, "the watchdog bit although it was kicked")
    assert.is_true(H.drain_until(function() return bites == 1 end, 3000))
    H.drain_for(80)
    assert.equal(1, bites)
    assert.equal("fired", dog:state())
  end)

  it("drops a one-off that is due and has not run; start() keeps it (nothing lost)", function()
    local n = 0
    local t = track(mit.oneoff(5, function() n = n + 1 end))
    H.await_pending(1)
    assert.equal("due", t:state())
    t:again(200)
    assert.equal("armed", t:state())
    assert.equal(0, mit.process_events(), "again() left the due expiration")
    assert.equal(0, n)
    assert.equal(0, mit.pending())

    local m = 0
    local s = track(mit.oneoff(5, function() m = m + 1 end))
    H.await_pending(1)
    s:start(200)
    assert.equal(1, mit.process_events(), "start() dropped the due expiration")
    assert.equal(1, m)
  end)

  it("drops an interval timer's piled-up expirations and restarts its schedule from now", function()
    local n = 0
    local t = track(mit.getit(10, function() n = n + 1 end))
    mit.sleep(55) -- about five due
    assert.is_true(mit.pending() >= 4)
    local t0 = H.now()
    t:again()
    assert.equal(0, mit.pending())
    assert.equal(0, mit.process_events())
    assert.is_true(H.drain_until(function() return n >= 1 end, 3000))
    assert.is_true(H.now() - t0 >= 9.9, "the first run after again() came early")
    -- with a new interval
    t:again(500)
    assert.equal(500, t:interval())
    assert.is_true(t:remaining() > 400)
  end)

  it("works from the timer's own callback and on a one-off that has run, a stopped timer, not a destroyed one", function()
    local n = 0
    local t
    t = track(mit.getit(2, function() n = n + 1; if n == 1 then t:again(1000) end end))
    mit.sleep(20) -- several due: the first run re-arms, the rest are dropped
    assert.equal(1, mit.process_events())
    assert.equal(1, n)
    assert.is_true(t:remaining() > 900)
    local o = track(mit.oneoff(0, function() end))
    H.await_pending(1)
    mit.process_events()
    assert.equal("fired", o:state())
    o:again(10)
    assert.equal("armed", o:state())
    t:stop()
    t:again()
    assert.equal("armed", t:state())
    t:destroy()
    H.raises("luamockit: timer is destroyed", t.again, t)
  end)
end)

describe("t:catchup()", function()
  before_each(H.reset)
  after_each(H.reset)

  it("'all' (the default) runs every expiration after a stall; 'once' runs one and missed() counts the rest", function()
    local all_runs, once_runs, missed = 0, 0, {}
    local a = track(mit.getit(10, function() all_runs = all_runs + 1 end))
    local o
    o = track(mit.getit(10, function() once_runs = once_runs + 1; missed[#missed + 1] = o:missed() end))
    assert.equal("all", a:catchup())
    assert.equal("all", o:catchup("once")) -- returns the policy it replaces
    assert.equal("once", o:catchup())
    mit.sleep(105) -- the stall: about ten expirations of each
    local due = mit.pending()
    local ran = mit.process_events()
    assert.is_true(all_runs >= 9, "'all' ran " .. all_runs .. " times")
    assert.equal(1, once_runs)
    -- the one run stands for as many expirations as 'all' ran (give or take
    -- the one that falls due between the two timers' takes)
    H.between(missed[1] + 1, all_runs - 1, all_runs + 1, "expirations the 'once' run stood for")
    assert.equal(all_runs + 1, ran)
    assert.is_true(due >= all_runs + missed[1], "pending() counts expirations: " .. due)
  end)

  it("'once' runs once per drain; the schedule stays absolute; back to 'all', missed() is 0", function()
    local runs, missed = 0, 0
    local t
    t = track(mit.getit(5, function() runs = runs + 1; missed = missed + t:missed() end))
    t:catchup("once")
    local t0 = H.now()
    for _ = 1, 5 do
      mit.sleep(23)
      local before = runs
      mit.process_events()
      assert.equal(before + 1, runs, "a drain ran a 'once' timer more than once")
    end
    local elapsed = H.now() - t0
    -- every expiration due by the last drain is accounted for: run or missed
    H.between(runs + missed, math.floor(elapsed / 5) - 1, math.floor(elapsed / 5) + 1, "expirations run + missed")
    t:catchup("all")
    mit.sleep(23)
    local n = mit.process_events()
    assert.is_true(n >= 3, "'all' again: " .. n .. " runs")
    assert.equal(0, t:missed())
  end)

  it("is refused for a one-off, checked, and 0 / 'all' once destroyed", function()
    local o = track(mit.oneoff(1000, function() end))
    assert.equal("all", o:catchup())
    H.raises("one expiration per arming", o.catchup, o, "once")
    H.raises("invalid option", o.catchup, o, "sometimes")
    assert.equal(0, o:missed())
    local t = mit.getit(1000, function() end)
    t:catchup("once")
    t:destroy()
    assert.equal("all", t:catchup())
    assert.equal(0, t:missed())
    H.raises("timer is destroyed", t.catchup, t, "once")
  end)
end)

describe("t:unref() and mit.alive()", function()
  before_each(H.reset)
  after_each(H.reset)

  it("alive() counts the armed timers not unref'd, whatever happens to them", function()
    assert.equal(0, mit.alive())
    local a = track(mit.getit(1000, function() end))
    track(mit.oneoff(0, function() end))
    local c = track(mit.oneoff(1000, function() end))
    assert.equal(3, mit.alive())
    assert.equal(a, a:unref())
    assert.is_false(a:has_ref())
    assert.equal(2, mit.alive())
    a:unref() -- twice: no change
    assert.equal(2, mit.alive())
    H.await_pending(1)
    mit.process_events() -- b runs: a one-off that ran is not armed
    assert.equal(1, mit.alive())
    c:stop()
    assert.equal(0, mit.alive())
    c:start()
    assert.equal(1, mit.alive())
    c:unref()
    c:stop()
    c:ref() -- stopped: counted again once armed
    assert.equal(0, mit.alive())
    c:start()
    assert.equal(1, mit.alive())
    a:ref()
    assert.equal(2, mit.alive())
    a:destroy()
    c:destroy()
    assert.equal(0, mit.alive())
    H.raises("timer is destroyed", a.unref, a)
    assert.is_false(a:has_ref())
  end)

  it("an unref'd timer still runs as any other", function()
    local n = 0
    local t = track(mit.getit(5, function() n = n + 1 end)):unref()
    assert.is_true(H.drain_until(function() return n >= 3 end, 3000))
    assert.equal(0, mit.alive())
    t:destroy()
  end)

  it("a timer whose handle is collected while armed stays counted, and unref'd if it was", function()
    local function arm_and_drop()
      mit.getit(1000, function() end)
      mit.oneoff(1000, function() end):unref()
    end
    arm_and_drop()
    H.collect()
    assert.equal(1, mit.alive())
    for _, t in ipairs(mit.timers()) do t:destroy() end
    assert.equal(0, mit.alive())
  end)

  it("with wakeonidle(true), fd() turns readable when alive() falls to 0 outside process_events", function()
    if not socket_ok then return pending("LuaSocket is not installed") end
    local t = track(mit.getit(1000, function() end))
    assert.is_false(mit.wakeonidle(true))
    assert.is_false(fd_readable())
    t:destroy()
    assert.is_true(fd_readable(), "no wake-up when the last timer that kept the loop alive went")
    assert.equal(0, mit.process_events())
    assert.is_false(fd_readable(), "the wake-up outlived process_events")
    assert.is_true(mit.wakeonidle(false))
    -- off: nothing wakes
    local u = track(mit.getit(1000, function() end))
    u:unref()
    assert.is_false(fd_readable())
    -- turned on while alive() is 0 already: it wakes at once
    mit.wakeonidle(true)
    assert.is_true(fd_readable())
    mit.process_events()
    mit.wakeonidle(false)
    assert.is_false(fd_readable())
  end)
end)

describe("signal handles: unref and alive()", function()
  before_each(H.reset)
  after_each(H.reset)

  it("an armed signal handle counts in alive() until unref'd, stopped or destroyed", function()
    local h = mit.signal("WINCH", function() end)
    assert.equal(1, mit.alive())
    assert.equal(h, h:unref())
    assert.is_false(h:has_ref())
    assert.equal(0, mit.alive())
    h:ref()
    assert.equal(1, mit.alive())
    h:stop()
    assert.equal(0, mit.alive())
    h:start()
    assert.equal(1, mit.alive())
    h:destroy()
    assert.equal(0, mit.alive())
    H.raises("signal handle is destroyed", h.unref, h)
  end)

  it("co.run() waits for a task in co.signal; unref'd, the task does not keep it", function()
    local co = require("luamockit.co")
    local got
    local t = co.spawn(function() got = co.signal("WINCH") end)
    mit.process_events() -- t starts and waits for the signal
    assert.equal(1, mit.alive())
    t:unref()
    assert.equal(0, mit.alive(), "the task's signal handle keeps a loop alive")
    co.run() -- returns at once: nothing ref'd
    assert.equal("suspended", t:status())
    t:ref()
    local pid = io.open("/proc/self/stat"):read("*l"):match("^%d+")
    os.execute("kill -WINCH " .. pid)
    co.run()
    assert.equal("SIGWINCH", got)
    assert.equal("done", t:status())
  end)
end)

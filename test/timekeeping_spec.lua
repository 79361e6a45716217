-- Who keeps time: while the Lua thread waits in wait() it fires due timers
-- itself, and between waits expirations are queued when it looks; once
-- fd() or setport() hands the waiting to another loop, a Go runtime timer
-- queues them on time. Either way the user sees the same events.
local mit = require("luamockit")
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local function busy(ms) -- spin without calling into the module
  local t0 = os.clock()
  while (os.clock() - t0) * 1000 < ms do end
end

describe("time keeping", function()
  it("counts expirations due while Lua runs other code, between two wait() calls", function()
    mit.wait(1) -- the Lua thread has kept time at least once
    local n = 0
    local t = mit.getit(5, function() n = n + 1 end)
    local o = mit.oneoff(10, function() end)
    busy(60)
    assert.are.equal("due", o:state())
    local p = mit.pending()
    assert.is_true(p >= 10, "pending " .. p .. " after 60 ms of a 5 ms timer and a one-off")
    -- process_events runs what is queued when it is called: on a loaded
    -- machine, more than 5 ms may pass after pending()
    local ran = mit.process_events()
    t:destroy()
    assert.is_true(ran >= p, ("ran %d, fewer than the %d pending before"):format(ran, p))
    assert.are.equal(ran - 1, n)
  end)

  it("schedules a timer from the moment it was armed, however long until the next call", function()
    -- Arms reach Go in batches, when the module is next called; each
    -- carries the time it was made, so the count below is exact.
    local now = mit.monotime
    local n = 0
    local t0 = now()
    local t = mit.getit(10, function() n = n + 1 end)
    local t1 = now()
    while now() - t0 < 55 do end -- no call into the module
    local before = now()
    local p = mit.pending()
    local after = now()
    local lo, hi = math.floor((before - t1) / 10), math.floor((after - t0) / 10)
    local ran = mit.process_events()
    local state = t:state()
    t:destroy()
    assert.is_true(p >= lo and p <= hi, ("pending %d, want %d..%d"):format(p, lo, hi))
    assert.is_true(ran >= p, ("ran %d, fewer than the %d pending before"):format(ran, p))
    assert.are.equal(ran, n)
    assert.are.equal("armed", state)
  end)

  it("wakes wait() at the timer's due time, not before (timing-sensitive)", function()
    local fired
    local due = mit.monotime() + 30
    mit.oneoff(30, function() fired = mit.monotime() end)
    mit.wait(1000)
    local woke = mit.monotime()
    assert.is_true(woke >= due - 0.5, "woke " .. (due - woke) .. " ms early")
    assert.is_true(woke - due < 500, "woke " .. (woke - due) .. " ms late")
    assert.are.equal(1, mit.process_events())
    assert.is_truthy(fired)
  end)

  it("hands timers armed before fd() to the Go timer, so the fd turns readable on time", function()
    if not pcall(require, "posix.poll") then return pending("luaposix poll not installed for " .. _VERSION) end
    -- A fresh process: fd() is for good in a universe, and this one has used it.
    local took, ran = H.fd_child([[
      t0 = mit.monotime()
      mit.oneoff(30, function() end) -- the Lua thread holds it: no call into Go yet
      fd = mit.fd()
    ]])
    assert.is_true(took >= 29.5 and took < 1500, "fd readable after " .. took .. " ms")
    assert.are.equal(1, ran)
  end)

  it("makes mit.fd() readable on time once fd() is in use, with no call into the module", function()
    local ok, P = pcall(require, "posix.poll")
    if not ok then return pending("luaposix poll not installed for " .. _VERSION) end
    local fd = mit.fd()
    local o = mit.oneoff(20, function() end)
    local t0 = mit.monotime()
    local r = P.rpoll(fd, 2000)
    local took = mit.monotime() - t0
    assert.are.equal(1, r)
    assert.is_true(took >= 15 and took < 1500, "fd readable after " .. took .. " ms")
    assert.are.equal(1, mit.process_events())
    o:cancel()
  end)
end)

describe("the spin before a due timer", function()
  local function slack()
    local f = io.open("/proc/self/timerslack_ns", "r")
    if not f then return nil end
    local v = tonumber(f:read("*l"))
    f:close()
    return v
  end

  after_each(function() mit.setspin(250) end)

  it("checks its argument", function()
    for _, bad in ipairs({ -1, 0 / 0, 1e7, "x", {} }) do
      local ok, err = pcall(mit.setspin, bad)
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find("bad argument #1", 1, true), tostring(err))
    end
    assert.has_no.errors(function() mit.setspin(0) end)
    assert.has_no.errors(function() mit.setspin(1000000) end)
  end)

  it("costs little CPU: a 300 ms wait for a timer is not spent spinning", function()
    for _, us in ipairs({ 250, 1000000 }) do -- the default, and the largest lead
      mit.setspin(us)
      local ran = false
      -- t0 before arming: the timer is due 300 ms after the arm, which a
      -- collector step or a preemption may delay past a later reading
      local c0, t0 = os.clock(), mit.monotime()
      mit.oneoff(300, function() ran = true end)
      while not ran do
        mit.wait(1000)
        mit.process_events()
      end
      local cpu, el = (os.clock() - c0) * 1000, mit.monotime() - t0
      assert.is_true(el >= 299.5, "the timer ran " .. (300 - el) .. " ms early")
      -- a lead of 1/100 of the sleep: at most 3 ms of 300, whatever setspin allows
      assert.is_true(cpu < 30, ("setspin(%d): %.1f ms of CPU in a %.0f ms wait"):format(us, cpu, el))
    end
  end)

  it("never runs a timer early, with or without the spin", function()
    for _, us in ipairs({ 250, 0 }) do
      mit.setspin(us)
      local early = 0
      for _ = 1, 20 do
        local due = mit.monotime() + 5
        local at
        mit.oneoff(5, function() at = mit.monotime() end)
        while not at do
          mit.wait(1000)
          mit.process_events()
        end
        if at < due - 0.05 then early = early + 1 end
      end
      assert.are.equal(0, early, "setspin(" .. us .. "): " .. early .. " of 20 one-offs ran early")
    end
  end)

  it("gives the thread its timer slack back when wait() returns", function()
    local before = slack()
    if not before then
      pending("/proc/self/timerslack_ns is not readable here")
      return
    end
    mit.oneoff(30, function() end)
    mit.wait(1000) -- sleeps towards a spin window (lead 300 us): slack lowered meanwhile
    mit.process_events()
    assert.are.equal(before, slack())
  end)
end)

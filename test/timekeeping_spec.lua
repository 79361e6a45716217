-- Who keeps time: while the Lua thread waits in wait() it fires due timers
-- itself, and between waits expirations are queued when it looks; once
-- fd() or setport() hands the waiting to another loop, a Go runtime timer
-- queues them on time. Either way the user sees the same events.
local mit = require("luamockit")

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
    assert.are.equal("fired", o:state())
    local p = mit.pending()
    assert.is_true(p >= 10, "pending " .. p .. " after 60 ms of a 5 ms timer and a one-off")
    assert.are.equal(p, mit.process_events())
    assert.is_true(n >= 9)
    t:destroy()
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

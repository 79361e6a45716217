-- busted examples/testing: a watchdog (timer:again) tested on the virtual
-- clock (docs/testing.md).
local mit = require("luamockit")

-- The code under test: bites once if no kick comes for ms.
local function watchdog(ms, bite)
  local t = mit.oneoff(ms, bite)
  return { kick = function() t:again() end, stop = function() t:cancel() end }
end

describe("watchdog", function()
  before_each(function() mit.clock("virtual") end)
  after_each(function()
    for _, t in ipairs(mit.timers()) do t:destroy() end
    mit.clock("real")
  end)

  it("does not bite while kicked in time, bites once 5 s after the last kick", function()
    local bites = {}
    local t0 = mit.now()
    local dog = watchdog(5000, function() bites[#bites + 1] = mit.now() - t0 end)
    for _ = 1, 10 do -- a kick every 4 s for 40 s
      mit.advance(4000)
      dog.kick()
    end
    assert.same({}, bites)
    mit.advance(60000)
    assert.same({ 45000 }, bites)
  end)

  it("a kick after the bite fell due but before it ran drops the bite (again, not start)", function()
    local bites = 0
    local dog = watchdog(5000, function() bites = bites + 1 end)
    mit.sleep(6000)           -- time passes while the program is busy: the bite is due
    dog.kick()                -- the activity came first, so no bite
    mit.advance(4999)
    assert.equal(0, bites)
    mit.advance(1)
    assert.equal(1, bites)
    dog.stop()
  end)
end)

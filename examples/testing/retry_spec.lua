-- busted examples/testing: the back-off of retry.lua tested on the
-- virtual clock (docs/testing.md). No test here sleeps.
local mit = require("luamockit")
local retry = require("retry")

describe("retry", function()
  before_each(function() mit.clock("virtual") end)
  after_each(function()
    for _, t in ipairs(mit.timers()) do t:destroy() end
    mit.clock("real")
  end)

  it("backs off 1, 2, 4, 8 s between attempts, and stops once connected", function()
    local tries = {}
    local t0 = mit.now()
    local up
    retry.start(function()
      tries[#tries + 1] = mit.now() - t0
      return #tries == 5 -- the fifth attempt succeeds
    end, function(n) up = n end)
    mit.run_all()
    assert.same({ 0, 1000, 3000, 7000, 15000 }, tries)
    assert.equal(5, up)
    assert.is_nil(mit.next_due()) -- nothing left armed
  end)

  it("never waits more than 30 s between attempts", function()
    local last, gaps = mit.now(), {}
    retry.start(function()
      gaps[#gaps + 1] = mit.now() - last
      last = mit.now()
      return false
    end, function() end)
    mit.advance(10 * 60 * 1000) -- ten minutes
    assert.equal(30000, gaps[#gaps])
    for _, g in ipairs(gaps) do assert.is_true(g <= 30000) end
  end)

  it("cancel() stops the attempts", function()
    local n = 0
    local job = retry.start(function() n = n + 1; return false end, function() end)
    mit.advance(3500) -- attempts at 0, 1 and 3 s
    job:cancel()
    mit.advance(3600 * 1000)
    assert.equal(3, n)
  end)
end)

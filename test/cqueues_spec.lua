-- mit.fd() in a cqueues controller (Debian's lua-cqueues): a coroutine
-- polls the fd and drains; the controller's loop is the only thing that
-- blocks.
local mit = require("luamockit")
local has_cq, cqueues = pcall(require, "cqueues")

describe("mit.fd() with cqueues", function()
  if not has_cq then
    pending("cqueues is not installed for " .. _VERSION)
    return
  end

  it("wakes a controller when a timer fires, and the coroutine drains (timing-sensitive)", function()
    local cq = cqueues.new()
    local fd = mit.fd()
    local ran, woke = {}, 0
    local stop = false
    cq:wrap(function()
      while not stop do
        cqueues.poll({ pollfd = fd, events = "r" }, 1)
        woke = woke + 1
        mit.process_events()
      end
    end)
    mit.oneoff(20, function() ran[#ran + 1] = "a" end)
    mit.oneoff(60, function() ran[#ran + 1] = "b"; stop = true end)
    local t0 = mit.monotime()
    while not stop and mit.monotime() - t0 < 5000 do
      assert(cq:step(0.5))
    end
    assert.are.same({ "a", "b" }, ran)
    -- woken by the timers, not by a busy fd: a handful of wake-ups at most
    assert.is_true(woke >= 2 and woke <= 6, "woke " .. woke .. " times")
    assert.are.equal(0, mit.pending())
  end)

  it("stays asleep while nothing is queued", function()
    local cq = cqueues.new()
    local fd = mit.fd()
    local woke = 0
    cq:wrap(function()
      cqueues.poll({ pollfd = fd, events = "r" }, 0.2)
      woke = woke + 1
    end)
    local t0 = mit.monotime()
    assert(cq:loop(2))
    local took = mit.monotime() - t0
    assert.are.equal(1, woke)
    assert.is_true(took >= 180, "the poll returned after " .. took .. " ms with nothing queued")
  end)
end)

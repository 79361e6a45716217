-- Handles made while the collector runs (issue 21): mit.timers() and the
-- error handler's source may make a new handle for a timer whose old
-- handle is unreachable and whose __gc has not run yet. The collector has
-- then cleared the old handle from luamockit's weak table of handles (5.1
-- and LuaJIT clear weak values of userdata with a pending finalizer, 5.2+
-- too), so a new one is made; the old one's __gc must not free the record
-- under the new one (cmd/luamockit/timer.c: "Records and handles").
--
-- The window is reached deterministically with a probe: a finalizer made
-- after the old handle runs before the old handle's __gc in the same
-- cycle (finalizers run in the reverse order of their marking, on every
-- interpreter), and it calls mit.timers() there.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")

-- An object whose finalizer calls f (the model test's).
local probe = dofile("test/model.lua").probe

-- Arms a timer with make() inside a function that returns before any
-- collection (no dead local keeps the handle), drops its handle, then
-- makes a probe (so that the probe's finalizer runs first) that lists the
-- timers into `minted`. Returns the table the probe fills.
local function drop_then_probe(make)
  local minted = {}
  ;(function()
    make()
    probe(function()
      for i, t in ipairs(mit.timers()) do minted[i] = t end
      minted.listed = true
    end)
  end)()
  return minted
end

describe("handles made while the collector runs", function()
  before_each(H.reset)
  after_each(H.reset)

  it("a stopped timer listed by timers() between its old handle's collection and __gc stays stopped, "
    .. "and belongs to no later timer", function()
    local runs = { old = 0, new = 0 }
    local minted = drop_then_probe(function()
      mit.getit(2, function() runs.old = runs.old + 1 end):stop()
    end)
    H.collect()
    assert.is_true(minted.listed, "the probe did not run")
    assert.equal(1, #minted, "timers() inside the finalizer did not list the stopped timer")
    local t = minted[1]
    H.collect() -- the old handle's __gc has run by now
    assert.equal("stopped", t:state())
    assert.equal(2, t:interval())
    -- Records freed under t would be handed to the next timers armed.
    local fresh = {}
    for i = 1, 50 do fresh[i] = H.track(mit.getit(2, function() runs.new = runs.new + 1 end)) end
    for i = 1, 50 do fresh[i]:stop() end
    assert.equal("stopped", t:state())
    assert.equal(51, mit.stats().stopped)
    t:start()
    assert.equal(1, mit.stats().armed, "re-arming through the listed handle")
    H.drain_for(30)
    assert.is_true(runs.old >= 3, "the listed handle's timer did not run")
    assert.equal(0, runs.new, "re-arming through the listed handle started another timer")
    t:destroy()
    assert.equal(50, mit.stats().timers)
  end)

  it("an armed one-off listed by timers() in that window runs once and its handle says fired", function()
    local runs = { old = 0, new = 0 }
    local minted = drop_then_probe(function()
      mit.oneoff(60, function() runs.old = runs.old + 1 end) -- due after the two collections below
    end)
    H.collect()
    assert.equal(1, #minted)
    local t = minted[1]
    H.collect()
    assert.equal("armed", t:state())
    assert.is_true(H.drain_until(function() return runs.old == 1 end), "the one-off did not run")
    H.collect()
    assert.equal("fired", t:state())
    local fresh = {}
    for i = 1, 50 do fresh[i] = H.track(mit.getit(1000, function() runs.new = runs.new + 1 end)) end
    assert.equal("fired", t:state())
    assert.equal(50, mit.stats().armed)
    t:start(1) -- the one-off again, not one of the fresh timers
    assert.is_true(H.drain_until(function() return runs.old == 2 end), "re-arming the one-off did nothing")
    assert.equal(0, runs.new)
    assert.equal(50, mit.stats().armed)
    for i = 1, 50 do assert.equal("armed", fresh[i]:state()) end
  end)

  it("an armed interval timer listed in that window keeps running, once per expiration", function()
    local runs = { n = 0 }
    local minted = drop_then_probe(function()
      mit.getit(2, function() runs.n = runs.n + 1 end)
    end)
    H.collect()
    local t = minted[1]
    H.collect()
    assert.is_true(H.drain_until(function() return runs.n >= 3 end))
    t:stop()
    H.collect()
    assert.equal("stopped", t:state(), "the listed handle lost its timer")
    assert.equal(1, mit.stats().stopped)
    t:destroy()
    assert.equal(0, mit.stats().timers)
  end)

  it("dropping a kept timers() list never changes another timer (the report's churn)", function()
    -- A program drops a table of stopped timers and lists its timers while
    -- the incremental collector runs; later it drops the list it kept.
    local kept
    for round = 1, 5 do
      (function()
        local stopped = {} -- luacheck: ignore 241 (dropped on purpose when the function returns)
        for i = 1, 200 do stopped[i] = mit.getit(5, function() end):stop() end
      end)()
      for _ = 1, 40 do
        collectgarbage("step", 1)
        kept = mit.timers()
      end
      H.collect()
      for _, t in ipairs(kept) do
        local s = t:state()
        assert.is_true(s == "stopped" or s == "armed", "round " .. round .. ": a listed handle reads " .. s)
      end
    end
    local n = { v = 0 }
    local fresh = {}
    for i = 1, 300 do fresh[i] = H.track(mit.getit(5, function() n.v = n.v + 1 end)) end
    for i = 1, 300 do fresh[i]:stop() end
    kept = nil -- luacheck: ignore 311
    H.collect()
    for i = 1, 300 do assert.equal("stopped", fresh[i]:state(), "timer " .. i .. " changed") end
    assert.equal(0, mit.stats().armed)
    for i = 1, 300 do fresh[i]:start() end
    H.drain_for(30)
    assert.is_true(n.v >= 300 * 3, "fresh timers ran " .. n.v .. " callbacks in 30 ms")
  end)

  it("listing timers while the collector runs at every allocation frees no record under the list", function()
    -- (found by make test-asan: a record listed by timers() was freed by
    -- a handle's __gc during the allocation of an earlier handle)
    local pause = collectgarbage("setpause", 0)
    local mul = collectgarbage("setstepmul", 1000)
    local stopped, armed = 0, 0
    for _ = 1, 20 do
      for i = 1, 100 do
        local t = mit.getit(1000, function() end)
        if i % 2 == 0 then t:stop() end
      end
      for _ = 1, 5 do
        for _, t in ipairs(mit.timers()) do
          if t:state() == "armed" and math.random() < 0.3 then t:stop() end
        end
      end
    end
    collectgarbage("setpause", pause)
    collectgarbage("setstepmul", mul)
    H.collect()
    for _, t in ipairs(mit.timers()) do
      if t:state() == "armed" then armed = armed + 1 else stopped = stopped + 1 end
    end
    assert.equal(0, stopped, "stopped timers nothing refers to are destroyed")
    assert.equal(armed, mit.stats().armed)
    assert.is_true(armed > 0)
  end)

  it("a handle whose __gc has run (resurrected by another finalizer) reads destroyed, safely", function()
    local saved = {}
    ;(function()
      local h = mit.getit(5, function() end):stop()
      -- finalized in the same cycle as h: it makes h reachable again
      -- after the collector decided h's fate; h's own __gc runs anyway
      probe(function() saved.h = h end)
    end)()
    H.collect()
    assert.is_not_nil(saved.h, "the probe did not run")
    assert.equal("destroyed", saved.h:state())
    assert.has_error(function() saved.h:start() end)
    assert.equal(0, mit.stats().timers)
  end)

  it("the error handler's source is the failing one-off's handle when its dropped handle is collected "
    .. "during its own callback", function()
    local got = {}
    mit.seterrorhandler(function(err, source) got.err, got.source = err, source end)
    ;(function()
      mit.oneoff(1, function()
        H.collect()
        error("boom")
      end)
    end)()
    assert.is_true(H.drain_until(function() return got.err ~= nil end))
    assert.truthy(tostring(got.err):find("boom", 1, true))
    assert.equal("userdata", type(got.source), "source: " .. tostring(got.source))
    assert.equal("fired", got.source:state())
    assert.equal(1, got.source:interval())
    got.source = nil
    H.collect()
    assert.equal(0, mit.stats().timers)
  end)

  it("the error handler's source is made in the window too: the drain holds the timer", function()
    local got = {}
    mit.seterrorhandler(function(err, source)
      got.err = err
      got.state = source and source:state()
    end)
    ;(function()
      mit.oneoff(1, function()
        -- the handle is garbage now; its weak entry is cleared by this
        -- collection and its __gc runs in it: the source is made after
        probe(function() end)
        collectgarbage("collect")
        error("boom")
      end)
    end)()
    assert.is_true(H.drain_until(function() return got.err ~= nil end))
    assert.equal("fired", got.state)
  end)
end)

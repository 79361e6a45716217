-- Garbage collection of timers, and <close> in Lua 5.4.
-- Tests tagged #modulebug were written for bugs found in the module (they
-- fail up to commit 6c13eea, fixed by 1670f6b); `busted --exclude-tags=modulebug` skips them.
--
-- Objects that must become garbage are created inside helper functions
-- that return before collectgarbage() runs, so no dead local of the test
-- function keeps them reachable.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local track = H.track

local function weak() return setmetatable({}, { __mode = "k" }) end

-- The names of what refs (a weak table: object -> name) still holds, sorted.
local function still_held(refs)
  local left = {}
  for _, what in pairs(refs) do left[#left + 1] = what end
  table.sort(left)
  return left
end

-- Full collections until refs holds nothing (at most 8): what a record
-- anchors is released by its last handle's __gc, and only a later cycle
-- frees it. Twice (CI, then a local make test: LuaJIT under ASan, a loaded
-- machine) a fired one-off's callback and argument were still held after
-- the collections, and no rerun of gc_spec alone reproduced it. LuaJIT's
-- compiled traces keep the objects their code constants name alive until
-- the trace is flushed, so from the second round on the traces go too
-- (jit.flush): what a trace held is then released, while a real leak
-- holds on through all 8.
local jit = rawget(_G, "jit")
local function settle(refs)
  for i = 1, 8 do
    if next(refs) == nil then return end
    if i > 1 and jit and jit.flush then jit.flush() end
    H.collect()
  end
end

describe("garbage collection", function()
  before_each(H.reset)
  after_each(H.reset)

  -- Armed means alive: the registry keeps an armed timer, whether or not
  -- Lua holds its handle; stopped, fired and destroyed timers that
  -- nothing refers to are collected.
  it("a dropped interval timer keeps running after collections, and mit.timers() hands it back", function()
    local count = { n = 0 }
    local refs = weak()
    ;(function()
      local cb = function() count.n = count.n + 1 end
      refs[cb] = true
      mit.getit(5, cb) -- the handle is dropped at once
    end)()
    H.collect()
    assert.is_true(H.drain_until(function() return count.n >= 5 end), "the dropped timer did not run")
    H.collect()
    local before = count.n
    assert.is_true(H.drain_until(function() return count.n >= before + 3 end), "it stopped after a collection")
    local ts = mit.timers()
    assert.equal(1, #ts)
    assert.equal("armed", ts[1]:state())
    assert.equal(5, ts[1]:interval())
    ts[1]:destroy()
    ts = nil -- luacheck: ignore 311
    H.collect()
    local after = count.n
    H.drain_for(40)
    assert.equal(after, count.n)
    assert.is_nil(next(refs), "the destroyed timer's callback is still referenced")
  end)

  it("a dropped interval timer keeps its arguments and the coroutine that armed it until destroyed", function()
    local refs = weak()
    local count = { n = 0 }
    ;(function()
      local arg = {}
      local co = coroutine.create(function(a)
        mit.getit(5, function(x) if x == a then count.n = count.n + 1 end end, a)
      end)
      refs[arg] = "argument"
      refs[co] = "coroutine"
      assert(coroutine.resume(co, arg))
    end)()
    assert.is_true(H.drain_until(function() return count.n >= 2 end), "the timer never ran")
    H.collect()
    assert.same({ "argument", "coroutine" }, still_held(refs))
    for _, t in ipairs(mit.timers()) do t:destroy() end
    H.collect()
    assert.is_nil(next(refs), "destroying it released its argument and coroutine")
  end)

  it("a stopped timer that nothing refers to is collected and releases its callback", function()
    local refs = weak()
    ;(function()
      local cb = function() end
      refs[cb] = true
      mit.getit(5, cb):stop()
    end)()
    H.collect()
    assert.is_nil(next(refs))
    assert.same({}, mit.timers())
  end)

  it("an interval timer whose callback references it is kept alive by the registry", function()
    local count = { n = 0 }
    local stop = { now = false }
    ;(function()
      local t
      t = mit.getit(5, function()
        count.n = count.n + 1
        if stop.now then t:destroy(); stop.done = true end
      end)
    end)()
    H.collect()
    local before = count.n
    assert.is_true(H.drain_until(function() return count.n >= before + 3 end),
      "the timer stopped although its callback holds it")
    stop.now = true
    assert.is_true(H.drain_until(function() return stop.done end))
    local after = count.n
    H.drain_for(40)
    assert.equal(after, count.n)
  end)

  it("a dropped one-off handle still fires", function()
    local fired = { n = 0 }
    ;(function() mit.oneoff(30, function() fired.n = fired.n + 1 end) end)()
    H.collect()
    assert.is_true(H.drain_until(function() return fired.n == 1 end))
    H.drain_for(30)
    assert.equal(1, fired.n)
  end)

  it("a dropped one-off whose event is already queued still runs", function()
    local fired = { n = 0 }
    ;(function() mit.oneoff(0, function() fired.n = fired.n + 1 end) end)()
    H.await_pending(1)
    H.collect()
    assert.equal(1, mit.process_events())
    assert.equal(1, fired.n)
  end)

  it("a one-off that has run keeps its callback while its handle is held, and releases it with the handle; its coroutine at once", function()
    local refs = weak()
    local fired = { n = 0 }
    local holder = {}
    ;(function()
      local arg = {}
      local cb = function(a) fired.n = fired.n + 1 end
      local co = coroutine.create(function() return mit.oneoff(10, cb, arg) end)
      refs[arg], refs[cb], refs[co] = "argument", "callback", "coroutine"
      local _, t = coroutine.resume(co)
      holder.t = t
    end)()
    assert.is_true(H.drain_until(function() return fired.n == 1 end))
    H.collect()
    -- (the handle is read in a function of its own: no register of this
    -- one keeps it after it is dropped)
    assert.equal("fired", (function() return holder.t:state() end)()) -- still usable
    -- the callback and its argument stay for t:start(); the arming
    -- coroutine is anchored only while the timer is armed
    assert.same({ "argument", "callback" }, still_held(refs))
    holder.t = nil
    settle(refs)
    assert.same({}, still_held(refs))
  end)

  it("a one-off whose handle was dropped releases its callback, arguments and coroutine once it has run", function()
    local refs = weak()
    local fired = { n = 0 }
    ;(function()
      local arg = {}
      local cb = function(a) fired.n = fired.n + 1 end
      local co = coroutine.create(function() mit.oneoff(10, cb, arg) end)
      refs[arg], refs[cb], refs[co] = "argument", "callback", "coroutine"
      assert(coroutine.resume(co))
    end)()
    H.collect() -- the handle goes; the one-off goes on
    assert.is_true(H.drain_until(function() return fired.n == 1 end))
    settle(refs)
    assert.same({}, still_held(refs))
  end)

  it("a destroyed timer releases its callback and arguments even while its handle is held", function()
    local refs = weak()
    local t = (function()
      local arg, cb = {}, function() end
      refs[arg], refs[cb] = "argument", "callback"
      return mit.getit(1000, cb, arg)
    end)()
    t:destroy()
    H.collect()
    assert.same({}, still_held(refs))
    assert.equal("destroyed", t:state())
  end)

  it("timers armed and destroyed between two collections leave no room behind in the module's tables", function()
    -- With the collector stopped, each handle stays as garbage; the weak
    -- table of handles must not keep an entry for each (it did: it grew to
    -- 2^18 slots for these, and kept that room after the collection, 4 MB
    -- on 5.4; 10 MB and more in a 5.1 loop that churns timers).
    H.collect()
    local before = collectgarbage("count")
    collectgarbage("stop")
    finally(function() collectgarbage("restart") end)
    ;(function()
      local cb = function() end
      for _ = 1, 200000 do mit.getit(1000, cb):destroy() end
    end)()
    collectgarbage("restart")
    H.collect()
    local grown = collectgarbage("count") - before
    assert.is_true(grown < 1024, string.format("the Lua heap grew by %.0f KiB", grown))
  end)

  it("__gc of destroyed, stopped, fired and live timers is harmless", function()
    local count = { n = 0 }
    ;(function()
      local cb = function() count.n = count.n + 1 end
      for i = 1, 20 do
        local a = mit.getit(1000, cb); a:destroy()
        local b = mit.oneoff(1000, cb); b:destroy(true); b:destroy()
        local c = mit.getit(1000, cb); c:stop()
        local d = mit.getit(1000, cb) -- luacheck: ignore 211 (dropped live)
      end
      local e = mit.oneoff(0, cb) -- luacheck: ignore 211
      H.await_pending(1)
      mit.process_events()
    end)()
    assert.equal(1, count.n)
    H.collect()
    H.collect()
    assert.equal(0, mit.inqueue())
    local got
    track(mit.oneoff(10, function(x) got = x end, "ok"))
    assert.is_true(H.drain_until(function() return got ~= nil end))
    assert.equal("ok", got)
    assert.equal(1, count.n)
  end)
end)

describe("<close> (Lua 5.4)", function()
  before_each(H.reset)
  after_each(H.reset)

  if not H.is54 then
    pending("to-be-closed variables need Lua 5.4")
    return
  end

  it("destroys the timer at scope end", function()
    local count = { n = 0 }
    local chunk = assert(load([[
      local mit, cb, await = ...
      local inside, held
      do
        local t <close> = mit.getit(5, cb)
        held = t
        await(2)
        inside = t:state()
      end
      return inside, held
    ]]))
    local inside, t = chunk(mit, function() count.n = count.n + 1 end, H.await_pending)
    assert.equal("armed", inside)
    assert.equal("destroyed", t:state())
    assert.equal(0, mit.pending())
    H.drain_for(40)
    assert.equal(0, count.n)
  end)

  -- Lua 5.4 calls __close(value, err) when a scope is left by an error.
  local function leave_by_error()
    local chunk = assert(load([[
      local mit = ...
      local held
      local ok, err = pcall(function()
        local t <close> = mit.getit(1000, function() end)
        held = t
        error("leaving-scope")
      end)
      return ok, err, held
    ]]))
    return chunk(mit)
  end

  it("destroys the timer when the scope is left by an error #modulebug", function()
    local ok, _, t = leave_by_error()
    assert.is_false(ok)
    track(t)
    assert.equal("destroyed", t:state())
  end)

  it("lets the error that leaves the scope propagate unchanged #modulebug", function()
    local ok, err, t = leave_by_error()
    track(t)
    assert.is_false(ok)
    assert.matches("leaving%-scope", tostring(err))
  end)
end)

-- Errors raised by callbacks: the default raise, seterrorhandler, yields
-- and non-string error objects.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local track = H.track

-- Arms one-offs (0 ms) for the given callbacks, in order, and waits until
-- all are queued.
local function queue_all(...)
  local cbs = { ... }
  for _, cb in ipairs(cbs) do track(mit.oneoff(0, cb)) end
  H.await_pending(#cbs)
end

describe("callback errors, by default", function()
  before_each(H.reset)
  after_each(H.reset)

  it("are raised from process_events with the message and a stack traceback", function()
    queue_all(function() error("boom-default-42") end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal("string", type(err))
    assert.matches("boom%-default%-42", err)
    assert.matches("stack traceback", err)
  end)

  it("do not lose the events after the failing one: the next process_events runs them", function()
    local log = {}
    queue_all(
      function() log[#log + 1] = "a" end,
      function() log[#log + 1] = "b"; error("boom-b") end,
      function() log[#log + 1] = "c" end,
      function() log[#log + 1] = "d" end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.matches("boom%-b", err)
    assert.same({ "a", "b" }, log)
    assert.equal(2, mit.pending())
    assert.equal(2, mit.process_events())
    assert.same({ "a", "b", "c", "d" }, log)
    assert.equal(0, mit.process_events())
  end)

  it("leave events that can still be destroyed before the next call", function()
    local log = {}
    local ts = {}
    for i = 1, 3 do
      ts[i] = track(mit.oneoff(0, function() log[#log + 1] = i; if i == 1 then error("first") end end))
    end
    H.await_pending(3)
    assert.is_false(pcall(mit.process_events))
    ts[2]:destroy()
    assert.equal(1, mit.pending())
    assert.equal(1, mit.process_events())
    assert.same({ 1, 3 }, log)
  end)

  it("of an interval timer are raised on each expiration, and its later expirations still run", function()
    local runs = 0
    track(mit.getit(5, function() runs = runs + 1; error("tick-fail") end))
    H.await_pending(3)
    local failures = 0
    for _ = 1, 3 do
      local ok, err = pcall(mit.process_events)
      assert.is_false(ok)
      assert.matches("tick%-fail", err)
      failures = failures + 1
    end
    assert.equal(3, failures)
    assert.equal(3, runs)
  end)

  it("keep piled-up expirations of the failing timer for the next call", function()
    local runs = 0
    track(mit.getit(5, function() runs = runs + 1; if runs == 1 then error("first-fails") end end))
    H.await_pending(4)
    local before = mit.pending()
    assert.is_false(pcall(mit.process_events))
    assert.equal(1, runs)
    -- the rest of that burst was put back; at least before-1 run next
    local n = mit.process_events()
    assert.is_true(n >= before - 1, string.format("ran %d of %d left", n, before - 1))
    assert.equal(1 + n, runs)
  end)
end)

describe("seterrorhandler", function()
  before_each(H.reset)
  after_each(H.reset)

  it("f gets the message and processing goes on in the same call", function()
    local msgs, log = {}, {}
    mit.seterrorhandler(function(m) msgs[#msgs + 1] = m end)
    queue_all(
      function() log[#log + 1] = "a" end,
      function() log[#log + 1] = "b"; error("boom-handled") end,
      function() log[#log + 1] = "c" end)
    assert.equal(3, mit.process_events())
    assert.same({ "a", "b", "c" }, log)
    assert.equal(1, #msgs)
    assert.equal("string", type(msgs[1]))
    assert.matches("boom%-handled", msgs[1])
    assert.matches("stack traceback", msgs[1])
  end)

  it("f is called once per failing callback", function()
    local msgs = {}
    mit.seterrorhandler(function(m) msgs[#msgs + 1] = m end)
    queue_all(
      function() error("e1") end,
      function() error("e2") end,
      function() end,
      function() error("e3") end)
    assert.equal(4, mit.process_events())
    assert.equal(3, #msgs)
    assert.matches("e1", msgs[1])
    assert.matches("e2", msgs[2])
    assert.matches("e3", msgs[3])
  end)

  it("returns the handler it replaces (nil for none), so a library can install its own and restore", function()
    local f1, f2 = function() end, function() end
    assert.same({ n = 1 }, H.pack(mit.seterrorhandler(f1)))
    assert.equal(f1, mit.seterrorhandler(f2))
    assert.equal(f2, mit.seterrorhandler(nil))
    assert.is_nil(mit.seterrorhandler())
    assert.is_nil(mit.seterrorhandler(nil))
  end)

  it("seterrorhandler(nil) restores raising from process_events", function()
    local handled = 0
    mit.seterrorhandler(function() handled = handled + 1 end)
    queue_all(function() error("first") end)
    assert.equal(1, mit.process_events())
    assert.equal(1, handled)
    mit.seterrorhandler(nil)
    queue_all(function() error("second-raised") end)
    H.raises("second%-raised", mit.process_events)
    assert.equal(1, handled)
  end)

  it("a newer handler replaces the older one", function()
    local first, second = 0, 0
    mit.seterrorhandler(function() first = first + 1 end)
    mit.seterrorhandler(function() second = second + 1 end)
    queue_all(function() error("x") end)
    mit.process_events()
    assert.equal(0, first)
    assert.equal(1, second)
  end)

  it("an error in the handler propagates from process_events, and later events are kept", function()
    local log = {}
    mit.seterrorhandler(function(m) error("handler-fail") end)
    queue_all(
      function() log[#log + 1] = "a"; error("cb-fail") end,
      function() log[#log + 1] = "b" end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.matches("handler%-fail", tostring(err))
    assert.same({ "a" }, log)
    assert.equal(1, mit.pending())
    mit.seterrorhandler(nil)
    assert.equal(1, mit.process_events())
    assert.same({ "a", "b" }, log)
  end)
end)

describe("a callback that yields", function()
  before_each(H.reset)
  after_each(H.reset)

  it("outside a coroutine raises an error from process_events (no crash), and later events run", function()
    local after = 0
    queue_all(
      function() coroutine.yield("nope") end,
      function() after = after + 1 end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.matches("yield", tostring(err))
    assert.equal(1, mit.process_events())
    assert.equal(1, after)
  end)

  it("outside a coroutine goes to the error handler when one is set", function()
    local msgs, after = {}, 0
    mit.seterrorhandler(function(m) msgs[#msgs + 1] = m end)
    queue_all(
      function() coroutine.yield() end,
      function() after = after + 1 end)
    assert.equal(2, mit.process_events())
    assert.equal(1, #msgs)
    assert.matches("yield", msgs[1])
    assert.equal(1, after)
  end)

  it("inside a coroutine that runs process_events raises an error instead of suspending it", function()
    local after = 0
    queue_all(
      function() coroutine.yield("nope") end,
      function() after = after + 1 end)
    local co = coroutine.create(function()
      local ok, err = pcall(mit.process_events)
      return ok, err, mit.process_events()
    end)
    local resumed, ok, err, n = coroutine.resume(co)
    assert.is_true(resumed, tostring(ok))
    assert.equal("dead", coroutine.status(co))
    assert.is_false(ok)
    assert.matches("yield", tostring(err))
    assert.equal(1, n)
    assert.equal(1, after)
  end)

  -- The stock interpreter's main chunk is the plainest "outside a
  -- coroutine": run it there, in a child, so a crash is a failed test.
  it("in the main chunk of a stock interpreter is an error, not a crash", function()
    local r = H.run_lua([[
      local mit = require("luamockit")
      mit.oneoff(0, function() coroutine.yield() end)
      mit.oneoff(0, function() io.write("second ran\n") end)
      while mit.pending() < 2 do mit.sleep(1) end
      local ok, err = pcall(mit.process_events)
      io.write("ok=", tostring(ok), "\n", "err=", tostring(err):match("[^\n]*"), "\n")
      io.write("n=", mit.process_events(), "\n")
    ]])
    assert.equal(0, r.rc, r.err)
    assert.matches("ok=false", r.out)
    assert.matches("err=[^\n]*yield", r.out)
    assert.matches("second ran\nn=1", r.out)
  end)
end)

-- What the user sees when a callback yields (Lua's message differs by
-- version: 5.1 "across metamethod/C-call boundary", LuaJIT "across C-call
-- boundary", 5.2+ "from outside a coroutine", or inside one "across a
-- C-call boundary"): luamockit's own line, which names what to use
-- instead, at the callback's line, Lua's message kept inside it.
local YIELD_HINT = "luamockit: a callback cannot yield %(attempt to yield [^)]+%): run it as a luamockit%.co task"
  .. " %(co%.spawn, co%.sleep%), or run callbacks in copas or cqueues with luamockit%.copas or luamockit%.cqueues"

local function assert_yield_hint(err, line)
  local first = tostring(err):match("[^\n]*")
  assert.matches("^[^\n]*errors_spec%.lua:" .. line .. ": " .. YIELD_HINT .. "$", first)
  assert.matches("\nstack traceback:", tostring(err))
end

-- The line of the caller's caller: where the callback that yields is.
local function here() return debug.getinfo(2, "l").currentline end

describe("a callback that yields is told to use luamockit.co or an adapter", function()
  before_each(H.reset)
  after_each(H.reset)

  it("when process_events raises it (outside any coroutine)", function()
    local line
    queue_all(function() line = here(); coroutine.yield() end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert_yield_hint(err, line)
  end)

  it("when the error handler gets it", function()
    local got, src, line = nil, nil, nil
    mit.seterrorhandler(function(e, s) got, src = e, s end)
    local t = track(mit.oneoff(0, function() line = here(); coroutine.yield(1) end))
    H.await_pending(1)
    assert.equal(1, mit.process_events())
    assert_yield_hint(got, line)
    assert.equal(t, src)
  end)

  it("when process_events runs inside a coroutine (yield across a C-call boundary)", function()
    local line
    queue_all(function() line = here(); coroutine.yield("nope") end)
    local co = coroutine.create(function() return pcall(mit.process_events) end)
    local resumed, ok, err = coroutine.resume(co)
    assert.is_true(resumed)
    assert.is_false(ok)
    assert_yield_hint(err, line)
  end)

  it("when a nested process_events runs the callback", function()
    local line, err
    queue_all(function()
      track(mit.oneoff(0, function() line = here(); coroutine.yield() end))
      H.await_pending(1)
      local ok
      ok, err = pcall(mit.process_events)
      assert(not ok)
    end)
    assert.equal(1, mit.process_events())
    assert_yield_hint(err, line)
  end)

  it("but an error that only quotes Lua's yield message (a task's, with its traceback) is left as it is", function()
    local quoted = "attempt to yield across a C-call boundary\nstack traceback:\n\t[C]: in ?"
    local plain = "x attempt to yield from outside a coroutine"
    queue_all(function() error(quoted, 0) end, function() error(plain, 0) end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal(quoted, tostring(err):sub(1, #quoted))
    assert.is_nil(tostring(err):find("cannot yield", 1, true))
    ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal(plain .. "\nstack traceback:", tostring(err):sub(1, #plain + 17))
  end)
end)

describe("non-string error objects", function()
  before_each(H.reset)
  after_each(H.reset)

  it("a table is raised as itself, the very object the callback raised", function()
    local obj = { code = 7 }
    queue_all(function() error(obj) end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal(obj, err)
  end)

  it("a table with __tostring is raised as itself", function()
    local obj = setmetatable({}, { __tostring = function() return "custom-error-object" end })
    queue_all(function() error(obj) end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal(obj, err)
  end)

  it("a number is raised as the number", function()
    queue_all(function() error(4242, 0) end) -- (Lua 5.1's error() makes a string of a number at level 1)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal(4242, err)
  end)

  it("nil is raised as nil", function()
    queue_all(function() error(nil) end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.is_nil(err)
  end)

  it("the handler gets each value as raised, with the failing timer, and later events still run", function()
    local got, after = {}, 0
    mit.seterrorhandler(function(e, t) got[#got + 1] = { e = e, t = t } end)
    local obj = setmetatable({}, { __tostring = function() return "tostring-obj" end })
    local t1 = track(mit.oneoff(0, function() error({ 1 }) end))
    local t2 = track(mit.oneoff(0, function() error(true) end))
    local t3 = track(mit.oneoff(0, function() error(obj) end))
    track(mit.oneoff(0, function() after = after + 1 end))
    H.await_pending(4)
    assert.equal(4, mit.process_events())
    assert.equal(3, #got)
    assert.same({ 1 }, got[1].e)
    assert.equal(true, got[2].e)
    assert.equal(obj, got[3].e)
    assert.equal(t1, got[1].t)
    assert.equal(t2, got[2].t)
    assert.equal(t3, got[3].t)
    assert.equal(1, after)
  end)

  it("a string error carries a traceback, to the handler and from process_events", function()
    local got
    mit.seterrorhandler(function(e) got = e end)
    queue_all(function() error("plain words") end)
    mit.process_events()
    assert.matches("plain words", got)
    assert.matches("stack traceback", got)
    mit.seterrorhandler(nil)
    queue_all(function() error("plain words") end)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.matches("stack traceback", err)
  end)

  it("the handler gets the handle of a timer whose handle the program dropped", function()
    local got
    mit.seterrorhandler(function(_, t) got = t end)
    ;(function() mit.oneoff(5, function() error("dropped") end) end)()
    H.collect()
    assert.is_true(H.drain_until(function() return got ~= nil end, 2000))
    assert.equal("userdata", type(got))
    assert.equal("fired", got:state())
  end)
end)

-- Bad arguments: every function and method raises the standard
-- "bad argument #n" error, and nothing is left half-done.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local track = H.track

local f = function() end
local nan = 0 / 0
local inf = math.huge
local YEAR_MS = 365 * 24 * 3600 * 1000

-- One call with a bad argument: label, the argument number the message
-- names, the function, its arguments.
local function C(label, n, fn, ...)
  return { label = label, n = n, fn = fn, args = H.pack(...) }
end

local function cases()
  return {
    -- oneoff
    C("oneoff('x', f)", 1, mit.oneoff, "x", f),
    C("oneoff({}, f)", 1, mit.oneoff, {}, f),
    C("oneoff(nil, f)", 1, mit.oneoff, nil, f),
    C("oneoff()", 1, mit.oneoff),
    C("oneoff(10) (missing callback)", 2, mit.oneoff, 10),
    C("oneoff(10, 'notfn')", 2, mit.oneoff, 10, "notfn"),
    C("oneoff(10, {})", 2, mit.oneoff, 10, {}),
    C("oneoff(-1, f)", 1, mit.oneoff, -1, f),
    C("oneoff(NaN, f)", 1, mit.oneoff, nan, f),
    C("oneoff(inf, f)", 1, mit.oneoff, inf, f),
    C("oneoff(-inf, f)", 1, mit.oneoff, -inf, f),
    C("oneoff(1e12, f) (over a year)", 1, mit.oneoff, 1e12, f),
    -- getit
    C("getit(0, f)", 1, mit.getit, 0, f),
    C("getit(-5, f)", 1, mit.getit, -5, f),
    C("getit(NaN, f)", 1, mit.getit, nan, f),
    C("getit(inf, f)", 1, mit.getit, inf, f),
    C("getit(1e12, f) (over a year)", 1, mit.getit, 1e12, f),
    C("getit('x', f)", 1, mit.getit, "x", f),
    C("getit(10) (missing callback)", 2, mit.getit, 10),
    C("getit(10, 5)", 2, mit.getit, 10, 5),
    -- process_events
    C("process_events(0)", 1, mit.process_events, 0),
    C("process_events(-1)", 1, mit.process_events, -1),
    C("process_events(NaN)", 1, mit.process_events, nan),
    C("process_events(inf)", 1, mit.process_events, inf),
    C("process_events('x')", 1, mit.process_events, "x"),
    C("process_events({})", 1, mit.process_events, {}),
    -- wait
    C("wait(-1)", 1, mit.wait, -1),
    C("wait(NaN)", 1, mit.wait, nan),
    C("wait(inf)", 1, mit.wait, inf),
    C("wait('x')", 1, mit.wait, "x"),
    C("wait({})", 1, mit.wait, {}),
    -- sleep
    C("sleep()", 1, mit.sleep),
    C("sleep(-1)", 1, mit.sleep, -1),
    C("sleep(NaN)", 1, mit.sleep, nan),
    C("sleep(inf)", 1, mit.sleep, inf),
    C("sleep('x')", 1, mit.sleep, "x"),
    C("sleep(1, 'yes')", 2, mit.sleep, 1, "yes"),
    C("sleep(1, 1)", 2, mit.sleep, 1, 1),
    -- seterrorhandler
    C("seterrorhandler(42)", 1, mit.seterrorhandler, 42),
    C("seterrorhandler('f')", 1, mit.seterrorhandler, "f"),
    C("seterrorhandler({})", 1, mit.seterrorhandler, {}),
  }
end

describe("bad arguments", function()
  before_each(H.reset)
  after_each(H.reset)

  for _, c in ipairs(cases()) do
    it(c.label .. " raises 'bad argument #" .. c.n .. "'", function()
      local msg = H.raises("bad argument #%d", c.fn, H.unpack(c.args))
      assert.matches("bad argument #" .. c.n .. " ", msg)
    end)
  end

  local methods = { "destroy", "cancel", "stop", "start", "state", "interval" }
  local wrong_selves = {
    { "{}", function() return {} end },
    { "nil", function() return nil end },
    { "42", function() return 42 end },
    { "a file (another userdata)", function() return io.stdout end },
    { "the module table", function() return mit end },
  }
  for _, m in ipairs(methods) do
    for _, ws in ipairs(wrong_selves) do
      it("t." .. m .. "(" .. ws[1] .. ") raises 'bad argument #1'", function()
        local t = track(mit.getit(1000, function() end))
        H.raises("bad argument #1 ", t[m], ws[2]())
        assert.equal("armed", t:state())
      end)
    end
    it("t." .. m .. "() with no self raises 'bad argument #1'", function()
      local t = track(mit.getit(1000, function() end))
      H.raises("bad argument #1 ", t[m])
    end)
  end

  it("mit.getit(10, f).destroy({}) raises 'bad argument #1'", function()
    H.raises("bad argument #1 ", function()
      local t = track(mit.getit(10, f))
      t.destroy({})
    end)
  end)

  it("destroy('yes') raises 'bad argument' and leaves the timer armed", function()
    local runs = 0
    local t = track(mit.getit(10, function() runs = runs + 1 end))
    H.raises("bad argument #%d", t.destroy, t, "yes")
    H.raises("bad argument #2 ", t.destroy, t, "yes")
    H.raises("bad argument #%d", function() t:destroy(1) end)
    H.raises("bad argument #%d", function() t:destroy({}) end)
    assert.equal("armed", t:state())
    assert.is_true(H.drain_until(function() return runs >= 1 end))
  end)

  it("failed oneoff/getit calls arm nothing", function()
    local runs = 0
    local cb = function() runs = runs + 1 end
    pcall(mit.oneoff, -1, cb)
    pcall(mit.oneoff, nan, cb)
    pcall(mit.getit, 0, cb)
    pcall(mit.getit, 1e12, cb)
    pcall(mit.oneoff, 1e12, cb)
    H.drain_for(50)
    assert.equal(0, runs)
    assert.equal(0, mit.inqueue())
  end)

  it("limits are inclusive: 0 ms one-off, one year, fractional ms are accepted", function()
    local a = track(mit.oneoff(0, f))
    local b = track(mit.oneoff(YEAR_MS, f))
    local c = track(mit.getit(YEAR_MS, f))
    local d = track(mit.getit(0.5, f))
    assert.equal("armed", b:state())
    assert.equal(YEAR_MS, c:interval())
    assert.equal(0.5, d:interval())
    a:destroy(); b:destroy(); c:destroy(); d:destroy()
  end)

  it("a timer takes at most 1000 callback arguments: 1001 is a bad argument, 1000 arrive", function()
    local args = {}
    for i = 1, 1001 do args[i] = i end
    local unpack_ = rawget(table, "unpack") or rawget(_G, "unpack")
    local msg = H.raises("bad argument #1003 to '.-' %(too many callback arguments %(at most 1000%)%)",
      mit.oneoff, 0, f, unpack_(args, 1, 1001))
    assert.is_truthy(msg)
    assert.equal(0, mit.pending())
    local got
    H.track(mit.oneoff(0, function(...) got = { n = select("#", ...), first = (...), last = select(1000, ...) } end,
      unpack_(args, 1, 1000)))
    H.await_pending(1)
    assert.equal(1, mit.process_events())
    assert.same({ n = 1000, first = 1, last = 1000 }, got)
  end)

  it("after all of that, a normal timer still works", function()
    for _, c in ipairs(cases()) do pcall(c.fn, H.unpack(c.args)) end
    for _, m in ipairs(methods) do
      local t = track(mit.getit(1000, f))
      pcall(t[m], {})
      pcall(t[m], nil)
      t:destroy()
    end
    local got
    local t0 = H.now()
    track(mit.oneoff(20, function(x) got = x end, "still works"))
    assert.is_true(H.drain_until(function() return got ~= nil end))
    assert.equal("still works", got)
    assert.is_true(H.now() - t0 >= 19)
    local runs = 0
    track(mit.getit(10, function() runs = runs + 1 end))
    assert.is_true(H.drain_until(function() return runs >= 3 end))
  end)
end)

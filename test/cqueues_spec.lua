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

-- luamockit.cqueues: adapter.attach(cq) -> h.
describe("luamockit.cqueues", function()
  if not has_cq then
    pending("cqueues is not installed for " .. _VERSION)
    return
  end
  local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
  local adapter = require("luamockit.cqueues")
  local co = require("luamockit.co")
  before_each(H.reset)
  after_each(H.reset)

  -- cq:loop() for at most ms: returns { loop's results, hit = whether
  -- the deadline came with coroutines still in cq }.
  local function loop_within(cq, ms)
    local r = { cq:loop(ms / 1000) }
    r.hit = r[1] == true and not cq:empty()
    return r
  end

  it("h:oneoff callbacks run as coroutines of cq that use cqueues' blocking calls (sleep, a socket pair)", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local a, b = require("cqueues.socket").pair()
    local got, slept
    h:oneoff(5, function()
      local t0 = mit.monotime()
      cqueues.sleep(0.02)
      slept = mit.monotime() - t0
      a:write("hello\n")
      a:flush()
    end)
    h:oneoff(10, function() got = b:read("*l") end)
    mit.oneoff(200, function() h:detach() end)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r.hit)
    assert.equal("hello", got)
    assert.is_true(slept >= 19, "cqueues.sleep(0.02) took " .. tostring(slept))
    a:close(); b:close()
  end)

  it("threads of h's timers start in luamockit's order, whatever order cq runs new coroutines in", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local order = {}
    for i = 1, 8 do
      h:oneoff(i <= 4 and 5 or 10, function(k) order[#order + 1] = k; cqueues.sleep(0.001) end, i)
    end
    mit.oneoff(100, function() h:detach() end)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, order)
  end)

  it("plain mit.oneoff callbacks may block in cqueues (sleep, a condition, a socket pair): each starts at "
    .. "once, in luamockit's order", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local a, b = require("cqueues.socket").pair()
    local cond = require("cqueues.condition").new()
    local log, slept, got = {}, nil, nil
    mit.oneoff(5, function()
      log[#log + 1] = "sleeper"
      local t0 = mit.monotime()
      cqueues.sleep(0.02)
      slept = mit.monotime() - t0
      a:write("hello\n")
      a:flush()
    end)
    mit.oneoff(5, function() log[#log + 1] = "reader"; got = b:read("*l"); cond:signal() end)
    mit.oneoff(5, function()
      log[#log + 1] = "waiter"
      assert.is_true(cond:wait(5))
      log[#log + 1] = "signalled"
      h:detach()
    end)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r.hit)
    assert.same({ "sleeper", "reader", "waiter", "signalled" }, log)
    assert.equal("hello", got)
    assert.is_true(slept >= 19, "cqueues.sleep(0.02) took " .. tostring(slept))
    a:close(); b:close()
  end)

  it("200 plain callbacks, some sleeping, some raising: each starts once in order, each sleeper ends once, "
    .. "every error is reported once", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local started, ended, errs = {}, {}, {}
    mit.seterrorhandler(function(e) errs[#errs + 1] = tostring(e) end)
    local N, nblock, nraise = 200, 0, 0
    for i = 1, N do
      if i % 11 == 0 then nraise = nraise + 1 elseif i % 7 == 0 then nblock = nblock + 1 end
      mit.oneoff(0, function(k)
        started[#started + 1] = k
        if k % 11 == 0 then error("raise-" .. k) end
        if k % 7 == 0 then
          cqueues.sleep(0.001 * (k % 5))
          ended[#ended + 1] = k
        end
      end, i)
    end
    mit.oneoff(150, function() h:detach() end)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    for i = 1, N do assert.equal(i, started[i]) end
    assert.equal(nraise, #errs)
    assert.equal(nblock, #ended)
    local once = {}
    for _, k in ipairs(ended) do assert.is_nil(once[k]); once[k] = true end
  end)

  it("a plain callback that does not block runs inside the drain: destroy() of a timer due in the same "
    .. "drain wins", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local ran, t2 = {}, nil
    mit.oneoff(5, function() ran[#ran + 1] = 1; t2:destroy() end)
    t2 = mit.oneoff(5, function() ran[#ran + 1] = 2 end)
    mit.oneoff(5, function() ran[#ran + 1] = 3; h:detach() end)
    mit.sleep(8)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.same({ 1, 3 }, ran)
  end)

  it("a plain callback's error after it blocked is returned by cq:loop(); before, it takes luamockit's "
    .. "error path", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local handled = {}
    mit.seterrorhandler(function(e, src) handled[#handled + 1] = { e, src } end)
    local early = mit.oneoff(0, function() error({ code = 9 }) end)
    mit.oneoff(1, function() cqueues.sleep(0.01); error("cq-after-block") end)
    mit.oneoff(50, function() h:detach() end)
    local ok, err = cq:loop()
    assert.is_false(ok)
    assert.matches("cq%-after%-block", tostring(err))
    assert.matches("stack traceback", tostring(err))
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.equal(1, #handled)
    assert.equal(9, handled[1][1].code)
    assert.equal(early, handled[1][2])
  end)

  it("detach() destroys h's timers and lets cq:loop() end at once, with no dummy timer", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local ticks = 0
    local t1 = h:getit(5, function() ticks = ticks + 1 end)
    local t2 = h:oneoff(10000, function() ticks = ticks + 1000 end)
    -- detach from another coroutine of cq, while the adapter is asleep in poll
    cq:wrap(function()
      cqueues.sleep(0.05)
      h:detach()
    end)
    local t0 = mit.monotime()
    local r = loop_within(cq, 5000)
    local took = mit.monotime() - t0
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r.hit, "cq:loop() did not end after detach()")
    assert.is_true(took < 2000, "cq:loop() ended " .. took .. " ms after the start")
    assert.equal("destroyed", t1:state())
    assert.equal("destroyed", t2:state())
    assert.is_true(ticks >= 1 and ticks < 1000, "ticks " .. ticks)
    assert.equal(0, mit.pending())
    assert.is_true(cq:empty())
    h:detach() -- twice is harmless
  end)

  it("detach() in any order of two adapters gives back the runner set before the first attach(); meanwhile "
    .. "the runner of the adapter attached last and not detached is in effect", function()
    local function current() local r = mit.setrunner(nil); mit.setrunner(r); return r end
    local ran = {}
    local prev = function(cb, ...) ran[#ran + 1] = "prev"; return cb(...) end
    mit.setrunner(prev)
    for _, order in ipairs({ "AB", "BA" }) do
      local cqa, cqb = cqueues.new(), cqueues.new()
      local a, b = adapter.attach(cqa), adapter.attach(cqb)
      assert.equal(b.runner, current())
      local first, second, cq2 = a, b, cqb
      if order == "BA" then first, second, cq2 = b, a, cqa end
      first:detach()
      assert.equal(second.runner, current(), order .. ": after the first detach()")
      -- a plain callback now runs (and may block) in the remaining adapter's loop
      local log = {}
      mit.oneoff(0, function() cqueues.sleep(0.001); log[#log + 1] = "slept" end)
      mit.oneoff(5, function() second:detach() end)
      local r = loop_within(cq2, 5000)
      assert.is_true(r[1], tostring(r[2]))
      assert.same({ "slept" }, log)
      assert.equal(prev, current(), order .. ": after both detach()")
      assert(cqa:loop(1)); assert(cqb:loop(1))
      assert.is_true(cqa:empty() and cqb:empty())
    end
    local h = adapter.attach(cqueues.new())
    assert.equal(h.runner, current())
    h:detach()
    assert.equal(prev, current())
    mit.oneoff(0, function() ran[#ran + 1] = "cb" end)
    mit.sleep(1)
    mit.process_events()
    assert.same({ "prev", "cb" }, ran)
  end)

  it("h:unref(): cq:loop() ends once only unref'd timers are left; they stay armed for the next drain", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local beats, work = 0, 0
    local hb = mit.getit(5, function() beats = beats + 1 end):unref()
    mit.oneoff(40, function() work = work + 1 end)
    assert.equal(h, h:unref())
    local t0 = mit.monotime()
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r.hit, "cq:loop() did not end with only an unref'd timer left")
    assert.is_true(mit.monotime() - t0 < 2000)
    assert.equal(1, work)
    assert.is_true(beats >= 2, "beats " .. beats)
    assert.is_false(h:attached())
    assert.is_true(cq:empty())
    assert.equal("armed", hb:state())
    hb:destroy()
  end)

  it("h:unref() with a ref'd timer: cq:loop() runs until a coroutine of cq destroys it", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local t = mit.getit(10000, function() end)
    h:unref()
    cq:wrap(function()
      cqueues.sleep(0.05)
      assert.is_true(h:attached())
      t:destroy() -- outside luamockit's drain: it wakes (mit.wakeonidle)
    end)
    local t0 = mit.monotime()
    local r = loop_within(cq, 5000)
    local took = mit.monotime() - t0
    assert.is_true(r[1], tostring(r[2]))
    assert.is_false(r.hit, "cq:loop() did not end after the last ref'd timer went")
    assert.is_true(took >= 40 and took < 2000, "cq:loop() ended after " .. took .. " ms")
    assert.is_false(h:attached())
  end)

  it("detach() called outside the loop ends the adapter's coroutine at the next cq:loop()", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    assert(cq:step(0))
    h:detach()
    local t0 = mit.monotime()
    assert(cq:loop(5))
    assert.is_true(mit.monotime() - t0 < 1000)
    assert.is_true(cq:empty())
  end)

  it("a plain callback's error is returned by cq:loop(), and the next cq:loop() goes on draining", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local after = false
    mit.oneoff(0, function() error("cq-plain-boom") end)
    mit.oneoff(20, function() after = true; h:detach() end)
    local ok, err = cq:loop()
    assert.is_false(ok)
    assert.matches("cq%-plain%-boom", tostring(err))
    assert.matches("stack traceback", tostring(err))
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_true(after)
  end)

  it("with mit.seterrorhandler set, the handler gets a plain callback's error, and a yield to something "
    .. "else than cqueues as an error naming cqueues", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local got = {}
    mit.seterrorhandler(function(e) got[#got + 1] = tostring(e) end)
    mit.oneoff(0, function() error("cq-handled") end)
    mit.oneoff(1, function() coroutine.yield("not-cqueues") end)
    mit.oneoff(10, function() h:detach() end)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.equal(2, #got)
    assert.matches("cq%-handled", got[1])
    assert.matches("yielded, but not to cqueues", got[2])
  end)

  -- The k-th call of cq:wrap (cqueues.interpose) made after the events are
  -- due raises a simulated memory error, once: the drain reporting an
  -- error, a runner of h's calls, the start of one, a blocked callback's
  -- hand-over. Returns what ran and what cq:loop() and the handler got.
  local function wrap_fault_run(k, handler)
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local errs, plain, started, ended, calls = {}, {}, {}, {}, 0
    if handler then mit.seterrorhandler(function(e) errs[#errs + 1] = tostring(e) end) end
    mit.oneoff(0, function() plain[#plain + 1] = 1; error("cb-boom") end)
    mit.oneoff(0, function() plain[#plain + 1] = 2; cqueues.sleep(0.002); ended[#ended + 1] = 2 end)
    for i = 1, 3 do h:oneoff(0, function() started[#started + 1] = i; cqueues.sleep(0.001) end) end
    mit.oneoff(0, function() plain[#plain + 1] = 3 end)
    mit.sleep(2)
    local orig
    orig = cqueues.interpose("wrap", function(self, ...)
      calls = calls + 1
      if calls == k then error("not enough memory", 0) end
      return orig(self, ...)
    end)
    local phase2 = false
    local ok, err = pcall(function()
      local deadline = mit.monotime() + 150
      while mit.monotime() < deadline do
        local r = { cq:step(0.01) }
        if not r[1] then errs[#errs + 1] = tostring(r[2]) end
      end
      -- after the fault: the adapter works on, and detach() ends cq:loop()
      cqueues.interpose("wrap", orig)
      phase2 = true
      mit.oneoff(0, function() plain[#plain + 1] = 4 end)
      h:oneoff(0, function() started[#started + 1] = 4 end)
      mit.oneoff(30, function() h:detach() end)
      for _ = 1, 20 do
        local r = { cq:loop(5) }
        if r[1] then break end
        errs[#errs + 1] = tostring(r[2])
      end
    end)
    cqueues.interpose("wrap", orig)
    mit.seterrorhandler(nil)
    assert(ok, err)
    assert.is_true(phase2 and cq:empty(), "cq:loop() did not end after detach()")
    return { plain = plain, started = started, ended = ended, errs = errs, calls = calls }
  end

  it("a memory error in cq:wrap anywhere in the adapter (reporting an error, starting h's calls, handing over "
    .. "a blocked callback) loses nothing: the drain goes on, every error reaches the user", function()
    for _, handler in ipairs({ false, true }) do
      for k = 1, 7 do
        local what = ("k=%d handler=%s"):format(k, tostring(handler))
        local r = wrap_fault_run(k, handler)
        if k == 7 then assert.is_true(r.calls < k, "the sweep does not reach every call of cq:wrap") end
        assert.same({ 1, 2, 3, 4 }, r.plain, what)
        local nomem, boom = 0, 0
        for _, e in ipairs(r.errs) do
          if e:find("not enough memory", 1, true) then nomem = nomem + 1 end
          if e:find("cb-boom", 1, true) then boom = boom + 1 end
        end
        assert.equal(1, boom, what .. ": " .. table.concat(r.errs, " | "))
        assert.is_true(nomem <= 1, what)
        -- h's calls: each started once, in order; one that never started was reported
        local seen = {}
        for n, i in ipairs(r.started) do
          assert.is_nil(seen[i], what); seen[i] = true
          if n > 1 then assert.is_true(i > r.started[n - 1], what) end
        end
        assert.is_true(seen[4], what .. ": the adapter did not go on")
        local missing = 3 - (#r.started - 1) + (1 - #r.ended)
        assert.is_true(missing <= nomem, what .. ": lost " .. missing .. ", reported " .. nomem)
      end
    end
  end)

  it("luamockit.co tasks run inside cq's loop", function()
    local cq = cqueues.new()
    local h = adapter.attach(cq)
    local slept
    co.spawn(function()
      local t0 = mit.monotime()
      co.sleep(30)
      slept = mit.monotime() - t0
      h:detach()
    end)
    local r = loop_within(cq, 5000)
    assert.is_true(r[1], tostring(r[2]))
    assert.is_true(slept >= 30)
  end)

  it("attach() rejects what is not a controller", function()
    H.raises("bad argument #1 to 'attach'", adapter.attach, 42)
  end)
end)

-- The producer C API (luamockit_api.h), through a real producer library:
-- test/producer/testproducer.c (plain C + pthreads, built by
-- `make test-modules` into build/test/lua5.X/testproducer.so).
--
-- Lua 5.1 syntax only: runs under lua5.1, lua5.4 and luajit.
local mit = require("luamockit")
local tp = require("testproducer")

-- ------------------------------------------------------------ helpers --

local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local function now() return mit.monotime() end

-- The shared helpers (test/helpers.lua), with this file's 5 s default.
local function drain_until(cond, timeout_ms) return (H.drain_until(cond, timeout_ms or 5000)) end
local function poll_until(cond, timeout_ms) return H.poll_until(cond, timeout_ms or 5000) end
local function await_pending(n, timeout_ms) return H.await_pending(n, timeout_ms or 5000) end

local function pack(...) return { n = select("#", ...), ... } end

-- Jobs started by a test, cleaned up after it.
local jobs = {}
local function track(job)
  jobs[#jobs + 1] = job
  return job
end
local function start(opts) return track(tp.start(opts)) end
local function start_wait(opts) return track(tp.start_wait(opts)) end

local function cleanup()
  mit.seterrorhandler(nil)
  for i = #jobs, 1, -1 do
    local j = jobs[i]
    jobs[i] = nil
    -- wait threads finish once their items run: drain (errors ignored)
    local deadline = now() + 3000
    while not j:done() and now() < deadline do
      mit.wait(20)
      pcall(mit.process_events)
    end
    if j:done() then
      pcall(j.join, j)
      pcall(j.unregister, j)
    end -- else left to the collector (it detaches stuck threads)
  end
  for _ = 1, 100 do
    if mit.inqueue() == 0 then break end
    pcall(mit.process_events)
  end
end

-- Asserts a status table: every code not named in want must be 0.
local CODES = { "OK", "ECLOSED", "ETIMEDOUT", "ECANCELLED", "ECALLBACK", "EINVAL" }
local function assert_status(want, got)
  for _, k in ipairs(CODES) do
    assert.equal(want[k] or 0, got[k], "status " .. k)
  end
end

describe("producer API", function()
  before_each(cleanup)
  after_each(cleanup)

  it("publishes version 1 of the API and status codes that match the header", function()
    assert.equal(1, tp.API_VERSION)
    assert.same({ 0, 1, 2, 3, 4, 5 },
      { tp.OK, tp.ECLOSED, tp.ETIMEDOUT, tp.ECANCELLED, tp.ECALLBACK, tp.EINVAL })
    local seen = {}
    for code = 0, 5 do
      local s = tp.strerror(code)
      assert.is_string(s)
      assert.is_true(#s > 0)
      assert.is_nil(seen[s], "two codes share the message " .. s)
      seen[s] = true
    end
  end)

  it("refuses a NULL producer (EINVAL) and a registration without decode", function()
    local a, b = tp.deliver_null()
    assert.equal("EINVAL", a)
    assert.equal("EINVAL", b)
    assert.is_false(tp.register_without_decode())
  end)

  it("4 threads x 100000 deliveries arrive exactly once each, in per-thread order", function()
    local N, T = 100000, 4
    local last, n, bad = {}, 0, 0
    local job = start{ threads = T, count = N, cb = function(thread, seq)
      if seq ~= (last[thread] or 0) + 1 then bad = bad + 1 end
      last[thread] = seq
      n = n + 1
    end }
    assert.is_true(drain_until(function() return n >= N * T and job:done() end, 60000),
      "only " .. n .. " of " .. N * T .. " items arrived")
    local st = job:join()
    -- nothing more may arrive (no duplicates)
    assert.equal(0, mit.process_events())
    assert.equal(0, bad, "items out of order, duplicated or missing")
    assert.equal(N * T, n)
    for t = 1, T do assert.equal(N, last[t], "thread " .. t) end
    assert.equal(N * T, st.delivered)
    assert.equal(N * T, st.decoded)
    assert.equal(0, st.cancelled)
    assert_status({ OK = N * T }, st.status)
    assert.equal(0, mit.pending())
    assert.equal(0, mit.inqueue())
  end)

  it("10000 deliver-and-wait calls (4 threads x 2500) get the right results back", function()
    local calls, order_bad, last = 0, 0, {}
    local job = start_wait{ threads = 4, count = 2500, cb = function(a, b, thread, seq)
      calls = calls + 1
      -- a thread waits for each item: its items come strictly in order
      if seq ~= (last[thread] or 0) + 1 then order_bad = order_bad + 1 end
      last[thread] = seq
      return a + b
    end }
    assert.is_true(drain_until(function() return job:done() end, 60000), "threads did not finish")
    local st = job:join()
    assert_status({ OK = 10000 }, st.status)
    assert.equal(0, st.mismatches)
    assert.equal(10000, st.results)
    assert.equal(10000, calls)
    assert.equal(0, order_bad)
    assert.equal(0, mit.pending())
  end)

  it("a producer thread sees a wrong or missing result (the check can fail)", function()
    local job = start_wait{ threads = 2, count = 40, cb = function(a, b, thread, seq)
      if seq % 10 == 0 then return a + b + 1 end
      if seq % 10 == 5 then return end
      return a + b
    end }
    assert.is_true(drain_until(function() return job:done() end, 10000))
    local st = job:join()
    assert_status({ OK = 80 }, st.status)
    assert.equal(2 * 8, st.mismatches) -- seq 5, 10, 15, ... 40 in each thread
  end)

  it("a callback error in a deliver_wait item: that thread gets ECALLBACK, process_events raises it", function()
    local seen, errors = {}, {}
    local job = start_wait{ threads = 1, count = 3, cb = function(a, b, thread, seq)
      seen[#seen + 1] = seq
      if seq == 2 then error("producer boom") end
      return a + b
    end }
    local deadline = now() + 10000
    while not job:done() and now() < deadline do
      mit.wait(50)
      local ok, err = pcall(mit.process_events)
      if not ok then errors[#errors + 1] = tostring(err) end
    end
    local st = job:join()
    assert_status({ OK = 2, ECALLBACK = 1 }, st.status)
    assert.equal(0, st.mismatches)
    assert.same({ 1, 2, 3 }, seen)
    assert.equal(1, #errors)
    assert.is_truthy(errors[1]:find("producer boom", 1, true), errors[1])
    assert.is_truthy(errors[1]:find("stack traceback", 1, true), errors[1])
  end)

  it("a callback error in a deliver_wait item goes to the error handler when one is set", function()
    local handled = {}
    mit.seterrorhandler(function(msg) handled[#handled + 1] = tostring(msg) end)
    local job = start_wait{ threads = 2, count = 5, cb = function(a, b, thread, seq)
      if seq == 3 then error("handled boom " .. thread) end
      return a + b
    end }
    assert.is_true(drain_until(function() return job:done() end, 10000)) -- never raises
    local st = job:join()
    assert_status({ OK = 8, ECALLBACK = 2 }, st.status)
    assert.equal(0, st.mismatches)
    assert.equal(2, #handled)
    for _, m in ipairs(handled) do assert.is_truthy(m:find("handled boom", 1, true), m) end
  end)

  it("the error handler gets a failing item's error with its producer's name", function()
    local got = {}
    mit.seterrorhandler(function(e, src) got[#got + 1] = { e = e, src = src } end)
    local obj = { "item error" }
    local job = start{ threads = 1, count = 2, name = "namedprod",
      cb = function(_, seq) if seq == 1 then error(obj) end end }
    job:join()
    await_pending(2)
    assert.equal(2, mit.process_events())
    assert.equal(1, #got)
    assert.equal(obj, got[1].e)
    assert.equal("namedprod", got[1].src)
  end)

  it("a callback error leaves the items not yet run queued for the next process_events", function()
    local seen = {}
    local job = start{ threads = 1, count = 10, cb = function(thread, seq)
      seen[#seen + 1] = seq
      if seq == 4 then error("plain boom") end
    end }
    job:join()
    await_pending(10)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("plain boom", 1, true))
    assert.same({ 1, 2, 3, 4 }, seen)
    assert.equal(6, mit.pending())
    assert.equal(6, mit.process_events())
    assert.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, seen)
    local st = job:stats()
    assert.equal(10, st.decoded)
    assert.equal(0, st.cancelled)
  end)

  it("an item's callback that yields is told to use luamockit.co or an adapter", function()
    local job = start{ threads = 1, count = 1, cb = function() coroutine.yield() end }
    job:join()
    await_pending(1)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    err = tostring(err)
    assert.is_truthy(err:find("luamockit: a callback cannot yield (attempt to yield ", 1, true), err)
    assert.is_truthy(err:find("luamockit.co task", 1, true), err)
    assert.is_truthy(err:find("luamockit.copas or luamockit.cqueues", 1, true), err)
  end)

  it("an error raised by decode goes through process_events' error path", function()
    local seen = {}
    local job = start{ threads = 1, count = 6, decode_error_at = 3,
      cb = function(thread, seq) seen[#seen + 1] = seq end }
    job:join()
    await_pending(6)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("decode error at 1:3", 1, true), tostring(err))
    assert.same({ 1, 2 }, seen)
    assert.equal(3, mit.pending())
    assert.equal(3, mit.process_events())
    assert.same({ 1, 2, 4, 5, 6 }, seen)
  end)

  it("a decode that pushes something else than a function where the callback goes: the error names the producer", function()
    local seen = {}
    local job = start{ threads = 1, count = 4, not_a_function_at = 2, name = "sevens",
      cb = function(thread, seq) seen[#seen + 1] = seq end }
    job:join()
    await_pending(4)
    local ok, err = pcall(mit.process_events)
    assert.is_false(ok)
    assert.matches("producer 'sevens' decode pushed a number where the callback goes", tostring(err), 1, true)
    assert.equal(2, mit.process_events())
    assert.same({ 1, 3, 4 }, seen)
  end)

  it("a callback that yields gives an error, and ECALLBACK to the waiting thread", function()
    local job = start_wait{ threads = 1, count = 1, cb = function() coroutine.yield(1) end }
    await_pending(1)
    local co = coroutine.create(function() return pcall(mit.process_events) end)
    local resumed, ok, err = coroutine.resume(co)
    assert.is_true(resumed)
    assert.is_false(ok)
    assert.is_string(tostring(err))
    assert.is_true(poll_until(function() return job:done() end, 3000))
    assert_status({ ECALLBACK = 1 }, job:join().status)
  end)

  it("a producer's callback runs on the coroutine that called process_events", function()
    local where
    local job = start{ threads = 1, count = 1, cb = function() where = coroutine.running() end }
    job:join()
    await_pending(1)
    local co = coroutine.create(function() return mit.process_events() end)
    local ok, n = coroutine.resume(co)
    assert.is_true(ok)
    assert.equal(1, n)
    assert.equal(co, where)
  end)

  it("deliver_wait with a short timeout while Lua does not drain: ETIMEDOUT, item withdrawn (timing)", function()
    local ran = 0
    local t0 = now()
    local job = start_wait{ threads = 1, count = 1, timeout_ms = 150, cb = function(a, b)
      ran = ran + 1
      return a + b
    end }
    await_pending(1)
    -- no process_events here: the thread gives up after ~150 ms
    assert.is_true(poll_until(function() return job:done() end, 5000), "deliver_wait did not time out")
    local waited = now() - t0
    assert.is_true(waited >= 100, "timed out after only " .. waited .. " ms")
    assert.equal(0, mit.pending()) -- withdrawn
    assert.equal(0, mit.process_events())
    assert.equal(0, ran)
    local st = job:join()
    assert_status({ ETIMEDOUT = 1 }, st.status)
    assert.equal(0, st.results)
    assert.equal(0, mit.inqueue())
  end)

  it("deliver_wait with a timeout that Lua beats returns OK", function()
    local job = start_wait{ threads = 2, count = 50, timeout_ms = 5000, cb = function(a, b) return a + b end }
    assert.is_true(drain_until(function() return job:done() end, 20000))
    local st = job:join()
    assert_status({ OK = 100 }, st.status)
    assert.equal(0, st.mismatches)
  end)

  it("a state closed with 1000 blocked deliveries releases them all with ECANCELLED and cancels plain items", function()
    local r = tp.close_with_blocked{ n = 1000, plain = 50, cpath = package.cpath }
    assert.equal(1000, r.started)
    assert.equal(1050, r.pending_seen)     -- all blocked in deliver_wait before the close
    assert.is_false(r.api_before_require)  -- the API appears with require("luamockit")
    assert.equal(1000, r.cancelled)
    assert_status({ ECANCELLED = 1000 }, r.status)
    assert.equal(1, r.closed)              -- desc.closed called once, by lua_close
    assert.equal(50, r.cancel_calls)       -- the plain items only: wait items belong to their threads
    assert.equal("ECLOSED", r.after_deliver)
    assert.equal("ECLOSED", r.after_deliver_wait)
  end)

  it("a closed state's handle finds nothing when a new state takes over its place", function()
    -- the new state reuses the closed universe's slots: the old handle
    -- must not deliver into it
    local r = tp.close_with_blocked{ n = 4, plain = 2, cpath = package.cpath, reopen = 1 }
    assert_status({ ECANCELLED = 4 }, r.status)
    assert.is_true(r.reopen_new_handle)
    assert.equal("ECLOSED", r.reopen_old_deliver)
    assert.equal(0, r.reopen_pending_old)
    assert.equal("OK", r.reopen_new_deliver)
    assert.equal(1, r.reopen_pending_new)
  end)

  it("unregister with items queued cancels them: cancel runs for each, no callback runs", function()
    local ran = 0
    local job = start{ threads = 2, count = 500, cb = function() ran = ran + 1 end }
    job:join()
    await_pending(1000)
    assert.equal(1000, job:unregister())
    assert.equal(0, mit.pending())
    assert.equal(0, mit.process_events())
    assert.equal(0, ran)
    local st = job:stats()
    assert.equal(1000, st.cancelled)
    assert.equal(0, st.decoded)
    assert.equal(0, mit.inqueue())
  end)

  it("unregister releases threads blocked in deliver_wait with ECANCELLED", function()
    local ran = 0
    local job = start_wait{ threads = 4, count = 1, cb = function() ran = ran + 1 end }
    await_pending(4) -- every thread has its item queued
    assert.equal(0, job:unregister()) -- wait items are not cancel()ed
    assert.is_true(poll_until(function() return job:done() end, 3000), "blocked threads not released")
    local st = job:join()
    assert_status({ ECANCELLED = 4 }, st.status)
    assert.equal(0, mit.pending())
    assert.equal(0, mit.process_events())
    assert.equal(0, ran)
    assert.equal(0, st.results)
  end)

  it("deliveries after unregister return ECLOSED (unregistered inside a callback)", function()
    local plain, waited
    local job
    job = start{ threads = 1, count = 1, cb = function()
      plain, waited = job:unregister_and_deliver()
    end }
    job:join()
    await_pending(1)
    assert.equal(1, mit.process_events())
    assert.equal("ECLOSED", plain)
    assert.equal("ECLOSED", waited)
    assert.equal(0, mit.pending())
    assert.equal(0, mit.inqueue())
  end)

  it("unregister inside a callback: the producer's other taken items never run", function()
    local seen = {}
    local job
    job = start{ threads = 1, count = 10, cb = function(thread, seq)
      seen[#seen + 1] = seq
      if seq == 1 then job:unregister() end
    end }
    job:join()
    await_pending(10)
    assert.equal(1, mit.process_events())
    assert.same({ 1 }, seen)
    assert.equal(0, mit.process_events())
    local st = job:stats()
    assert.equal(10, st.decoded + st.cancelled, "every item is decoded or cancelled")
  end)

  -- luamockit_api.h: unregister(p) "drops p's queued items (desc.cancel for
  -- each plain item ...) and frees p. No callback of p runs afterwards."
  it("unregister inside a callback: cancel runs for the taken items before unregister returns", function()
    local during
    local job
    job = start{ threads = 1, count = 10, cb = function(thread, seq)
      if seq == 1 then during = job:unregister() end
    end }
    job:join()
    await_pending(10)
    mit.process_events()
    local after = job:stats().cancelled
    assert.equal(9, after)
    assert.equal(after, during, "cancel ran " .. (after - during) .. " times after unregister returned")
  end)

  it("a failing callback that unregistered its producer: the dropped items are still cancelled", function()
    local job
    job = start{ threads = 1, count = 10, cb = function(thread, seq)
      if seq == 1 then job:unregister(); error("unregister then fail") end
    end }
    job:join()
    await_pending(10)
    local ok = pcall(mit.process_events)
    assert.is_false(ok)
    assert.equal(0, mit.pending())
    assert.equal(0, mit.process_events())
    local st = job:stats()
    assert.equal(1, st.decoded)
    assert.equal(9, st.cancelled, "items neither run nor cancelled (leaked)")
  end)

  it("a failing callback that unregistered its producer: a thread waiting on a dropped item is released", function()
    local first = true
    local job
    job = start_wait{ threads = 2, count = 1, cb = function(a, b)
      if first then first = false; job:unregister(); error("unregister then fail") end
      return a + b
    end }
    await_pending(2) -- both items queued, taken by one process_events
    local ok = pcall(mit.process_events)
    assert.is_false(ok)
    assert.is_true(poll_until(function() return job:done() end, 1500),
      "the thread whose item was dropped is still blocked in deliver_wait")
    assert_status({ ECALLBACK = 1, ECANCELLED = 1 }, job:join().status)
  end)

  -- luamockit_api.h defines ECANCELLED as "unregistered or state closed
  -- first": a producer thread that gets it stops delivering (this one does).
  it("a skipped deliver_wait item (decode returns -1) releases its thread, which goes on", function()
    local calls = 0
    local job = start_wait{ threads = 1, count = 4, skip_every = 2, cb = function(a, b)
      calls = calls + 1
      return a + b
    end }
    assert.is_true(drain_until(function() return job:done() end, 5000), "a thread stays blocked")
    local st = job:join()
    assert.equal(0, st.status.ECANCELLED, "a skipped item was reported as ECANCELLED: the thread stopped")
    assert.equal(0, st.status.ECLOSED)
    assert.equal(2, st.skipped)
    assert.equal(2, calls)
    assert.equal(2, st.results) -- result() only for the items that ran
    assert_status({ OK = 4 }, st.status)
    assert.equal(2, st.mismatches) -- the skipped two: OK, but no result
  end)

  it("two producers (two registrations) deliver into one state at once", function()
    local N = 20000
    local function sink()
      local s = { n = 0, bad = 0, last = {} }
      s.cb = function(thread, seq)
        if seq ~= (s.last[thread] or 0) + 1 then s.bad = s.bad + 1 end
        s.last[thread] = seq
        s.n = s.n + 1
      end
      return s
    end
    local A, B = sink(), sink()
    local wcalls = 0
    local ja = start{ threads = 2, count = N, cb = A.cb, name = "A" }
    local jb = start{ threads = 2, count = N, cb = B.cb, name = "B" }
    local jw = start_wait{ threads = 1, count = 200, cb = function(a, b) wcalls = wcalls + 1; return a + b end }
    assert.is_true(drain_until(function()
      return A.n >= 2 * N and B.n >= 2 * N and ja:done() and jb:done() and jw:done()
    end, 60000))
    assert.equal(0, mit.process_events())
    for _, s in ipairs({ A, B }) do
      assert.equal(2 * N, s.n)
      assert.equal(0, s.bad)
      assert.equal(N, s.last[1])
      assert.equal(N, s.last[2])
    end
    assert.equal(2 * N, ja:join().decoded)
    assert.equal(2 * N, jb:join().decoded)
    local sw = jw:join()
    assert_status({ OK = 200 }, sw.status)
    assert.equal(0, sw.mismatches)
    assert.equal(200, wcalls)
    -- unregistering one leaves the other working
    ja:unregister()
    local got
    local jc = start{ threads = 1, count = 1, cb = function(_, seq) got = seq end }
    assert.is_true(drain_until(function() return got ~= nil end, 5000))
    jc:join()
    assert.equal("OK", jb:deliver(3, 7))
    assert.equal(1, mit.process_events())
    assert.equal(7, B.last[3])
  end)

  it("items and timer events run in queue order; items delivered by a callback wait for the next call", function()
    local order = {}
    local job
    job = start{ threads = 1, count = 3, cb = function(_, seq)
      order[#order + 1] = "item" .. seq
      if seq == 3 then assert.equal("OK", job:deliver(1, 4)) end
    end }
    job:join()
    await_pending(3)
    local t = mit.oneoff(0, function() order[#order + 1] = "timer" end)
    await_pending(4)
    assert.equal("OK", job:deliver(1, 5)) -- queued after the timer
    assert.equal(5, mit.process_events())
    assert.same({ "item1", "item2", "item3", "timer", "item5" }, order)
    assert.equal(1, mit.pending())          -- item 4, delivered during the call
    assert.equal(1, mit.process_events())
    assert.equal("item4", order[6])
    t:destroy()
  end)

  it("poll() runs exactly one event at a time and reports the count left", function()
    local order = {}
    local t = mit.oneoff(0, function() order[#order + 1] = "timer" end)
    await_pending(1)
    local job = start{ threads = 1, count = 4, cb = function(_, seq) order[#order + 1] = seq end }
    job:join()
    await_pending(5)
    local want = { "timer", 1, 2, 3, 4 }
    for i = 1, 5 do
      local r = pack(mit.poll())
      assert.equal(2, r.n)
      assert.is_true(r[1])
      assert.equal(5 - i, r[2])
      assert.equal(i, #order, "poll() ran more or less than one event")
      assert.equal(want[i], order[i])
    end
    local ran, left = mit.poll()
    assert.is_false(ran)
    assert.equal(0, left)
    assert.equal(5, #order)
    t:destroy()
  end)

  it("poll() raises a callback's error and leaves the rest queued", function()
    local seen = {}
    local job = start{ threads = 1, count = 4, cb = function(_, seq)
      seen[#seen + 1] = seq
      if seq == 2 then error("poll boom") end
    end }
    job:join()
    await_pending(4)
    assert.is_true((mit.poll()))
    local ok, err = pcall(mit.poll)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("poll boom", 1, true))
    assert.equal(2, mit.pending())
    local ran, left = mit.poll()
    assert.is_true(ran)
    assert.equal(1, left)
    assert.same({ 1, 2, 3 }, seen)
  end)

  -- luamockit_api.h: decode returns -1 to "push nothing, skip the item";
  -- process_events returns the number of callbacks run, poll() whether one ran.
  it("skipped items (decode returns -1) run nothing and are not counted as callbacks run", function()
    local runs = 0
    local job = start{ threads = 1, count = 10, skip_every = 2, cb = function() runs = runs + 1 end }
    job:join()
    await_pending(10)
    local n = mit.process_events()
    assert.equal(5, runs)
    assert.equal(5, job:stats().skipped)
    assert.equal(runs, n, "process_events counted skipped items as callbacks run")
  end)

  -- luamockit_api.h: a handle is not a pointer; deliveries through it after
  -- unregister (here outside any callback, from the Lua thread) return
  -- ECLOSED, and never reach a producer registered later.
  it("a handle stays safe after unregister outside a callback: late deliveries get ECLOSED", function()
    local calls = {}
    local old = {}
    for i = 1, 16 do
      local name = "old" .. i
      local j = start{ threads = 1, count = 0, name = name,
        cb = function() calls[name] = (calls[name] or 0) + 1 end }
      j:join()
      old[#old + 1] = j
      j:unregister()
    end
    local fresh = {}
    for i = 1, 16 do
      local name = "new" .. i
      local j = start{ threads = 1, count = 0, name = name,
        cb = function() calls[name] = (calls[name] or 0) + 1 end }
      j:join()
      assert.is_nil(fresh[j:handle()], "two live producers share a handle")
      fresh[j:handle()] = true
      for _, o in ipairs(old) do
        assert.is_not.equal(o:handle(), j:handle(), "a new producer reuses an old handle")
      end
    end
    for _, o in ipairs(old) do
      assert.equal("ECLOSED", o:deliver_unchecked(1, 1))
    end
    mit.process_events()
    assert.same({}, calls)
  end)
end)

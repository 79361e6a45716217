-- luamockit.co: tasks on luamockit's timers (lua/luamockit/co.lua).
--
-- Lua 5.1 syntax only: runs under lua5.1-5.4 and LuaJIT. Timing: "not
-- early" is asserted strictly (a task's sleep is measured from before the
-- call that arms its timer, on the same monotonic clock), "not late"
-- loosely (a loaded 2-core CI machine).
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local co = require("luamockit.co")
local now = mit.monotime

-- Runs co.run() and returns the ms it took.
local function timed_run()
  local t0 = now()
  co.run()
  return now() - t0
end

-- The number of armed timers of this state.
local function armed() return mit.stats().armed end

describe("luamockit.co", function()
  before_each(H.reset)
  after_each(H.reset)

  describe("spawn, sleep and run", function()
    it("runs hundreds of tasks with random sleeps: none wakes early, run() returns once all have ended (timing-sensitive)", function()
      math.randomseed(1515)
      local N, SLEEPS = 300, 4
      local early, done, worst_late = {}, 0, 0
      local longest = 0
      for i = 1, N do
        local plan, total = {}, 0
        for k = 1, SLEEPS do
          plan[k] = math.random(0, 40) + math.random() -- fractions of a ms too
          total = total + plan[k]
        end
        if total > longest then longest = total end
        co.spawn(function()
          for k = 1, SLEEPS do
            local t0 = now()
            co.sleep(plan[k])
            local slept = now() - t0
            if slept < plan[k] then early[#early + 1] = ("task %d sleep %d: %.3f < %.3f ms"):format(i, k, slept, plan[k]) end
            if slept - plan[k] > worst_late then worst_late = slept - plan[k] end
          end
          done = done + 1
        end)
      end
      local took = timed_run()
      assert.same({}, early)
      assert.equal(N, done)
      assert.same({}, co.tasks())
      assert.equal(0, armed(), "timers left armed after run()")
      assert.is_true(took >= longest, ("run() returned after %.1f ms, a task sleeps %.1f"):format(took, longest))
      assert.is_true(took < longest + 3000, ("run() took %.1f ms for %.1f ms of sleeps"):format(took, longest))
      assert.is_true(worst_late < 1000, ("a sleep ran %.1f ms late"):format(worst_late))
    end)

    it("starts tasks at the next drain, not inside spawn, in spawn order, with their arguments", function()
      local log = {}
      local t1 = co.spawn(function(a, b) log[#log + 1] = a .. b end, "x", "y")
      co.spawn(function(...) log[#log + 1] = select("#", ...) end, nil, nil)
      assert.same({}, log)
      assert.equal("suspended", t1:status())
      co.run()
      assert.same({ "xy", 2 }, log)
      assert.equal("done", t1:status())
    end)

    it("run() with no task returns at once", function()
      assert.is_true(H.fastest(3, co.run) < 50)
    end)

    it("a task sleeping 0 ms lets the others run before it goes on", function()
      local log = {}
      co.spawn(function() log[#log + 1] = "a1"; co.sleep(0); log[#log + 1] = "a2" end)
      co.spawn(function() log[#log + 1] = "b1"; co.sleep(0); log[#log + 1] = "b2" end)
      co.run()
      assert.same({ "a1", "b1", "a2", "b2" }, log)
    end)

    it("a sleeping task costs one armed timer: 1 000 tasks asleep are 1 000 armed timers", function()
      for _ = 1, 1000 do co.spawn(function() co.sleep(200) end) end
      mit.wait(50)
      mit.process_events() -- starts them all: each arms its sleep
      assert.equal(1000, armed())
      co.run()
      assert.equal(0, armed())
    end)

    it("a sleeping task costs no polling: run() drains a handful of times while one task sleeps 300 ms (timing-sensitive)", function()
      co.spawn(function() co.sleep(300) end)
      local drains0 = mit.stats().drains
      local took = timed_run()
      local drains = mit.stats().drains - drains0
      assert.is_true(took >= 300)
      -- the start and the wake-up; a loop that polled would drain ~300 times
      assert.is_true(drains <= 5, "the loop drained " .. drains .. " times")
    end)

    it("plain timers and producer items keep running inside run()", function()
      local ticks, items = 0, 0
      local t = H.track(mit.getit(10, function() ticks = ticks + 1 end))
      local has_tp, tp = pcall(require, "testproducer")
      local job
      if has_tp then job = tp.start({ count = 20, cb = function() items = items + 1 end }) end
      co.spawn(function() co.sleep(150) end)
      co.run()
      t:destroy()
      assert.is_true(ticks >= 5, "interval ticks inside run(): " .. ticks)
      if job then
        local ok = H.drain_until(function() return items == 20 end, 3000)
        job:join()
        job:unregister()
        assert.is_true(ok)
      end
    end)

    it("tasks run from any loop that drains luamockit, not only run()", function()
      local done = false
      co.spawn(function() co.sleep(20); co.sleep(20); done = true end)
      assert.is_true(H.drain_until(function() return done end, 3000))
    end)

    it("sleep outside a task, or in a coroutine a task resumed, is an error naming it and co.spawn", function()
      H.raises("sleep called outside a task: call it from a function run by co%.spawn or co%.every", co.sleep, 10)
      local err
      co.spawn(function()
        local inner = coroutine.create(function() co.sleep(1) end)
        local _, e = coroutine.resume(inner)
        err = e
      end)
      co.run()
      assert.matches("sleep called outside a task", err)
    end)

    it("bad arguments raise the standard message", function()
      H.raises("bad argument #1 to 'spawn' %(function expected, got nil%)", co.spawn)
      H.raises("bad argument #1 to 'every' %(number expected, got string%)", co.every, "10", print)
      H.raises("bad argument #1 to 'every' %(interval must be greater than 0%)", co.every, 0, print)
      local errs = {}
      co.spawn(function()
        for _, v in ipairs({ -1, 0 / 0, math.huge, "5" }) do
          local _, e = pcall(co.sleep, v)
          errs[#errs + 1] = e
        end
      end)
      co.run()
      assert.equal(4, #errs)
      for _, e in ipairs(errs) do assert.matches("bad argument #1 to 'sleep'", e) end
    end)

    it("run() raises if tasks are left that nothing can resume (their timers destroyed behind co's back)", function()
      local task = co.spawn(function() co.sleep(10000) end)
      mit.wait(50)
      mit.process_events()
      for _, t in ipairs(mit.timers()) do t:destroy() end
      H.raises("1 task%(s%) can never resume", co.run)
      task:cancel()
      co.run()
    end)

    it("co.running() is the running task, nil outside", function()
      local seen
      local task = co.spawn(function() seen = co.running() end)
      assert.is_nil(co.running())
      co.run()
      assert.equal(task, seen)
    end)
  end)

  describe("task:cancel()", function()
    it("a sleeping task never resumes, its timer is destroyed, and run() does not wait for it", function()
      local resumed = false
      local sleeper = co.spawn(function() co.sleep(5000); resumed = true end)
      co.spawn(function()
        co.sleep(20)
        assert.equal(1, armed()) -- the sleeper's timer (this task's has fired)
        assert.is_true(sleeper:cancel())
        assert.equal(0, armed())
      end)
      local took = timed_run()
      assert.is_false(resumed)
      assert.equal("cancelled", sleeper:status())
      assert.is_true(took < 2500, "run() took " .. took .. " ms")
      assert.is_false(sleeper:cancel(), "cancelling twice")
    end)

    it("a task cancelled before it started never runs", function()
      local ran = false
      local t = co.spawn(function() ran = true end)
      t:cancel()
      co.run()
      H.drain_for(20)
      assert.is_false(ran)
      assert.equal(0, armed())
    end)

    it("a task may cancel itself: the call does not return", function()
      local after = false
      local t
      t = co.spawn(function() co.sleep(1); t:cancel(); after = true end)
      co.run()
      assert.is_false(after)
      assert.equal("cancelled", t:status())
    end)
  end)

  describe("co.timeout", function()
    it("returns fn's results, nils included, when it finishes in time", function()
      local got
      co.spawn(function()
        got = H.pack(co.timeout(1000, function(a)
          co.sleep(10)
          return a, nil, 3
        end, "one"))
      end)
      co.run()
      assert.same({ n = 3, "one", nil, 3 }, got)
    end)

    it("returns fn's results at once when fn does not suspend", function()
      local got
      co.spawn(function() got = H.pack(co.timeout(0, function() return "now" end)) end)
      co.run()
      assert.same({ n = 1, "now" }, got)
    end)

    it("returns nil, \"timeout\" not before ms, and fn never resumes; its timers are destroyed (timing-sensitive)", function()
      local got, waited, resumed = nil, nil, false
      co.spawn(function()
        local t0 = now()
        got = H.pack(co.timeout(50, function()
          co.sleep(2000)
          resumed = true
        end))
        waited = now() - t0
        assert.equal(0, armed())
      end)
      local took = timed_run()
      assert.same({ n = 2, nil, "timeout" }, got)
      assert.is_true(waited >= 50, "timed out after " .. waited .. " ms")
      assert.is_true(waited < 1500, "timed out after " .. waited .. " ms")
      assert.is_true(took < 1800, "run() waited for the abandoned fn: " .. took .. " ms")
      H.drain_for(30)
      assert.is_false(resumed)
    end)

    it("nested: the outer timeout cancels the inner one and its fn", function()
      local inner_result, resumed = "unset", false
      co.spawn(function()
        local r1, r2 = co.timeout(30, function()
          inner_result = H.pack(co.timeout(5000, function() co.sleep(3000); resumed = true end))
        end)
        assert.is_nil(r1)
        assert.equal("timeout", r2)
      end)
      local took = timed_run()
      assert.is_true(took < 2500)
      assert.equal("unset", inner_result)
      assert.is_false(resumed)
      assert.equal(0, armed())
    end)

    it("an error fn raises is raised by co.timeout, with fn's traceback", function()
      co.spawn(function()
        co.timeout(1000, function()
          co.sleep(5)
          error("timeout-child-boom")
        end)
      end)
      local msg = H.raises("timeout%-child%-boom", co.run)
      assert.matches("stack traceback", msg)
      assert.matches("co_spec.lua", msg)
    end)

    it("cancelling the task that waits in co.timeout cancels fn too", function()
      local resumed = false
      local t = co.spawn(function() co.timeout(5000, function() co.sleep(2000); resumed = true end) end)
      co.spawn(function() co.sleep(20); t:cancel() end)
      local took = timed_run()
      assert.is_true(took < 1500)
      assert.is_false(resumed)
      assert.equal(0, armed())
    end)

    it("outside a task is an error", function()
      H.raises("timeout called outside a task", co.timeout, 10, print)
    end)
  end)

  describe("co.every", function()
    it("calls fn on the absolute schedule, never early, without drift, until cancelled (timing-sensitive)", function()
      local P, N = 20, 25
      local times = {}
      local t0 = now()
      local ev
      ev = co.every(P, function(tag)
        assert.equal("tick", tag)
        times[#times + 1] = now()
        co.sleep(3) -- work that takes time must not push the schedule
        if #times == N then ev:cancel() end
      end, "tick")
      local took = timed_run()
      assert.equal(N, #times)
      for k, t in ipairs(times) do
        assert.is_true(t - t0 >= k * P, ("call %d at %.3f ms, due at %d"):format(k, t - t0, k * P))
      end
      -- no drift: the last call is near its own due time, whatever the
      -- lateness of each call before it
      local lag = times[N] - t0 - N * P
      assert.is_true(lag < 150, ("call %d ran %.1f ms after its due time"):format(N, lag))
      assert.is_true(took < N * P + 1000)
      assert.equal(0, armed())
    end)

    it("calls fn once per expiration when fn takes longer than the period", function()
      local calls = 0
      local t0 = now()
      local ev = co.every(10, function() calls = calls + 1; co.sleep(25) end)
      co.spawn(function() co.sleep(200); ev:cancel() end)
      co.run()
      local elapsed = now() - t0
      -- due expirations in 200 ms: 20; fn ran back to back, one per
      -- expiration, as far as its own 25 ms allowed (about 8)
      assert.is_true(calls >= 5 and calls <= 10, "calls: " .. calls .. " in " .. elapsed .. " ms")
    end)

    it("an error in fn ends the task and is raised from run()", function()
      local calls = 0
      co.every(5, function() calls = calls + 1; if calls == 3 then error("every-boom") end end)
      H.raises("every%-boom", co.run)
      assert.equal(3, calls)
      assert.equal(0, armed())
      co.run() -- nothing left
    end)
  end)

  describe("errors", function()
    it("a task's error is raised from run() with the task's traceback; the other tasks go on at the next run()", function()
      local other = false
      local function deep_in_task()
        local t = nil
        return t.field
      end
      co.spawn(function()
        co.sleep(5)
        deep_in_task()
        return 1 -- no tail call: the task's frame stays in the traceback
      end)
      co.spawn(function() co.sleep(60); other = true end)
      local msg = H.raises({ "attempt to index", "stack traceback" }, co.run)
      -- the task's own frames, not only the loop's
      assert.is_truthy(msg:find("'deep_in_task'", 1, true), msg)
      assert.is_false(other)
      co.run()
      assert.is_true(other)
    end)

    it("a non-string error value is raised as it is", function()
      local obj = { code = 42 }
      co.spawn(function() error(obj) end)
      local ok, err = pcall(co.run)
      assert.is_false(ok)
      assert.equal(obj, err)
    end)

    it("goes to mit.seterrorhandler's handler when one is set, and run() goes on", function()
      local got = {}
      mit.seterrorhandler(function(err, source) got[#got + 1] = { err = err, source = source } end)
      local other = false
      co.spawn(function() co.sleep(5); error("handled-boom") end)
      co.spawn(function() co.sleep(40); other = true end)
      co.run()
      assert.is_true(other)
      assert.equal(1, #got)
      assert.matches("handled%-boom", got[1].err)
      assert.matches("stack traceback", got[1].err)
      assert.matches("luamockit.timer", tostring(got[1].source))
    end)

    it("a task that yields outside co is ended with an error that says so", function()
      co.spawn(function() coroutine.yield("mine") end)
      H.raises("may suspend only in co.sleep", co.run)
      assert.same({}, co.tasks())
    end)

    -- A debug hook raises at the k-th call co's own code makes on the
    -- thread that drains (k = 1, 2, ... until it no longer fires), as a
    -- memory error could; in a child process, so that a co it broke breaks
    -- no other test. Hooks are per thread on PUC Lua; LuaJIT's are global
    -- and do not survive raising there (test/oomhost.c sweeps real memory
    -- errors on all three).
    local puc = not H.isjit
    ;(puc and it or pending)("an error raised in co's own code during a drain (a memory error, say) leaves co usable: the next run() goes on, no task is lost", function()
      local r = H.run_lua([==[
package.path = "lua/?.lua;" .. package.path
local mit = require("luamockit")
local co = require("luamockit.co")
local src = debug.getinfo(co.spawn, "S").source
local cfn = {} -- the C functions co calls (luamockit's drain excepted)
for _, f in ipairs({ coroutine.resume, coroutine.status, coroutine.create, coroutine.running,
  debug.traceback, mit.oneoff, mit.getit, rawget(table, "unpack") or unpack, select, setmetatable,
  error, type, pairs }) do cfn[f] = true end
local probe = mit.oneoff(1e6, print)
for _, m in ipairs({ "destroy", "again", "stop", "state" }) do cfn[probe[m]] = true end
for _, t in ipairs(mit.timers()) do t:destroy() end
local k, n, fired = 0, 0, false
local function hook()
  local callee, caller = debug.getinfo(2, "Sf"), debug.getinfo(3, "S")
  if caller and caller.source == src and (callee.source == src or cfn[callee.func]) then
    n = n + 1
    if n == k then fired = true; error("injected fault", 0) end
  end
end
mit.seterrorhandler(function() end)
for kk = 1, 5000 do
  k, n, fired = kk, 0, false
  local rec, tasks = {}, {}
  tasks.s = co.spawn(function(x) co.sleep(1); co.sleep(2); rec.s = x end, "s")
  tasks.p = co.spawn(function() rec.p = (co.timeout(200, function() co.sleep(3); return "r" end)) end)
  tasks.t = co.spawn(function() rec.t = select(2, co.timeout(5, function() co.sleep(1000) end)) end)
  tasks.c = co.spawn(function() co.sleep(1000); rec.c = true end)
  tasks.k = co.spawn(function() co.sleep(2); tasks.c:cancel(); rec.k = true end)
  local calls = 0
  tasks.e = co.every(2, function() calls = calls + 1; if calls == 3 then tasks.e:cancel() end end)
  debug.sethook(hook, "c")
  local ok, err = pcall(co.run)
  debug.sethook()
  local function fail(msg)
    local st = {}
    for name, t in pairs(tasks) do st[#st + 1] = name .. "=" .. t:status() end
    io.write(("fault at call %d (%s): %s [%s]\n"):format(k, tostring(err), msg, table.concat(st, " ")))
    os.exit(1)
  end
  local ok2, err2 = pcall(co.run)
  if not ok2 then fail("run() after it: " .. tostring(err2)) end
  for name, t in pairs(tasks) do
    local st = t:status()
    local want = (name == "c" or name == "e") and "cancelled" or "done"
    -- a task the fault hit fails (its error goes to the handler); c lives
    -- on if k failed before it cancelled c
    local excused = fired and (st == "failed" or (name == "c" and st == "done" and tasks.k:status() == "failed"))
    if st ~= want and not excused then fail(name .. " is " .. st) end
    if st == "done" and rec[name] == nil then fail(name .. " is done but did not finish") end
  end
  if not fired and (rec.s ~= "s" or rec.p ~= "r" or rec.t ~= "timeout") then fail("results") end
  for _, t in pairs(tasks) do t:cancel() end -- completes a cancel the fault cut short
  if mit.stats().armed ~= 0 then fail(mit.stats().armed .. " timers left armed") end
  local fresh = false
  co.spawn(function() co.sleep(1); fresh = true end)
  co.run()
  if not fresh then fail("a new task did not run") end
  if not fired then io.write("swept ", kk, "\n"); os.exit(0) end
end
io.write("the fault never stopped firing\n")
os.exit(1)
]==])
      assert.equal(0, r.rc, r.out .. r.err)
      local swept = tonumber(r.out:match("swept (%d+)"))
      assert.is_true(swept and swept > 20, r.out)
    end)
  end)

  describe("a cancelled task never runs again", function()
    it("a task its co.timeout child cancels: co.timeout does not return into it", function()
      local after, child_after = false, false
      local p
      p = co.spawn(function()
        co.timeout(1000, function() p:cancel(); child_after = true end)
        after = true
      end)
      co.run()
      assert.is_false(after)
      assert.is_false(child_after)
      assert.equal("cancelled", p:status())
      assert.equal(0, armed())
    end)

    it("a task cancelled by a task woken in a drain it runs stops at its next co call: it starts no child and never sleeps again", function()
      local a, child_ran, slept = nil, false, false
      a = co.spawn(function()
        co.sleep(1)
        local limit = now() + 3000
        while a:status() ~= "cancelled" and now() < limit do -- a drain of its own: b wakes in it
          mit.wait(10)
          mit.process_events()
        end
        co.timeout(1000, function() child_ran = true end)
        co.sleep(1)
        slept = true
      end)
      co.spawn(function() co.sleep(5); a:cancel() end)
      co.run()
      assert.equal("cancelled", a:status())
      assert.is_false(child_ran)
      assert.is_false(slept)
      assert.equal(0, armed())
    end)
  end)

  describe("suspending inside pcall", function()
    -- Lua 5.1 cannot yield across pcall: co.sleep and co.timeout raise
    -- there; LuaJIT and 5.2+ can.
    local yields_in_pcall = H.isjit or _VERSION ~= "Lua 5.1"

    it("co.timeout and co.sleep inside pcall leave the task usable: they work there (LuaJIT, 5.2+) or raise (5.1), and its next co.timeout and co.sleep work", function()
      local got = {}
      local first_resumed = false
      local t = co.spawn(function()
        got.t1 = H.pack(pcall(co.timeout, 20, function() co.sleep(5); first_resumed = true; return "first" end))
        got.s1 = H.pack(pcall(co.sleep, 5))
        got.t2 = H.pack(co.timeout(1000, function() co.sleep(5); return "second" end))
        local t0 = now()
        co.sleep(30) -- nothing left behind may cut it short
        got.slept = now() - t0
      end)
      co.run()
      assert.equal("done", t:status(), tostring(t.error))
      if yields_in_pcall then
        assert.same({ n = 2, true, "first" }, got.t1)
        assert.same({ n = 1, true }, got.s1)
      else
        assert.is_false(got.t1[1])
        assert.matches("yield across", got.t1[2])
        assert.is_false(got.s1[1])
        assert.matches("yield across", got.s1[2])
        assert.is_false(first_resumed, "the child of the co.timeout that raised ran on")
      end
      assert.same({ n = 1, "second" }, got.t2)
      assert.is_true(got.slept >= 30, "slept " .. tostring(got.slept))
      assert.equal(0, armed())
    end)

    ;(yields_in_pcall and it or pending)("LuaJIT and Lua 5.2+ suspend a task inside pcall (co.sleep and co.timeout there return as usual)", function()
      local got
      co.spawn(function()
        got = H.pack(pcall(function()
          co.sleep(5)
          return co.timeout(1000, function() co.sleep(5); return "inside" end)
        end))
      end)
      co.run()
      assert.same({ n = 2, true, "inside" }, got)
    end)
  end)

  describe("task:unref()", function()
    it("co.run() returns once the ref'd tasks have ended; an unref'd heartbeat stays, and runs at the next drain", function()
      local beats, done = 0, false
      local hb = co.every(5, function() beats = beats + 1 end)
      assert.equal(hb, hb:unref())
      assert.is_false(hb:has_ref())
      co.spawn(function() co.sleep(40); done = true end)
      local t0 = mit.monotime()
      co.run()
      local took = mit.monotime() - t0
      assert.is_true(done)
      assert.is_true(took < 1000, "co.run() waited " .. took .. " ms")
      assert.is_true(beats >= 2, "the heartbeat ran " .. beats .. " times meanwhile")
      assert.equal("suspended", hb:status())
      assert.equal(0, mit.alive(), "an unref'd task's timer keeps a loop alive")
      local b0 = beats
      assert.is_true(H.drain_until(function() return beats > b0 end, 3000), "the unref'd task no longer runs")
      hb:cancel()
    end)

    it("ref() makes co.run() wait for it again; a co.timeout child follows its task", function()
      local t = co.spawn(function()
        return co.timeout(1000, function() co.sleep(60); return "slept" end)
      end)
      t:unref()
      mit.process_events() -- t starts: its child sleeps, t waits for it
      assert.equal(0, mit.alive(), "the child's and the task's timers are unref'd with it")
      co.run() -- nothing ref'd: returns at once
      assert.equal("suspended", t:status())
      t:ref()
      assert.is_true(t:has_ref())
      assert.equal(2, mit.alive())
      co.run()
      assert.equal("done", t:status())
      assert.equal(0, mit.alive())
    end)
  end)
end)

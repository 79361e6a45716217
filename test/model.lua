-- test/model.lua: the model-based random test of luamockit's timers.
--
-- A seeded run makes random calls (arm one-offs and interval timers with
-- small delays, destroy, cancel, stop, start, process_events with and
-- without max, poll, wait, pending, state, sleep, an error handler on and
-- off, calls inside coroutines, fd() at a random point, again, the
-- catch-up policy, unref/ref) while callbacks raise, nest process_events
-- and poll, and destroy, stop, start, again or arm timers. A model follows every timer's schedule and checks, as things
-- happen:
--   * a callback never runs before its expiration is due (by the time the
--     running process_events began), nor after its timer was destroyed or
--     stopped, and a one-off runs once per arming;
--   * counts: after a complete process_events, every expiration due when it
--     began has run (interval timers follow start + k * interval, with the
--     expirations due before a restart kept as one record);
--   * order: callbacks run in records (a timer's due expirations back to
--     back), records in (due time of their first expiration, timer id);
--   * pending(), poll()'s count, process_events' count, state(), remaining(),
--     alive() and the live timers mit.timers() lists; an interval timer
--     with catch-up "once" runs once for missed() + 1 expirations, and the
--     counts above hold for them.
-- With opts.gc, handles are also minted while the collector runs: the
-- model drops the handles of armed timers (a dropped one-off that has run
-- is gone for good), takes them back from mit.timers(), steps the
-- collector, and leaves finalizer probes behind that call mit.timers() at
-- whatever allocation their collection step comes in, keeping what they
-- list for a while; every check above still holds, and stats() counts the
-- armed and stopped timers exactly.
-- Times come from mit.monotime() read around each call, so a due time is
-- known within a window of microseconds; checks allow for the window, and
-- a restart whose count the window makes ambiguous is not made.
--
-- As a script: lua test/model.lua [first_seed [seeds [ops [nofd,gc,virtual: any of them]]]];
-- gc sets opts.gc, virtual opts.virtual (the caller switched to the
-- virtual clock: drains also come as mit.advance); with nofd no seed calls
-- fd() (the whole process keeps the default mode), else
-- half the seeds call it at a random point (after which the process stays
-- in fd() mode). Exits 1 and prints the seed, the failure and the last
-- operations on a failure. As a module: M.run(mit, seed, ops[, opts]) ->
-- true, stats | false, report (opts.fd_at: the operation that calls fd(),
-- -1 for none).

local M = {}

local EPS = 0.005       -- ms: float slack on computed due times
local MARGIN = 0.3      -- ms: a restart this close to an expiration is not made
local LOGN = 40

-- Park-Miller: exact in doubles, the same on 5.1, 5.4 and LuaJIT.
local function prng(seed)
  local s = (seed % 2147483646) + 1
  return function(n)
    s = (s * 16807) % 2147483647
    return s % n
  end
end

-- An object whose finalizer runs f: newproxy's userdata on 5.1 and LuaJIT
-- (tables have no __gc there), a table on 5.2+. test/handles_spec.lua
-- uses it too.
function M.probe(f)
  if rawget(_G, "newproxy") then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end

-- LuaSocket's select, if LuaSocket loads (else nil).
local function socket_select()
  local ok, socket = pcall(require, "socket")
  return ok and type(socket) == "table" and socket.select or nil
end

function M.run(mit, seed, nops, opts)
  opts = opts or {}
  local rnd = prng(seed)
  local now = mit.monotime
  local T = {}          -- model timers, by arming order (= luamockit id order)
  local live = {}       -- indices of timers not destroyed
  local log, nlog = {}, 0
  local fail_msg
  local drains = {}     -- stack of the running process_events calls
  local last_rec        -- {k, lo, hi}: the last record's first expiration
  local handler_on = false
  local fd_at = opts.fd_at or (rnd(2) == 0 and rnd(nops) or -1)
  local stats = { runs = 0, drains = 0, errors = 0, nested = 0, restarts = 0, missed = 0, fd = false }

  local function note(fmt, ...)
    nlog = nlog + 1
    log[(nlog - 1) % LOGN + 1] = string.format("%d %.3f " .. fmt, nlog, now(), ...)
  end

  local function fail(fmt, ...)
    if not fail_msg then fail_msg = string.format(fmt, ...) end
    error("model: " .. fail_msg, 0)
  end

  -- ---- schedules ----

  -- The window of expiration j (1-based) of timer m's current epoch.
  local function exp_window(m, j)
    if m.kind == "oneoff" then return m.lo + m.ms, m.hi + m.ms end
    return m.lo + j * m.ms, m.hi + j * m.ms
  end

  -- Expirations of the epoch certainly due by t (due_hi <= t) and possibly
  -- due by t (due_lo <= t).
  local function epoch_due(m, t)
    if not m.armed then return 0, 0 end
    if m.kind == "oneoff" then
      local lo, hi = exp_window(m, 1)
      return (hi + EPS <= t) and 1 or 0, (lo - EPS <= t) and 1 or 0
    end
    local sure = math.floor((t - m.hi - EPS) / m.ms)
    local maybe = math.floor((t - m.lo + EPS) / m.ms)
    return math.max(0, sure), math.max(0, maybe)
  end

  -- Pending callbacks of m at t: {sure, maybe}.
  local function pend(m, t)
    local s, p = epoch_due(m, t)
    local bl = m.bl and m.bl.left or 0
    return bl + math.max(0, s - m.used), bl + math.max(0, p - m.used)
  end

  local function arm_model(h, kind, ms, lo, hi)
    local m = { h = h, kind = kind, ms = ms, lo = lo, hi = hi, used = 0, armed = true,
                runs = 0, state = "armed", k = #T + 1 }
    T[m.k] = m
    live[#live + 1] = m.k
    return m
  end

  -- A live timer the model holds a handle of (nil: none picked).
  local function pick()
    if #live == 0 then return nil end
    local m = T[live[rnd(#live) + 1]]
    if m.dropped then return nil end
    return m
  end

  local function forget(m)
    for i = 1, #live do
      if live[i] == m.k then table.remove(live, i); return end
    end
  end

  local function touch(m)
    for _, d in ipairs(drains) do d.touched[m.k] = true end
  end

  -- ---- runs ----

  local function on_run(k)
    local t = now()
    local m = T[k]
    local d = drains[#drains]
    for _, od in ipairs(drains) do od.mark = t end
    stats.runs = stats.runs + 1
    note("run #%d", k)
    if not d then fail("timer #%d ran outside process_events", k) end
    -- mit.advance drains at each virtual instant something falls due: a
    -- callback's drain began at the instant it runs at
    if not d.t_hi or d.stepping then d.t_hi = t end
    d.ran = d.ran + 1
    if m.state == "destroyed" then fail("timer #%d ran after destroy", k) end
    if m.state == "stopped" then fail("timer #%d ran while stopped", k) end
    -- catch-up "once": the run stands for missed() + 1 expirations
    local n = m.once and m.h:missed() + 1 or 1
    if m.once and n > 1 then stats.missed = stats.missed + n - 1 end
    local lo, hi
    for i = 1, n do
      local l, h
      if m.bl and m.bl.left > 0 then
        l, h = m.bl.lo, m.bl.hi
        m.bl.left = m.bl.left - 1
        if m.bl.left == 0 then m.bl = nil end
      else
        if not m.armed then fail("timer #%d ran more often than armed (runs %d, missed() %d)", k, m.runs, n - 1) end
        l, h = exp_window(m, m.used + 1)
        m.used = m.used + 1
        if m.kind == "oneoff" then
          m.armed = false; m.state = "fired"
          if m.dropped then forget(m) end -- nothing can reach it any more
        end
      end
      if l - EPS > d.t_hi then
        fail("timer #%d ran early: due %.3f..%.3f, the drain began by %.3f (missed() %d)", k, l, h, d.t_hi, n - 1)
      end
      if i == 1 then lo, hi = l, h end
    end
    m.runs = m.runs + 1
    if not last_rec or last_rec.k ~= k then
      -- the record before ended: its timer had nothing more due when the
      -- outermost process_events began (unless it was changed meanwhile)
      local outer = drains[1]
      local p = last_rec and T[last_rec.k]
      if p and last_rec.outer == outer and not outer.touched[p.k] and not p.unchecked then
        local sure = epoch_due(p, outer.t_lo)
        if (p.bl and p.bl.left > 0) or (p.state == "armed" and p.used < sure) then
          fail("record of #%d ended with %d due expirations left; #%d ran next",
            p.k, (p.bl and p.bl.left or 0) + sure - p.used, k)
        end
      end
      if last_rec and hi + EPS < last_rec.lo then
        fail("order: record of #%d (due %.3f..%.3f) after record of #%d (due %.3f..%.3f)",
          k, lo, hi, last_rec.k, last_rec.lo, last_rec.hi)
      end
      last_rec = { k = k, lo = lo, hi = hi, outer = drains[1] }
    end
  end

  -- ---- operations (also made by callbacks) ----

  local behave -- the callback body, below

  local function do_arm(kind)
    local ms
    if kind == "oneoff" then
      local ds = { 0, 0.5, 1, 2, 3, 5, 8 }
      ms = ds[rnd(#ds) + 1]
    else
      local ps = { 0.5, 1, 2, 3, 5, 7 }
      ms = ps[rnd(#ps) + 1]
    end
    local k = #T + 1
    local t0 = now()
    local h = (kind == "oneoff" and mit.oneoff or mit.getit)(ms, behave, k)
    local t1 = now()
    local m = arm_model(h, kind, ms, t0, t1)
    touch(m)
    note("arm #%d %s %s ms", k, kind, tostring(ms))
    return m
  end

  -- again([ms]): from now, and what was due and has not run is dropped.
  local function do_again(m)
    if m.state == "destroyed" then return end
    local newms
    if rnd(3) == 0 then
      local ms = m.kind == "oneoff" and { 0, 1, 2, 4 } or { 0.5, 1, 3, 5 }
      newms = ms[rnd(#ms) + 1]
    end
    local c0 = now()
    assert(m.h:again(newms) == m.h)
    local c1 = now()
    stats.restarts = stats.restarts + 1
    if newms then m.ms = newms end
    m.lo, m.hi, m.used, m.armed, m.state, m.bl = c0, c1, 0, true, "armed", nil
    note("again #%d %s", m.k, tostring(newms))
    touch(m)
  end

  -- catchup("once"|"all") of an interval timer the model holds a handle of
  -- (never dropped while "once": its callback reads missed()).
  local function do_catchup(m)
    if m.kind ~= "interval" or m.state == "destroyed" then return end
    local was = m.h:catchup(m.once and "all" or "once")
    if was ~= (m.once and "once" or "all") then fail("#%d:catchup() was %s", m.k, was) end
    m.once = not m.once
    note("catchup #%d %s", m.k, m.once and "once" or "all")
  end

  -- mit.alive(): the armed timers not unref'd.
  local function check_alive()
    local n = 0
    for _, k in ipairs(live) do
      local m = T[k]
      if m.state == "armed" and not m.unref then n = n + 1 end
    end
    if mit.alive() ~= n then fail("mit.alive() = %d, the model %d", mit.alive(), n) end
  end

  local function do_ref(m)
    if m.state == "destroyed" then return end
    m.unref = not m.unref
    note("%s #%d", m.unref and "unref" or "ref", m.k)
    assert((m.unref and m.h.unref or m.h.ref)(m.h) == m.h)
    if m.h:has_ref() == m.unref then fail("#%d:has_ref() after %s", m.k, m.unref and "unref" or "ref") end
    check_alive()
  end

  local function do_destroy(m, how)
    note("%s #%d", how, m.k)
    if how == "cancel" then m.h:cancel() else m.h:destroy(rnd(2) == 0) end
    m.state, m.armed, m.bl = "destroyed", false, nil
    forget(m)
    touch(m)
  end

  -- Whether a one-off has certainly fired (ran, or due) at t, certainly not,
  -- or neither (nil).
  local function oneoff_fired(m, t)
    if m.kind ~= "oneoff" then return false end
    if m.state == "fired" then return true end
    if m.state ~= "armed" then return false end
    local lo, hi = exp_window(m, 1)
    if hi + MARGIN < t then return true end
    if lo - MARGIN > t then return false end
    return nil
  end

  -- stop(): an armed timer stops and what is due of it is dropped; a
  -- one-off that has run, or a stopped timer, stays as it is.
  local function do_stop(m)
    if m.state == "destroyed" then return end
    note("stop #%d (%s)", m.k, m.state)
    assert(m.h:stop() == m.h)
    if m.state == "armed" then
      m.state, m.armed, m.bl = "stopped", false, nil
      touch(m)
    end
  end

  -- start([ms]): from now, with a new interval or delay if given; what was
  -- due of an armed timer and has not run stays (one record at its first
  -- due time). Not made when an expiration is too close to now to know
  -- whether it was due.
  local function do_start(m)
    if m.state == "destroyed" then return end
    local c0 = now()
    if m.armed then
      local j = m.kind == "interval" and math.floor((c0 - m.lo) / m.ms) or 1
      for jj = math.max(1, j - 1), j + 2 do
        local lo, hi = exp_window(m, jj)
        if hi + MARGIN >= c0 and lo - MARGIN <= c0 then return end
        if m.kind == "oneoff" then break end
      end
    end
    local newms
    if rnd(3) == 0 then
      local ms = m.kind == "oneoff" and { 0, 1, 2, 4 } or { 0.5, 1, 3, 5 }
      newms = ms[rnd(#ms) + 1]
    end
    c0 = now()
    m.h:start(newms)
    local c1 = now()
    stats.restarts = stats.restarts + 1
    if c1 - c0 > MARGIN / 2 then
      note("start #%d took %.3f ms: no longer checked", m.k, c1 - c0)
      m.unchecked = true
    end
    local ambiguous = false
    if m.armed then
      local sure = epoch_due(m, c0)
      -- a slow start() (a loaded machine) may have kept an expiration
      -- that fell due during the call: the backlog is then unknown
      local _, maybe = epoch_due(m, c1)
      ambiguous = m.unchecked and maybe ~= sure
      local b = sure - m.used
      if b > 0 then
        if m.bl then
          m.bl.left = m.bl.left + b
        else
          local lo, hi = exp_window(m, m.used + 1)
          m.bl = { lo = lo, hi = hi, left = b }
        end
      end
    end
    if newms then m.ms = newms end
    m.lo, m.hi, m.used, m.armed, m.state = c0, c1, 0, true, "armed"
    note("start #%d %s backlog %d", m.k, tostring(newms), m.bl and m.bl.left or 0)
    touch(m)
    if ambiguous then -- what it kept is unknown: the model lets it go
      note("start #%d: backlog unknown", m.k)
      do_destroy(m, "destroy")
    end
  end

  local function check_state(m)
    local t = now()
    local s = m.h:state()
    local want = m.state
    if want == "armed" and m.kind == "oneoff" then
      local f = oneoff_fired(m, t)
      if f == nil then return end
      if f then want = "due" end
    end
    if s ~= want then fail("#%d:state() = %s, model %s", m.k, s, want) end
    local rem = m.h:remaining()
    if want ~= "armed" and want ~= "due" and rem ~= nil then fail("#%d:remaining() = %s when %s", m.k, rem, want) end
  end

  -- mit.timers(): exactly the armed and stopped timers, as the handles
  -- the model holds, in arming order.
  local function check_timers()
    local got = mit.timers()
    local want = {}
    for _, k in ipairs(live) do
      local m = T[k]
      if m.state == "armed" or m.state == "stopped" then want[#want + 1] = m end
    end
    if #got ~= #want then fail("mit.timers() lists %d timers, the model %d", #got, #want) end
    for i, m in ipairs(want) do
      if m.dropped then -- taken back: a new handle, or one a probe made
        if getmetatable(got[i]) ~= getmetatable(T[1].h or got[i]) then fail("mit.timers()[%d] is no handle", i) end
        m.h, m.dropped = got[i], nil
        note("took #%d back", m.k)
        check_state(m)
      elseif got[i] ~= m.h then
        fail("mit.timers()[%d] is not #%d", i, m.k)
      end
    end
    local st = mit.stats()
    local armed, stopped = 0, 0
    for _, m in ipairs(want) do
      if m.state == "armed" then armed = armed + 1 else stopped = stopped + 1 end
    end
    if st.armed ~= armed or st.stopped ~= stopped then
      fail("stats(): armed %d stopped %d, the model %d and %d", st.armed, st.stopped, armed, stopped)
    end
    check_alive()
  end

  -- Once fd() was called, an outside loop sleeping on it wakes for what
  -- is due: with expirations due for 5 ms (a wake-up coalesces them up to
  -- 1 ms) and no drain running, fd() is readable, or turns so within
  -- 50 ms (LuaSocket's select() looks, before any call of the module that
  -- could set it). The virtual clock has no kernel timer to follow it.
  local select = not opts.virtual and socket_select()
  local fdnum
  local function check_woken()
    if not fdnum or not select then return end
    local t, sure = now() - 5, 0
    for _, k in ipairs(live) do
      local m = T[k]
      if m.unchecked then return end
      sure = sure + pend(m, t)
    end
    if sure == 0 then return end
    local r = select({ { getfd = function() return fdnum end } }, nil, 0.05)
    if #r == 0 then fail("fd() not readable with %d expirations due for 5 ms", sure) end
  end

  local function check_pending(t0, got, t1, what)
    local sure, maybe = 0, 0
    for _, k in ipairs(live) do
      local m = T[k]
      if m.unchecked then return end
      local s = pend(m, t0)
      local _, p = pend(m, t1)
      sure, maybe = sure + s, maybe + p
    end
    if got < sure or got > maybe then
      fail("%s = %d, model %d..%d", what, got, sure, maybe)
    end
  end

  -- Runs process_events (or poll, or with opts.virtual advance(ms)) as a
  -- drain the model follows. Returns pcall's results.
  local function drain(f, max, ms)
    local d = { t_lo = now(), ran = 0, touched = {}, max = max, stepping = f == mit.advance }
    d.mark = d.t_lo -- the latest moment known to come before the call's end
    drains[#drains + 1] = d
    stats.drains = stats.drains + 1
    note("%s(%s) depth %d", f == mit.poll and "poll" or d.stepping and "advance" or "process_events",
      tostring(max or ms), #drains)
    local r = { pcall(f, max or ms) }
    local t_end = now()
    drains[#drains] = nil
    if not d.t_hi then d.t_hi = t_end end
    if r[1] then
      local n = f == mit.poll and (r[2] and 1 or 0) or r[2]
      if n ~= d.ran then fail("process_events returned %s, %d callbacks ran", tostring(n), d.ran) end
      if f == mit.poll then check_pending(d.mark, r[3], t_end, "poll's left") end
    end
    -- complete: every expiration due when it began has run (advance: by
    -- the virtual time it moved to)
    if r[1] and not max and f ~= mit.poll then
      for _, k in ipairs(live) do
        local m = T[k]
        if not d.touched[k] and not m.unchecked and m.state == "armed" then
          local sure = epoch_due(m, d.stepping and t_end or d.t_lo)
          if m.used < sure or (m.bl and m.bl.left > 0) then
            fail("after process_events, #%d ran %d of the %d expirations due when it began",
              k, m.used, sure)
          end
        end
      end
    end
    for _, od in ipairs(drains) do
      for k in pairs(d.touched) do od.touched[k] = true end
    end
    return r
  end

  -- The callbacks. k: the model timer.
  behave = function(k)
    on_run(k)
    local r = rnd(40)
    local m = T[k]
    if r < 4 then
      stats.errors = stats.errors + 1
      error("boom " .. k)
    elseif r < 6 and #drains < 6 then
      stats.nested = stats.nested + 1
      local max = rnd(3) == 0 and (1 + rnd(4)) or nil
      drain(rnd(4) == 0 and mit.poll or mit.process_events, max)
    elseif r == 6 then
      local v = pick()
      if v then do_destroy(v, "destroy") end
    elseif r == 7 then
      local v = pick()
      if v then do_stop(v) end
    elseif r == 8 then
      local v = pick()
      if v then do_start(v) end
    elseif r == 9 and #live < 300 then
      do_arm(rnd(2) == 0 and "oneoff" or "interval")
    elseif m.dropped then -- nothing below: the model holds no handle of it
      return
    elseif r == 10 and m.state ~= "destroyed" then
      do_destroy(m, "destroy")
    elseif r == 11 then
      do_stop(m)
    elseif r == 12 then
      do_start(m)
    elseif r == 13 then
      do_again(m)
    elseif r == 14 then
      local v = pick()
      if v then do_again(v) end
    elseif r == 15 then
      do_catchup(m)
    end
  end

  local function handler(err)
    if not tostring(err):find("boom", 1, true) then fail("handler got %s", tostring(err)) end
  end

  -- ---- the collector (opts.gc) ----

  local probing = true -- probes left behind after the run do nothing
  local zombies = {}   -- what probes listed, kept until dropped

  local probe = M.probe

  local function gc_op()
    local g = rnd(7)
    if g <= 1 then
      local m = pick()
      if m and m.state == "armed" and not m.once then
        note("drop #%d", m.k)
        m.h, m.dropped = nil, true
      end
    elseif g == 2 then
      local n = rnd(8)
      note("gc step %d", n)
      collectgarbage("step", n)
    elseif g == 3 then
      note("probe")
      local z = zombies
      probe(function() if probing then z[#z + 1] = mit.timers() end end)
    elseif g == 4 then
      note("drop %d listings", #zombies)
      zombies = {}
    elseif g == 5 then
      check_timers()
    else
      note("gc")
      collectgarbage("collect")
    end
  end

  local ok, err = pcall(function()
    for op = 1, nops do
      if opts.gc and rnd(6) == 0 then gc_op() end
      check_woken()
      if op == fd_at then
        note("fd()")
        fdnum = mit.fd()
        stats.fd = true
      end
      local r = rnd(100)
      if r < 12 and #live < 300 then
        do_arm("oneoff")
      elseif r < 20 and #live < 300 then
        do_arm("interval")
      elseif r < 25 then
        local m = pick()
        if m then do_destroy(m, rnd(2) == 0 and "destroy" or "cancel") end
      elseif r < 30 then
        local m = pick()
        if m then do_stop(m) end
      elseif r < 36 then
        local m = pick()
        if m then do_start(m) end
      elseif r < 50 then
        local res = drain(mit.process_events)
        if not res[1] and not tostring(res[2]):find("boom", 1, true) then error(res[2], 0) end
      elseif r < 56 then
        local res = drain(mit.process_events, 1 + rnd(5))
        if not res[1] and not tostring(res[2]):find("boom", 1, true) then error(res[2], 0) end
      elseif r < 61 then
        local res = drain(mit.poll)
        if not res[1] and not tostring(res[2]):find("boom", 1, true) then error(res[2], 0) end
      elseif r < 69 then
        local ms = 0.1 + rnd(30) / 10
        note("wait(%.1f)", ms)
        local rc = mit.wait(ms)
        if rc ~= 0 then fail("wait returned %s", tostring(rc)) end
      elseif r < 75 then
        local t0 = now()
        local got = mit.pending()
        check_pending(t0, got, now(), "pending()")
      elseif r < 83 then
        if opts.virtual and rnd(2) == 0 then
          local res = drain(mit.advance, nil, rnd(60) / 10)
          if not res[1] and not tostring(res[2]):find("boom", 1, true) then error(res[2], 0) end
        else
          mit.sleep(rnd(25) / 10)
        end
      elseif r < 86 then
        local co = coroutine.create(function() return drain(mit.process_events) end)
        local okc, res = coroutine.resume(co)
        if not okc then error(res, 0) end
        if not res[1] and not tostring(res[2]):find("boom", 1, true) then error(res[2], 0) end
      elseif r < 88 and #live < 300 then
        local co = coroutine.create(function() return do_arm(rnd(2) == 0 and "oneoff" or "interval") end)
        local okc, res = coroutine.resume(co)
        if not okc then error(res, 0) end
      elseif r < 91 then
        handler_on = not handler_on
        note("handler %s", handler_on and "on" or "off")
        mit.seterrorhandler(handler_on and handler or nil)
      elseif r < 95 then
        local m = pick()
        if m then check_state(m) end
      elseif r < 97 then
        check_timers()
      elseif r == 97 then
        local m = pick()
        if m then do_again(m) end
      elseif r == 98 then
        local m = pick()
        if m then do_catchup(m) end
      else
        local m = pick()
        if m then do_ref(m) end
      end
    end
    -- the end: destroy everything; nothing runs afterwards
    if opts.gc then check_timers() end -- takes the dropped ones back
    local all = {}
    for i, k in ipairs(live) do all[i] = k end
    for _, k in ipairs(all) do do_destroy(T[k], "destroy") end
    mit.sleep(10)
    local res = drain(mit.process_events)
    if not res[1] then error(res[2], 0) end
    if res[2] ~= 0 then fail("%d callbacks ran after every timer was destroyed", res[2]) end
    if mit.pending() ~= 0 then fail("pending() = %d after the end", mit.pending()) end
  end)
  mit.seterrorhandler(nil)
  for _, m in ipairs(T) do
    if m.state ~= "destroyed" and m.h then pcall(m.h.destroy, m.h) end
  end
  probing, zombies = false, nil
  if opts.gc then -- a dropped timer a failed run left armed
    for _, t in ipairs(mit.timers()) do t:destroy() end
  end
  if ok then return true, stats end
  local lines = {}
  local from = math.max(1, nlog - LOGN + 1)
  for i = from, nlog do lines[#lines + 1] = "  " .. log[(i - 1) % LOGN + 1] end
  return false, string.format("seed %d: %s\nlast operations:\n%s", seed,
    fail_msg or tostring(err), table.concat(lines, "\n"))
end

-- As a script: run seeds, print a summary, exit 1 on a failure.
if arg and arg[0] and arg[0]:match("model%.lua$") then
  local mit = require("luamockit")
  local first = tonumber(arg[1]) or 1
  local seeds = tonumber(arg[2]) or 20
  local ops = tonumber(arg[3]) or 300
  local mode = arg[4] or "" -- "nofd", "gc" or "nofd,gc"
  local opts = { fd_at = mode:find("nofd") and -1 or nil, gc = mode:find("gc") and true or nil,
    virtual = mode:find("virtual") and true or nil }
  if opts.virtual then mit.clock("virtual") end
  local total = { runs = 0, drains = 0, errors = 0, nested = 0, restarts = 0, missed = 0, fd = 0 }
  for seed = first, first + seeds - 1 do
    local ok, r = M.run(mit, seed, ops, opts)
    if not ok then
      io.stderr:write("model: FAIL ", r, "\n")
      os.exit(1)
    end
    for k, v in pairs(r) do
      if k == "fd" then total.fd = total.fd + (v and 1 or 0) else total[k] = total[k] + v end
    end
  end
  print(string.format("model: seeds %d..%d x %d ops: ok; %d callbacks, %d drains, %d errors, %d nested, "
    .. "%d restarts, %d expirations run as missed(), %d seeds called fd()", first, first + seeds - 1, ops, total.runs,
    total.drains, total.errors, total.nested, total.restarts, total.missed, total.fd))
end

return M

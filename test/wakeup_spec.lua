-- Wake-ups for other event loops: mit.fd() (an eventfd readable exactly
-- while events are pending) polled by real loops from Debian packages
-- (lua-luv, lua-posix, lua-socket), and mit.setport()/getport() (one UDP
-- datagram to 127.0.0.1:port per empty -> non-empty transition), received
-- with LuaSocket.
--
-- A library that does not load under the running interpreter makes its
-- tests pending, with the reason. Lua 5.1 syntax only.
local mit = require("luamockit")
local tp = require("testproducer")

local function try(name)
  local ok, m = pcall(require, name)
  if ok then return m, nil end
  return nil, (tostring(m):match("^[^\n]*"))
end

local socket, socket_err = try("socket")
local uv, uv_err = try("luv")
local ppoll, ppoll_err = try("posix.poll")

local interp = os.getenv("LMK_LUA")
if not interp or interp == "" then
  interp = type(rawget(_G, "jit")) == "table" and "luajit" or _VERSION
end

-- ------------------------------------------------------------ helpers --

local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local function now() return mit.monotime() end

-- The shared helpers (test/helpers.lua), with this file's 5 s default.
local function poll_until(cond, timeout_ms) return H.poll_until(cond, timeout_ms or 5000) end
local function await_pending(n, timeout_ms) return H.await_pending(n, timeout_ms or 5000) end

-- posix.poll's rpoll/poll, retried on EINTR with the time left: a signal
-- (the Go runtime's, for one) may interrupt poll(2) on this thread.
local EINTR = 4
local function eintr_retry(f, arg, timeout)
  local deadline = now() + timeout
  while true do
    local r, msg, errno = f(arg, timeout)
    if r ~= nil or errno ~= EINTR then return r, msg, errno end
    timeout = math.max(0, math.floor(deadline - now()))
  end
end
local function rpoll(fd, timeout) return eintr_retry(ppoll.rpoll, fd, timeout) end
local function ppoll_poll(fds, timeout) return eintr_retry(ppoll.poll, fds, timeout) end

-- Whether fd is readable right now, asked of the kernel through whichever
-- library loads (LuaSocket's select accepts any object with getfd()).
local function readable(fd)
  if socket then
    local r = socket.select({ { getfd = function() return fd end } }, nil, 0)
    return #r > 0
  end
  if ppoll then return rpoll(fd, 0) == 1 end
  error("neither LuaSocket nor luaposix loads: cannot poll a descriptor")
end

-- Whether a test of fd()'s timerfd through LuaSocket can run here;
-- marks the test pending (and returns false) where it cannot.
local function timerfd_socket_ok()
  if os.getenv("LMK_PORTABLE") then pending("the portable path has no timerfd (LMK_PORTABLE)"); return false end
  if not socket then pending("LuaSocket does not load under " .. interp); return false end
  return true
end

-- Runs body in a child process (H.run_lua) after mit, socket, now
-- (mit.monotime), fd (mit.fd()) and sock (fd as an object select()
-- accepts) are set up.
local function fd_socket_child(body)
  return H.run_lua([[
      local mit = require("luamockit")
      local socket = require("socket")
      local now = mit.monotime
      local fd = mit.fd()
      local sock = { getfd = function() return fd end }
]] .. body)
end

local timers, jobs = {}, {}
local function track(t) timers[#timers + 1] = t; return t end
local function tjob(j) jobs[#jobs + 1] = j; return j end

local function reset()
  mit.seterrorhandler(nil)
  pcall(mit.setport, 0)
  for i = #timers, 1, -1 do pcall(timers[i].destroy, timers[i]); timers[i] = nil end
  for i = #jobs, 1, -1 do
    local j = jobs[i]
    jobs[i] = nil
    local deadline = now() + 3000
    while not j:done() and now() < deadline do mit.wait(20); pcall(mit.process_events) end
    if j:done() then pcall(j.join, j); pcall(j.unregister, j) end
  end
  for _ = 1, 100 do
    if mit.inqueue() == 0 then break end
    pcall(mit.process_events)
  end
end

-- ------------------------------------------------------------------ fd --

describe("mit.fd()", function()
  before_each(reset)
  after_each(reset)

  it("returns the same non-negative integer on every call", function()
    local fd = mit.fd()
    assert.is_number(fd)
    assert.equal(math.floor(fd), fd)
    assert.is_true(fd >= 0)
    assert.equal(fd, mit.fd())
    assert.equal(fd, mit.fd())
  end)

  it("is readable exactly while events are pending", function()
    if not socket and not ppoll then
      pending("neither LuaSocket nor luaposix loads under " .. interp); return
    end
    local fd = mit.fd()
    assert.is_false(readable(fd))
    local runs = 0
    for _ = 1, 3 do track(mit.oneoff(0, function() runs = runs + 1 end)) end
    await_pending(3)
    assert.is_true(readable(fd))
    assert.is_true(readable(fd)) -- polling does not consume the readiness
    assert.equal(2, mit.process_events(2))
    assert.is_true(readable(fd)) -- one still pending
    assert.equal(1, mit.process_events())
    assert.is_false(readable(fd))
    assert.equal(3, runs)
    -- poll() keeps it readable until the last event runs
    local job = tjob(tp.start{ threads = 1, count = 3, cb = function() end })
    job:join()
    await_pending(3)
    assert.is_true(readable(fd))
    mit.poll(); mit.poll()
    assert.is_true(readable(fd))
    mit.poll()
    assert.is_false(readable(fd))
  end)

  -- In a child: this universe may have turned Go active (setport), where
  -- fd() is the hub's descriptor that Go's clock goroutine sets.
  it("turns readable up to the spin lead before a timer is due; process_events() then runs it at its due time, never early (timing)", function()
    if not timerfd_socket_ok() then return end
    local r = fd_socket_child([[
      mit.setspin(1000) -- a 50 ms one-off: a 500 us lead
      local ahead = 0
      for _ = 1, 10 do
        local ran_at
        local t0 = now()
        local t = mit.oneoff(50, function() ran_at = now() end)
        local r = socket.select({ sock }, nil, 2)
        local ready = now()
        if #r ~= 1 then error("fd() never turned readable") end
        if ready < t0 + 50 then ahead = ahead + 1 end
        local ran = mit.process_events()
        if ran ~= 1 then error("the wake-up ran " .. ran .. " callbacks") end
        if ran_at < t0 + 50 then error("ran " .. (t0 + 50 - ran_at) .. " ms early") end
      end
      io.write("ahead ", ahead, "\n")
    ]])
    assert.equal(0, r.rc, r.err)
    local ahead = tonumber(r.out:match("ahead (%d+)"))
    assert.is_not_nil(ahead, r.out)
    -- a loop woken 500 us ahead in none of 10 tries: the lead is not there
    assert.is_true(ahead >= 1, "fd() turned readable ahead of the due time in " .. ahead .. " of 10")
  end)

  it("in a child's universe (on Linux Go passive: its timerfd): not readable once the timer it was set for is stopped or destroyed", function()
    if not socket then pending("LuaSocket does not load under " .. interp); return end
    local r = H.run_lua([[
      local mit = require("luamockit")
      local socket = require("socket")
      local fd = mit.fd()
      local sock = { getfd = function() return fd end }
      local function readable() return #socket.select({ sock }, nil, 0) > 0 end
      for _, how in ipairs({ "destroy", "stop" }) do
        local t = mit.oneoff(0, function() end)
        while mit.pending() < 1 do end
        io.write(how, " due ", tostring(readable()), "\n")
        t[how](t)
        io.write(how, " after ", tostring(readable()), " ", mit.pending(), "\n")
      end
      local t = mit.oneoff(30, function() end)
      socket.select({ sock }, nil, 2)
      t:stop()
      io.write("stop at its time ", tostring(readable()), "\n")
      local ts = {}
      for i = 1, 3 do ts[i] = mit.oneoff(0, function() end) end
      while mit.pending() < 3 do end
      ts[1]:destroy()
      io.write("1 of 3 due destroyed ", tostring(readable()), " ", mit.pending(), "\n")
      ts[2]:destroy(); ts[3]:destroy()
      io.write("3 of 3 due destroyed ", tostring(readable()), " ", mit.pending(), "\n")
      -- an arm outside a drain does not make it readable before its time,
      -- and one destroyed before its time leaves it quiet
      local a = mit.oneoff(60, function() end)
      local b = mit.oneoff(300, function() end)
      io.write("armed ", tostring(readable()), "\n")
      a:destroy()
      local r = socket.select({ sock }, nil, 0.15)
      io.write("the 60 ms one destroyed ", tostring(#r > 0), "\n")
      b:destroy()
    ]])
    assert.equal(0, r.rc, r.err)
    assert.equal(table.concat({
      "destroy due true", "destroy after false 0", "stop due true", "stop after false 0",
      "stop at its time false", "1 of 3 due destroyed true 2", "3 of 3 due destroyed false 0",
      "armed false", "the 60 ms one destroyed false", "" }, "\n"), r.out)
  end)

  it("in a child's universe: an arm outside a drain that comes due before what fd()'s timer waits for brings it forward, alone or last of a burst (timing)", function()
    if not timerfd_socket_ok() then return end
    local r = fd_socket_child([[
      local far = mit.oneoff(2000, function() end)
      -- one arm, then a burst of 300 (more than one crossing's worth) whose
      -- last one comes due first
      for _, n in ipairs({ 1, 300 }) do
        local t0, first, early = now(), nil, 0
        local ts = {}
        for i = 1, n do
          local at = now()
          local ms = 60 + (n - i) * 5
          ts[i] = mit.oneoff(ms, function()
            if now() < at + ms then early = early + 1 end
            first = first or i
          end)
        end
        local r = socket.select({ sock }, nil, 1.5)
        local woke = now() - t0
        local ran = mit.process_events()
        -- due at 60 ms (1: fd()'s timer waits for 2 s; 300: the arms sent
        -- with the first 256 come due from 280 ms on)
        io.write(n, ": readable ", #r, " in time ", tostring(woke >= 59 and woke < 250), " ran ", tostring(ran >= 1),
          " first ", tostring(first), " early ", early, "\n")
        for i = 1, n do ts[i]:destroy() end
      end
      far:destroy()
    ]])
    assert.equal(0, r.rc, r.err)
    assert.equal("1: readable 1 in time true ran true first 1 early 0\n"
      .. "300: readable 1 in time true ran true first 300 early 0\n", r.out)
  end)

  it("is not readable for stale entries (a destroyed timer's queued event)", function()
    if not socket and not ppoll then
      pending("neither LuaSocket nor luaposix loads under " .. interp); return
    end
    local fd = mit.fd()
    local t = track(mit.oneoff(0, function() end))
    await_pending(1)
    assert.is_true(readable(fd))
    t:destroy()
    assert.equal(0, mit.pending())
    assert.is_false(readable(fd))
  end)

  it("goes unreadable when a timed-out deliver_wait withdraws the only item", function()
    if not socket and not ppoll then
      pending("neither LuaSocket nor luaposix loads under " .. interp); return
    end
    local fd = mit.fd()
    local job = tjob(tp.start_wait{ threads = 1, count = 1, timeout_ms = 100, cb = function() end })
    await_pending(1)
    assert.is_true(readable(fd))
    assert.is_true(poll_until(function() return job:done() end, 5000))
    assert.is_false(readable(fd))
  end)
end)

-- ----------------------------------------------------------------- luv --

describe("luv (uv.new_poll on mit.fd())", function()
  before_each(reset)
  after_each(reset)

  -- Runs uv.run() with a poll watcher on mit.fd() whose callback drains;
  -- on_wake(ran) returns true to stop. A guard timer stops everything
  -- after guard_ms. Returns wakes, empty wakes, whether the guard fired.
  -- (luv exits the process on an error in a callback: errors are caught
  -- there and raised after uv.run() returns.)
  local function uv_drain(on_wake, guard_ms)
    local p = uv.new_poll(mit.fd())
    local guard = uv.new_timer()
    local wakes, empty, timed_out, failure = 0, 0, false, nil
    local function stop()
      p:stop(); guard:stop()
      if not p:is_closing() then p:close() end
      if not guard:is_closing() then guard:close() end
    end
    p:start("r", function(err)
      local ok, e = pcall(function()
        assert(not err, err)
        wakes = wakes + 1
        local ran = mit.process_events()
        if ran == 0 then empty = empty + 1 end
        return on_wake(ran)
      end)
      if not ok then failure = e end
      if not ok or e then stop() end
    end)
    guard:start(guard_ms, 0, function() timed_out = true; stop() end)
    uv.run()
    if failure then error(failure, 0) end
    return wakes, empty, timed_out
  end

  it("wakes uv.run() when a timer fires; the poll callback drains with process_events (timing)", function()
    if not uv then pending("luv does not load under " .. interp .. ": " .. tostring(uv_err)); return end
    local runs = 0
    local t0 = now()
    track(mit.getit(30, function() runs = runs + 1 end))
    local wakes, empty, timed_out = uv_drain(function() return runs >= 3 end, 5000)
    local dt = now() - t0
    assert.is_false(timed_out, "uv.run() was not woken")
    assert.is_true(runs >= 3)
    assert.is_true(wakes >= 1 and wakes <= runs, "wakes " .. wakes .. " for " .. runs .. " runs")
    assert.is_true(empty <= 1, empty .. " wake-ups found nothing to run")
    assert.is_true(dt >= 60 and dt < 3000, "3 runs of a 30 ms timer took " .. dt .. " ms")
  end)

  it("stays quiet while nothing is pending (timing)", function()
    if not uv then pending("luv does not load under " .. interp .. ": " .. tostring(uv_err)); return end
    local wakes, _, timed_out = uv_drain(function() return true end, 150)
    assert.is_true(timed_out)
    assert.equal(0, wakes)
  end)

  it("drains 4 producer threads x 2500 items through a uv poll watcher", function()
    if not uv then pending("luv does not load under " .. interp .. ": " .. tostring(uv_err)); return end
    local n, bad, last = 0, 0, {}
    local job = tjob(tp.start{ threads = 4, count = 2500, cb = function(thread, seq)
      if seq ~= (last[thread] or 0) + 1 then bad = bad + 1 end
      last[thread] = seq
      n = n + 1
    end })
    local _, _, timed_out = uv_drain(function() return n >= 10000 end, 20000)
    assert.is_false(timed_out, "only " .. n .. " items arrived")
    assert.equal(10000, n)
    assert.equal(0, bad)
    assert.equal(10000, job:join().decoded)
  end)

  it("serves deliver_wait round trips when Lua's loop is uv.run()", function()
    if not uv then pending("luv does not load under " .. interp .. ": " .. tostring(uv_err)); return end
    local calls = 0
    local job = tjob(tp.start_wait{ threads = 2, count = 200, cb = function(a, b)
      calls = calls + 1
      return a + b
    end })
    local _, _, timed_out = uv_drain(function() return calls >= 400 end, 20000)
    assert.is_false(timed_out, "only " .. calls .. " of 400 round trips")
    assert.is_true(poll_until(function() return job:done() end, 3000))
    local st = job:join()
    assert.equal(400, st.status.OK)
    assert.equal(0, st.mismatches)
  end)
end)

-- ------------------------------------------------------------ luaposix --

describe("luaposix (posix.poll on mit.fd())", function()
  before_each(reset)
  after_each(reset)

  local function skip()
    pending("posix.poll does not load under " .. interp
      .. " (Debian's lua-posix has no build for it): " .. tostring(ppoll_err))
  end

  it("rpoll wakes when a timer fires (timing)", function()
    if not ppoll then return skip() end
    local fd = mit.fd()
    assert.equal(0, rpoll(fd, 0))
    local ran = false
    track(mit.oneoff(40, function() ran = true end))
    local t0 = now()
    local r = rpoll(fd, 3000)
    local dt = now() - t0
    assert.equal(1, r)
    assert.is_true(dt >= 25 and dt < 2000, "woke after " .. dt .. " ms for a 40 ms timer")
    assert.equal(1, mit.process_events())
    assert.is_true(ran)
    assert.equal(0, rpoll(fd, 0))
  end)

  it("poll reports POLLIN exactly while a producer's items are pending", function()
    if not ppoll then return skip() end
    local fd = mit.fd()
    local fds = { [fd] = { events = { IN = true } } }
    assert.equal(0, ppoll_poll(fds, 0))
    local job = tjob(tp.start{ threads = 2, count = 50, cb = function() end })
    assert.equal(1, ppoll_poll(fds, 3000))
    assert.is_true(fds[fd].revents.IN)
    job:join()
    await_pending(100)
    assert.equal(100, mit.process_events())
    assert.equal(0, ppoll_poll(fds, 0))
  end)
end)

-- ------------------------------------------------------ setport/getport --

describe("setport/getport (UDP wake-ups, LuaSocket)", function()
  before_each(reset)
  after_each(reset)

  local function skip()
    pending("LuaSocket does not load under " .. interp .. ": " .. tostring(socket_err))
  end

  local function udp()
    local u = assert(socket.udp())
    assert(u:setsockname("127.0.0.1", 0))
    local _, port = u:getsockname()
    return u, tonumber(port)
  end

  -- Datagrams readable on u within ms (the first wait is ms, later ones 0).
  local function datagrams(u, ms)
    local n = 0
    local r = socket.select({ u }, nil, ms / 1000)
    while #r > 0 do
      u:settimeout(0)
      local d = u:receive()
      if not d then break end
      n = n + 1
      r = socket.select({ u }, nil, 0)
    end
    return n
  end

  it("setport returns true and getport reports the port; 0 disables", function()
    if not socket then return skip() end
    local u, port = udp()
    assert.equal(0, mit.getport())
    local r = { n = select("#", mit.setport(port)), mit.setport(port) }
    assert.equal(1, r.n)
    assert.is_true(r[1])
    assert.equal(port, mit.getport())
    assert.is_true(mit.setport(0))
    assert.equal(0, mit.getport())
    u:close()
  end)

  it("socket.select wakes when a timer fires: one datagram (timing)", function()
    if not socket then return skip() end
    local u, port = udp()
    assert.is_true(mit.setport(port))
    track(mit.oneoff(40, function() end))
    local t0 = now()
    local r = socket.select({ u }, nil, 3)
    local dt = now() - t0
    assert.equal(1, #r, "no datagram")
    assert.is_true(dt >= 25 and dt < 2000, "woke after " .. dt .. " ms for a 40 ms timer")
    u:settimeout(0)
    local d = u:receive()
    assert.is_string(d)
    assert.is_true(#d >= 1)
    assert.equal(1, mit.process_events())
    assert.equal(0, datagrams(u, 50))
    u:close()
  end)

  it("coalesces: many events queued while Lua does not drain -> one datagram", function()
    if not socket then return skip() end
    local u, port = udp()
    assert.is_true(mit.setport(port))
    for i = 1, 20 do track(mit.oneoff(i % 5, function() end)) end
    local job = tjob(tp.start{ threads = 4, count = 250, cb = function() end })
    job:join()
    await_pending(1020)
    assert.equal(1, datagrams(u, 100))
    assert.equal(1020, mit.process_events())
    assert.equal(0, datagrams(u, 50))
    u:close()
  end)

  it("sends one datagram per empty -> non-empty transition", function()
    if not socket then return skip() end
    local u, port = udp()
    assert.is_true(mit.setport(port))
    local job = tjob(tp.start{ threads = 1, count = 0, cb = function() end })
    job:join()
    for i = 1, 5 do
      if i % 2 == 1 then
        track(mit.oneoff(0, function() end))
      else
        assert.equal("OK", job:deliver(1, i))
      end
      await_pending(1)
      assert.equal(1, mit.process_events())
    end
    assert.equal(5, datagrams(u, 100))
    u:close()
  end)

  it("sends nothing for events already pending when the port is set", function()
    if not socket then return skip() end
    local u, port = udp()
    track(mit.oneoff(0, function() end))
    await_pending(1)
    assert.is_true(mit.setport(port))
    track(mit.oneoff(0, function() end)) -- queue was not empty: no transition
    await_pending(2)
    assert.equal(0, datagrams(u, 80))
    assert.equal(2, mit.process_events())
    track(mit.oneoff(0, function() end))
    assert.equal(1, datagrams(u, 2000))
    u:close()
  end)

  it("port 0 disables the datagrams; a new port replaces the old one", function()
    if not socket then return skip() end
    local u1, p1 = udp()
    local u2, p2 = udp()
    assert.is_true(mit.setport(p1))
    assert.is_true(mit.setport(p2))
    track(mit.oneoff(0, function() end))
    assert.equal(1, datagrams(u2, 2000))
    assert.equal(0, datagrams(u1, 50))
    assert.equal(1, mit.process_events())
    assert.is_true(mit.setport(0))
    track(mit.oneoff(0, function() end))
    await_pending(1)
    assert.equal(0, datagrams(u2, 100))
    assert.equal(0, datagrams(u1, 0))
    u1:close(); u2:close()
  end)

  it("bad ports are bad arguments and leave the port unchanged", function()
    if not socket then return skip() end
    local u, port = udp()
    assert.is_true(mit.setport(port))
    local bad = { -1, 65536, 70000, 1.5, 0 / 0, math.huge, -math.huge, "abc", {}, true }
    for _, v in ipairs(bad) do
      local ok, err = pcall(function() local r = mit.setport(v); return r end)
      assert.is_false(ok, "setport(" .. tostring(v) .. ") did not raise")
      assert.is_truthy(tostring(err):find("bad argument #1 to '[%w_.]*setport'"), tostring(err))
    end
    local ok, err = pcall(function() local r = mit.setport(); return r end)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("bad argument #1", 1, true), tostring(err))
    assert.equal(port, mit.getport())
    assert.is_true(mit.setport(65535))
    assert.equal(65535, mit.getport())
    u:close()
  end)
end)

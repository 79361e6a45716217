-- The copas checks of luamockit.copas and luamockit.socket, written once
-- for any copas: test/copas_spec.lua runs them in-process against the
-- copas on package.path (Debian's 1.x for lua5.1/5.2/LuaJIT) and in a
-- child process against a copas 4.x at $LMK_COPAS4_PATH.
--
-- Returns a list of { name, fn(c) }; c holds copas, mit, adapter (the
-- luamockit.copas module), msock, co, socket and luassert's assert. Each
-- case leaves copas as it found it (its threads ended).
--
-- Lua 5.1 syntax only.
local cases = {}
local function case(name, fn) cases[#cases + 1] = { name, fn } end

-- Steps copas until cond() is true or ms pass; returns cond().
local function step_until(c, cond, ms)
  local deadline = c.mit.monotime() + (ms or 3000)
  while not cond() and c.mit.monotime() < deadline do c.copas.step(0.01) end
  return cond()
end

-- Steps copas for about ms.
local function step_for(c, ms)
  local deadline = c.mit.monotime() + ms
  while c.mit.monotime() < deadline do c.copas.step(0.01) end
end

-- Detaches h and steps copas until its thread has ended.
local function detach(c, h)
  h:detach()
  c.assert.is_true(step_until(c, function() return coroutine.status(h.thread) == "dead" end),
    "the adapter's thread did not end after detach()")
end

-- Collects the errors copas reports for its threads into list (as
-- strings); returns a function that restores copas' handling. copas 2.x+:
-- its default error handler; 1.x prints them.
local function catch_copas_errors(c, list)
  local copas = c.copas
  if copas.geterrorhandler then
    local old = copas.geterrorhandler()
    copas.seterrorhandler(function(msg) list[#list + 1] = tostring(msg) end, true)
    return function() copas.seterrorhandler(old, true) end
  end
  local old = print
  _G.print = function(msg) list[#list + 1] = tostring(msg) end
  return function() _G.print = old end
end

-- copas 4: copas.loop(), which must return once h is detached (a watchdog
-- ends it after 5 s otherwise, and the test fails).
local function loop_to_detach(c, h)
  local copas, stuck = c.copas, false
  local wd = copas.addthread(function() copas.pause(5); stuck = true; copas.cancelall() end)
  copas.addthread(function()
    while coroutine.status(h.thread) ~= "dead" do copas.pause(0.01) end
    copas.removethread(wd)
  end)
  copas.loop()
  c.assert.is_false(stuck, "copas.loop() did not return after detach()")
end

local function is4(c) return type(c.copas.pause) == "function" end

-- A copas TCP echo server on an ephemeral port: returns the port and a
-- function that stops it.
local function echo_server(c)
  local srv = assert(c.socket.bind("127.0.0.1", 0))
  local _, port = srv:getsockname()
  c.copas.addserver(srv, function(skt)
    local s = c.copas.wrap(skt)
    local line = s:receive("*l")
    if line then s:send(line .. "!\n") end
  end)
  return tonumber(port), function()
    if c.copas.removeserver then c.copas.removeserver(srv) else srv:close() end
  end
end

case("h:oneoff callbacks run as copas threads that use copas' blocking I/O (a TCP echo)", function(c)
  local copas, assert = c.copas, c.assert
  local port, stop = echo_server(c)
  local h = c.adapter.attach(copas)
  local got = {}
  for i = 1, 3 do
    h:oneoff(5 * i, function(tag)
      local skt = c.socket.tcp()
      skt:settimeout(0)
      copas.connect(skt, "127.0.0.1", port)
      local s = copas.wrap(skt)
      s:send(tag .. "\n")
      -- compute the index after the receive: it yields, and another thread
      -- may append meanwhile (copas 4's receive pauses at random, so two
      -- may wait at once: `got[#got + 1] = s:receive()` takes the index
      -- first, and two threads then wrote the same slot)
      local line = s:receive("*l")
      got[#got + 1] = line
      skt:close()
    end, "ping" .. i)
  end
  local ok = step_until(c, function() return #got == 3 end)
  stop()
  detach(c, h)
  assert.is_true(ok, "echoes: " .. #got)
  table.sort(got)
  assert.same({ "ping1!", "ping2!", "ping3!" }, got)
end)

case("threads of h's timers start in luamockit's order", function(c)
  local h = c.adapter.attach(c.copas)
  local order = {}
  for i = 1, 6 do
    h:oneoff(i <= 3 and 5 or 10, function(k) order[#order + 1] = k end, i)
  end
  local ok = step_until(c, function() return #order == 6 end)
  detach(c, h)
  c.assert.is_true(ok)
  c.assert.same({ 1, 2, 3, 4, 5, 6 }, order)
end)

case("h:getit starts a thread per expiration, h:wrap makes any callback start one", function(c)
  local h = c.adapter.attach(c.copas)
  local ticks, wrapped = 0, nil
  local t = h:getit(5, function() ticks = ticks + 1 end)
  c.mit.oneoff(5, h:wrap(function(a, b) wrapped = { coroutine.running() ~= h.thread, a, b } end), "x", nil)
  local ok = step_until(c, function() return ticks >= 3 and wrapped ~= nil end)
  t:destroy()
  detach(c, h)
  c.assert.is_true(ok)
  c.assert.same({ true, "x", nil }, wrapped)
end)

case("plain mit.oneoff callbacks may block in copas (a TCP echo): each starts at once, in "
  .. "luamockit's order, and copas resumes it", function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local port, stop = echo_server(c)
  local h = c.adapter.attach(copas)
  local log, got = {}, {}
  for i = 1, 4 do
    mit.oneoff(i <= 2 and 5 or 10, function(tag)
      log[#log + 1] = "start " .. tag
      assert.is_not.equal(h.thread, coroutine.running()) -- a coroutine of its own
      local skt = c.socket.tcp()
      skt:settimeout(0)
      copas.connect(skt, "127.0.0.1", port)
      local s = copas.wrap(skt)
      s:send(tag .. "\n")
      local line = s:receive("*l") -- yields: compute the index after it
      got[#got + 1] = line
      skt:close()
    end, "p" .. i)
  end
  local ok = step_until(c, function() return #got == 4 end)
  stop()
  detach(c, h)
  assert.is_true(ok, "echoes: " .. #got)
  assert.same({ "start p1", "start p2", "start p3", "start p4" }, log)
  table.sort(got)
  assert.same({ "p1!", "p2!", "p3!", "p4!" }, got)
end)

case("200 plain callbacks, some blocking, some raising: each starts once in order, each blocked one "
  .. "ends once, every error is reported once", function(c)
  local copas, mit, assert, socket = c.copas, c.mit, c.assert, c.socket
  local h = c.adapter.attach(copas)
  local started, ended, errs, socks = {}, {}, {}, {}
  mit.seterrorhandler(function(err) errs[#errs + 1] = tostring(err) end)
  local N = 200
  for i = 1, N do
    mit.oneoff(0, function(k)
      started[#started + 1] = k
      if k % 11 == 0 then error("raise-" .. k) end
      if k % 7 == 0 then
        local u = socket.udp()
        u:settimeout(0)
        u:setsockname("127.0.0.1", 0)
        socks[k] = u
        local msg = copas.receivefrom(u)
        if k % 14 == 0 then error("late-" .. k .. "-" .. tostring(msg)) end
        ended[#ended + 1] = k
        u:close()
      end
    end, i)
  end
  local nblock = 0
  for i = 1, N do if i % 7 == 0 and i % 11 ~= 0 then nblock = nblock + 1 end end
  assert.is_true(step_until(c, function() return #started == N end), "started " .. #started)
  local seen_late = {}
  local restore = catch_copas_errors(c, seen_late)
  local sender = socket.udp()
  for k, u in pairs(socks) do
    local _, port = u:getsockname()
    sender:sendto("go" .. k, "127.0.0.1", port)
  end
  sender:close()
  local nlate = 0
  for k in pairs(socks) do if k % 14 == 0 then nlate = nlate + 1 end end
  local ok = step_until(c, function() return #ended + #seen_late >= nblock end)
  restore()
  mit.seterrorhandler(nil)
  detach(c, h)
  assert.is_true(ok, "ended " .. #ended .. ", late errors " .. #seen_late .. " of " .. nblock)
  for i = 1, N do assert.equal(i, started[i]) end
  local nraise = math.floor(N / 11)
  assert.equal(nraise, #errs)
  assert.equal(nblock - nlate, #ended)
  assert.equal(nlate, #seen_late)
  for _, m in ipairs(seen_late) do assert.matches("late%-%d+%-go%d+", m) end
end)

case("plain producer items' callbacks may block in copas too", function(c)
  if type(c.tp) ~= "table" then return "skip" end
  local copas, assert, socket = c.copas, c.assert, c.socket
  local h = c.adapter.attach(copas)
  local u = socket.udp()
  u:settimeout(0)
  u:setsockname("127.0.0.1", 0)
  local _, port = u:getsockname()
  local got, started = {}, 0
  local job = c.tp.start{ threads = 1, count = 3, cb = function(_, seq)
    started = started + 1
    if seq == 1 then -- the first item blocks until a datagram comes
      local msg = copas.receivefrom(u)
      got[#got + 1] = "1:" .. tostring(msg)
    else
      got[#got + 1] = tostring(seq)
    end
  end }
  local ok = step_until(c, function() return started == 3 end)
  assert.is_true(ok, "started " .. started)
  assert.same({ "2", "3" }, got) -- the drain went on past the blocked one
  socket.udp():sendto("dgram", "127.0.0.1", port)
  assert.is_true(step_until(c, function() return #got == 3 end))
  assert.equal("1:dgram", got[3])
  job:join()
  job:unregister()
  u:close()
  detach(c, h)
end)

case("the coroutines that run callbacks keep nothing of them: a callback's arguments are collected "
  .. "after it ran", function(c)
  local mit, assert = c.mit, c.assert
  local h = c.adapter.attach(c.copas)
  local weak = setmetatable({}, { __mode = "k" })
  local ran = 0
  for _ = 1, 5 do
    local arg = {}
    weak[arg] = true
    mit.oneoff(0, function(a) ran = ran + (a and 1 or 0) end, arg)
  end
  local ok = step_until(c, function() return ran == 5 end)
  detach(c, h)
  collectgarbage()
  collectgarbage()
  assert.is_true(ok)
  assert.is_nil(next(weak), "a callback's argument is still referenced")
end)

case("a plain callback that does not block runs inside the drain: destroy() of a timer due in the "
  .. "same drain still wins", function(c)
  local mit, assert = c.mit, c.assert
  local h = c.adapter.attach(c.copas)
  local ran = {}
  local b
  mit.oneoff(5, function() ran[#ran + 1] = "a"; b:destroy() end)
  b = mit.oneoff(5, function() ran[#ran + 1] = "b" end)
  mit.oneoff(5, function() ran[#ran + 1] = "c" end)
  mit.sleep(8) -- all three due before the drain
  local ok = step_until(c, function() return #ran >= 2 end)
  step_for(c, 20)
  detach(c, h)
  assert.is_true(ok)
  assert.same({ "a", "c" }, ran)
end)

case("a plain callback's error after it blocked goes to copas' error handling; before, to luamockit's",
  function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local seen = {}
  local restore = catch_copas_errors(c, seen)
  local handled = {}
  mit.seterrorhandler(function(err, src) handled[#handled + 1] = { err, src } end)
  local h = c.adapter.attach(copas)
  local udp = c.socket.udp()
  udp:setsockname("127.0.0.1", 0)
  udp:settimeout(0)
  local _, port = udp:getsockname()
  local early = mit.oneoff(0, function() error({ code = 7 }) end)
  mit.oneoff(1, function()
    local msg = copas.receivefrom(udp) -- blocks until the datagram below
    error("after-block-" .. tostring(msg))
  end)
  mit.oneoff(30, function() c.socket.udp():sendto("dgram", "127.0.0.1", port) end)
  local ok = step_until(c, function() return #seen >= 1 end)
  restore()
  mit.seterrorhandler(nil)
  udp:close()
  detach(c, h)
  assert.is_true(ok, "copas saw no error")
  assert.equal(1, #handled)
  assert.equal(7, handled[1][1].code)
  assert.equal(early, handled[1][2])
  assert.equal(1, #seen)
  assert.matches("after%-block%-dgram", seen[1])
end)

case("a plain callback that yields to something else than copas is an error naming copas", function(c)
  local mit, assert = c.mit, c.assert
  local got
  mit.seterrorhandler(function(err) got = err end)
  local h = c.adapter.attach(c.copas)
  mit.oneoff(0, function() coroutine.yield("not-copas") end)
  local ok = step_until(c, function() return got ~= nil end)
  mit.seterrorhandler(nil)
  detach(c, h)
  assert.is_true(ok)
  assert.matches("yielded, but not to copas", tostring(got))
end)

case("detach() gives back the runner: callbacks then run as before attach()", function(c)
  local mit, assert = c.mit, c.assert
  local prev = function(cb, ...) return cb(...) end
  assert.is_nil(mit.setrunner(prev))
  local h = c.adapter.attach(c.copas)
  assert.equal(h.runner, mit.setrunner(h.runner))
  detach(c, h)
  assert.equal(prev, mit.setrunner(nil))
  local where = false
  mit.oneoff(0, function() where = coroutine.running() end)
  mit.process_events()
  assert.equal(select(1, coroutine.running()), where)
end)

case("detach() in any order of two adapters gives back the runner set before the first attach(); "
  .. "meanwhile the runner of the adapter attached last and not detached is in effect", function(c)
  local mit, assert = c.mit, c.assert
  local function current() local r = mit.setrunner(nil); mit.setrunner(r); return r end
  local ran = {}
  local prev = function(cb, ...) ran[#ran + 1] = "prev"; return cb(...) end
  mit.setrunner(prev)
  for _, order in ipairs({ "AB", "BA" }) do
    local a = c.adapter.attach(c.copas)
    local b = c.adapter.attach(c.copas)
    assert.equal(b.runner, current())
    local first, second = a, b
    if order == "BA" then first, second = b, a end
    detach(c, first)
    assert.equal(second.runner, current(), order .. ": after the first detach()")
    local where
    mit.oneoff(0, function() where = coroutine.running() end)
    assert.is_true(step_until(c, function() return where ~= nil end), order)
    assert.is_not.equal(first.thread, where)
    detach(c, second)
    assert.equal(prev, current(), order .. ": after both detach()")
  end
  -- attached again afterwards: the same
  local h = c.adapter.attach(c.copas)
  assert.equal(h.runner, current())
  detach(c, h)
  assert.equal(prev, current())
  mit.oneoff(0, function() ran[#ran + 1] = "cb" end)
  mit.sleep(1)
  mit.process_events()
  assert.same({ "prev", "cb" }, ran)
  mit.setrunner(nil)
end)

case("detach() destroys h's timers, ends the thread, and copas runs no luamockit callback after it", function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local h = c.adapter.attach(copas)
  local ran = 0
  local t1 = h:oneoff(5000, function() ran = ran + 1 end)
  local t2 = h:getit(10, function() ran = ran + 1 end)
  -- until the interval ran (not a fixed 15 ms: copas 4 may spend a step's
  -- timeout and then a full collectgarbage() at random when idle)
  step_until(c, function() return ran >= 1 end)
  assert.is_true(ran >= 1, "the interval ran " .. ran .. " times before detach")
  detach(c, h)
  -- threads started before detach() run on (copas 4 starts one at its next
  -- step, later when the drain ran in copas' own pause): count from here
  local before = ran
  assert.equal("destroyed", t1:state())
  assert.equal("destroyed", t2:state())
  assert.same({}, h:timers())
  assert.is_false(h:attached())
  local plain = 0
  mit.oneoff(0, function() plain = plain + 1 end)
  step_for(c, 80)
  assert.equal(before, ran)
  assert.equal(0, plain)
  assert.equal(1, mit.pending())
  mit.process_events()
  h:detach() -- twice is harmless
  if copas.finished then
    assert.is_true(step_until(c, copas.finished), "copas 4: copas.finished() stays false after detach()")
  end
end)

case("a plain callback's error goes to copas' error handling and the drain goes on", function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local seen = {}
  local restore = catch_copas_errors(c, seen)
  local h = c.adapter.attach(copas)
  local after = false
  mit.oneoff(0, function() error("copas-plain-boom") end)
  mit.oneoff(20, function() after = true end)
  local ok = step_until(c, function() return after and #seen >= 1 end)
  restore()
  detach(c, h)
  assert.is_true(ok, "after=" .. tostring(after) .. " errors seen=" .. #seen)
  assert.equal(1, #seen)
  assert.matches("copas%-plain%-boom", seen[1])
  assert.matches("stack traceback", seen[1])
end)

-- The k-th call of copas.addthread (what, "addthread") or of copas.receive
-- on the adapter's waker ("receive") made after the events are due raises
-- a simulated memory error, once: the drain reporting an error, starting
-- a thread of h:oneoff, the drain's own wait. Returns what ran, the calls
-- made and the errors copas and luamockit's handler got.
local function fault_run(c, what, k, handler)
  local copas, mit = c.copas, c.mit
  local errs, plain, started, calls = {}, {}, {}, 0
  local restore = catch_copas_errors(c, errs)
  if handler then mit.seterrorhandler(function(e) errs[#errs + 1] = tostring(e) end) end
  local h = c.adapter.attach(copas)
  copas.step(0)
  mit.oneoff(0, function() plain[#plain + 1] = 1; error("cb-boom") end)
  for i = 1, 3 do h:oneoff(0, function() started[#started + 1] = i end) end
  mit.oneoff(0, function() plain[#plain + 1] = 2 end)
  mit.sleep(2)
  local orig = copas[what]
  copas[what] = function(...)
    if what == "addthread" or (...) == h.waker then
      calls = calls + 1
      if calls == k then error("not enough memory", 0) end
    end
    return orig(...)
  end
  local ok, err = pcall(function()
    step_for(c, 60)
    copas[what] = orig
    -- after the fault: the adapter works on
    mit.oneoff(0, function() plain[#plain + 1] = 3 end)
    h:oneoff(0, function() started[#started + 1] = 4 end)
    step_until(c, function() return plain[3] ~= nil and started[#started] == 4 end, 2000)
  end)
  copas[what] = orig
  restore()
  mit.seterrorhandler(nil)
  detach(c, h)
  c.assert(ok, err)
  return { plain = plain, started = started, errs = errs, calls = calls }
end

case("a memory error in copas.addthread or copas.receive anywhere in the adapter (reporting an error, "
  .. "starting h's threads, the drain's wait) loses nothing: the drain goes on, every error reaches the user",
  function(c)
  local assert = c.assert
  for _, what in ipairs({ "addthread", "receive" }) do
    for _, handler in ipairs({ false, true }) do
      local k = 0
      repeat
        k = k + 1
        local tag = ("%s k=%d handler=%s"):format(what, k, tostring(handler))
        local r = fault_run(c, what, k, handler)
        assert.same({ 1, 2, 3 }, r.plain, tag)
        local nomem, boom = 0, 0
        for _, e in ipairs(r.errs) do
          if e:find("not enough memory", 1, true) then nomem = nomem + 1 end
          if e:find("cb-boom", 1, true) then boom = boom + 1 end
        end
        assert.equal(1, boom, tag .. ": " .. table.concat(r.errs, " | "))
        assert.is_true(nomem <= (k <= r.calls and 1 or 0), tag .. ": " .. table.concat(r.errs, " | "))
        local seen = {}
        for n, i in ipairs(r.started) do
          assert.is_nil(seen[i], tag); seen[i] = true
          if n > 1 then assert.is_true(i > r.started[n - 1], tag) end
        end
        assert.is_true(seen[4], tag .. ": the adapter did not go on")
        assert.is_true(3 - (#r.started - 1) <= nomem, tag .. ": a thread of h:oneoff was lost")
      until k > r.calls or k >= 10
      assert.is_true(k > 1, what .. ": no call was made")
    end
  end
end)

case("with mit.seterrorhandler set, the handler gets a plain callback's error", function(c)
  local mit = c.mit
  local got
  mit.seterrorhandler(function(err) got = err end)
  local h = c.adapter.attach(c.copas)
  mit.oneoff(0, function() error("handled-in-copas") end)
  local ok = step_until(c, function() return got ~= nil end)
  mit.seterrorhandler(nil)
  detach(c, h)
  c.assert.is_true(ok)
  c.assert.matches("handled%-in%-copas", got)
end)

case("luamockit.co tasks run inside the copas loop", function(c)
  local co = c.co
  local h = c.adapter.attach(c.copas)
  local log = {}
  co.spawn(function()
    local t0 = c.mit.monotime()
    co.sleep(20)
    log[#log + 1] = c.mit.monotime() - t0
    co.sleep(10)
    log[#log + 1] = "done"
  end)
  local ok = step_until(c, function() return log[2] == "done" end)
  detach(c, h)
  c.assert.is_true(ok)
  c.assert.is_true(log[1] >= 20, "slept " .. tostring(log[1]))
end)

case("copas 4: threads of h's timers may copas.pause, and copas.loop() returns after detach()", function(c)
  if not is4(c) then return "skip" end
  local copas, mit, assert = c.copas, c.mit, c.assert
  local h = c.adapter.attach(copas)
  local log = {}
  h:oneoff(5, function()
    log[#log + 1] = "a"
    copas.pause(0.03)
    log[#log + 1] = "c"
  end)
  h:oneoff(15, function() log[#log + 1] = "b" end)
  mit.oneoff(80, function() h:detach() end)
  local t0 = mit.monotime()
  loop_to_detach(c, h)
  assert.same({ "a", "b", "c" }, log)
  assert.is_true(mit.monotime() - t0 < 4000)
end)

case("copas 4: plain callbacks may copas.pause, be woken by copas.wakeup, time out on a socket, "
  .. "and copas.loop() returns after detach()", function(c)
  if not is4(c) then return "skip" end
  local copas, mit, assert = c.copas, c.mit, c.assert
  local h = c.adapter.attach(copas)
  local log, sleeper = {}, nil
  mit.oneoff(5, function()
    sleeper = coroutine.running()
    log[#log + 1] = "sleep"
    copas.pauseforever()
    log[#log + 1] = "woken"
  end)
  mit.oneoff(10, function()
    local slept = copas.pause(0.02)
    log[#log + 1] = slept >= 0.015 and "paused" or ("paused only " .. slept)
    copas.wakeup(sleeper)
  end)
  mit.oneoff(15, function()
    local udp = c.socket.udp()
    udp:setsockname("127.0.0.1", 0)
    local s = copas.wrap(udp)
    s:settimeout(0.05)
    local data, err = s:receive()
    log[#log + 1] = "recv " .. tostring(data) .. " " .. tostring(err)
    udp:close()
  end)
  mit.oneoff(400, function() h:detach() end)
  loop_to_detach(c, h)
  assert.same({ "sleep", "paused", "woken", "recv nil timeout" }, log)
end)

case("copas 4: copas.removethread(h.thread) then detach() still lets the loop end", function(c)
  if not is4(c) then return "skip" end
  local copas = c.copas
  local h = c.adapter.attach(copas)
  copas.step(0)
  copas.removethread(h.thread)
  h:detach()
  c.assert.is_true(step_until(c, copas.finished))
end)

case("copas 4: copas.close(h.waker) ends the adapter's thread", function(c)
  if not is4(c) then return "skip" end
  local copas = c.copas
  local h = c.adapter.attach(copas)
  copas.step(0)
  copas.close(h.waker)
  c.assert.is_true(step_until(c, function() return coroutine.status(h.thread) == "dead" end))
  h:detach()
  c.assert.is_true(step_until(c, copas.finished))
end)

-- ------------------------------------------------------ luamockit.socket --

for _, kind in ipairs({ "udp", "fd" }) do
  case("socket waker (" .. kind .. "): close() from another thread ends the copas thread, "
    .. "handle() then returns at once", function(c)
    local copas, mit, assert = c.copas, c.mit, c.assert
    local w = kind == "fd" and c.msock.addthread(copas, c.msock.newfd()) or c.msock.addthread(copas)
    local ran = 0
    mit.oneoff(10, function() ran = ran + 1 end)
    assert.is_true(step_until(c, function() return ran == 1 end))
    if is4(c) then
      copas.addthread(function() copas.pause(0.01); w:close() end)
    else
      w:close()
    end
    local ended = step_until(c, function() return coroutine.status(w.thread) == "dead" end)
    assert.is_true(ended, "the waker's copas thread is still " .. coroutine.status(w.thread))
    mit.oneoff(0, function() ran = ran + 1 end)
    while mit.pending() < 1 do mit.sleep(1) end
    local t0 = mit.monotime()
    assert.equal(0, w:handle())
    assert.is_true(mit.monotime() - t0 < 100)
    step_for(c, 30)
    assert.equal(1, ran, "a closed waker's thread ran a callback")
    mit.process_events()
    if copas.finished then assert.is_true(step_until(c, copas.finished)) end
  end)
end

case("socket waker: a callback's error in addthread's thread goes to copas, the thread goes on", function(c)
  local copas, mit = c.copas, c.mit
  local seen = {}
  local restore = catch_copas_errors(c, seen)
  local w = c.msock.addthread(copas, c.msock.newfd())
  local after = false
  mit.oneoff(0, function() error("waker-boom") end)
  mit.oneoff(15, function() after = true end)
  local ok = step_until(c, function() return after end)
  restore()
  w:close()
  step_until(c, function() return coroutine.status(w.thread) == "dead" end)
  c.assert.is_true(ok)
  c.assert.equal(1, #seen)
  c.assert.matches("waker%-boom", seen[1])
end)

for _, kind in ipairs({ "udp", "fd" }) do
  case("socket waker (" .. kind .. "): an error in addthread's thread's own code goes to copas, "
    .. "the thread goes on (luamockit.adapter's drain)", function(c)
    local copas, mit, assert = c.copas, c.mit, c.assert
    local seen = {}
    local restore = catch_copas_errors(c, seen)
    local w = kind == "fd" and c.msock.addthread(copas, c.msock.newfd()) or c.msock.addthread(copas)
    w.drain = function(self) -- the thread's own code (it reads the wake-up datagrams): fails once
      self.drain = nil
      error("own-boom")
    end
    local ran = 0
    mit.oneoff(5, function() ran = ran + 1 end)
    mit.oneoff(40, function() ran = ran + 1 end)
    local ok = step_until(c, function() return ran == 2 end)
    restore()
    local alive = coroutine.status(w.thread) ~= "dead"
    w:close()
    step_until(c, function() return coroutine.status(w.thread) == "dead" end)
    mit.process_events()
    assert.is_true(alive, "the waker's thread ended with the error")
    assert.is_true(ok, "callbacks run: " .. ran)
    assert.equal(1, #seen, table.concat(seen, "\n"))
    assert.matches("own%-boom", seen[1])
    if copas.finished then assert.is_true(step_until(c, copas.finished)) end
  end)
end

case("h:unref(): the adapter detaches itself once only unref'd timers are left; copas 4's copas.loop() "
  .. "then returns", function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local h = c.adapter.attach(copas)
  local beats, work = 0, 0
  local hb = mit.getit(5, function() beats = beats + 1 end):unref()
  mit.oneoff(40, function() work = work + 1 end)
  assert.equal(h, h:unref())
  assert.is_false(h:has_ref())
  local t0 = mit.monotime()
  if is4(c) then
    loop_to_detach(c, h)
  else
    assert.is_true(step_until(c, function() return not h:attached() end), "h did not detach itself")
  end
  assert.equal(1, work, "the ref'd one-off did not run before the adapter let go")
  assert.is_true(beats >= 2, "the unref'd interval ran " .. beats .. " times")
  assert.is_false(h:attached())
  assert.is_true(mit.monotime() - t0 < 4000)
  -- the unref'd timer is not h's: it stays armed, for whoever drains next
  assert.equal("armed", hb:state())
  local b0 = beats
  mit.wait(100)
  mit.process_events()
  assert.is_true(beats > b0)
  hb:destroy()
  assert.is_false(mit.wakeonidle(), "detach() left wakeonidle on")
end)

case("h:unref() with a ref'd timer: attached until the timer is destroyed outside the drain, which wakes it",
  function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local h = c.adapter.attach(copas)
  local ticks = 0
  local t = mit.getit(10000, function() ticks = ticks + 1 end)
  h:unref()
  step_for(c, 60)
  assert.is_true(h:attached(), "h detached itself with a ref'd timer armed")
  t:destroy() -- outside any drain: mit.fd() turns readable (wakeonidle)
  assert.is_true(step_until(c, function() return not h:attached() end, 3000),
    "h did not notice that nothing keeps the loop alive any more")
  assert.equal(0, ticks)
end)

case("h:ref() undoes h:unref(); detach() keeps the timers armed with mit.oneoff, which run at the next "
  .. "process_events", function(c)
  local copas, mit, assert = c.copas, c.mit, c.assert
  local h = c.adapter.attach(copas)
  h:unref()
  assert.equal(h, h:ref())
  assert.is_true(h:has_ref())
  step_for(c, 40) -- nothing armed: a ref'd adapter stays
  assert.is_true(h:attached())
  local ran = 0
  local plain = mit.oneoff(30, function() ran = ran + 1 end)
  detach(c, h)
  assert.equal("armed", plain:state())
  step_for(c, 60) -- copas alone runs nothing of luamockit now
  assert.equal(0, ran)
  assert.equal("due", plain:state())
  assert.equal(1, mit.process_events())
  assert.equal(1, ran)
  assert.equal("fired", plain:state())
end)

return cases

--- luamockit.copas: luamockit inside a copas loop (copas 1.x as Debian
-- ships it, and copas 2.x-4.x).
--
--   local copas = require("copas")
--   local adapter = require("luamockit.copas")
--   local h = adapter.attach(copas)
--   mit.getit(1000, function()              -- may block in copas
--     local sock = copas.wrap(socket.tcp())
--     sock:connect("127.0.0.1", 8080)       -- copas' blocking I/O: fine here
--     ...
--   end)
--   mit.oneoff(60000, function() h:detach() end)
--   copas.loop()                            -- 4.x: returns once nothing is left
--
-- attach() adds one copas thread that waits until mit.fd() is readable
-- (through LuaSocket's select, which copas runs) and calls process_events
-- there, and sets luamockit's runner (mit.setrunner): each timer callback
-- (and plain producer item) runs at once, in luamockit's order, as a
-- coroutine of its own. One that blocks in copas (it yields copas' (what, queue)) is registered with
-- copas as copas' own dispatcher registers a thread, so copas resumes it
-- from then on, and the drain goes on. h:oneoff/h:getit (or any callback
-- made by h:wrap) start their function with copas.addthread instead:
-- copas 1.x runs each at once, 4.x in the same copas step, after the
-- drain, first in first out.
--
-- Errors: raised before the callback blocked, luamockit's path
-- (mit.seterrorhandler's handler, else the drain thread raises it to
-- copas' error handling and goes on); raised after, copas' (its default
-- handler, copas.seterrorhandler; 1.x prints it). The drain thread
-- outlives any error of the adapter's code, memory errors included (see
-- luamockit.adapter's drain); should it end all the same, its own copas
-- error handler starts a new one and passes the error on.
--
-- h:detach() gives back the runner set before attach(), destroys the
-- timers armed through h and ends the drain thread (at copas' next step),
-- so copas.loop() (4.x) returns when nothing else is pending; callbacks
-- handed to copas and threads already started run on.
local mit = require("luamockit")
local msock = require("luamockit.socket")
local base = require("luamockit.adapter")

-- LuaLS: the module's types are in luamockit/types.lua.
---@type luamockit.copas
local M = { _VERSION = mit._VERSION }

-- Every message this module raises (the shared ones: luamockit.adapter's).
local MSG = {
  not_copas = "bad argument #1 to 'attach' (copas module expected)",
}

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

local H = {}
H.__index = H
for k, f in pairs(base.methods) do H[k] = f end

-- Copas' yield protocol (1.x to 4.x): a blocking call yields (what, queue)
-- and copas' dispatcher registers the coroutine with queue:insert(what) and
-- queue:push(what, co). A callback that yields so is handed over the same
-- way: copas resumes it directly from then on, as any thread of its own
-- (copas.wakeup, copas' timeouts and its error handler all see it).
local function copas_handoff(co, what, queue)
  if what == nil or type(queue) ~= "table" or queue.push == nil or queue.insert == nil then
    return false
  end
  queue:insert(what)
  queue:push(what, co)
  return true
end

-- copas.geterrorhandler(co) gives co's handler or the default: a key that
-- is no thread gives the default.
local NO_THREAD = {}

-- copas' read set: the queue a thread blocked in copas.receive yields to
-- ((socket, queue), the protocol above). Learned once, by running
-- copas.receive on a probe in a coroutine of ours that catches the yield
-- (copas 4 may first yield to its sleeping queue: copas.pause), then
-- letting that receive return, so copas keeps nothing of the probe.
-- Returns nil for a copas that does not yield so.
local function read_set(copas)
  local probe = { ready = false }
  function probe:receive() if self.ready then return "!" end return nil, "timeout" end
  function probe.settimeout() return 1 end
  function probe.getfd() return -1 end
  local co = coroutine.create(function() return copas.receive(probe) end)
  local q
  for _ = 1, 10 do
    local ok, what, queue = coroutine.resume(co)
    if not ok or coroutine.status(co) == "dead" then break end
    if what == probe and type(queue) == "table" and queue.insert and queue.push and queue.remove then
      q, probe.ready = queue, true
    end
  end
  return q
end

-- Starts (or restarts) h's drain thread, with a waker of its own (copas
-- 1.x closes the socket of a thread that ended with an error: the old
-- waker). At attach() and from the thread's error handler, with
-- copas.addthread, which runs it at once (as before the watch: the drain
-- is waiting in copas' read set when attach() returns). From the watch
-- (direct true: inside LuaSocket's select, where addthread would run the
-- thread there and then), the thread is registered in copas' read set
-- directly (h.reading), as copas' dispatcher registers a thread blocked in
-- copas.receive: it first runs at copas' next step (the waker is fresh,
-- so dirty: select returns it at once). Raises (memory) with h as it was,
-- save perhaps the new waker left in the read set with no thread: copas
-- drops it at its next step (it is dirty; no thread is queued).
local function start_drain(h, direct)
  local copas = h.copas
  local w = msock.newfd()
  w.waiting = false -- true while its thread is suspended in the wait (the watch's test)
  w.idle = function() return base.idle(h) end -- h:unref(): wake to let copas end
  local function body()
    w.fresh = false
    copas.setErrorHandler(h.on_error) -- this thread's (1.x and 4.x)
    return base.drain(h)
  end
  if not direct then
    h.waker = w
    h.thread = copas.addthread(body)
    return
  end
  w.fresh = true
  local co = coroutine.create(body)
  h.reading:insert(w)
  h.reading:push(w, co)
  h.waker, h.thread = w, co
end

-- The watch: a lost drain thread. After the drain thread yields (it waits
-- in copas.receive), copas' dispatcher registers it in its read set
-- (queue:insert, then queue:push: copas 1.x makes a table there each
-- time; copas 4 may put it in its list of resumable threads, a new table
-- each step). Should that allocation fail, copas.step raises and the
-- thread is left suspended in no queue of copas: nothing would ever
-- resume it, and no error handler is called. Nothing of ours runs at that
-- moment, and none is needed then: the watch notices later, at copas'
-- select.
--
-- The registration may also fail half-way: queue:insert done (the waker
-- is in the read set, select returns it) and queue:push failed (no thread
-- queued on it: copas' tick finds none). So the waker's presence in the
-- read set proves nothing (seen at copas 4.x, 5.1, stride 1, budget 180:
-- the waker dirty at every select, its queue empty); the thread's progress
-- does.
--
-- The watch is an object that sits in copas' read set from attach() to
-- detach(), with a socket of its own that never becomes readable (an
-- unbound UDP socket: no thread is queued on it, copas never ticks it).
-- LuaSocket's select() calls its dirty() once per call. The drain thread
-- marks its progress (w.woke): each time copas resumes it in its wait, it
-- calls the waker's receive (FdWaker:receive), which sets it. A drain
-- thread suspended in that wait (w.waiting: not, say, in a callback that
-- a runner set by hand let block in copas inside the drain) while it is
-- due (a retry due, w.retry; events queued, mit.inqueue() > 0: the waker
-- is then readable, or dirty, so a registered thread is resumed at the
-- step of that very select; or a fresh thread not started yet), or a dead
-- one (5.1: an error in the wait outside pcall), that makes no progress
-- for LOST_AFTER selects in a row is one copas will never resume (copas
-- 4's pause takes the thread out of the read set for a select or two at
-- most, and resumes it). The watch then starts a new
-- drain thread on a new waker (start_drain, under pcall: should memory be
-- short still, it tries again at the next select), and closes the old
-- waker, so that the old thread, should copas ever resume it after all,
-- ends at once (its wait returns false) without draining: so a thread is
-- never registered twice and two drains never run (the old waker, closed
-- and dirty, leaves copas' read set at its next step). The drain's state
-- (an error still to report, h.retry) lives in h, not in the thread:
-- nothing pending is lost, and process_events keeps the order and runs
-- each event once. dirty() itself allocates nothing (it assigns existing
-- fields; mit.inqueue() returns a number), except when it restarts the
-- drain.
local LOST_AFTER = 4

local Watch = {}
Watch.__index = Watch

function Watch:getfd()
  return self.socket:getfd()
end

-- The old waker leaves copas' read set at once, and for good: taken out
-- (the set's remove: the old thread, queued on it or not, is dropped), and
-- abandoned (its getfd() is -1 from then on: select ignores it). Both are
-- needed with copas 4.x: its set's insert is two assignments, and when the
-- second fails for want of memory the waker stays in the set's list with
-- no index, so remove cannot take it out; being dirty (closed) at every
-- select and sharing mit.fd() with the new waker, it would hide the new
-- one from select (LuaSocket clears a dirty object's fd from the set).
local function replace_drain(h)
  local old = h.waker
  start_drain(h, true)
  old:close()
  old.abandoned = true
  h.reading:remove(old)
end

function Watch:dirty()
  local h = self.h
  if h.detached then return false end
  local w = h.waker
  if w.woke then
    w.woke = false
    self.stalled = 0
    return false
  end
  local s = coroutine.status(h.thread)
  if s == "dead" or (s == "suspended" and (w.fresh or (w.waiting and (w.retry or mit.inqueue() > 0)))) then
    local n = self.stalled + 1
    self.stalled = n
    if n >= LOST_AFTER and pcall(replace_drain, h) then self.stalled = 0 end
  else
    self.stalled = 0
  end
  return false
end

-- Puts the watch in copas' read set (h.reading known); false if it could
-- not (no LuaSocket UDP socket).
local function start_watch(h)
  local socket = require("socket")
  local udp = (socket.udp4 or socket.udp)()
  if not udp or udp:getfd() == nil or udp:getfd() < 0 then
    if udp then udp:close() end
    return false
  end
  h.watch = setmetatable({ h = h, socket = udp, stalled = 0 }, Watch)
  h.reading:insert(h.watch)
  return true
end

--- adapter.attach(copas) -> h: folds luamockit into copas' loop.
function M.attach(copas)
  if type(copas) ~= "table" or type(copas.addthread) ~= "function" or type(copas.receive) ~= "function" then
    error(MSG.not_copas, 2)
  end
  local h = setmetatable({ copas = copas, loopname = "copas", handoff = copas_handoff }, H)
  -- copas 1.x resumes a new thread with the socket (nil) first: start a
  -- closure with no arguments, the same in every version.
  h.spawn = function(fn, args)
    return copas.addthread(function() return fn(unpack(args, 1, args.n)) end)
  end
  base.init(h)
  -- The drain (luamockit.adapter's drain) in a copas thread: it waits on
  -- an fd waker (msock.newfd()), which copas' select watches; with a retry
  -- due (an error not reported yet, for want of memory) the waker is dirty,
  -- so copas resumes the thread at its next step. An error it reports is
  -- raised in a copas thread of its own (copas' error handling).
  h.wait = function()
    local w = h.waker
    w.retry = h.retry
    w.waiting = true
    local more = w:copas_wait(copas)
    w.waiting = false
    return more
  end
  h.report = function(err) copas.addthread(function() error(err, 0) end) end
  -- The thread's own error handler: should the thread end with an error
  -- all the same (on Lua 5.1 the wait runs outside pcall: an error in
  -- copas' receive, a memory error), a new thread takes over at once (it
  -- was not detached or closed), and the error goes where copas would have
  -- sent it (its default handler; 1.x prints it).
  local function on_error(msg, co, skt)
    if co == h.thread and not h.detached and not h.waker.closed then pcall(start_drain, h) end
    if copas.geterrorhandler then
      return copas.geterrorhandler(NO_THREAD)(msg, co, skt)
    end
    return print(msg, co, skt)
  end
  h.on_error = on_error
  h.reading = read_set(copas)
  if h.reading and not start_watch(h) then h.reading = nil end
  start_drain(h)
  return h
end

--- Ends the drain thread: the closed fd waker wakes it, and it returns;
-- takes the watch out of copas' read set.
function H:stop_drain()
  self.waker:close()
  local watch = self.watch
  if watch then
    self.watch = nil
    self.reading:remove(watch)
    watch.socket:close()
  end
end

return M

--- luamockit.socket: wake a LuaSocket select() loop, or copas, when
-- luamockit has events queued.
--
-- Two kinds of waker, with the same methods:
--
--   msock.newfd()  watches mit.fd() itself: an object with getfd(), which
--                  LuaSocket's select() accepts like a socket; no UDP.
--   msock.new()    DarkSideSync's idea: a UDP socket on 127.0.0.1 that
--                  luamockit sends a datagram to (mit.setport) each time its
--                  queue goes from empty to non-empty.
--
--   local mit = require("luamockit")
--   local msock = require("luamockit.socket")
--   local waker = msock.newfd()                -- or msock.new()
--   while true do
--     local ready = socket.select({ waker, client }, nil, 5)
--     if ready[waker] then waker:handle() end  -- runs process_events()
--     ...
--   end
--   waker:close()
--
-- With copas: msock.addthread(copas[, waker]) runs the same handler in a
-- copas thread; waker:close() ends that thread (copas 1.x and 4.x).
local socket = require("socket")
local mit = require("luamockit")
local mit_fd = mit.fd

-- LuaLS: the module's types are in luamockit/types.lua.
---@type luamockit.socket
local M = { _VERSION = mit._VERSION }

-- Runs process_events(max) for a copas thread: an error a callback raised
-- (with no luamockit error handler set) is handed to copas' own error
-- handling in a thread of its own, and the waker's thread goes on, so one
-- failing callback does not stop the wake-ups. Returns the count.
local function drain_for_copas(copas, max)
  local ok, n = pcall(mit.process_events, max)
  if ok then return n end
  copas.addthread(function() error(n, 0) end)
  return 0
end
M.drain_for_copas = drain_for_copas

-- ------------------------------------------------------------- UDP waker --

local Waker = {}
Waker.__index = Waker

--- Creates a UDP waker: a UDP socket bound to 127.0.0.1 on an ephemeral
-- port, which luamockit signals (mit.setport) each time its queue goes
-- from empty to non-empty. Returns the waker, or nil and a message.
function M.new()
  local udp, err = socket.udp()
  if not udp then return nil, err end
  local ok
  ok, err = udp:setsockname("127.0.0.1", 0)
  if not ok then udp:close() return nil, err end
  local _, port = udp:getsockname()
  port = tonumber(port) -- LuaSocket gives the port as a string
  udp:settimeout(0)
  ok, err = mit.setport(port)
  if not ok then udp:close() return nil, err end
  return setmetatable({ socket = udp, port = port }, Waker)
end

--- The socket's descriptor: select() accepts the waker itself.
function Waker:getfd()
  if self.closed then return -1 end
  return self.socket:getfd()
end

--- Reads every wake-up datagram waiting on the socket (nothing once the
-- waker is closed).
function Waker:drain()
  if self.closed then return end
  repeat
    local data = self.socket:receive()
  until not data or data == ""
end

--- Drains the socket, runs process_events(max) and returns its count. If
-- events are still pending afterwards (queued while it ran), it sends
-- itself a wake-up so the next select() returns at once: the datagram
-- only comes on an empty -> non-empty transition. After close(), it
-- returns 0 at once.
function Waker:handle(max)
  if self.closed then return 0 end
  self:drain()
  local n = mit.process_events(max)
  if not self.closed and mit.pending() > 0 then
    self.socket:sendto("!", "127.0.0.1", self.port)
  end
  return n
end

--- Stops the wake-ups (if this waker's port is still the one set) and
-- closes the socket. If a copas thread (addthread) waits on the socket,
-- the socket gets one last datagram instead, so that copas resumes the
-- thread, which sees the waker closed, closes the socket and ends.
function Waker:close()
  if self.closed then return end
  self.closed = true
  if mit.getport() == self.port then mit.setport(0) end
  if self.thread_waits then
    self.socket:sendto("!", "127.0.0.1", self.port)
  else
    self.socket:close()
  end
end

-- For addthread: waits (in copas) for a datagram; true when there is one.
function Waker:copas_wait(copas)
  if self.closed then return false end
  self.thread_waits = true
  local data, err = copas.receive(self.socket, 8192)
  self.thread_waits = nil
  if self.closed then
    self.socket:close()
    return false
  end
  return data ~= nil or err == "timeout"
end

-- -------------------------------------------------------------- fd waker --

local FdWaker = {}
FdWaker.__index = FdWaker

--- Creates an fd waker: an object whose getfd() is mit.fd(), readable
-- exactly while luamockit has events pending, so LuaSocket's select()
-- watches it like a socket. No UDP, no port.
function M.newfd()
  local w = setmetatable({ fd = mit.fd(), woke = false, fresh = false, abandoned = false }, FdWaker)
  w.socket = w -- waker.socket, as for the UDP waker
  return w
end

--- mit.fd(): select() accepts the waker itself. select() asks for it
-- right before it sleeps, and mit.fd() then hands luamockit's queue the
-- timers armed since its last call, as wait() does before it sleeps: the
-- drain the wake-up starts then has nothing to hand over first.
function FdWaker:getfd()
  if self.abandoned then return -1 end -- luamockit.copas: a waker replaced (select ignores it)
  return mit_fd()
end

--- LuaSocket's select() returns a "dirty" object as readable at once: a
-- closed waker is, so that a copas thread waiting on it is resumed and
-- ends; so is one whose owner set w.retry (luamockit.copas: work a memory
-- error held back) or w.fresh (a thread not started yet), so that the
-- thread is resumed at copas' next step.
function FdWaker:dirty()
  return self.closed == true or self.retry == true or self.fresh == true
end

--- Nothing to read: the fd is level-triggered, process_events clears it.
function FdWaker.drain() end

--- Runs process_events(max) and returns its count (0 at once after
-- close()). Events left behind keep the fd readable.
function FdWaker:handle(max)
  if self.closed then return 0 end
  return mit.process_events(max)
end

--- Stops watching: the next select() returns the waker as readable once
-- more (for a copas thread to end), handle() runs nothing. The fd itself
-- belongs to luamockit and stays open.
function FdWaker:close()
  self.closed = true
end

-- The socket interface copas' receive uses: not ready until select() has
-- seen the fd readable (or the waker closed); the first call of a thread
-- always waits, so that addthread never runs callbacks itself. Each call
-- sets w.woke: copas resumed the thread waiting on it. w.idle, if set (by
-- luamockit.copas), says whether its drain is to wake to let the loop end
-- (h:unref(): mit.wakeonidle made the fd readable for it).
function FdWaker:receive()
  self.woke = true -- the waiting thread made progress (luamockit.copas' watch; allocates nothing)
  if self.closed then return nil, "closed" end
  if self.primed and (self.retry or mit.inqueue() > 0 or (self.idle and self.idle())) then return "!" end
  self.primed = true
  return nil, "timeout"
end

function FdWaker.settimeout() return 1 end

-- For addthread: waits (in copas) until the fd is readable.
function FdWaker:copas_wait(copas)
  if self.closed then return false end
  self.primed = nil
  copas.receive(self)
  return not self.closed
end

-- ---------------------------------------------------------------- copas --

--- Runs waker:handle() in a copas thread each time luamockit has events.
-- Creates a waker (msock.new()) if none is given; returns it. A callback's
-- error goes to copas' error handler and the thread goes on;
-- waker:close() ends the thread (copas 1.x and 4.x), so copas.loop() can
-- return.
--
-- The thread is luamockit.adapter's drain (as luamockit.copas'): whatever
-- fails between two waits (reading the wake-up datagrams, process_events,
-- reporting an error, memory errors included) is reported to copas' error
-- handling, or kept and retried at once when even that fails, and the
-- thread goes on. The wait itself (copas.receive) runs under pcall where
-- pcall can yield (5.2+, LuaJIT); on Lua 5.1 an error there ends the
-- thread (copas reports it): luamockit.copas restarts its own thread so,
-- this one is not restarted.
function M.addthread(copas, waker)
  local w = waker or assert(M.new())
  -- luamockit.adapter: required here, not at the top (it requires nothing
  -- of this module, and plain select loops never need it)
  local base = require("luamockit.adapter")
  local d = { err = false, retry = false }
  d.wait = function()
    if w.closed then return false end
    local due = d.retry or d.err ~= false
    w.retry = due -- the fd waker: dirty, so select returns it at once
    if w.port and (due or mit.pending() > 0) then
      -- the UDP waker: a datagram of our own, so the receive returns at
      -- once (events left by the last round, or a retry due: luamockit
      -- sends one only when its queue goes from empty to non-empty)
      w.socket:sendto("!", "127.0.0.1", w.port)
    end
    return w:copas_wait(copas)
  end
  -- each round, before process_events: read the wake-up datagrams
  d.prepare = function() w:drain() end
  d.report = function(err) copas.addthread(function() error(err, 0) end) end
  w.thread = copas.addthread(function() return base.drain(d) end)
  return w
end

return M

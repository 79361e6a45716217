--- luamockit.socket: wake a LuaSocket select() loop, or copas, when
-- luamockit has events queued (DarkSideSync's UDP idea).
--
--   local mit = require("luamockit")
--   local msock = require("luamockit.socket")
--   local waker = msock.new()                  -- binds 127.0.0.1:<ephemeral>, calls mit.setport
--   while true do
--     local ready = socket.select({ waker.socket, client }, nil, 5)
--     if ready[waker.socket] then waker:handle() end   -- runs process_events()
--     ...
--   end
--
-- With copas: msock.addthread(copas[, waker]) runs the same handler in a
-- copas thread.
local socket = require("socket")
local mit = require("luamockit")

local M = { _VERSION = mit._VERSION }

local Waker = {}
Waker.__index = Waker

--- Creates a waker: a UDP socket bound to 127.0.0.1 on an ephemeral port,
-- which luamockit signals (mit.setport) each time its queue goes from empty
-- to non-empty. Returns the waker, or nil and a message.
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

--- Reads every wake-up datagram waiting on the socket (nothing once the
-- waker is closed: a closed LuaSocket socket returns "" for ever).
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
  if mit.pending() > 0 then
    self.socket:sendto("!", "127.0.0.1", self.port)
  end
  return n
end

--- Stops the wake-ups (if this waker's port is still the one set) and
-- closes the socket.
function Waker:close()
  if self.closed then return end
  self.closed = true
  if mit.getport() == self.port then mit.setport(0) end
  self.socket:close()
end

--- Runs waker:handle() in a copas thread each time a wake-up arrives.
-- Creates the waker if none is given; returns it. waker:close() ends the
-- thread.
function M.addthread(copas, waker)
  local w = waker or assert(M.new())
  copas.addthread(function()
    local s = copas.wrap(w.socket)
    while not w.closed do
      local data, err = s:receive()
      if data then
        w:handle()
      elseif err ~= "timeout" or w.closed then
        break
      end
    end
  end)
  return w
end

return M

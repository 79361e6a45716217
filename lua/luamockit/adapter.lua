--- luamockit.adapter: what the copas and cqueues adapters share (not
-- meant to be required on its own): a handle's timers whose callbacks
-- start threads of the other loop, tracked so that detach() destroys them.
--
-- A handle gets, from new(spawn), where spawn(fn, args) starts fn(unpack
-- (args)) as a thread of the other loop:
--   h:wrap(fn)            a function that starts fn(...) as such a thread
--   h:oneoff(ms, fn, ...) mit.oneoff whose callback starts fn(...) so
--   h:getit(ms, fn, ...)  mit.getit, each expiration starts fn(...) so
--   h:timers()            the armed timers of oneoff/getit
--   h:detach(), h:attached()  (detach calls the adapter's h:stop_drain())
local mit = require("luamockit")

local M = {}

local function pack(...)
  return { n = select("#", ...), ... }
end

local H = {}
M.methods = H

-- Callbacks of the handle's timers. box: { t = the timer }.
local function fire_once(h, box, fn, ...)
  h.boxes[box] = nil
  return h.spawn(fn, pack(...))
end

local function fire_every(h, fn, ...)
  return h.spawn(fn, pack(...))
end

--- h:wrap(fn) -> a function that starts fn(...) as a thread of the loop
-- (for mit.oneoff, mit.getit, a producer's callback...).
function H:wrap(fn)
  if type(fn) ~= "function" then
    error("bad argument #1 to 'wrap' (function expected, got " .. type(fn) .. ")", 2)
  end
  local spawn = self.spawn
  return function(...) return spawn(fn, pack(...)) end
end

local function check(h, fn, fname)
  if h.detached then error("luamockit: " .. fname .. " on a detached adapter", 3) end
  if type(fn) ~= "function" then
    error("bad argument #2 to '" .. fname .. "' (function expected, got " .. type(fn) .. ")", 3)
  end
end

-- Drops the boxes of timers destroyed by their owners, once their number
-- has doubled since the last sweep.
local function sweep(h)
  h.nboxes = h.nboxes + 1
  if h.nboxes < 2 * h.swept then return end
  local n = 0
  for box in pairs(h.boxes) do
    if box.t:state() == "destroyed" or box.t:state() == "fired" then h.boxes[box] = nil else n = n + 1 end
  end
  h.nboxes, h.swept = n, math.max(n, 64)
end

--- h:oneoff(ms, fn, ...) -> timer: after ms, fn(...) starts as a thread.
function H:oneoff(ms, fn, ...)
  check(self, fn, "oneoff")
  local box = {}
  box.t = mit.oneoff(ms, fire_once, self, box, fn, ...)
  self.boxes[box] = true
  sweep(self)
  return box.t
end

--- h:getit(ms, fn, ...) -> timer: every ms, fn(...) starts as a thread.
function H:getit(ms, fn, ...)
  check(self, fn, "getit")
  local box = { t = mit.getit(ms, fire_every, self, fn, ...) }
  self.boxes[box] = true
  sweep(self)
  return box.t
end

--- h:timers() -> the live timers armed through h (armed or stopped).
function H:timers()
  local t = {}
  for box in pairs(self.boxes) do
    local s = box.t:state()
    if s == "armed" or s == "stopped" then t[#t + 1] = box.t end
  end
  return t
end

--- Fills h (a table with h.spawn set) with the shared state.
function M.init(h)
  h.boxes, h.nboxes, h.swept = {}, 0, 64
  return h
end

--- Destroys every timer armed through h.
function M.forget_timers(h)
  for box in pairs(h.boxes) do box.t:destroy() end
  h.boxes, h.nboxes = {}, 0
end

--- h:detach(): destroys the timers armed through h, then ends the drain
-- (h:stop_drain(), the adapter's own). Twice is harmless.
function H:detach()
  if self.detached then return end
  self.detached = true
  M.forget_timers(self)
  self:stop_drain()
end

--- h:attached() -> false once detach() was called.
function H:attached()
  return not self.detached
end

return M

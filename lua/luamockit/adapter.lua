--- luamockit.adapter: what the copas and cqueues adapters share (not
-- meant to be required on its own): the runner through which every timer
-- callback runs as a coroutine that may block in the other loop, and a
-- handle's timers whose callbacks start threads of that loop, tracked so
-- that detach() destroys them.
--
-- An adapter fills h.spawn(fn, args) (starts fn(unpack(args)) as a thread
-- of the loop), h.handoff(co, ...) (gives the loop a callback's coroutine
-- that yielded ...; false if that is not the loop's yield) and h.loopname,
-- then calls init(h), which sets the runner. h then has:
--   h:wrap(fn)            a function that starts fn(...) as such a thread
--   h:oneoff(ms, fn, ...) mit.oneoff whose callback starts fn(...) so
--   h:getit(ms, fn, ...)  mit.getit, each expiration starts fn(...) so
--   h:timers()            the armed timers of oneoff/getit
--   h:detach(), h:attached()  (detach calls the adapter's h:stop_drain())
--   h:unref(), h:ref(), h:has_ref()  (unref'd, it detaches itself once
--                         luamockit has nothing that keeps a loop alive)
local mit = require("luamockit")

-- LuaLS: the module's types are in luamockit/types.lua.
---@type luamockit.adapter
local M = {}

-- Every message the shared adapter code raises (the specs match them:
-- grep test/ before a change).
local MSG = {
  not_function = "bad argument #%d to '%s' (function expected, got %s)",
  detached = "luamockit: %s on a detached adapter",
  foreign_yield = "luamockit: a callback yielded, but not to %s (only %s's blocking calls may suspend a callback)",
}

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
    error(MSG.not_function:format(1, "wrap", type(fn)), 2)
  end
  local spawn = self.spawn
  return function(...) return spawn(fn, pack(...)) end
end

local function check(h, fn, fname)
  if h.detached then error(MSG.detached:format(fname), 3) end
  if type(fn) ~= "function" then
    error(MSG.not_function:format(2, fname, type(fn)), 3)
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

-- The runner. Each callback runs in a worker: a coroutine that waits in
-- yield(DONE) for a callback, calls it, and, unless it was handed to the
-- loop meanwhile, waits again (a pool of them saves creating a coroutine
-- per callback). A worker whose callback blocked in the loop belongs to
-- the loop from then on and ends with its callback. A waiting worker holds
-- nothing of the callbacks it ran: the callback and its arguments live in
-- step's frame only.
local DONE = setmetatable({}, { __tostring = function() return "luamockit.adapter: worker done" end })
local POOL_MAX = 16
local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield
local status, running = coroutine.status, coroutine.running

local function step(cb, ...)
  cb(...)
end

local function new_worker(gone)
  local co = create(function()
    while true do
      step(yield(DONE))
      local me = running()
      if gone[me] then
        gone[me] = nil
        return
      end
    end
  end)
  -- to its first yield(DONE). Should that fail (memory), the worker is
  -- dead and must never be resumed: Lua 5.4 (lua_resume's resume_error)
  -- makes the "cannot resume dead coroutine" message on the dead
  -- coroutine's own state, outside any protection, so a memory error there
  -- is thrown to the main thread, past every pcall. Raise instead: the
  -- callback's error, as at its first allocation.
  local ok, err = resume(co)
  if not ok then error(err, 0) end
  return co
end

-- A worker gave control back: DONE (back to the pool), an error (raised:
-- luamockit's error path, the handler or process_events), or the loop's
-- yield (handed to the loop, which resumes it from then on).
local function settle(h, co, ok, first, ...)
  if ok and first == DONE then
    local pool = h.pool
    if #pool < POOL_MAX then pool[#pool + 1] = co end
    return
  end
  if not ok then
    local err = first
    if type(err) == "string" then err = debug.traceback(co, err) end
    error(err, 0)
  end
  if status(co) == "dead" then return end -- not reached: only a handed-over worker returns
  h.gone[co] = true
  if not h.handoff(co, first, ...) then
    error(MSG.foreign_yield:format(h.loopname, h.loopname), 0)
  end
end

-- Several adapters attached at once (of one kind or both): their runners
-- form a chain, each handle's prev_runner the runner it replaced at
-- attach(). The runner in effect is that of the adapter attached last
-- among those still attached; detach() takes its handle out of the chain
-- in any order: if its runner is the one in effect, the one it replaced
-- comes back; if not, the handle attached after it inherits the runner it
-- replaced. So once every adapter is detached, the runner set before the
-- first attach() is back, and a detached adapter's runner is never in
-- effect. A runner set by hand with mit.setrunner while adapters are
-- attached stays in effect through their detach() (it is not theirs).
local attached = setmetatable({}, { __mode = "k" })

local function unlink_runner(h)
  attached[h] = nil
  local cur = mit.setrunner(h.prev_runner)
  if cur ~= h.runner then mit.setrunner(cur) end
  for o in pairs(attached) do
    if o.prev_runner == h.runner then o.prev_runner = h.prev_runner end
  end
end

--- Fills h (a table with h.spawn, h.handoff and h.loopname set) with the
-- shared state and installs its runner (mit.setrunner): from then on each
-- timer callback runs at once, in luamockit's order, in a coroutine of its
-- own; if it blocks in the loop (the loop's yield), h.handoff(co, ...)
-- gives the suspended coroutine to the loop, which resumes it from then on,
-- and the drain goes on. handoff returns false for a yield it does not know.
function M.init(h)
  h.boxes, h.nboxes, h.swept = {}, 0, 64
  h.pool, h.gone = {}, setmetatable({}, { __mode = "k" })
  h.err, h.retry = false, false -- the drain's (set now: the keys exist before memory is short)
  h.runner = function(cb, ...)
    local pool = h.pool
    local n = #pool
    local co
    if n > 0 then
      co = pool[n]
      pool[n] = nil
    else
      co = new_worker(h.gone)
    end
    return settle(h, co, resume(co, cb, ...))
  end
  h.prev_runner = mit.setrunner(h.runner)
  attached[h] = true
  return h
end

-- The drain: the body of an adapter's drain thread (copas) or coroutine
-- (cqueues). It must outlive every error, memory errors included: once it
-- is gone, events stay pending and the loop has nothing of luamockit left.
-- So everything it does between two waits runs under pcall, and what
-- cannot be done now (an error to report while memory is short) is kept in
-- h and retried at the next wake-up, which comes soon (h.retry). The wait
-- itself runs under pcall too where pcall can yield (5.2+, LuaJIT) unless
-- the adapter's wait is a bare yield (h.bare_wait: cqueues); on Lua 5.1
-- pcall cannot yield: an error in the wait ends the thread, and the loop
-- restarts it (copas: the thread's error handler).
--
-- The adapter fills in:
--   h.wait(h)       blocks in the loop until mit.fd() is readable, or a
--                   retry is due (h.retry); returns false when the drain is
--                   to end (or h.detached is set)
--   h.report(err)   raises err in a thread of the loop of its own (the
--                   loop's error path); may fail when memory is short
--   h.stuck(h)      optional: true if the adapter's own state needs
--                   h.repair(h) (called after each round)
--   h.prepare(h)    optional: called in each round before process_events
--                   (msock.addthread: reads the wake-up datagrams); an
--                   error of it is reported at the next round, as one of
--                   report or repair
local YIELDING_PCALL
do
  local co = create(function() return pcall(yield, true) end)
  local ok, y = resume(co)
  YIELDING_PCALL = ok and y == true and status(co) == "suspended"
end
M.yielding_pcall = YIELDING_PCALL

--- raise(err): error(err, 0), for a thread that only reports err.
function M.raise(err)
  error(err, 0)
end

-- One round after a wake-up: an error still to report goes first (so no
-- second one can take its place: process_events leaves the rest queued),
-- then h.prepare, the drain, then the adapter's repairs. Raises only if
-- report, prepare or repair fail, with h.err still set when it was not
-- reported.
local function round(h)
  if h.err ~= false then
    h.report(h.err)
    h.err = false
  end
  if h.prepare then h.prepare(h) end
  local ok, err = pcall(mit.process_events)
  if not ok then
    h.err = err
    h.report(err)
    h.err = false
  end
  if h.stuck and h.stuck(h) then h.repair(h) end
end

-- Whether an unref'd adapter is to let its loop end: nothing of luamockit
-- keeps a loop alive (mit.alive(): armed timers and signal handles not
-- unref'd, co's tasks' among them) and nothing is queued.
local function idle(h)
  return h.unrefd and mit.alive() == 0 and mit.inqueue() == 0
end
M.idle = idle

--- M.drain(h): runs the drain until h is detached or h.wait returns false;
-- an unref'd h detaches itself when it finds luamockit idle.
function M.drain(h)
  while not h.detached do
    if idle(h) then return h:detach() end
    local ok, more
    if YIELDING_PCALL and not h.bare_wait then
      ok, more = pcall(h.wait, h)
      if not ok then
        -- an error of the wait (the loop's own code, or memory): reported
        -- as any other, unless one is still waiting (then this one is
        -- lost: the error kept is the first). It may have come before the
        -- wait yielded: wait once more, unprotected, so that the drain
        -- never goes round without yielding to the loop
        if h.err == false then h.err = more end
        if not h.detached then more = h.wait(h) end
      end
    else
      more = h.wait(h)
    end
    if h.detached or not more then return end
    local rok, rerr = pcall(round, h)
    -- an error of report/repair itself (memory) is not reported: what it
    -- failed to do is retried at the next round
    if not rok and h.err == false and not (h.stuck and h.stuck(h)) then h.err = rerr end
    h.retry = h.err ~= false or (h.stuck ~= nil and h.stuck(h))
  end
end

--- Destroys every timer armed through h.
function M.forget_timers(h)
  for box in pairs(h.boxes) do box.t:destroy() end
  h.boxes, h.nboxes = {}, 0
end

--- h:detach(): destroys the timers armed through h, then ends the drain
-- (h:stop_drain(), the adapter's own). Twice is harmless. Timers armed
-- with mit.oneoff/getit (not through h) stay armed: they run at the next
-- process_events, whoever calls it (a wait loop, co.run(), another
-- adapter); nothing drains them until then.
function H:detach()
  if self.detached then return end
  self.detached = true
  if self.unrefd then
    self.unrefd = false
    mit.wakeonidle(false)
  end
  unlink_runner(self)
  M.forget_timers(self)
  self:stop_drain()
end

--- h:unref() -> h: the adapter no longer keeps its loop alive by itself:
-- it detaches itself (h:detach()) once luamockit has nothing that keeps a
-- loop alive (mit.alive() == 0: every armed timer and signal handle is
-- unref'd, or none is left) and nothing queued, so the loop can end (a
-- copas 4 loop returns when nothing else is pending), as luv's loop ends
-- when only unref'd handles are left. It looks when it wakes: after each
-- drain, and when alive() falls to 0 outside one (mit.wakeonidle). A
-- producer's items do not keep it alive.
function H:unref()
  if self.detached then error(MSG.detached:format("unref"), 2) end
  if not self.unrefd then
    self.unrefd = true
    mit.wakeonidle(true) -- wakes the drain now if alive() is 0 already
  end
  return self
end

--- h:ref() -> h: undoes h:unref() (the loop is kept alive till detach()).
function H:ref()
  if self.unrefd then
    self.unrefd = false
    mit.wakeonidle(false)
  end
  return self
end

--- h:has_ref() -> false after h:unref() (until h:ref()).
function H:has_ref()
  return not self.unrefd
end

--- h:attached() -> false once detach() was called.
function H:attached()
  return not self.detached
end

return M

--- luamockit.co: tasks (coroutines) scheduled on luamockit's timers.
--
--   local mit = require("luamockit")
--   local co = require("luamockit.co")
--   co.spawn(function(name)
--     for i = 1, 3 do print(name, i); co.sleep(1000) end
--   end, "worker")
--   co.run()                      -- returns once every task has ended
--
-- A task is a coroutine. It suspends only in co.sleep, co.timeout,
-- co.every's wait for the next tick and co.signal, and each suspension
-- costs one armed luamockit timer (co.signal: one signal handle) whose
-- callback resumes it: tasks are run by whatever
-- drains luamockit (co.run, a loop of wait/process_events of your own, the
-- copas or cqueues adapter), on that thread, in the order of the timers
-- that wake them. Plain timers and producer items keep running meanwhile.
--
-- Errors: a task that raises ends; its error (a string with the task's
-- traceback, any other value as it is) is raised from the timer callback
-- that resumed it, so it takes luamockit's error path: process_events (and
-- so co.run) raises it, or mit.seterrorhandler's handler gets it and the
-- other tasks go on.
local mit = require("luamockit")

-- LuaLS: the module's types are in luamockit/types.lua.
---@type luamockit.co
local M = { _VERSION = mit._VERSION }

-- Every message co raises (the specs match them: grep test/ before a change).
local MSG = {
  bad_yield = "luamockit.co: a task may suspend only in co.sleep, co.timeout, co.every or co.signal"
    .. " (it called coroutine.yield)",
  outside = "luamockit.co: %s called outside a task: call it from a function run by co.spawn or co.every",
  inside_run = "luamockit.co: run called inside a task",
  stuck = "luamockit.co: %d task(s) can never resume: no timer is armed",
  wait_failed = "luamockit.co: wait failed: %s",
  not_number = "bad argument #%d to '%s' (number expected, got %s)",
  bad_duration = "bad argument #%d to '%s' (duration must be finite and >= 0)",
  zero_interval = "bad argument #1 to 'every' (interval must be greater than 0)",
  not_function = "bad argument #%d to '%s' (function expected, got %s)",
  lost = "luamockit.co: the task ended while an error (out of memory?) cut co short: its result is lost",
}

local create, resume, yield = coroutine.create, coroutine.resume, coroutine.yield
local costatus, corunning = coroutine.status, coroutine.running
local traceback = debug.traceback
local oneoff, getit = mit.oneoff, mit.getit
local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

-- What a task yields at co's suspension points, and when it cancels
-- itself. Anything else a task yields is an error.
local SUSPEND, CANCEL = {}, {}

local Task = {}
Task.__index = Task

-- Live top-level tasks (spawn, every): task -> true. nref counts those
-- not unref'd: what co.run() waits for. A co.timeout child belongs to its
-- task instead.
local live, nlive, nref, seq = {}, 0, 0, 0

-- The task whose coroutine runs now, or false. task.prev is the one that
-- ran when it was resumed (a co.timeout child starts inside its task, and
-- a drain inside a task wakes others): this chain holds exactly the tasks
-- whose state is "running", innermost first. (false, not nil, for none:
-- setting a key that holds nil may allocate, and a timer callback puts
-- its task on the chain before anything that could fail.)
local current = false

local function pack(...)
  return { n = select("#", ...), ... }
end

-- A task is fresh until a resume of it has returned; a spawned task's
-- arguments wait in args till then (see reconcile).
local function new_task(fn)
  seq = seq + 1
  return setmetatable({ co = create(fn), state = "suspended", seq = seq, prev = false, fresh = true }, Task)
end

local function add_live(task)
  live[task] = true
  nlive = nlive + 1
  if not task.unrefd then nref = nref + 1 end
end

-- A timer armed for task: unref'd with it (task:unref()), so that it keeps
-- no loop alive.
local function own(task, t)
  if task.unrefd then t:unref() end
  return t
end

-- Drops a task that will not run again from the live set (first: that
-- cannot fail) and destroys its timers. Safe to repeat, and repeated where
-- an error cut it short: by a later cancel, or its timer's callback.
local function release(task)
  if live[task] then
    live[task] = nil
    nlive = nlive - 1
    if not task.unrefd then nref = nref - 1 end
  end
  if task.timer then task.timer:destroy(); task.timer = nil end
  if task.sleeper then task.sleeper:destroy(); task.sleeper = nil end
  if task.tick then task.tick:destroy(); task.tick = nil end
end

-- Disarms the timer that would wake task: its co.sleep one-off is stopped
-- and kept for its next sleep (task.sleeper), any other is destroyed.
local function drop_timer(task)
  local t = task.timer
  if t then
    if t == task.sleeper then t:stop() else t:destroy() end
    task.timer = nil
  end
end

local step

-- Cancels task's co.timeout child, if it has one (the link goes once the
-- cancel is through, so that a cancel an error cut short is done again).
local function cancel_child(task)
  local c = task.child
  if c then
    c:cancel()
    task.child = nil
    c.parent = nil
  end
end

-- A co.timeout child has ended (done, failed or cancelled): resume its
-- parent if it is waiting for it (it is not while the child's first run,
-- inside co.timeout itself, is going on). The parent clears its marks
-- itself, in co.timeout, so that until it runs they still wake it.
local function child_over(child)
  local parent = child.parent
  if parent and parent.child == child and parent.waiting and parent.state == "suspended" then
    return step(parent)
  end
end

local function active(task)
  local s = costatus(task.co)
  return s == "running" or s == "normal"
end

local wake, start

-- Brings a task of the chain whose resume an error cut short (its
-- coroutine no longer runs) to the state its coroutine is in. Each
-- change leaves a state it may be called on again, should it raise too.
local function reconcile(task)
  local parent = task.parent
  if parent and not parent.waiting then
    -- a co.timeout child whose first run the error cut short: that
    -- co.timeout call raised it, so nothing waits for the child
    task.parent = nil
    if parent.child == task then parent.child = nil end
    task.state = "cancelled"
  end
  if task.state == "running" then
    if costatus(task.co) == "dead" then
      task.error = task.error or MSG.lost
      task.state = "failed"
    elseif task.timer or task.parked then
      task.state = "suspended" -- it suspended again: its wake-up is armed
    else
      -- the wake-up that resumed it was spent (or the resume never
      -- reached it): another one
      task.timer = own(task, oneoff(0, task.fresh and start or wake, task))
      task.state = "suspended"
    end
  end
  if task.state ~= "suspended" then
    release(task)
    cancel_child(task)
    -- a parent waiting for it resumes at its expiry at the latest
  end
end

-- An error raised in co's own code between a resume and the bookkeeping
-- after it (a memory error, say) leaves tasks marked running whose
-- coroutines no longer run: they are at the top of the chain, above stop
-- (or the task that runs now), or below a task that has just left it.
-- Pops and reconciles them, innermost first.
local function unwind(stop)
  local task = current
  while task and task ~= stop and (stop or not active(task)) do
    reconcile(task)
    current = task.prev
    task.prev = false
    task = current
  end
end

-- Takes task, settled, off the chain.
local function pop(task)
  current = task.prev
  task.prev = false
  if current then unwind() end
end

-- After a resume of task returned (ok, ...): record how it suspended or
-- ended. A top-level task's error is raised here, in the timer callback
-- that resumed it; a timeout child's goes to its parent. The task leaves
-- the chain only once its state is settled, so that an error on the way
-- leaves it to unwind.
local function settle(task, ok, a, ...)
  if current ~= task then unwind(task) end
  if task.fresh then task.fresh = nil; task.args = nil end
  if task.state == "cancelled" then
    -- cancelled while it ran (itself, or its timeout child did): it
    -- never resumes; an error it raised still surfaces.
    if ok then return pop(task) end
  elseif ok and a == SUSPEND then -- (only co's own code yields it)
    task.state = "suspended"
    current = task.prev -- pop(task), inlined
    task.prev = false
    if current then unwind() end
    return
  elseif ok and costatus(task.co) == "dead" then
    if task.parent then task.results = pack(a, ...) end
    task.state = "done"
    release(task)
    pop(task)
    return child_over(task)
  end
  local err = a
  if ok then
    err = MSG.bad_yield
  end
  if type(err) == "string" then err = traceback(task.co, err) end
  task.error = err
  task.state = "failed"
  release(task)
  cancel_child(task)
  pop(task)
  if task.parent then return child_over(task) end
  error(err, 0)
end

-- Resumes task with the given values. It goes on the chain first.
step = function(task, ...)
  task.prev = current
  current = task
  task.state = "running"
  return settle(task, resume(task.co, ...))
end

-- Timer callbacks. Each puts its task on the chain and takes the mark
-- that woke it in one go, with assignments alone: from there on an error
-- leaves the task to unwind, which sees the wake-up spent.
wake = function(task)
  if task.state == "suspended" then -- step(task), inlined: one call less per wake-up
    task.prev = current
    current = task
    task.state = "running"
    task.timer = nil
    return settle(task, resume(task.co))
  end
  task.timer = nil
end

start = function(task)
  if task.state == "suspended" then
    task.prev = current
    current = task
    task.state = "running"
    task.timer = nil
    local args = task.args
    if args then return settle(task, resume(task.co, unpack(args, 1, args.n))) end
    return settle(task, resume(task.co))
  end
  task.timer = nil
end

local function tick(task)
  task.due = task.due + 1
  local st = task.state
  if task.parked and st == "suspended" then
    task.prev = current
    current = task
    task.state = "running"
    task.parked = nil
    return settle(task, resume(task.co))
  elseif st ~= "suspended" and st ~= "running" then
    release(task) -- it ended and an error kept its release from this timer
  end
end

local function expired(task)
  if task.waiting and task.state == "suspended" then
    task.prev = current
    current = task
    task.state = "running"
    task.timer = nil
    return settle(task, resume(task.co))
  end
  task.timer = nil
end

-- Where co gets control in the running task's own code (its calls of
-- co.sleep and co.timeout, co.every's loop): a task cancelled while it
-- ran (a drain it runs woke one that cancelled it) stops here; and marks
-- left by a suspension that never happened (on Lua 5.1, inside pcall the
-- yield raises) are undone, so that they wake nothing.
local function checkpoint(task)
  if task.state == "cancelled" then yield(CANCEL) end
  if task.timer or task.waiting or task.child then
    task.waiting = nil
    drop_timer(task)
    cancel_child(task)
  end
end

-- The running task, checked to be the coroutine that runs now (not one it
-- resumed itself), or an error naming fname; it passes its checkpoint.
local function running_task(fname)
  local task = current
  if task and task.co ~= corunning() then
    unwind()
    task = current
  end
  if not task or task.co ~= corunning() then
    error(MSG.outside:format(fname), 3)
  end
  checkpoint(task)
  return task
end

local function check_ms(ms, n, fname)
  if type(ms) ~= "number" then
    error(MSG.not_number:format(n, fname, type(ms)), 3)
  end
  if ms ~= ms or ms < 0 or ms == math.huge then
    error(MSG.bad_duration:format(n, fname), 3)
  end
end

local function check_fn(fn, n, fname)
  if type(fn) ~= "function" then
    error(MSG.not_function:format(n, fname, type(fn)), 3)
  end
end

--- co.spawn(fn, ...) -> task: schedules fn(...) as a task. It starts at
-- the next drain of luamockit's queue (not inside spawn), after the
-- events already due.
function M.spawn(fn, ...)
  check_fn(fn, 1, "spawn")
  local task = new_task(fn)
  if select("#", ...) > 0 then task.args = pack(...) end
  task.timer = own(task, oneoff(0, start, task))
  add_live(task)
  return task
end

--- co.sleep(ms): suspends the running task for at least ms milliseconds
-- (one one-off timer). Outside a task it raises an error.
-- A task makes its one-off at its first sleep and re-arms it (again) at
-- the next ones: no handle and no garbage per wake-up. One destroyed
-- behind co's back (mit.timers()) is made anew.
function M.sleep(ms)
  local task = running_task("sleep")
  check_ms(ms, 1, "sleep")
  local t = task.sleeper
  if t and t:state() ~= "destroyed" then
    task.timer = t:again(ms)
  else
    t = own(task, oneoff(ms, wake, task))
    task.sleeper = t
    task.timer = t
  end
  yield(SUSPEND)
end

-- co.signal's callback: the first delivery wakes the task and destroys
-- the handle (the signal gets its previous disposition back once no other
-- handle of it is armed; deliveries queued with it are dropped).
local function signalled(task)
  local h = task.timer
  if h then h:destroy() end
  return wake(task)
end

--- co.signal(name) -> name: suspends the running task until the next
-- delivery of signal name (a name or a number, as mit.signal takes it) and
-- returns the signal's name ("SIGTERM"). The signal is caught only while
-- the task waits (one mit.signal handle, destroyed when the task wakes or
-- is cancelled): while no task waits for it and no handle of it is armed,
-- it has its previous disposition. Outside a task it raises an error.
function M.signal(name)
  local task = running_task("signal")
  local h = own(task, mit.signal(name, signalled, task))
  task.timer = h
  local sname = h:signal()
  yield(SUSPEND)
  return sname
end

--- co.timeout(ms, fn, ...): inside a task, runs fn(...) (as a task of its
-- own, started at once) and returns its results, or nil, "timeout" if it
-- has not finished within ms; it is then cancelled (its pending timer, and
-- those of the co.timeout calls it is in, are destroyed). An error raised
-- by fn is raised by co.timeout. Tasks fn spawned go on.
function M.timeout(ms, fn, ...)
  local parent = running_task("timeout")
  check_ms(ms, 1, "timeout")
  check_fn(fn, 2, "timeout")
  local child = new_task(fn)
  child.unrefd = parent.unrefd
  child.parent = parent
  parent.child = child
  step(child, ...) -- its first run, up to its first suspension
  if parent.state == "cancelled" then yield(CANCEL) end -- the child cancelled it
  if child.state == "suspended" then
    parent.waiting = true
    parent.timer = own(parent, oneoff(ms, expired, parent))
    yield(SUSPEND)
    -- resumed by child_over, expired or unwind: the child's state says
    -- which, and this wait's marks are cleared here
    parent.waiting = nil
    drop_timer(parent)
  end
  local st = child.state
  if st == "suspended" then -- ms has passed
    cancel_child(parent)
    return nil, "timeout"
  end
  parent.child = nil
  child.parent = nil
  if st == "done" then
    return unpack(child.results, 1, child.results.n)
  elseif st == "failed" then
    error(child.error, 0)
  end
  return nil, "cancelled"
end

--- co.every(ms, fn, ...) -> task: calls fn(...) every ms milliseconds on
-- the absolute schedule start + k*ms (one interval timer; the first call
-- is ms from now), until the task is cancelled. fn runs in the task and
-- may sleep; expirations that fall due meanwhile each call fn once, back
-- to back, when it returns.
function M.every(ms, fn, ...)
  check_ms(ms, 1, "every")
  if ms == 0 then error(MSG.zero_interval, 2) end
  check_fn(fn, 2, "every")
  local args = pack(...)
  local task
  task = new_task(function()
    while true do
      checkpoint(task)
      while task.due == 0 do
        task.parked = true
        yield(SUSPEND)
      end
      task.due = task.due - 1
      fn(unpack(args, 1, args.n))
    end
  end)
  task.due = 0
  task.parked = true
  task.tick = own(task, getit(ms, tick, task))
  add_live(task)
  return task
end

--- co.run(): drains luamockit (wait, process_events) until every task has
-- ended, but for those unref'd (task:unref()). Raises a task's error (see
-- above); calling it again goes on with the others. Raises if tasks are
-- left that nothing can resume (their timers were destroyed behind co's
-- back, and no signal handle is armed).
function M.run()
  if current then unwind() end
  if current then error(MSG.inside_run, 2) end
  local wait, process, next_due = mit.wait, mit.process_events, mit.next_due
  local alive = mit.alive
  while nref > 0 do
    if current then unwind() end -- what an error in the last drain left
    if next_due() == nil and mit.pending() == 0 and alive() == 0 then
      -- tasks that ended but are still counted (an error cut a cancel
      -- short between the two) are dropped first
      for task in pairs(live) do
        local st = task.state
        if st == "done" or st == "failed" or st == "cancelled" then release(task) end
      end
      if nref == 0 then return end
      error(MSG.stuck:format(nref), 2)
    end
    local rc, msg = wait()
    if rc ~= 0 then error(MSG.wait_failed:format(tostring(msg)), 2) end
    process()
  end
end

--- co.running() -> the running task, or nil.
function M.running()
  if current then unwind() end
  local task = current
  if task and task.co == corunning() then return task end
  return nil
end

--- co.tasks() -> the live tasks of spawn and every, in the order they
-- were made.
function M.tasks()
  if current then unwind() end
  local t = {}
  for task in pairs(live) do t[#t + 1] = task end
  table.sort(t, function(a, b) return a.seq < b.seq end)
  return t
end

--- task:cancel() -> true if the task was live: it never resumes, its
-- pending timer is destroyed (and its co.timeout child's). A task may
-- cancel itself: the call does not return.
function Task:cancel()
  local st = self.state
  if st == "done" or st == "failed" then return false end
  if st == "cancelled" then -- an earlier cancel may have been cut short
    release(self)
    cancel_child(self)
    return false
  end
  self.state = "cancelled"
  self.waiting, self.parked = nil, nil
  release(self)
  cancel_child(self)
  if self.parent then child_over(self) end
  if self.co == corunning() then yield(CANCEL) end
  return true
end

-- Sets the ref of task's timers, and of its co.timeout children's.
local function set_ref(task, ref)
  while task do
    task.unrefd = not ref or nil
    for _, t in ipairs({ task.timer or false, task.tick or false, task.sleeper or false }) do
      if t and t:state() ~= "destroyed" then
        if ref then t:ref() else t:unref() end
      end
    end
    task = task.child
  end
end

--- task:unref() -> task: co.run() no longer waits for the task, and its
-- timers keep no loop alive (mit.alive(), an adapter's h:unref()); it runs
-- on as any other, wherever luamockit is drained. task:ref() undoes it.
function Task:unref()
  if not self.unrefd then
    if live[self] then nref = nref - 1 end
    set_ref(self, false)
  end
  return self
end

--- task:ref() -> task: undoes task:unref().
function Task:ref()
  if self.unrefd then
    if live[self] then nref = nref + 1 end
    set_ref(self, true)
  end
  return self
end

--- task:has_ref() -> false after task:unref() (until task:ref()).
function Task:has_ref()
  return not self.unrefd
end

--- task:status() -> "suspended", "running", "done", "failed" or
-- "cancelled".
function Task:status()
  if current then unwind() end
  return self.state
end

function Task:__tostring()
  return ("luamockit.co.task: %d (%s)"):format(self.seq, self.state)
end

return M

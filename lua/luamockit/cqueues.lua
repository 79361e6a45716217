--- luamockit.cqueues: luamockit inside a cqueues controller.
--
--   local cqueues = require("cqueues")
--   local adapter = require("luamockit.cqueues")
--   local cq = cqueues.new()
--   local h = adapter.attach(cq)
--   mit.getit(1000, function()              -- may block in cqueues
--     local sock = require("cqueues.socket").connect("127.0.0.1", 8080)
--     sock:write("ping\n")                  -- cqueues' blocking calls: fine here
--     cqueues.sleep(0.5)
--     ...
--   end)
--   mit.oneoff(60000, function() h:detach() end)
--   assert(cq:loop())                       -- returns once nothing is left
--
-- attach() adds one coroutine to cq that polls mit.fd() and calls
-- process_events, and sets luamockit's runner (mit.setrunner): each timer
-- callback (and plain producer item) runs at once, in luamockit's order,
-- as a coroutine of its own. One that blocks in cqueues (it yields cqueues' poll request) goes on as
-- a coroutine of cq that passes its polls to the controller (forward),
-- and the drain goes on. h:oneoff/h:getit (or any callback made by
-- h:wrap) start their function as a coroutine of cq, in luamockit's order
-- (each one is wrapped by the one before it, whatever order the
-- controller runs its new coroutines in): the first at the controller's
-- next turn, each running up to its first blocking call before the next.
--
-- Errors: raised before the callback blocked, luamockit's path (the mit
-- error handler; without one, it is raised in a coroutine of cq of its
-- own, so cq:loop()/cq:step() return it, and the drain goes on at the
-- next cq:loop()); raised after, cq:loop() returns it as for any
-- coroutine of cq. The adapter's own coroutines outlive any error of its
-- code, memory errors included (see luamockit.adapter's drain): what a
-- memory error kept it from doing (report an error, start a queued call)
-- is done at a retry soon after, nothing pending is lost.
--
-- h:detach() gives back the runner, destroys the timers armed through h
-- and wakes the polling coroutine (a condition variable) so it ends:
-- cq:loop() returns when nothing else is left. No dummy timer is needed.
local mit = require("luamockit")
local cqueues = require("cqueues")
local condition = require("cqueues.condition")
local base = require("luamockit.adapter")

-- LuaLS: the module's types are in luamockit/types.lua.
---@type luamockit.cqueues
local M = { _VERSION = mit._VERSION }

-- Every message this module raises (the shared ones: luamockit.adapter's).
local MSG = {
  not_cqueues = "bad argument #1 to 'attach' (cqueues controller expected)",
}

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

local function pack(...)
  return { n = select("#", ...), ... }
end

local H = {}
H.__index = H
for k, f in pairs(base.methods) do H[k] = f end

local POLL = cqueues._POLL
local yield = coroutine.yield
-- Seconds before a retry after a memory error (a runner that could not be
-- wrapped, an error the drain could not report yet).
local RETRY = 0.01

-- Starts the queued calls of h in order: each runner wraps the runner of
-- the next call (if any), then takes its own call off the head of the
-- queue and runs it. The next runner is wrapped first, so that a failure
-- to wrap it (a memory error) leaves the queue as it was: this runner
-- waits a little and tries again, the calls keep their order and none is
-- lost; h.runner_pending stays true meanwhile (the next call's runner is
-- this one's business).
local function runner(h)
  local i = h.qhead
  if i < h.qtail then
    local cq = h.cq
    while not pcall(cq.wrap, cq, runner, h) do yield(POLL, RETRY) end
  else
    h.runner_pending = false
  end
  local call = h.queue[i]
  h.queue[i] = nil
  h.qhead = i + 1
  return call.fn(unpack(call.args, 1, call.args.n))
end

-- Runs the coroutine co of a callback that blocked in cqueues (it yielded
-- y, cqueues' poll protocol) as a coroutine of cq: yields what co yields
-- to the controller and resumes co with the answer, until co ends.
local function forward(co, y)
  while true do
    local r = pack(coroutine.yield(unpack(y, 1, y.n)))
    y = pack(coroutine.resume(co, unpack(r, 1, r.n)))
    if coroutine.status(co) == "dead" then
      if y[1] then return end
      local err = y[2]
      if type(err) == "string" then err = debug.traceback(co, err) end
      error(err, 0)
    end
    y = pack(select(2, unpack(y, 1, y.n)))
  end
end

--- adapter.attach(cq) -> h: folds luamockit into the controller cq.
function M.attach(cq)
  if (type(cq) ~= "userdata" and type(cq) ~= "table") or not pcall(function() return cq.wrap end) then
    error(MSG.not_cqueues, 2)
  end
  local h = setmetatable({ cq = cq, cond = condition.new(), queue = {}, qhead = 1, qtail = 0, loopname = "cqueues" }, H)
  h.handoff = function(co, marker, ...)
    if marker ~= POLL then return false end
    cq:wrap(forward, co, pack(marker, ...))
    return true
  end
  base.init(h)
  -- A call queued for a runner; if no runner is pending and one cannot be
  -- wrapped (a memory error), the call is taken back and the error raised
  -- (it is the callback's: luamockit's error path), so nothing is left
  -- queued that no runner will start.
  h.spawn = function(fn, args)
    local i = h.qtail + 1
    h.queue[i] = { fn = fn, args = args }
    h.qtail = i
    if not h.runner_pending then
      local ok, err = pcall(cq.wrap, cq, runner, h)
      if not ok then
        h.queue[i] = nil
        h.qtail = i - 1
        error(err, 0)
      end
      h.runner_pending = true
    end
  end
  -- The drain (luamockit.adapter's drain): its wait is a bare yield of
  -- cqueues' poll request (what cqueues.poll yields), which raises nothing,
  -- so it runs outside pcall on every Lua; with a retry due, it
  -- polls with a timeout. An error it reports is raised in a coroutine of
  -- cq of its own: cq:loop() returns it, and the next cq:loop() goes on.
  -- pollfd() is asked for at each poll, before cqueues sleeps: mit.fd()
  -- then hands luamockit's queue the timers armed since its last call
  h.pollfd = { pollfd = function() return mit.fd() end, events = "r" }
  h.wait = function()
    if h.retry then
      yield(POLL, h.pollfd, h.cond, RETRY)
    else
      yield(POLL, h.pollfd, h.cond)
    end
    return true
  end
  h.bare_wait = true -- under pcall, a memory error could keep it from yielding at all
  h.report = function(err) cq:wrap(base.raise, err) end
  h.stuck = function() return h.qhead <= h.qtail and not h.runner_pending end
  h.repair = function()
    cq:wrap(runner, h)
    h.runner_pending = true
  end
  cq:wrap(base.drain, h)
  return h
end

--- Ends the drain coroutine: it polls the condition beside the fd.
function H:stop_drain()
  self.cond:signal()
end

return M

--- luamockit.cqueues: luamockit inside a cqueues controller.
--
--   local cqueues = require("cqueues")
--   local adapter = require("luamockit.cqueues")
--   local cq = cqueues.new()
--   local h = adapter.attach(cq)
--   h:getit(1000, function()                -- each tick starts a coroutine of cq
--     local sock = require("cqueues.socket").connect("127.0.0.1", 8080)
--     sock:write("ping\n")                  -- cqueues' blocking calls: fine here
--     cqueues.sleep(0.5)
--     ...
--   end)
--   mit.oneoff(60000, function() h:detach() end)
--   assert(cq:loop())                       -- returns once nothing is left
--
-- attach() adds one coroutine to cq that polls mit.fd() and calls
-- process_events. Callbacks of plain mit timers run in that coroutine:
-- they may cq:wrap new coroutines but not block in cqueues (no callback
-- may yield through process_events, on any Lua). Timers armed with
-- h:oneoff/h:getit (or any callback made by h:wrap) start their function
-- as a coroutine of cq instead, which may use every blocking call of
-- cqueues. Those coroutines start in luamockit's order (each one is
-- wrapped by the one before it, whatever order the controller runs its
-- new coroutines in): the first at the controller's next turn, each
-- running up to its first blocking call before the next starts.
--
-- Errors: a plain callback's error goes to mit.seterrorhandler's handler
-- if one is set, else it is raised in a coroutine of cq of its own, so
-- cq:loop()/cq:step() return it (false, err, ...) as for any coroutine of
-- cq, and the drain goes on at the next cq:loop(). A coroutine started by
-- h:wrap is cq's like any other.
--
-- h:detach() destroys the timers armed through h and wakes the polling
-- coroutine (a condition variable) so it ends: cq:loop() returns when
-- nothing else is left. No dummy timer is needed.
local mit = require("luamockit")
local cqueues = require("cqueues")
local condition = require("cqueues.condition")
local base = require("luamockit.adapter")

local M = { _VERSION = mit._VERSION }

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

local H = {}
H.__index = H
for k, f in pairs(base.methods) do H[k] = f end

-- Starts the queued calls of h in order: each runner takes the head of
-- the queue, wraps the runner of the next one (if any), then runs its own.
local function runner(h)
  local q = h.queue
  local i = h.qhead
  local call = q[i]
  q[i] = nil
  h.qhead = i + 1
  h.runner_pending = false
  if h.qhead <= h.qtail then
    h.runner_pending = true
    h.cq:wrap(runner, h)
  end
  return call.fn(unpack(call.args, 1, call.args.n))
end

--- adapter.attach(cq) -> h: folds luamockit into the controller cq.
function M.attach(cq)
  if (type(cq) ~= "userdata" and type(cq) ~= "table") or not pcall(function() return cq.wrap end) then
    error("bad argument #1 to 'attach' (cqueues controller expected)", 2)
  end
  local h = base.init(setmetatable({ cq = cq, cond = condition.new(), queue = {}, qhead = 1, qtail = 0 }, H))
  h.spawn = function(fn, args)
    h.qtail = h.qtail + 1
    h.queue[h.qtail] = { fn = fn, args = args }
    if not h.runner_pending then
      h.runner_pending = true
      cq:wrap(runner, h)
    end
  end
  local pollfd = { pollfd = mit.fd(), events = "r" }
  cq:wrap(function()
    while not h.detached do
      cqueues.poll(pollfd, h.cond)
      if h.detached then break end
      local ok, err = pcall(mit.process_events)
      if not ok then cq:wrap(function() error(err, 0) end) end
    end
  end)
  return h
end

--- Ends the drain coroutine: it polls the condition beside the fd.
function H:stop_drain()
  self.cond:signal()
end

return M

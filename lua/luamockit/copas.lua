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
-- handler, copas.seterrorhandler; 1.x prints it).
--
-- h:detach() gives back the runner set before attach(), destroys the
-- timers armed through h and ends the drain thread (at copas' next step),
-- so copas.loop() (4.x) returns when nothing else is pending; callbacks
-- handed to copas and threads already started run on.
local mit = require("luamockit")
local msock = require("luamockit.socket")
local base = require("luamockit.adapter")

local M = { _VERSION = mit._VERSION }

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

--- adapter.attach(copas) -> h: folds luamockit into copas' loop.
function M.attach(copas)
  if type(copas) ~= "table" or type(copas.addthread) ~= "function" or type(copas.receive) ~= "function" then
    error("bad argument #1 to 'attach' (copas module expected)", 2)
  end
  local h = setmetatable({ copas = copas, loopname = "copas", handoff = copas_handoff }, H)
  -- copas 1.x resumes a new thread with the socket (nil) first: start a
  -- closure with no arguments, the same in every version.
  h.spawn = function(fn, args)
    return copas.addthread(function() return fn(unpack(args, 1, args.n)) end)
  end
  base.init(h)
  h.waker = msock.addthread(copas, msock.newfd())
  h.thread = h.waker.thread
  return h
end

--- Ends the drain thread: the closed fd waker wakes it, and it returns.
function H:stop_drain()
  self.waker:close()
end

return M

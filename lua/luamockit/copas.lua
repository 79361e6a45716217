--- luamockit.copas: luamockit inside a copas loop (copas 1.x as Debian
-- ships it, and copas 2.x-4.x).
--
--   local copas = require("copas")
--   local adapter = require("luamockit.copas")
--   local h = adapter.attach(copas)
--   h:getit(1000, function()                -- each tick starts a copas thread
--     local sock = copas.wrap(socket.tcp())
--     sock:connect("127.0.0.1", 8080)       -- copas' blocking I/O: fine here
--     ...
--   end)
--   mit.oneoff(60000, function() h:detach() end)
--   copas.loop()                            -- 4.x: returns once nothing is left
--
-- attach() adds one copas thread that waits until mit.fd() is readable
-- (through LuaSocket's select, which copas runs) and calls process_events
-- there. Callbacks of plain mit timers run in that thread: they may start
-- copas threads but not block in copas (no callback may yield through
-- process_events, on any Lua). Timers armed with h:oneoff/h:getit (or any
-- callback made by h:wrap) start their function as a copas thread of its
-- own instead, which may use copas' I/O and copas.sleep/pause. Those
-- threads start in luamockit's order: copas 1.x runs each at once, inside
-- its callback, up to its first blocking call; copas 4.x runs them in the
-- same copas step, after the drain, first in first out.
--
-- Errors: a plain callback's error goes to mit.seterrorhandler's handler
-- if one is set, else to copas' error handling (a copas thread raises it:
-- 4.x's default handler, copas.seterrorhandler(f, true); 1.x prints it),
-- and the drain goes on. A thread started by h:wrap is a copas thread like
-- any other: its errors go to copas.
--
-- h:detach() destroys the timers armed through h and ends the drain
-- thread (at copas' next step), so copas.loop() (4.x) returns when nothing
-- else is pending; threads already started run on.
local mit = require("luamockit")
local msock = require("luamockit.socket")
local base = require("luamockit.adapter")

local M = { _VERSION = mit._VERSION }

local unpack = rawget(table, "unpack") or rawget(_G, "unpack")

local H = {}
H.__index = H
for k, f in pairs(base.methods) do H[k] = f end

--- adapter.attach(copas) -> h: folds luamockit into copas' loop.
function M.attach(copas)
  if type(copas) ~= "table" or type(copas.addthread) ~= "function" or type(copas.receive) ~= "function" then
    error("bad argument #1 to 'attach' (copas module expected)", 2)
  end
  local h = base.init(setmetatable({ copas = copas }, H))
  -- copas 1.x resumes a new thread with the socket (nil) first: start a
  -- closure with no arguments, the same in every version.
  h.spawn = function(fn, args)
    return copas.addthread(function() return fn(unpack(args, 1, args.n)) end)
  end
  h.waker = msock.addthread(copas, msock.newfd())
  h.thread = h.waker.thread
  return h
end

--- Ends the drain thread: the closed fd waker wakes it, and it returns.
function H:stop_drain()
  self.waker:close()
end

return M

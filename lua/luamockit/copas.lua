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

-- Starts (or restarts) h's drain thread, with a waker of its own (copas
-- 1.x closes the socket of a thread that ended with an error: the old
-- waker).
local function start_drain(h)
  local copas = h.copas
  h.waker = msock.newfd()
  h.thread = copas.addthread(function()
    copas.setErrorHandler(h.on_error) -- this thread's (1.x and 4.x)
    return base.drain(h)
  end)
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
    return w:copas_wait(copas)
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
  start_drain(h)
  return h
end

--- Ends the drain thread: the closed fd waker wakes it, and it returns.
function H:stop_drain()
  self.waker:close()
end

return M

-- examples/copas4_echo.lua: a TCP echo server and two clients in one copas
-- 4.x loop, with luamockit timers as per-connection idle timeouts
-- (luamockit.copas folds luamockit into copas). Loopback only (127.0.0.1,
-- an ephemeral port). Finishes by itself in about half a second:
--   client A sends three lines and hangs up;
--   client B sends one line and goes quiet: after IDLE_MS without a line,
--   its connection's idle timer closes the connection (copas.close wakes
--   the handler blocked in receive), and B sees "closed".
--
-- Needs copas 4.x (LuaRocks: luarocks install copas; Debian's lua-copas
-- is 1.x: see copas1_echo.lua) and LuaSocket. With copas 4 outside the
-- default paths, point LMK_COPAS4_PATH at the directory holding copas.lua
-- (and binaryheap, timerwheel, coxpcall):
--   LMK_COPAS4_PATH=/path/to/copas4 lua5.4 examples/copas4_echo.lua
local dir = os.getenv("LMK_COPAS4_PATH")
if dir and dir ~= "" then
  package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;" .. package.path
end
local socket = require("socket")
local copas = require("copas")
local mit = require("luamockit")
local adapter = require("luamockit.copas")
assert(copas.pause, "copas 4.x expected, found " .. tostring(copas._VERSION) .. " (see copas1_echo.lua)")

local IDLE_MS = 300
local t0 = mit.monotime()
local function log(fmt, ...)
  io.write(string.format("%7.1f ms  " .. fmt .. "\n", mit.monotime() - t0, ...))
  io.flush()
end

local h = adapter.attach(copas) -- luamockit's callbacks now run inside copas

-- ---- the server ----
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
local nconn = 0

copas.addserver(srv, copas.handler(function(skt) -- skt: a wrapped socket
  nconn = nconn + 1
  local id = nconn
  -- One one-off timer per connection, re-armed by each line: stop() drops
  -- an expiration already queued, start() re-arms it IDLE_MS from now.
  local idle = mit.oneoff(IDLE_MS, function()
    log("server: connection %d idle for %d ms, closing it", id, IDLE_MS)
    skt:close() -- copas.close(): the receive below returns nil, "closed"
  end)
  while true do
    local line, err = skt:receive("*l")
    if not line then
      log("server: connection %d done (%s)", id, err)
      break
    end
    idle:stop(); idle:start()
    log("server: connection %d got %q", id, line)
    skt:send(line .. "\n")
  end
  idle:cancel()
  skt:close()
end))

-- ---- the clients ----
local clients_left = 2
local function client_done()
  clients_left = clients_left - 1
  if clients_left == 0 then
    copas.removeserver(srv)
    h:detach() -- luamockit's thread ends; copas.loop() returns when nothing is left
  end
end

local function connect()
  local c = copas.wrap(socket.tcp())
  assert(c:connect("127.0.0.1", port))
  return c
end

copas.addthread(function() -- client A: three lines, then hangs up
  local c = connect()
  for _, word in ipairs({ "hello", "echo", "bye" }) do
    c:send(word .. "\n")
    log("client A: echo %q", c:receive("*l"))
    copas.pause(0.1)
  end
  c:close()
  log("client A: hung up")
  client_done()
end)

copas.addthread(function() -- client B: one line, then quiet until the server gives up
  copas.pause(0.05) -- after A
  local c = connect()
  c:send("ping\n")
  log("client B: echo %q", c:receive("*l"))
  local more, err = c:receive("*l")
  log("client B: server closed the idle connection (receive: %s, %s)", tostring(more), tostring(err))
  c:close()
  client_done()
end)

copas.loop()
log("copas.loop() returned (%s): %d connections served", copas._VERSION, nconn)

-- examples/copas1_echo.lua: the echo server of copas4_echo.lua, the copas
-- 1.x way (Debian's lua-copas 1.x, for lua5.1 and LuaJIT), with luamockit
-- timers as per-connection idle timeouts (luamockit.copas). Loopback only
-- (127.0.0.1, an ephemeral port). Finishes by itself:
--   client A sends three lines and hangs up;
--   client B sends one line and goes quiet: after IDLE_MS without a line,
--   its connection's idle timer shuts the connection down, and B sees
--   "closed".
--
--   lua5.1 examples/copas1_echo.lua     (or luajit)
--
-- What 1.x lacks, and what is done instead here:
--   copas.wrap(s) has no connect/close     copas.connect(raw, host, port); raw:close()
--   no copas.removeserver                  close the server socket
--   no copas.pause/sleep                   luamockit timers: h:oneoff(ms, fn)
--                                          starts fn as a copas thread later
--   copas.close(s) does not exist, and closing a socket another thread is
--   blocked on in copas.receive leaves that thread waiting forever (select
--   never reports a closed socket)         raw:shutdown("both"): select reports
--                                          it readable, receive returns nil, "closed"
--   copas.loop() never returns             a loop of copas.step() until done
local socket = require("socket")
local copas = require("copas")
local mit = require("luamockit")
local adapter = require("luamockit.copas")

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

copas.addserver(srv, function(skt) -- skt: the raw socket (1.x does not wrap it)
  nconn = nconn + 1
  local id = nconn
  -- One one-off timer per connection, re-armed by each line: stop() drops
  -- an expiration already queued, start() re-arms it IDLE_MS from now.
  local idle = mit.oneoff(IDLE_MS, function()
    log("server: connection %d idle for %d ms, shutting it down", id, IDLE_MS)
    skt:shutdown("both") -- not close(): wakes the receive below
  end)
  while true do
    local line, err = copas.receive(skt, "*l")
    if not line then
      log("server: connection %d done (%s)", id, err)
      break
    end
    idle:stop(); idle:start()
    log("server: connection %d got %q", id, line)
    copas.send(skt, line .. "\n")
  end
  idle:cancel()
  skt:close()
end)

-- ---- the clients ----
local clients_left = 2
local finished = false
local function client_done()
  clients_left = clients_left - 1
  if clients_left == 0 then
    srv:close()   -- 1.x: no removeserver
    h:detach()    -- luamockit's thread ends at copas' next step
    finished = true
  end
end

local function connect()
  local c = socket.tcp()
  c:settimeout(0)
  assert(copas.connect(c, "127.0.0.1", port))
  return c
end

-- Client A: three lines, then hangs up. One thread for the whole
-- connection: when a 1.x thread ends, copas closes the socket it was last
-- woken for (copas.autoclose), so a connection cannot be handed from one
-- thread to the next.
copas.addthread(function()
  local a = connect()
  for _, word in ipairs({ "hello", "echo", "bye" }) do
    copas.send(a, word .. "\n")
    log("client A: echo %q", copas.receive(a, "*l"))
  end
  a:close()
  log("client A: hung up")
  client_done()
end)

-- Client B (50 ms later): one line, then quiet until the server gives up.
h:oneoff(50, function()
  local c = connect()
  copas.send(c, "ping\n")
  log("client B: echo %q", copas.receive(c, "*l"))
  local more, err = copas.receive(c, "*l")
  log("client B: server closed the idle connection (receive: %s, %s)", tostring(more), tostring(err))
  c:close()
  client_done()
end)

while not finished do
  copas.step(1) -- 1.x's copas.loop() never returns
end
log("done (%s): %d connections served", copas._VERSION, nconn)

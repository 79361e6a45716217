-- examples/cqueues_echo.lua: a TCP echo server and two clients in one
-- cqueues controller, with luamockit timers as per-connection idle
-- timeouts (luamockit.cqueues folds luamockit into the controller).
-- Loopback only (127.0.0.1, an ephemeral port). Finishes by itself in
-- about a second:
--   client A sends three lines and hangs up;
--   client B sends one line and goes quiet: after IDLE_MS without a line,
--   its connection's idle timer shuts the connection down, and B sees EOF.
--
--   lua5.4 examples/cqueues_echo.lua      (Debian's lua-cqueues; also lua5.1, LuaJIT)
local cqueues = require("cqueues")
local socket = require("cqueues.socket")
local condition = require("cqueues.condition")
local mit = require("luamockit")
local adapter = require("luamockit.cqueues")

local IDLE_MS = 300
local t0 = mit.monotime()
local function log(fmt, ...)
  io.write(string.format("%7.1f ms  " .. fmt .. "\n", mit.monotime() - t0, ...))
  io.flush()
end

local cq = cqueues.new()
local h = adapter.attach(cq) -- luamockit's callbacks now run inside cq

-- ---- the server ----
local srv = assert(socket.listen{ host = "127.0.0.1", port = 0 })
assert(srv:listen(1)) -- bind now, to learn the port
local _, _, port = srv:localname()
local stopping = condition.new()
local stopped = false
local nconn = 0

local function serve(con, id)
  -- One one-off timer per connection, re-armed by each line: stop() drops
  -- an expiration already queued, start() re-arms it IDLE_MS from now.
  local idle = mit.oneoff(IDLE_MS, function()
    log("server: connection %d idle for %d ms, closing it", id, IDLE_MS)
    con:shutdown("rw") -- the read below returns nil: the handler ends
  end)
  -- (a while loop, not `for line in con:lines()`: Lua 5.1 cannot yield
  -- from inside a for iterator)
  local line = con:read("*l")
  while line do
    idle:stop(); idle:start()
    log("server: connection %d got %q", id, line)
    con:write(line .. "\n")
    con:flush()
    line = con:read("*l")
  end
  idle:cancel()
  con:close()
  log("server: connection %d done", id)
end

-- Accepts until stopped: polls the listening socket's descriptor (a
-- listening cqueues socket reports no events of its own) and the condition
-- variable that stopping signals.
local listening = { pollfd = srv:pollfd(), events = "r" }
cq:wrap(function()
  while not stopped do
    local ready = cqueues.poll(listening, stopping)
    if ready == listening then
      local con = srv:accept(0)
      if con then
        nconn = nconn + 1
        cq:wrap(serve, con, nconn)
      end
    end
  end
  srv:close()
  log("server: stopped listening")
end)

-- ---- the clients ----
local clients_left = 2
local function client_done()
  clients_left = clients_left - 1
  if clients_left == 0 then
    stopped = true
    stopping:signal()
    h:detach() -- luamockit's drain ends; cq:loop() returns when nothing is left
  end
end

cq:wrap(function() -- client A: three lines, then hangs up
  local c = assert(socket.connect{ host = "127.0.0.1", port = port })
  for _, word in ipairs({ "hello", "echo", "bye" }) do
    c:write(word .. "\n"); c:flush()
    log("client A: echo %q", c:read("*l"))
    cqueues.sleep(0.1)
  end
  c:close()
  log("client A: hung up")
  client_done()
end)

cq:wrap(function() -- client B: one line, then quiet until the server gives up
  cqueues.sleep(0.05) -- after A
  local c = assert(socket.connect{ host = "127.0.0.1", port = port })
  c:write("ping\n"); c:flush()
  log("client B: echo %q", c:read("*l"))
  local more = c:read("*l")
  log("client B: server closed the idle connection (read: %s)", tostring(more))
  c:close()
  client_done()
end)

assert(cq:loop())
log("cq:loop() returned: %d connections served", nconn)

-- Row 1, dispatch: ns per callback when one drain runs N due events.
--   mit:   N one-offs armed at 0 ms, wait until pending() == N, then time
--          the one process_events() that runs them all.
--   luv:   N timers started at 0 ms, then time the uv.run("once") that
--          runs them all.
--   floor: the same callback called N times through pcall in a Lua loop.
-- The callback is the same in all three (it increments a counter). A full
-- GC cycle runs before the timed part, so garbage of the setup is not
-- collected inside it.
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local N = tonumber(arg[2]) or 100000

local n = 0
local function cb() n = n + 1 end
local hs = {} -- luacheck: ignore 241 (keeps every handle reachable)

if C.impl == "mit" then
  local mit = C.mit()
  local now = mit.monotime
  for i = 1, N do hs[i] = mit.oneoff(0, cb) end
  local t0 = now()
  while mit.pending() < N do
    if now() - t0 > 10000 then error("only " .. mit.pending() .. " of " .. N .. " queued after 10 s") end
    mit.sleep(1)
  end
  C.emit("dispatch.queue_ms", now() - t0)
  collectgarbage("collect")
  local c0, w0 = os.clock(), now()
  local ran = mit.process_events()
  local w1, c1 = now(), os.clock()
  if ran ~= N or n ~= N then error("ran " .. ran .. ", callbacks " .. n .. ", want " .. N) end
  C.emit("dispatch.ns", (w1 - w0) * 1e6 / N)
  C.emit("dispatch.cpu_ns", (c1 - c0) * 1e9 / N)
elseif C.impl == "luv" then
  local uv = require("luv")
  for i = 1, N do
    local t = uv.new_timer()
    t:start(0, 0, cb)
    hs[i] = t
  end
  collectgarbage("collect")
  local c0, w0 = os.clock(), uv.hrtime()
  uv.run("once")
  local w1, c1 = uv.hrtime(), os.clock()
  if n ~= N then error("callbacks " .. n .. ", want " .. N) end
  C.emit("dispatch.ns", (w1 - w0) / N)
  C.emit("dispatch.cpu_ns", (c1 - c0) * 1e9 / N)
else
  local clock = C.clock()
  local pcall = pcall
  collectgarbage("collect")
  local c0, w0 = os.clock(), clock()
  for _ = 1, N do pcall(cb) end
  local w1, c1 = clock(), os.clock()
  if n ~= N then error("callbacks " .. n .. ", want " .. N) end
  C.emit("dispatch.ns", (w1 - w0) * 1e6 / N)
  C.emit("dispatch.cpu_ns", (c1 - c0) * 1e9 / N)
end

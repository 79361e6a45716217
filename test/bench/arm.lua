-- Row 2, arm: ns to arm one one-off timer, N of them, each handle kept in
-- an array (as a user keeping handles would).
--   mit: hs[i] = mit.oneoff(60000, cb)
--   luv: local t = uv.new_timer(); t:start(60000, 0, cb); hs[i] = t
-- The 60 s delay keeps every timer pending for the whole measurement.
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
local N = tonumber(arg[2]) or 100000

local function cb() end
local hs = {}
collectgarbage("collect")

if C.impl == "mit" then
  local mit = C.mit()
  local now, oneoff = mit.monotime, mit.oneoff
  local c0, w0 = os.clock(), now()
  for i = 1, N do hs[i] = oneoff(60000, cb) end
  -- Arms go to Go in batches: pending() hands over the last one, so the
  -- measured window holds every timer's whole cost.
  local pend = mit.pending()
  local w1, c1 = now(), os.clock()
  if pend ~= 0 or hs[N]:state() ~= "armed" then error("timers fired early") end
  C.emit("arm.ns", (w1 - w0) * 1e6 / N)
  C.emit("arm.cpu_ns", (c1 - c0) * 1e9 / N)
elseif C.impl == "luv" then
  local uv = require("luv")
  local new_timer = uv.new_timer
  local c0, w0 = os.clock(), uv.hrtime()
  for i = 1, N do
    local t = new_timer()
    t:start(60000, 0, cb)
    hs[i] = t
  end
  local w1, c1 = uv.hrtime(), os.clock()
  if not hs[N]:is_active() then error("timer not active") end
  C.emit("arm.ns", (w1 - w0) / N)
  C.emit("arm.cpu_ns", (c1 - c0) * 1e9 / N)
else
  -- Not a timer at all: what storing a fresh table per arm costs.
  local clock = C.clock()
  local c0, w0 = os.clock(), clock()
  for i = 1, N do hs[i] = { 60000, cb } end
  local w1, c1 = clock(), os.clock()
  C.emit("arm.ns", (w1 - w0) * 1e6 / N)
  C.emit("arm.cpu_ns", (c1 - c0) * 1e9 / N)
end

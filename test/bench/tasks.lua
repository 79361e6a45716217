-- Row 8, tasks: K coroutines, each sleeping SLEEP ms in a loop for DUR ms
-- (their first sleep is a random part of SLEEP, so the wake-ups spread).
--   mit:     luamockit.co tasks, co.sleep(ms), co.run()
--   copas:   copas threads, copas.pause(s) (copas.sleep before 4.x),
--            copas.loop(); copas 1.x has no sleep: the row is skipped.
--            LMK_COPAS4_PATH, if set, is put in front of package.path.
--   cqueues: coroutines of one controller, cqueues.sleep(s), cq:loop()
--   floor:   no coroutine: K luamockit one-offs, each re-armed by its own
--            callback (luamockit's own timer cost for the same wake-ups)
-- Prints process CPU (every thread: os.clock) per wake-up, wake-ups/s,
-- and how late the wake-ups were (ms after the time asked for; < 0: early).
local dir = (arg[0]:match("^(.*)/") or ".")
local C = dofile(dir .. "/common.lua")
package.path = dir .. "/../../lua/?.lua;" .. package.path -- luamockit.co of this checkout
local K = tonumber(arg[2]) or 10000
local DUR = tonumber(arg[3]) or 2000
local SLEEP = tonumber(arg[4]) or 100

local c4 = os.getenv("LMK_COPAS4_PATH")
if c4 and c4 ~= "" then package.path = c4 .. "/?.lua;" .. c4 .. "/?/init.lua;" .. package.path end

local now = (C.impl == "floor" and C.mit().monotime) or C.clock()
math.randomseed(15)
local first = {}
for i = 1, K do first[i] = math.random() * SLEEP end

local wakes, late = 0, {}
local tend

-- The body of one task, given a sleep(ms) of the implementation.
local function body(i, sleep)
  local ms = first[i]
  while true do
    local due = now() + ms
    sleep(ms)
    local t = now()
    wakes = wakes + 1
    late[#late + 1] = t - due
    if t >= tend then return end
    ms = SLEEP
  end
end

local c0, w0
if C.impl == "mit" then
  local co = require("luamockit.co")
  local sleep = co.sleep
  w0 = now()
  tend = w0 + DUR
  c0 = os.clock()
  for i = 1, K do co.spawn(body, i, sleep) end
  co.run()
elseif C.impl == "floor" then
  local mit = C.mit()
  local oneoff = mit.oneoff
  local function cb(i, due)
    local t = now()
    wakes = wakes + 1
    late[#late + 1] = t - due
    if t < tend then oneoff(SLEEP, cb, i, now() + SLEEP) end
  end
  w0 = now()
  tend = w0 + DUR
  c0 = os.clock()
  for i = 1, K do oneoff(first[i], cb, i, now() + first[i]) end
  while mit.next_due() do
    mit.wait()
    mit.process_events()
  end
elseif C.impl == "copas" then
  local copas = require("copas")
  local pause = copas.pause or copas.sleep
  if not pause then error("copas " .. tostring(copas._VERSION) .. " has no sleep") end
  local function sleep(ms) pause(ms / 1000) end
  w0 = now()
  tend = w0 + DUR
  c0 = os.clock()
  for i = 1, K do copas.addthread(body, i, sleep) end
  copas.loop()
elseif C.impl == "cqueues" then
  local cqueues = require("cqueues")
  local cq = cqueues.new()
  local cqsleep = cqueues.sleep
  local function sleep(ms) cqsleep(ms / 1000) end
  w0 = now()
  tend = w0 + DUR
  c0 = os.clock()
  for i = 1, K do cq:wrap(body, i, sleep) end
  assert(cq:loop())
else
  error("no " .. C.impl .. " for this row")
end
local c1, w1 = os.clock(), now()

if wakes ~= #late or wakes < K then error("only " .. wakes .. " wake-ups") end
table.sort(late)
C.emit("tasks.cpu_us_per_wake", (c1 - c0) * 1e6 / wakes)
C.emit("tasks.wakes_per_s", wakes / ((w1 - w0) / 1000))
C.emit("tasks.late_p50_ms", C.percentile(late, 50, true))
C.emit("tasks.late_p99_ms", C.percentile(late, 99, true))
C.emit("tasks.late_min_ms", late[1])

-- A process that ends with live timers and undrained events: 50 interval
-- timers at 1 ms and 200 one-offs (0..5 ms), some events run, some left
-- queued, then it ends in one of three ways:
--   a: normally (lua.c closes the state: the module's state __gc runs while
--      its timers fire)
--   b: os.exit(0, true) on 5.2+ (closes the state first); os.exit(0) on
--      Lua 5.1 / LuaJIT
--   c: os.exit(3) (no close: the process exits with the Go timers running)
-- Mode: global LMK_EXIT_MODE (set by a prefix line), else arg[1], else "a".
-- Prints "armed <n> ran <n> left <n>" on stdout; nothing on stderr.
--
-- Used by test/exit_spec.lua (10 runs per mode) and test/soak/exits.lua
-- (100 runs per mode). Lua 5.1 syntax only.
local mode = rawget(_G, "LMK_EXIT_MODE") or (arg and arg[1]) or "a"
local mit = require("luamockit")

local ran = 0
local function cb() ran = ran + 1 end

local timers = {}
for i = 1, 50 do timers[i] = mit.getit(1, cb) end
for i = 1, 200 do mit.oneoff((i * 7) % 6, cb, i) end -- 0..5 ms

-- Waits (without running callbacks) until n events are queued, 2 s at most:
-- on a loaded machine the first expirations may come late.
local function await(n)
  local t0 = mit.monotime()
  while mit.pending() < n and mit.monotime() - t0 < 2000 do mit.sleep(1) end
end

await(60)
mit.process_events(150) -- some of what is queued runs...
mit.sleep(3)
await(1) -- ...and more is queued, never drained
local left = mit.pending()
io.stdout:write(string.format("armed %d ran %d left %d\n", #timers + 200, ran, left))
io.stdout:flush()

if mode == "b" then
  if _VERSION == "Lua 5.1" then os.exit(0) end
  os.exit(0, true)
elseif mode == "c" then
  os.exit(3)
end
-- mode a: fall off the end with everything armed and queued

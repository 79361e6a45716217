-- examples/luv_loop.lua: luamockit's timers inside a libuv loop (luv,
-- Debian's lua-luv). uv.new_poll watches mit.fd(), which is readable
-- exactly while luamockit has events pending; its callback drains them.
-- luv's own timers run in the same loop. Ends after N heartbeat ticks:
-- the last tick closes the watcher and luv's timer, and uv.run() returns.
--
--   lua5.4 examples/luv_loop.lua          10 ticks of 200 ms
--   LMK_EXAMPLE_SECONDS=1 lua5.4 examples/luv_loop.lua   as many ticks as fit in 1 s
-- Runs under lua5.1, LuaJIT and lua5.4.
local uv = require("luv")
local mit = require("luamockit")

local period = 200
local seconds = tonumber(os.getenv("LMK_EXAMPLE_SECONDS") or "")
local ticks_wanted = seconds and math.max(1, math.floor(seconds * 1000 / period)) or 10
local t0 = mit.monotime()
local function log(fmt, ...)
  io.write(string.format("%7.1f ms  " .. fmt .. "\n", mit.monotime() - t0, ...))
end

-- luamockit -> libuv: one poll handle on mit.fd().
local watcher = uv.new_poll(mit.fd())
watcher:start("r", function(err)
  assert(not err, err)
  mit.process_events()
end)

-- A libuv timer beside luamockit's (to show both run in one loop).
local uv_fired = 0
local uv_timer = uv.new_timer()
uv_timer:start(50, 50, function() uv_fired = uv_fired + 1 end)

-- luamockit timers: a heartbeat that stops everything after N ticks, and a
-- one-off with an argument.
mit.oneoff(period / 2, function(msg) log("one-off: %s", msg) end, "hello from luamockit")
local ticks = 0
local heartbeat
heartbeat = mit.getit(period, function()
  ticks = ticks + 1
  log("tick %d (luv timer fired %d times so far)", ticks, uv_fired)
  if ticks >= ticks_wanted then
    heartbeat = heartbeat:destroy()
    watcher:stop(); watcher:close()   -- nothing of luamockit left in the loop
    uv_timer:stop(); uv_timer:close()
  end
end)

uv.run() -- returns once no handle is active
log("uv.run() returned after %d ticks; pending %d", ticks, mit.pending())

-- A small daemon: a few timers feed one wait()/process_events() loop for
-- about four seconds, printing what fires. Run by `make demo`.
local mit = require("luamockit")

local t0 = mit.monotime()
local function stamp()
  return string.format("%7.1f ms", mit.monotime() - t0)
end

print(mit._VERSION .. " on " .. _VERSION)

local ticks = 0
local heartbeat = mit.getit(500, function(name)
  ticks = ticks + 1
  print(stamp(), name .. " tick " .. ticks)
end, "heartbeat")

local fast_runs = 0
local fast = mit.getit(100, function() fast_runs = fast_runs + 1 end)
local counter = mit.getit(1000, function()
  print(stamp(), "one second passed; 'fast' ran " .. fast_runs .. " times so far")
end)

mit.oneoff(1250, function(msg) print(stamp(), msg) end, "one-off with an argument")
local cancelled = mit.oneoff(1500, function() print("never printed") end)
cancelled:cancel()
print(stamp(), "armed: " .. tostring(heartbeat))
print(stamp(), "cancelled: " .. tostring(cancelled))

mit.oneoff(2000, function()
  print(stamp(), "stalling the loop for 600 ms: expirations queue up, none are lost")
  mit.sleep(600)
end)

mit.seterrorhandler(function(err)
  print(stamp(), "callback error handled: " .. err:match("^[^\n]*"))
end)
mit.oneoff(3000, function() error("a failing callback") end)

local stop = false
mit.oneoff(4000, function() stop = true end)

while not stop do
  mit.wait(1000)
  local n = mit.process_events()
  if n > 3 then print(stamp(), "drained a burst of " .. n .. " callbacks") end
end

heartbeat = heartbeat:destroy(true)
fast = fast:destroy(true)
counter = counter:destroy(true)
print(stamp(), string.format("done: %d heartbeats, %d fast ticks (ideal about 40), pending %d",
  ticks, fast_runs, mit.pending()))

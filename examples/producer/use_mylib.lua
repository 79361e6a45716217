-- examples/producer/use_mylib.lua: a Lua script using mylib, a C producer
-- library whose pthread delivers items into Lua through luamockit's
-- producer API, then asks Lua one question and waits for the answer
-- (deliver_wait). Callbacks run only here, inside process_events(), on
-- this Lua thread.
--
--   eval "$(luarocks path)"; make -C examples/producer
--   LUA_CPATH="examples/producer/?.so;$LUA_CPATH" lua5.4 examples/producer/use_mylib.lua
local mylib = require("mylib") -- requires luamockit itself
local mit = require("luamockit")

local sum = 0
local job = mylib.start{
  count = 5,
  interval_ms = 20,
  on_item = function(seq, text)
    sum = sum + seq
    print(string.format("item from the producer thread: %d %q", seq, text))
  end,
  on_ask = function(question) -- the thread is blocked in deliver_wait meanwhile
    print("question from the producer thread: " .. question .. " answering " .. sum)
    return sum
  end,
}

-- Producer callbacks' errors carry the producer's name as their source.
mit.seterrorhandler(function(err, source) print("error from " .. tostring(source) .. ": " .. tostring(err)) end)

local deadline = mit.monotime() + 5000
while not job:done() and mit.monotime() < deadline do
  mit.wait(100)
  mit.process_events()
end
local answer, status = job:join()
print(string.format("deliver_wait returned %s; the thread got %g", status, answer or 0 / 0))
job:close()
local s = mit.stats()
print(string.format("stats: items=%d callbacks=%d errors=%d", s.items, s.callbacks, s.errors))

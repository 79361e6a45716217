-- stale_handle_demo.lua: shows why "deliveries after unregister return
-- LUAMOCKIT_ECLOSED" cannot be relied on outside a callback: the API's
-- unregister() frees the producer at once (luamockit_api.h, step 3), so a
-- producer thread that delivers after (or while) Lua unregisters passes a
-- dangling pointer. Once the memory is reused by a later registration, the
-- late item is delivered to that *other* producer instead of being refused.
--
--   LUA_CPATH='build/lua5.4/?.so;build/test/lua5.4/?.so' lua5.4 test/producer/stale_handle_demo.lua
--
-- It deliberately commits the use after free it demonstrates; it is not part
-- of the busted suite. Exit status 1 when the misdelivery happened.
local mit = require("luamockit")
local tp = require("testproducer")

local calls = {}
local function job(name)
  local j = tp.start{threads = 1, count = 0, name = name,
    cb = function() calls[name] = (calls[name] or 0) + 1 end}
  j:join()
  return j
end

-- Register and unregister a few producers, remembering their handles, then
-- register new ones until one gets the address of an unregistered one.
local dead = {}
for i = 1, 16 do
  local j = job("old" .. i)
  dead[j:handle()] = { job = j, name = "old" .. i }
  j:unregister() -- outside process_events: the producer is freed now
end
local old, new
for i = 1, 64 do
  local j = job("new" .. i)
  if dead[j:handle()] then
    old, new = dead[j:handle()], { job = j, name = "new" .. i }
    break
  end
end
if not old then
  print("no address reuse observed in 64 registrations; nothing shown")
  os.exit(0)
end
local st = old.job:deliver_unchecked(1, 1) -- a late delivery through the old handle
mit.process_events()
print(string.format("%s (unregistered) and %s share the address %s", old.name, new.name, new.job:handle()))
print(string.format("late delivery through %s: status %s (expected ECLOSED); callbacks run: %s %d, %s %d",
  old.name, st, old.name, calls[old.name] or 0, new.name, calls[new.name] or 0))
if st == "OK" then
  print("=> the item was delivered to another producer")
  os.exit(1)
end

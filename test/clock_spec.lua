-- The module table, sleep and the clocks.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")

local function is_integer(x)
  if math.type then return math.type(x) == "integer" end
  return type(x) == "number" and x == math.floor(x)
end

describe("the module", function()
  it("has _VERSION 'luamockit 0.1.0'", function()
    assert.equal("luamockit 0.1.0", mit._VERSION)
  end)

  it("is a table with every documented function", function()
    assert.equal("table", type(mit))
    for _, name in ipairs({ "oneoff", "getit", "process_events", "wait", "pending", "inqueue",
                            "sleep", "time", "mstimestamp", "monotime", "seterrorhandler" }) do
      assert.equal("function", type(mit[name]), name)
    end
  end)

  it("sets no globals when required (fresh interpreter)", function()
    local r = H.run_lua([[
      local before = {}
      for k in pairs(_G) do before[k] = true end
      local mit = require("luamockit")
      assert(type(mit) == "table" and mit._VERSION)
      for k in pairs(_G) do
        if not before[k] then io.write("new global: ", tostring(k), "\n") end
      end
      io.write("done\n")
    ]])
    assert.equal(0, r.rc, r.err)
    assert.equal("done\n", r.out)
  end)

  it("returns the same table from a second require", function()
    assert.equal(mit, require("luamockit"))
  end)
end)

describe("sleep", function()
  it("sleeps about ms and returns 0, 0 (timing-sensitive)", function()
    local r
    local dt = H.timed(function() r = H.pack(mit.sleep(100)) end)
    H.between(dt, 99.9, 2000, "ms slept by sleep(100)")
    assert.equal(2, r.n)
    assert.equal(0, r[1])
    assert.equal(0, r[2])
  end)

  it("sleep(0) returns 0, 0 at once (timing-sensitive)", function()
    local r
    local dt = H.fastest(3, function() r = H.pack(mit.sleep(0)) end)
    H.between(dt, 0, 100, "ms taken by sleep(0), best of 3")
    assert.same({ n = 2, 0, 0 }, r)
  end)

  it("accepts fractional ms and the resume flag (timing-sensitive)", function()
    local r
    local dt = H.timed(function() r = H.pack(mit.sleep(12.5, true)) end)
    H.between(dt, 12.4, 2000, "ms slept by sleep(12.5, true)")
    assert.same({ n = 2, 0, 0 }, r)
    dt = H.timed(function() r = H.pack(mit.sleep(1500 / 1000, false)) end)
    H.between(dt, 1.4, 2000, "ms slept by sleep(1.5, false)")
    assert.same({ n = 2, 0, 0 }, r)
  end)

  it("sleeps across whole seconds (timing-sensitive)", function()
    local dt = H.timed(mit.sleep, 1003)
    H.between(dt, 1002.9, 3000, "ms slept by sleep(1003)")
  end)
end)

describe("time", function()
  it("returns integer seconds and milliseconds (0..999) since the epoch, agreeing with os.time()", function()
    local r = H.pack(mit.time())
    assert.equal(2, r.n)
    local s, ms = r[1], r[2]
    assert.is_true(is_integer(s), "seconds: " .. tostring(s))
    assert.is_true(is_integer(ms), "ms: " .. tostring(ms))
    H.between(ms, 0, 999, "ms part")
    H.between(s, os.time() - 1, os.time() + 1, "seconds")
  end)

  it("agrees with mstimestamp() (timing-sensitive)", function()
    local best = math.huge
    for _ = 1, 3 do -- best of 3: the two calls may be preempted apart
      local s, ms = mit.time()
      local ts = mit.mstimestamp()
      assert.is_true(ts >= s * 1000 + ms, "mstimestamp() is behind time()")
      best = math.min(best, ts - (s * 1000 + ms))
    end
    H.between(best, 0, 100, "mstimestamp() - time() in ms")
  end)
end)

describe("mstimestamp", function()
  it("returns integer ms since the epoch, agreeing with os.time()", function()
    local ts = mit.mstimestamp()
    assert.is_true(is_integer(ts), "mstimestamp: " .. tostring(ts))
    H.between(math.floor(ts / 1000), os.time() - 1, os.time() + 1, "mstimestamp in s")
  end)

  it("advances with sleep (timing-sensitive)", function()
    local a = mit.mstimestamp()
    mit.sleep(50)
    local b = mit.mstimestamp()
    H.between(b - a, 49, 2000, "mstimestamp advance over sleep(50)")
  end)
end)

describe("monotime", function()
  it("returns a number of ms that never goes backwards", function()
    local prev = mit.monotime()
    assert.equal("number", type(prev))
    for _ = 1, 10000 do
      local now = mit.monotime()
      assert.is_true(now >= prev, string.format("monotime went back: %.6f -> %.6f", prev, now))
      prev = now
    end
  end)

  it("has sub-millisecond resolution", function()
    local seen = {}
    local start = mit.monotime()
    while mit.monotime() - start < 5 do
      local v = mit.monotime()
      seen[v - math.floor(v)] = true
    end
    assert.is_true(H.count(seen) > 1, "monotime only returns whole ms")
  end)

  it("advances with sleep (timing-sensitive)", function()
    local a = mit.monotime()
    mit.sleep(50)
    local b = mit.monotime()
    H.between(b - a, 49.9, 2000, "monotime advance over sleep(50)")
  end)
end)

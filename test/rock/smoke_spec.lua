-- Smoke test of an installed luamockit (run by test/rock/roundtrip.sh with
-- `luarocks path` of a temporary tree; also part of the main suite).
local function find(name, path)
  for template in path:gmatch("[^;]+") do
    local file = template:gsub("%?", (name:gsub("%.", "/")))
    local f = io.open(file)
    if f then f:close() return file end
  end
end

describe("installed luamockit", function()
  local tree = os.getenv("LMK_ROCK_TREE")

  it("loads from the tree it was installed into", function()
    if not tree then return pending("not run from a LuaRocks tree") end
    local so = find("luamockit", package.cpath)
    assert.is_truthy(so, "luamockit.so not on package.cpath")
    assert.are.equal(tree, so:sub(1, #tree), "loaded " .. so)
    for _, m in ipairs({ "luamockit.socket", "luamockit.co", "luamockit.copas", "luamockit.cqueues", "luamockit.adapter",
      "luamockit.types" }) do
      local helper = find(m, package.path)
      assert.is_truthy(helper and helper:sub(1, #tree) == tree, m .. ": " .. tostring(helper))
    end
    -- the LuaLS definitions are for editors: required, they give an empty table
    assert.are.same({}, require("luamockit.types"))
  end)

  it("runs timers through wait and process_events", function()
    local mit = require("luamockit")
    assert.is_string(mit._VERSION)
    local got = {}
    mit.oneoff(10, function(x) got[#got + 1] = x end, "one-off")
    local t = mit.getit(5, function() got.ticks = (got.ticks or 0) + 1 end)
    local deadline = mit.monotime() + 3000
    while (#got < 1 or (got.ticks or 0) < 3) and mit.monotime() < deadline do
      mit.wait(100)
      mit.process_events()
    end
    t = t:destroy(true)
    assert.are.equal("one-off", got[1])
    assert.is_true(got.ticks >= 3)
  end)

  it("ships luamockit.co, and its tasks run", function()
    local mit = require("luamockit")
    local co = require("luamockit.co")
    local t0, slept = mit.monotime(), nil
    co.spawn(function() co.sleep(20); slept = mit.monotime() - t0 end)
    co.run()
    assert.is_true(slept >= 20)
  end)

  it("ships the socket helper", function()
    local ok = pcall(require, "socket")
    if not ok then return pending("LuaSocket not installed") end
    local msock = require("luamockit.socket")
    local w = assert(msock.new())
    assert.is_true(w.port > 0)
    w:close()
  end)
end)

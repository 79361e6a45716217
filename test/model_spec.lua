-- The model-based random test (test/model.lua) in fresh interpreters: a
-- process keeps the default mode for all its seeds, and others call fd()
-- at a random point of their first seeds (a process stays in fd() mode
-- once it has). A failure prints the seed and the last operations; rerun
-- one seed with: lua test/model.lua <seed> 1 300 [nofd].
-- make soak runs many more seeds (MODEL_SEEDS).
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local SEEDS = tonumber(os.getenv("LMK_MODEL_SEEDS") or "") or 80
local OPS = 300

local function run_model(first, seeds, nofd, setup, gc)
  local r = H.run_lua(string.format([[
    local M = dofile("test/model.lua")
    local mit = require("luamockit")
    %s
    local opts = %s
    for seed = %d, %d do
      local ok, report = M.run(mit, seed, %d, opts)
      if not ok then io.stderr:write(report, "\n"); os.exit(1) end
    end
    io.write("ok\n")
  ]], setup or "", string.format("{ fd_at = %s, gc = %s }", nofd and "-1" or "nil", tostring(gc == true)), first, first + seeds - 1, OPS))
  assert.are.equal(0, r.rc, r.err)
  assert.are.equal("ok\n", r.out, r.err)
end

describe("the model-based test (random operations against an exact model)", function()
  it(string.format("%d seeds x %d operations keep the model, without fd()", SEEDS, OPS), function()
    run_model(1, SEEDS, true)
  end)

  it(string.format("%d seeds x %d operations keep the model with the adapters' runner set (each callback "
    .. "in a worker coroutine)", math.max(1, math.floor(SEEDS / 2)), OPS), function()
    run_model(200001, math.max(1, math.floor(SEEDS / 2)), true,
      'package.path = "lua/?.lua;lua/?/init.lua;" .. package.path\n'
      .. 'require("luamockit.adapter").init({ handoff = function() return false end, loopname = "model" })')
  end)

  it(string.format("%d seeds x %d operations keep the model while handles are dropped, taken back from "
    .. "mit.timers() and listed by finalizers at any step of the collector (half of them call fd())",
    math.max(1, math.floor(SEEDS / 2)), OPS), function()
    run_model(300001, math.max(1, math.floor(SEEDS / 2)), false, nil, true)
  end)

  it(string.format("%d seeds x %d operations keep the model, fd() at a random point", SEEDS, OPS), function()
    local per = math.max(1, math.floor(SEEDS / 4))
    for p = 0, 3 do run_model(100001 + p * per, per, false) end
  end)
end)

-- Process exit with live timers and undrained events (issue 3, "nothing
-- lost"): a script (test/soak/exit_child.lua) arms 50 interval timers at
-- 1 ms and 200 one-offs (0..5 ms), runs some events, leaves others queued,
-- and ends (a) normally, (b) with os.exit(0, true) (5.2+: closes the
-- state; os.exit(0) on Lua 5.1 / LuaJIT), (c) with os.exit(3). Each run
-- must end with the expected exit status (no signal: the shell reports
-- 128 + signal) and an empty stderr. 10 runs per mode here; the soak
-- (test/soak/run.sh) does 100.
--
-- Lua 5.1 syntax only: runs under lua5.1, lua5.4 and luajit.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local RUNS = 10
local CHILD = H.readfile("test/soak/exit_child.lua")

local MODES = {
  { mode = "a", rc = 0, what = "ends normally" },
  { mode = "b", rc = 0, what = H.is51 and "ends with os.exit(0) (Lua 5.1 / LuaJIT)" or "ends with os.exit(0, true)" },
  { mode = "c", rc = 3, what = "ends with os.exit(3)" },
}

describe("exit with armed timers and queued events", function()
  it("the child script is there", function()
    assert.is_truthy(CHILD:find("os.exit(3)", 1, true), "test/soak/exit_child.lua not found (run busted from the repo root)")
  end)

  for _, m in ipairs(MODES) do
    it(string.format("a script that %s: %d runs, each exit status %d, no signal, empty stderr", m.what, RUNS, m.rc), function()
      local code = string.format("LMK_EXIT_MODE = %q\n", m.mode) .. CHILD
      local good, ran, left = 0, 0, 0
      for run = 1, RUNS do
        local r = H.run_lua(code)
        local ctx = string.format("mode %s run %d: rc=%s stdout=%q stderr=%q", m.mode, run, tostring(r.rc), r.out, r.err)
        assert.is_number(r.rc, ctx)
        assert.is_true(r.rc < 128, "killed by a signal: " .. ctx)
        assert.equal(m.rc, r.rc, ctx)
        assert.equal("", r.err, ctx)
        local a, n, l = r.out:match("^armed (%d+) ran (%d+) left (%d+)\n$")
        assert.equal("250", a, "the child did not reach its end: " .. ctx)
        -- the situation under test did happen: events ran, others were left queued
        assert.is_true(tonumber(n) > 0 and tonumber(l) > 0, "nothing ran or nothing was left queued: " .. ctx)
        ran, left = ran + tonumber(n), left + tonumber(l)
        good = good + 1
      end
      print(string.format("exit runs (%s, mode %s): %d/%d with rc=%d and empty stderr; %d callbacks ran, %d events left queued at exit",
        H.interp(), m.mode, good, RUNS, m.rc, ran, left))
    end)
  end
end)

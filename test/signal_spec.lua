-- Ctrl-C: SIGINT sent to the stock interpreter ($LMK_LUA) while it blocks
-- in luamockit ends it promptly with lua.c's "interrupted!" error.
--
-- Synchronisation is a handshake, not a fixed sleep: the child prints a
-- marker line right before it blocks, and the signal is sent only once
-- that line has been read.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local MARKER = "LMK_BLOCKING_NOW"

-- Runs body in a child interpreter (stdout piped here, stderr to a file),
-- waits for MARKER on its stdout, sends SIGINT, and waits for it to exit.
-- Returns { ready, rc, err, out, ms = time from sending SIGINT to exit }.
local function interrupt(body)
  local script = H.script(body)
  local errf = os.tmpname()
  local cmd = string.format(
    "%s %s 2>%s </dev/null & echo \"__LMK_PID__=$!\"; wait $!; echo \"__LMK_RC__=$?\"",
    H.shquote(H.interp()), H.shquote(script), H.shquote(errf))
  local p = assert(io.popen(cmd, "r"))
  local res = { ready = false, out = {} }
  local pid
  local function take(line)
    local n = line:match("^__LMK_PID__=(%d+)$")
    local rc = line:match("^__LMK_RC__=(%d+)$")
    if n then pid = n
    elseif rc then res.rc = tonumber(rc)
    elseif line == MARKER then res.ready = true
    else res.out[#res.out + 1] = line end
  end
  -- the pid line and the marker may come in either order
  while not (pid and res.ready) and res.rc == nil do
    local line = p:read("*l")
    if not line then break end
    take(line)
  end
  if pid and res.ready and res.rc == nil then
    local t0 = H.now()
    os.execute("kill -INT " .. pid)
    for line in p:lines() do take(line) end
    res.ms = H.now() - t0
  else
    for line in p:lines() do take(line) end
  end
  p:close()
  res.err = H.readfile(errf)
  res.out = table.concat(res.out, "\n")
  os.remove(errf)
  os.remove(script)
  return res
end

-- interrupt(body), run once more if only the timing missed: a preempted
-- child is noise, an interpreter that ignores Ctrl-C misses every time.
local function interrupt_best_of_2(body)
  local res = interrupt(body)
  if res.ready and res.ms and res.ms >= 1000 and res.err:find("interrupted!", 1, true) then
    res = interrupt(body)
  end
  return res
end

local function assert_interrupted(res)
  assert.is_true(res.ready, "the child never reached the blocking call; stderr: " .. res.err)
  assert.is_number(res.rc, "no exit status")
  assert.are_not.equal(0, res.rc, "exit status")
  assert.matches("interrupted!", res.err)
  assert.is_nil(res.err:find("NOT INTERRUPTED", 1, true), res.err)
  -- target 0.5 s; allow for a noisy machine
  H.between(res.ms, 0, 1000, "ms from SIGINT to the interpreter's exit")
end

describe("Ctrl-C (SIGINT)", function()
  it("during wait(10000) with a timer armed ends the interpreter within ~1 s with 'interrupted!' (timing-sensitive)", function()
    local res = interrupt_best_of_2([[
      local mit = require("luamockit")
      local t = mit.getit(60000, function() end)
      io.stdout:write("]] .. MARKER .. [[\n")
      io.stdout:flush()
      mit.wait(10000)
      io.stderr:write("NOT INTERRUPTED\n")
    ]])
    assert_interrupted(res)
  end)

  it("during wait() without a timeout ends the interpreter within ~1 s with 'interrupted!' (timing-sensitive)", function()
    -- the backstop one-off ends the wait after 10 s should SIGINT be missed
    local res = interrupt_best_of_2([[
      local mit = require("luamockit")
      local backstop = mit.oneoff(10000, function() end)
      io.stdout:write("]] .. MARKER .. [[\n")
      io.stdout:flush()
      mit.wait()
      io.stderr:write("NOT INTERRUPTED\n")
    ]])
    assert_interrupted(res)
  end)

  it("during a callback-driven event loop ends the interpreter within ~1 s (timing-sensitive)", function()
    local res = interrupt_best_of_2([[
      local mit = require("luamockit")
      local ticks = 0
      local t = mit.getit(50, function() ticks = ticks + 1 end)
      local announced = false
      local deadline = mit.monotime() + 10000
      while mit.monotime() < deadline do
        mit.wait(1000)
        mit.process_events()
        if ticks >= 2 and not announced then
          announced = true
          io.stdout:write("]] .. MARKER .. [[\n")
          io.stdout:flush()
        end
      end
      io.stderr:write("NOT INTERRUPTED\n")
    ]])
    assert_interrupted(res)
  end)

  it("during sleep(10000) ends the interpreter within ~1 s (timing-sensitive)", function()
    local res = interrupt_best_of_2([[
      local mit = require("luamockit")
      io.stdout:write("]] .. MARKER .. [[\n")
      io.stdout:flush()
      mit.sleep(10000)
      io.stderr:write("NOT INTERRUPTED\n")
    ]])
    assert_interrupted(res)
  end)
end)

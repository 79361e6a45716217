-- The wait/process loop: rounds of 1 000 one-off timers at spread delays
-- (0..200 ms, deterministic), drained by looping mit.wait()/process_events()
-- while they fire. Checks: wait() never fails, process_events() never
-- raises, every callback runs exactly once (unique args), none runs before
-- its delay, every round completes.
--
-- As a module (test/lifecycle_spec.lua):
--   local run = dofile("test/soak/waitloop.lua")
--   local res = run(mit, { rounds = 20 })
-- As a script (test/soak/run.sh):
--   lua test/soak/waitloop.lua [rounds] [stagger_ms]
--   stagger_ms > 0 arms a new round every stagger_ms while earlier ones
--   still fire (rounds overlap), so 1 000 rounds fit in about a minute.
--
-- Lua 5.1 syntax only: runs under lua5.1, lua5.4 and luajit.

local function run(mit, opts)
  opts = opts or {}
  local rounds = opts.rounds or 20
  local count = opts.count or 1000
  local spread = opts.spread or 200 -- ms
  local stagger = opts.stagger -- nil/0: sequential rounds
  if stagger and stagger <= 0 then stagger = nil end
  local round_timeout = spread + (opts.slack or 3000)

  -- Delay of timer i, 0..spread ms in 0.1 ms steps, spread over the range.
  local function delay(i) return ((i * 7919) % (spread * 10 + 1)) / 10 end

  local res = {
    rounds = rounds, count = count, callbacks = 0, duplicates = 0, early = 0,
    unknown = 0, wait_errors = 0, errors = 0, incomplete = 0, waits = 0,
    max_late = 0, first_error = nil,
  }
  local seen, left, armed_at, started = {}, {}, {}, {}
  local active, done, next_round = 0, 0, 1

  local function cb(r, i)
    local now = mit.monotime()
    local s = seen[r]
    res.callbacks = res.callbacks + 1
    if not s then res.unknown = res.unknown + 1; return end
    if s[i] then
      res.duplicates = res.duplicates + 1
      return
    end
    s[i] = true
    left[r] = left[r] - 1
    -- A callback never runs before its timer is due (armed_at is taken
    -- before oneoff, so the true due time is later still).
    local due = armed_at[r][i] + delay(i)
    if now < due - 1e-6 then res.early = res.early + 1 end
    if now - due > res.max_late then res.max_late = now - due end
  end

  local function arm_round()
    local r = next_round
    next_round = next_round + 1
    seen[r], left[r], armed_at[r] = {}, count, {}
    started[r] = mit.monotime()
    local at = armed_at[r]
    for i = 1, count do
      at[i] = mit.monotime()
      mit.oneoff(delay(i), cb, r, i)
    end
    active = active + 1
  end

  local t0 = mit.monotime()
  local next_start = t0
  while done < rounds do
    local now = mit.monotime()
    if next_round <= rounds and ((stagger and now >= next_start) or (not stagger and active == 0)) then
      arm_round()
      next_start = next_start + (stagger or 0)
      now = mit.monotime()
    end
    local timeout = 1000
    if stagger and next_round <= rounds then
      timeout = math.max(0.1, math.min(timeout, next_start - now))
    end
    res.waits = res.waits + 1
    local rc, msg = mit.wait(timeout)
    if rc ~= 0 then
      res.wait_errors = res.wait_errors + 1
      res.first_error = res.first_error or ("wait: " .. tostring(msg))
    end
    local ok, err = pcall(mit.process_events)
    if not ok then
      res.errors = res.errors + 1
      res.first_error = res.first_error or ("process_events: " .. tostring(err))
    end
    -- Retire finished (or hopelessly late) rounds, oldest first.
    now = mit.monotime()
    for r = done + 1, next_round - 1 do
      if left[r] == nil then break end
      if left[r] == 0 then
        seen[r], left[r], armed_at[r] = nil, nil, nil
        active, done = active - 1, done + 1
      elseif now - started[r] > round_timeout then
        res.incomplete = res.incomplete + 1
        res.missing = (res.missing or 0) + left[r]
        seen[r], left[r], armed_at[r] = false, nil, nil
        active, done = active - 1, done + 1
      else
        break
      end
    end
    if res.errors + res.wait_errors > 100 then break end
  end
  res.ms = mit.monotime() - t0
  res.expected = rounds * count
  res.ok = res.callbacks == res.expected and res.duplicates == 0 and res.early == 0
    and res.unknown == 0 and res.wait_errors == 0 and res.errors == 0 and res.incomplete == 0
  return res
end

local function summary(res)
  return string.format(
    "waitloop: %d rounds x %d one-offs (0..200 ms) in %.1f s: %d/%d callbacks, %d duplicates, "
      .. "%d early, %d missing, %d wait errors, %d process_events errors, %d waits, max late %.1f ms%s",
    res.rounds, res.count, res.ms / 1000, res.callbacks, res.expected, res.duplicates, res.early,
    res.missing or 0, res.wait_errors, res.errors, res.waits, res.max_late,
    res.first_error and (" (first error: " .. res.first_error .. ")") or "")
end

local is_script = arg and type(arg[0]) == "string" and arg[0]:match("waitloop%.lua$")
if is_script then
  local mit = require("luamockit")
  local res = run(mit, { rounds = tonumber(arg[1]) or 1000, stagger = tonumber(arg[2]) })
  print(summary(res) .. (res.ok and " PASS" or " FAIL"))
  os.exit(res.ok and 0 or 1)
end

return setmetatable({ run = run, summary = summary }, { __call = function(_, ...) return run(...) end })

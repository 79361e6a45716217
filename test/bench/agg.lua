-- Aggregates the measurements of run.sh into one table.
--   lua agg.lua RESULTS "lua5.1 lua5.4"
-- RESULTS has one line per measurement: "<lua> <tag> <impl> <key> <value>"
-- (one line per round). Each cell is the median over the rounds and
-- [min..max]; the ratio columns are median(luamockit) / median(luv)
-- ("mit/luv") and median(mitfd) / median(luv) ("fd/luv"); the "better"
-- column names the side of luamockit and luv whose median is better by
-- more than 5% ("~" when within 5%), "fd-better" the same for mitfd and
-- luv. mitfd is luamockit driven through mit.fd() and socket.select();
-- its columns, and floor's, are shown only when the results have any.
-- Metrics luv has no value for (the Go threads') show "-" there. "Go":
-- the threads other than the main (Lua) one; "Lua": the main thread;
-- wake-ups: context switches (common.lua: C.emit_threads).
local file, luas = arg[1], arg[2] or "lua5.1 lua5.4"

local data = {} -- data[lua][tag][key][impl] = {values}
for line in io.lines(file) do
  local lua, tag, impl, key, v = line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
  v = tonumber(v)
  if v then
    data[lua] = data[lua] or {}
    local d = data[lua]
    d[tag] = d[tag] or {}
    d[tag][key] = d[tag][key] or {}
    d[tag][key][impl] = d[tag][key][impl] or {}
    table.insert(d[tag][key][impl], v)
  end
end

-- better: "lo" or "hi" (nil: no direction); ratio: show mit/luv; mul:
-- scale applied to the raw value (e.g. s -> ms).
local function M(tag, key, label, better, ratio, mul)
  return { tag = tag, key = key, label = label, better = better, ratio = ratio, mul = mul or 1 }
end
-- Each section ends with the noise of its runs: the share of the
-- machine's CPU that other processes used meanwhile (run.sh measures it).
local layout = {}
local function section(title, tag, metrics)
  table.insert(layout, { title })
  for _, m in ipairs(metrics) do table.insert(layout, m) end
  table.insert(layout, M(tag, "noise_pct", "(noise: others' CPU %)", nil, false))
end
section("1 dispatch (100 000 due events, one drain)", "dispatch", {
  M("dispatch", "dispatch.ns", "ns per callback", "lo", true),
})
section("2 arm (100 000 one-offs at 60 s)", "arm", {
  M("arm", "arm.ns", "ns per arm (floor: a table)", "lo", true),
  M("arm", "arm.cpu_ns", "CPU ns per arm, all threads", "lo", true),
})
section("3 prompt loop (8 timers x 1 ms, 1 s)", "prompt", {
  M("prompt", "prompt.cb_per_s", "callbacks/s (ideal 8000)", "hi", true),
  M("prompt", "prompt.cpu_us_per_cb", "CPU us per callback", "lo", true),
  M("prompt", "prompt.cpu_pct", "CPU % of one core", "lo", false),
  M("prompt", "prompt.loops_per_s", "wait()/select() returns/s", nil, false),
  M("prompt", "prompt.go_cpu_us_per_exp", "Go CPU us / callback", "lo", false),
  M("prompt", "prompt.go_wakes_per_exp", "Go wake-ups / 1000 callbacks", "lo", false, 1000),
  M("prompt", "prompt.lua_wakes_per_exp", "Lua wake-ups / 1000 callbacks", "lo", false, 1000),
})
section("4 wake latency (20 ms one-off, 200x), us after due", "wake", {
  M("wake", "wake.p50_us", "p50", "lo", false),
  M("wake", "wake.p90_us", "p90", "lo", false),
  M("wake", "wake.p99_us", "p99", "lo", true),
  M("wake", "wake.max_us", "max", "lo", false),
  M("wake", "wake.min_us", "min (< 0: fired early)", nil, false),
  M("wake", "wake.go_cpu_us_per_exp", "Go CPU us / expiration", "lo", false),
  M("wake", "wake.go_wakes_per_exp", "Go wake-ups / expiration", "lo", false),
  M("wake", "wake.lua_wakes_per_exp", "Lua wake-ups / expiration", "lo", false),
})
section("5 drift (10 ms interval, 400 ticks), ms", "drift", {
  M("drift", "drift.lag_ms", "lag of tick 400 vs ideal", "lo", false),
  M("drift", "drift.p99_dev_ms", "p99 |tick - ideal|", "lo", false),
  M("drift", "drift.p99_period_jitter_ms", "p99 |interval - 10 ms|", "lo", false),
  M("drift", "drift.go_cpu_us_per_exp", "Go CPU us / tick", "lo", false),
  M("drift", "drift.go_wakes_per_exp", "Go wake-ups / tick", "lo", false),
  M("drift", "drift.lua_wakes_per_exp", "Lua wake-ups / tick", "lo", false),
})
for _, sc in ipairs({
  { "scale1000", "K=1 000", false },
  { "scale10000", "K=10 000", true },
  { "scale100000", "K=100 000", false },
}) do
  local tag, name, target = sc[1], sc[2], sc[3] -- ratios on the target K only
  section("6 scale " .. name .. " intervals at 100 ms, ~2 s", tag, {
    M(tag, "scale.rss_mb", "peak RSS MB (VmHWM)", "lo", target),
    M(tag, "scale.bytes_per_timer", "RSS growth B per timer", "lo", false),
    M(tag, "scale.arm_ms", "arm all, ms", "lo", false),
    M(tag, "scale.cpu_s", "loop CPU s", "lo", target),
    M(tag, "scale.delivered_pct", "delivered % of ideal", "hi", false),
    M(tag, "scale.teardown_ms", "teardown (destroy all) ms", "lo", false),
    M(tag, "scale.waits", "wait/select returns in loop", nil, false),
    M(tag, "scale.go_cpu_us_per_exp", "Go CPU ns / callback", "lo", false, 1000),
    M(tag, "scale.go_wakes_per_exp", "Go wake-ups / 1000 callbacks", "lo", false, 1000),
    M(tag, "scale.lua_wakes_per_exp", "Lua wake-ups / 1000 callbacks", "lo", false, 1000),
  })
end
section("6 scale K=1 000 000 one-offs at 60 s, then destroyed", "scale1M", {
  M("scale1M", "scale.rss_mb", "peak RSS MB (VmHWM)", "lo", false),
  M("scale1M", "scale.bytes_per_timer", "RSS growth B per timer", "lo", false),
  M("scale1M", "scale.arm_ms", "arm all, ms", "lo", false),
  M("scale1M", "scale.teardown_ms", "teardown (destroy all) ms", "lo", false),
  M("scale1M", "scale.proc_cpu_s", "process CPU s (all of it)", "lo", false),
})
section("7 idle (2 s, nothing due)", "idle", {
  M("idle", "idle.cpu_s", "CPU ms, all threads", "lo", false, 1000),
  M("idle", "idle.returns", "wait returns (ideal 1)", "lo", false),
  M("idle", "idle.ctxsw", "context switches, all threads", "lo", false),
  M("idle", "idle.threads", "threads in the process", "lo", false),
  M("idle", "idle.go_cpu_us", "Go CPU us, total", "lo", false),
  M("idle", "idle.go_wakes", "Go wake-ups, total", "lo", false),
  M("idle", "idle.lua_wakes", "Lua wake-ups, total", "lo", false),
})

local function median(t)
  local s = {}
  for i, v in ipairs(t) do s[i] = v end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local function fmt(v)
  local a = math.abs(v)
  if v == math.floor(v) and a < 1e15 then return string.format("%.0f", v)
  elseif a >= 100 then return string.format("%.0f", v)
  elseif a >= 10 then return string.format("%.1f", v)
  elseif a >= 1 then return string.format("%.2f", v)
  elseif a == 0 then return "0"
  else return string.format("%.3f", v) end
end

local function cell(vals, mul)
  if not vals or #vals == 0 then return "-", nil end
  local s = {}
  for i, v in ipairs(vals) do s[i] = v * mul end
  table.sort(s)
  local m = median(s)
  if #s == 1 then return fmt(m), m end
  return string.format("%s [%s..%s]", fmt(m), fmt(s[1]), fmt(s[#s])), m
end

local lualist = {}
for l in luas:gmatch("%S+") do lualist[#lualist + 1] = l end

-- Optional columns: shown only if some result of the main table has them.
local has_impl = {}
for _, lua in ipairs(lualist) do
  for tag, keys in pairs(data[lua] or {}) do
    if tag ~= "tasks" then
      for _, impls in pairs(keys) do
        for impl in pairs(impls) do has_impl[impl] = true end
      end
    end
  end
end
local show_fd, show_floor = has_impl.mitfd == true, has_impl.floor == true

-- columns: { header, width, left-aligned }
local COLS = { { "metric", 32, true }, { "lua", 7 }, { "luamockit", 22 } }
if show_fd then COLS[#COLS + 1] = { "mitfd", 22 } end
COLS[#COLS + 1] = { "luv", 22 }
if show_floor then COLS[#COLS + 1] = { "floor", 18 } end
COLS[#COLS + 1] = { "mit/luv", 8 }
if show_fd then COLS[#COLS + 1] = { "fd/luv", 7 } end
COLS[#COLS + 1] = { "better", 6 }
if show_fd then COLS[#COLS + 1] = { "fd-better", 9 } end

local function line(cells)
  local out = {}
  for i, c in ipairs(COLS) do
    local v = cells[c[1]] or ""
    if c[3] then out[i] = string.format("%-" .. c[2] .. "s", v)
    else out[i] = string.format("%" .. c[2] .. "s", v) end
  end
  print((table.concat(out, " "):gsub("%s+$", "")))
end
local total_w = -1
for _, c in ipairs(COLS) do total_w = total_w + c[2] + 1 end

local function has(m)
  for _, lua in ipairs(lualist) do
    if data[lua] and data[lua][m.tag] and data[lua][m.tag][m.key] then return true end
  end
  return false
end
local any_main = false
for _, m in ipairs(layout) do
  if m.key and has(m) then any_main = true break end
end
if any_main then
  local hdr = {}
  for _, c in ipairs(COLS) do hdr[c[1]] = c[1] end
  line(hdr)
  print(string.rep("-", total_w))
end

-- ratio a/b and which of the two is better (name for a, "luv" for b, "~")
local function compare(m, a, b, name)
  local ratio, better = "", ""
  if a and b then
    if m.ratio and b ~= 0 then ratio = string.format("%.2f", a / b) end
    if m.better then
      local lo, hi = math.min(a, b), math.max(a, b)
      if hi - lo <= 0.05 * math.max(math.abs(lo), math.abs(hi)) then better = "~"
      elseif (m.better == "lo") == (a < b) then better = name
      else better = "luv" end
    end
  end
  return ratio, better
end

for idx, m in ipairs(layout) do
  if not m.key then
    local any = false
    for j = idx + 1, #layout do
      if not layout[j].key then break end
      if has(layout[j]) then any = true break end
    end
    if any then print(m[1]) end
  else
    for _, lua in ipairs(lualist) do
      local d = data[lua] and data[lua][m.tag] and data[lua][m.tag][m.key]
      if d then
        local c = { metric = "  " .. m.label, lua = lua }
        local mm, mf, ml
        c.luamockit, mm = cell(d.mit, m.mul)
        c.mitfd, mf = cell(d.mitfd, m.mul)
        c.luv, ml = cell(d.luv, m.mul)
        c.floor = cell(d.floor, m.mul)
        c["mit/luv"], c.better = compare(m, mm, ml, "mit")
        c["fd/luv"], c["fd-better"] = compare(m, mf, ml, "fd")
        line(c)
      end
    end
  end
end

-- Row 8 has columns of its own: luamockit.co tasks, the same wake-ups as
-- plain luamockit one-offs (no coroutine), copas threads, cqueues
-- coroutines.
local TW = { 32, 7, 22, 22, 22, 22 }
local function tline(cols)
  local out = {}
  for i, c in ipairs(cols) do
    if i == 1 then out[i] = string.format("%-" .. TW[i] .. "s", c)
    else out[i] = string.format("%" .. TW[i] .. "s", c) end
  end
  print((table.concat(out, " "):gsub("%s+$", "")))
end
local any_tasks = false
for _, lua in ipairs(lualist) do
  if data[lua] and data[lua].tasks then any_tasks = true end
end
if any_tasks then
  print()
  tline({ "8 tasks (10 000 x sleep 100 ms, 2 s)", "lua",
    "luamockit.co", "mit one-offs", "copas.pause", "cqueues.sleep" })
  print(string.rep("-", 32 + 7 + 4 * 22 + 5))
  for _, m in ipairs({
    { "tasks.cpu_us_per_wake", "CPU us per wake-up" },
    { "tasks.wakes_per_s", "wake-ups/s" },
    { "tasks.late_p50_ms", "late p50, ms" },
    { "tasks.late_p99_ms", "late p99, ms" },
    { "tasks.late_min_ms", "late min, ms (< 0: early)" },
    { "noise_pct", "(noise: others' CPU %)" },
  }) do
    for _, lua in ipairs(lualist) do
      local d = data[lua] and data[lua].tasks and data[lua].tasks[m[1]]
      if d then
        tline({ "  " .. m[2], lua, (cell(d.mit, 1)), (cell(d.floor, 1)), (cell(d.copas, 1)), (cell(d.cqueues, 1)) })
      end
    end
  end
end

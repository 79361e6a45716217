-- Shared helpers of the benchmark workloads (loaded with dofile by each
-- row script; runs under lua5.1, luajit and lua5.4).
--
-- A workload is run as:  <lua> <row>.lua <impl> [params...]
-- with impl one of "mit" (luamockit), "mitfd" (luamockit driven through
-- mit.fd(), below), "luv" or "floor" (the tasks row: "mit", "copas" or
-- "cqueues"), and prints one
-- "key value" line per measurement on stdout. LMK_BENCH_CPATH (set by
-- run.sh to <dir>/?.so, dir holding a copy of build/<abi>/luamockit.so
-- taken when run.sh started) is put in front of package.cpath, so the
-- module under test is the fresh build and luv still comes from the
-- system path. This checkout's lua/ (luamockit.socket, luamockit.co, ...)
-- comes first on package.path.
--
-- "mitfd" is luamockit as event-loop adapters drive it: mit.fd() is called
-- once, when C.mit() first loads the module (through
-- require("luamockit.socket").newfd(), an object whose getfd() is
-- mit.fd()), and the loop blocks in LuaSocket's
-- socket.select({waker}, nil, timeout_s) instead of mit.wait(ms), then
-- calls mit.process_events() as the mit loop does. The row scripts see
-- C.impl == "mit" (they take their luamockit branch) and C.fdmode == true;
-- C.impl_name is "mitfd". C.mit_wait(mit) returns the wait of either mode.
local C = {}

local cp = os.getenv("LMK_BENCH_CPATH")
if cp and cp ~= "" then package.cpath = cp .. ";" .. package.cpath end
do
  local here = arg and arg[0] and arg[0]:match("^(.*)/") or "."
  local lua = here .. "/../../lua"
  package.path = lua .. "/?.lua;" .. lua .. "/?/init.lua;" .. package.path
end

C.impl = arg and arg[1] or "mit"
C.impl_name = C.impl
C.fdmode = false
-- copas and cqueues: the tasks row's other implementations.
local IMPLS = { mit = true, mitfd = true, luv = true, floor = true, copas = true, cqueues = true }
if not IMPLS[C.impl] then
  error("impl must be mit, mitfd, luv, floor, copas or cqueues, not " .. tostring(C.impl))
end
if C.impl == "mitfd" then
  C.impl, C.fdmode = "mit", true
end

-- Loads luamockit, after checking that the build under test exists (its
-- directory comes first in package.cpath, so require finds it first).
local mit_checked = false
function C.mit()
  if not mit_checked and cp and cp ~= "" then
    local dir = cp:match("^(.*)/%?%.so")
    local f = dir and io.open(dir .. "/luamockit.so", "rb")
    if not f then error("luamockit.so not found under " .. tostring(dir)) end
    f:close()
    mit_checked = true
  end
  local mit = require("luamockit")
  if C.fdmode and not C.waker then
    -- fd mode: mit.fd() once, at start (before any timer is armed)
    C.waker = require("luamockit.socket").newfd()
  end
  return mit
end

-- The wait of the luamockit loop: mit.wait(ms), or in fd mode
-- socket.select({waker}, nil, ms / 1000) (returns when the fd is readable
-- or the time has passed). Same results as mit.wait: 0, or 1 and a
-- message on failure. ms > 0 (mit.wait(0) would mean "no timeout").
function C.mit_wait(mit)
  if not C.fdmode then return mit.wait end
  if not C.waker then C.mit() end
  local select = require("socket").select
  local set = { C.waker }
  return function(ms)
    local _, _, err = select(set, nil, ms / 1000)
    if err and err ~= "timeout" then return 1, err end
    return 0
  end
end

-- Monotonic clock in ms for the implementation under test: luamockit's own
-- monotime() for mit, luv's hrtime() (ns) otherwise. Both read
-- CLOCK_MONOTONIC. The floor uses luv's, which starts no thread.
function C.clock()
  if C.impl == "mit" then
    return C.mit().monotime
  end
  local uv = require("luv")
  local hrtime = uv.hrtime
  return function() return hrtime() / 1e6 end
end

function C.emit(key, v)
  io.write(key, " ", string.format("%.10g", v), "\n")
  io.flush()
end

-- A field of /proc/self/status in kB (VmHWM, VmRSS).
function C.status_kb(field)
  local f = assert(io.open("/proc/self/status", "r"))
  local s = f:read("*a")
  f:close()
  local v = s:match(field .. ":%s*(%d+)")
  return tonumber(v)
end

-- Nearest-rank percentile of an array (sorted in place).
function C.percentile(t, p, sorted)
  if not sorted then table.sort(t) end
  local n = #t
  if n == 0 then return 0 / 0 end
  local i = math.ceil(p / 100 * n)
  if i < 1 then i = 1 end
  if i > n then i = n end
  return t[i]
end

-- Per-thread counters, read from /proc/<pid>/task/<tid>/:
--   CPU: the run time in ns of schedstat (its first field: the scheduler's
--     exact sum, which the kernel provides with CONFIG_SCHED_INFO, as
--     Debian's and most do); where that file is missing, utime + stime of
--     stat (fields 14 and 15, in clock ticks: 10 ms steps at 100 Hz,
--     truncated per thread, which over a few seconds reads low by up to a
--     tick per thread).
--   context switches: voluntary + nonvoluntary from status (how often the
--     thread went to sleep or was preempted, i.e. its wake-ups).
local pid_cache, hz_cache
local function self_pid()
  if not pid_cache then
    local f = assert(io.open("/proc/self/stat", "r"))
    pid_cache = f:read("*a"):match("^(%d+)")
    f:close()
  end
  return pid_cache
end

-- Clock ticks per second: LMK_BENCH_HZ (run.sh sets it), else
-- `getconf CLK_TCK`, else 100.
function C.hz()
  if not hz_cache then
    hz_cache = tonumber(os.getenv("LMK_BENCH_HZ") or "")
    if not hz_cache then
      local p = io.popen("getconf CLK_TCK 2>/dev/null")
      hz_cache = p and tonumber(p:read("*a"):match("%d+") or "")
      if p then p:close() end
    end
    hz_cache = hz_cache or 100
  end
  return hz_cache
end

local function read_task(pid, tid)
  local base = "/proc/" .. pid .. "/task/" .. tid
  local cpu
  local f = io.open(base .. "/schedstat", "r")
  if f then
    local ns = tonumber(f:read("*a"):match("^(%d+)") or "")
    f:close()
    if ns then cpu = ns / 1e9 end
  end
  if not cpu then
    f = io.open(base .. "/stat", "r")
    if not f then return nil end
    local st = f:read("*a")
    f:close()
    -- the fields after "(comm)": the comm may hold spaces and parentheses
    local rest = st and st:match("^.*%)%s+(.*)$")
    if not rest then return nil end
    local fld, i = {}, 2
    for w in rest:gmatch("%S+") do
      i = i + 1
      fld[i] = w
      if i >= 15 then break end
    end
    cpu = ((tonumber(fld[14]) or 0) + (tonumber(fld[15]) or 0)) / C.hz()
  end
  local s = io.open(base .. "/status", "r")
  if not s then return nil end
  local txt = s:read("*a")
  s:close()
  return {
    cpu = cpu, -- seconds
    cs = tonumber(txt:match("\nvoluntary_ctxt_switches:%s*(%d+)") or 0)
      + tonumber(txt:match("\nnonvoluntary_ctxt_switches:%s*(%d+)") or 0),
  }
end

local function list_tids(pid)
  local ls = io.popen("ls /proc/" .. pid .. "/task 2>/dev/null")
  if not ls then return {} end
  local tids = {}
  for tid in ls:lines() do tids[#tids + 1] = tid end
  ls:close()
  return tids
end

-- A snapshot of every thread of this process: { pid =, n =, t = { [tid] =
-- { cpu = seconds, cs = context switches } } }. The thread listing runs
-- in a child (popen), then each thread's files are read: call it before
-- the measured window.
function C.threads()
  local pid = self_pid()
  C.hz()
  local snap = { pid = pid, t = {}, n = 0 }
  for _, tid in ipairs(list_tids(pid)) do
    local r = read_task(pid, tid)
    if r then snap.t[tid] = r; snap.n = snap.n + 1 end
  end
  return snap
end

-- The snapshot at the end of the window begun with s0: the threads of s0
-- are read first, with no child process; only if /proc/<pid>/status
-- counts more threads than that (one was started in the window) is the
-- listing run (popen) and the new threads read (all their counts fall in
-- the window: they did not exist at its start).
function C.threads_end(s0)
  local pid = s0.pid
  local snap = { pid = pid, t = {}, n = 0 }
  for tid in pairs(s0.t) do
    local r = read_task(pid, tid)
    if r then snap.t[tid] = r; snap.n = snap.n + 1 end
  end
  local f = io.open("/proc/" .. pid .. "/status", "r")
  local count = f and tonumber(f:read("*a"):match("\nThreads:%s*(%d+)") or "")
  if f then f:close() end
  if count and count > snap.n then
    for _, tid in ipairs(list_tids(pid)) do
      if not snap.t[tid] then
        local r = read_task(pid, tid)
        if r then snap.t[tid] = r; snap.n = snap.n + 1 end
      end
    end
  end
  return snap
end

-- What the threads did between s0 and s1: CPU seconds and context
-- switches of the threads other than the main (Lua) one (tid == pid: for
-- luamockit, the Go runtime's threads), and the main thread's context
-- switches. A thread gone by s1 is not counted.
function C.thread_usage(s0, s1)
  local other_cpu, other_cs, main_cs = 0, 0, 0
  for tid, r1 in pairs(s1.t) do
    local r0 = s0.t[tid] or { cpu = 0, cs = 0 }
    if tid == s1.pid then
      main_cs = main_cs + (r1.cs - r0.cs)
    else
      other_cpu = other_cpu + (r1.cpu - r0.cpu)
      other_cs = other_cs + (r1.cs - r0.cs)
    end
  end
  return other_cpu, other_cs, main_cs
end

-- Emits the thread metrics of a window (s0, s1) that delivered nexp
-- expirations: <row>.go_cpu_us_per_exp and <row>.go_wakes_per_exp (the
-- threads other than the main one; luamockit only: luv has none) and
-- <row>.lua_wakes_per_exp (the main thread; every implementation). With
-- nexp nil (nothing expires in the window): the totals <row>.go_cpu_us,
-- <row>.go_wakes and <row>.lua_wakes.
function C.emit_threads(row, s0, s1, nexp)
  local cpu, ocs, mcs = C.thread_usage(s0, s1)
  if nexp then
    if nexp <= 0 then return end
    if C.impl == "mit" then
      C.emit(row .. ".go_cpu_us_per_exp", cpu * 1e6 / nexp)
      C.emit(row .. ".go_wakes_per_exp", ocs / nexp)
    end
    C.emit(row .. ".lua_wakes_per_exp", mcs / nexp)
  else
    if C.impl == "mit" then
      C.emit(row .. ".go_cpu_us", cpu * 1e6)
      C.emit(row .. ".go_wakes", ocs)
    end
    C.emit(row .. ".lua_wakes", mcs)
  end
end

-- Context switches (voluntary + involuntary) of every thread of this
-- process, from /proc/<pid>/task/*/status, the number of threads, and the
-- snapshot (C.threads) they come from. The listing runs in a child
-- (popen) before the files are read: call it before and after the
-- measured window, never inside it.
function C.ctxt_switches()
  local ok, snap = pcall(C.threads)
  if not ok then return 0 / 0 end
  local total = 0
  for _, r in pairs(snap.t) do total = total + r.cs end
  return total, snap.n, snap
end

-- The luamockit event loop: wait()/process_events() (fd mode: select on
-- the waker, C.mit_wait) until the clock
-- passes tend or done() says so. Returns the number of wait() calls and
-- the clock when the last process_events() was called (it runs what was
-- queued by then, which is later than tend if the process was descheduled
-- just before). wait(0) means "no timeout", so a deadline that has passed
-- ends the loop instead of reaching wait.
function C.mit_loop(mit, tend, done)
  local now, wait, process = mit.monotime, C.mit_wait(mit), mit.process_events
  local waits, last = 0, now()
  while true do
    if done and done() then break end
    local left = tend - now()
    if left <= 0 then break end
    local rc, msg = wait(left)
    if rc ~= 0 then error("wait failed: " .. tostring(msg)) end
    waits = waits + 1
    last = now()
    process()
  end
  return waits, last
end

return C

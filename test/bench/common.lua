-- Shared helpers of the benchmark workloads (loaded with dofile by each
-- row script; runs under lua5.1, luajit and lua5.4).
--
-- A workload is run as:  <lua> <row>.lua <impl> [params...]
-- with impl one of "mit" (luamockit), "luv" or "floor" (the tasks row:
-- "mit", "copas" or "cqueues"), and prints one
-- "key value" line per measurement on stdout. LMK_BENCH_CPATH (set by
-- run.sh to <dir>/?.so, dir holding a copy of build/<abi>/luamockit.so
-- taken when run.sh started) is put in front of package.cpath, so the
-- module under test is the fresh build and luv still comes from the
-- system path.
local C = {}

local cp = os.getenv("LMK_BENCH_CPATH")
if cp and cp ~= "" then package.cpath = cp .. ";" .. package.cpath end

C.impl = arg and arg[1] or "mit"
-- copas and cqueues: the tasks row's other implementations.
local IMPLS = { mit = true, luv = true, floor = true, copas = true, cqueues = true }
if not IMPLS[C.impl] then
  error("impl must be mit, luv, floor, copas or cqueues, not " .. tostring(C.impl))
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
  return require("luamockit")
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

-- Context switches (voluntary + involuntary) of every thread of this
-- process, from /proc/<pid>/task/*/status. The listing runs in a child
-- (popen) before and after the measured window, never inside it.
function C.ctxt_switches()
  local f = io.open("/proc/self/stat", "r")
  if not f then return 0 / 0 end
  local pid = f:read("*a"):match("^(%d+)")
  f:close()
  local ls = io.popen("ls /proc/" .. pid .. "/task 2>/dev/null")
  if not ls then return 0 / 0 end
  local tids = {}
  for tid in ls:lines() do tids[#tids + 1] = tid end
  ls:close()
  local total = 0
  for _, tid in ipairs(tids) do
    local s = io.open("/proc/" .. pid .. "/task/" .. tid .. "/status", "r")
    if s then
      local txt = s:read("*a")
      s:close()
      total = total + tonumber(txt:match("\nvoluntary_ctxt_switches:%s*(%d+)") or 0)
        + tonumber(txt:match("\nnonvoluntary_ctxt_switches:%s*(%d+)") or 0)
    end
  end
  return total, #tids
end

-- The luamockit event loop: wait()/process_events() until the clock
-- passes tend or done() says so. Returns the number of wait() calls and
-- the clock when the last process_events() was called (it runs what was
-- queued by then, which is later than tend if the process was descheduled
-- just before). wait(0) means "no timeout", so a deadline that has passed
-- ends the loop instead of reaching wait.
function C.mit_loop(mit, tend, done)
  local now, wait, process = mit.monotime, mit.wait, mit.process_events
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

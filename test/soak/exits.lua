-- Exit runs: runs test/soak/exit_child.lua N times in each mode (a: normal
-- end, b: os.exit(0, true) / os.exit(0) on 5.1, c: os.exit(3)) under the
-- interpreter $LMK_LUA (else arg[2], else lua5.4) and checks each run's
-- exit status (0, 0, 3: no signal) through the shell, that stderr is
-- empty, and that the child reached its exit (its stdout line).
--
--   LUA_CPATH=... LMK_LUA=lua5.4 lua5.4 test/soak/exits.lua [N] [interp]
--
-- The children inherit LUA_CPATH. Lua 5.1 syntax only.
local N = tonumber(arg and arg[1]) or 100
local interp = (arg and arg[2]) or os.getenv("LMK_LUA") or "lua5.4"
local dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local child = dir .. "/exit_child.lua"

local function shquote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function readfile(name)
  local f = io.open(name, "rb")
  if not f then return "" end
  local s = f:read("*a") or ""
  f:close()
  return s
end

local want = { a = 0, b = 0, c = 3 }
local errf = os.tmpname()
local t0 = os.time()
local ok_all = true
local parts = {}
local first_bad
for _, mode in ipairs({ "a", "b", "c" }) do
  local good, rcs = 0, {}
  for run = 1, N do
    local cmd = string.format("%s %s %s 2>%s </dev/null; echo \"__RC__=$?\"",
      shquote(interp), shquote(child), mode, shquote(errf))
    local p = assert(io.popen(cmd, "r"))
    local out = p:read("*a") or ""
    p:close()
    local rc = tonumber(out:match("__RC__=(%d+)%s*$"))
    local err = readfile(errf)
    rcs[tostring(rc)] = (rcs[tostring(rc)] or 0) + 1
    if rc == want[mode] and err == "" and out:match("^armed %d+ ran %d+ left %d+\n") then
      good = good + 1
    else
      ok_all = false
      first_bad = first_bad or string.format("mode %s run %d: rc=%s stdout=%q stderr=%q",
        mode, run, tostring(rc), out:sub(1, 200), err:sub(1, 400))
    end
  end
  local rclist = {}
  for k, v in pairs(rcs) do rclist[#rclist + 1] = "rc=" .. k .. " x" .. v end
  table.sort(rclist)
  parts[#parts + 1] = string.format("%s %d/%d ok (%s)", mode, good, N, table.concat(rclist, ", "))
end
os.remove(errf)
print(string.format("exits: %s, %d runs per mode: %s; empty stderr required; %d s%s %s",
  interp, N, table.concat(parts, "; "), os.time() - t0,
  first_bad and (" first failure: " .. first_bad) or "", ok_all and "PASS" or "FAIL"))
os.exit(ok_all and 0 or 1)

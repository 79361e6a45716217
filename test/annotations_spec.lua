-- The LuaLS definitions (lua/luamockit/types.lua) against the modules as
-- they load: every public name has a ---@field in its ---@class, and every
-- ---@field names something that exists.
--
-- The public names are listed in a child process of the same interpreter
-- (attaching adapters and making wakers sets luamockit's runner, fd and
-- port: none of that touches this process's state). "Public": every key of
-- each module table, of a timer's, a signal handle's, a co task's, an adapter handle's and a
-- waker's methods (__index, metamethods aside), and of stats(). A field may
-- also name an instance's own key (waker.port): those exist, but are not
-- all required.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")

local TYPES = "lua/luamockit/types.lua"

-- Parses the definitions: { [class] = { [field] = line } }, or raises on
-- what the check could not see (a field outside a class, a field twice, a
-- function declaration: every declaration is a ---@field).
local function parse(text)
  local classes, cur, n = {}, nil, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local class = line:match("^%-%-%-@class%s+([%w_.]+)")
    local field = line:match("^%-%-%-@field%s+([%w_]+)")
    if class then
      cur = class
      classes[cur] = classes[cur] or {}
    elseif field then
      assert(cur, TYPES .. ":" .. n .. ": ---@field outside a ---@class")
      assert(not classes[cur][field], TYPES .. ":" .. n .. ": " .. cur .. "." .. field .. " declared twice")
      classes[cur][field] = n
    elseif line:match("^%-%-%-@alias") or not line:match("^%-%-%-") then
      cur = nil
    end
    assert(not line:match("^%s*function[%s(]") and not line:match("^%s*local%s+function"),
      TYPES .. ":" .. n .. ": declare it as a ---@field of a ---@class, which the check sees")
  end
  return classes
end

-- What the child runs: prints "class name required|exists" lines.
local LIST = [[
local mit = require("luamockit")
local out = {}
local function emit(class, name, kind) out[#out + 1] = class .. " " .. name .. " " .. kind end
local function keys(class, t, kind)
  for k in pairs(t) do
    if type(k) == "string" and k:sub(1, 2) ~= "__" then emit(class, k, kind) end
  end
end
-- an object's methods (required) and its own keys (may be annotated)
local function object(class, obj)
  local mt = debug.getmetatable(obj)
  keys(class, mt.__index, "required")
  if type(obj) == "table" then keys(class, obj, "exists") end
end

keys("luamockit", mit, "required")
local t = mit.oneoff(60000, function() end)
object("luamockit.timer", t)
t:destroy()
local s = mit.signal("WINCH", function() end)
object("luamockit.signal", s)
s:destroy()
keys("luamockit.stats", mit.stats(), "required")

local co = require("luamockit.co")
keys("luamockit.co", co, "required")
local task = co.spawn(function() end)
object("luamockit.co.task", task)
task:cancel()

keys("luamockit.adapter", require("luamockit.adapter"), "required")

local copas = require("luamockit.copas")
keys("luamockit.copas", copas, "required")
-- a copas stand-in: attach() only adds a thread (never run here)
local h = copas.attach({ addthread = function() return {} end, receive = function() end })
object("luamockit.adapter.handle", h)
h:detach()

local cqueues = require("luamockit.cqueues")
keys("luamockit.cqueues", cqueues, "required")
h = cqueues.attach(require("cqueues").new())
object("luamockit.adapter.handle", h)
h:detach()

local msock = require("luamockit.socket")
keys("luamockit.socket", msock, "required")
local w = assert(msock.new())
object("luamockit.socket.waker", w)
w:close()
w = msock.newfd()
object("luamockit.socket.fdwaker", w)
w:close()
io.write(table.concat(out, "\n"), "\n")
]]

-- { [class] = { [name] = "required"|"exists" } } of the modules as loaded.
local function public_names()
  local r = H.run_lua(("package.path = %q\n"):format(package.path) .. LIST)
  assert.are.equal(0, r.rc, r.err)
  local names = {}
  for class, name, kind in r.out:gmatch("(%S+) (%S+) (%S+)\n") do
    names[class] = names[class] or {}
    if names[class][name] ~= "required" then names[class][name] = kind end
  end
  return names
end

local function sorted(set)
  local t = {}
  for k in pairs(set) do t[#t + 1] = k end
  table.sort(t)
  return t
end

describe("the LuaLS definitions (lua/luamockit/types.lua)", function()
  local f = assert(io.open(TYPES, "rb"))
  local text = f:read("*a")
  f:close()

  it("cover every public name of every shipped module, and name nothing that does not exist", function()
    local declared = parse(text)
    local actual = public_names()
    local missing, bogus = {}, {}
    for _, class in ipairs(sorted(actual)) do
      local fields = declared[class]
      if not fields then
        missing[#missing + 1] = "---@class " .. class
      else
        for _, name in ipairs(sorted(actual[class])) do
          if actual[class][name] == "required" and not fields[name] then
            missing[#missing + 1] = class .. "." .. name
          end
        end
      end
    end
    for _, class in ipairs(sorted(declared)) do
      if not actual[class] then
        bogus[#bogus + 1] = "---@class " .. class .. ": no such module or object"
      else
        for _, name in ipairs(sorted(declared[class])) do
          if not actual[class][name] then
            bogus[#bogus + 1] = class .. "." .. name .. " (" .. TYPES .. ":" .. declared[class][name] .. ")"
          end
        end
      end
    end
    assert.are.same({ no_annotation = {}, names_nothing = {} }, { no_annotation = missing, names_nothing = bogus },
      "no_annotation: public names without a ---@field; names_nothing: ---@field/---@class of nothing")
    -- the check saw something of each kind
    for _, class in ipairs({ "luamockit", "luamockit.timer", "luamockit.signal", "luamockit.stats", "luamockit.co.task",
      "luamockit.adapter.handle", "luamockit.socket.waker", "luamockit.socket.fdwaker" }) do
      assert.is_truthy(actual[class] and next(actual[class]), class)
    end
  end)

  it("is a ---@meta file for luamockit, and requiring it returns an empty table", function()
    assert.is_truthy(text:match("^%-%-%-@meta luamockit\n"), "first line: ---@meta luamockit")
    local types = require("luamockit.types")
    assert.are.equal("table", type(types))
    assert.is_nil(next(types))
    package.loaded["luamockit.types"] = nil
  end)

  it("is named by each pure-Lua module's table (---@type luamockit.<name>)", function()
    for _, m in ipairs({ "co", "copas", "cqueues", "socket", "adapter" }) do
      local src = assert(io.open("lua/luamockit/" .. m .. ".lua", "rb"))
      local s = src:read("*a")
      src:close()
      assert.is_truthy(s:match("\n%-%-%-@type luamockit%." .. m .. "\nlocal M = "), m .. ".lua")
    end
  end)
end)

-- luamockit.copas and the copas side of luamockit.socket, against real
-- copas: the cases of test/copas_cases.lua, in-process with the copas on
-- package.path (Debian's copas 1.x, for lua5.1, lua5.2 and LuaJIT), and
-- in a child process with a copas 4.x whose modules (copas, binaryheap,
-- timerwheel, coxpcall) are under $LMK_COPAS4_PATH, when it is set.
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local has_socket, socket = pcall(require, "socket")
local has_copas, copas = pcall(require, "copas")

local cases = dofile("test/copas_cases.lua")

describe("luamockit.copas", function()
  if not has_socket then
    pending("LuaSocket is not installed for " .. _VERSION)
    return
  end

  describe("with the installed copas", function()
    if not has_copas then
      pending("copas is not installed for " .. _VERSION .. " (Debian packages it for 5.1 and 5.2)")
      return
    end
    before_each(H.reset)
    after_each(H.reset)
    local c = {
      copas = copas, mit = mit, socket = socket, assert = assert,
      adapter = require("luamockit.copas"), msock = require("luamockit.socket"),
      co = require("luamockit.co"), tp = select(2, pcall(require, "testproducer")),
    }
    for _, k in ipairs(cases) do
      it(k[1] .. " (" .. tostring(copas._VERSION) .. ")", function()
        if k[2](c) == "skip" then pending("not this copas generation") end
      end)
    end

    it("attach() rejects what is not copas", function()
      H.raises("bad argument #1 to 'attach' %(copas module expected%)", c.adapter.attach, {})
    end)
  end)

  describe("with copas 4.x from $LMK_COPAS4_PATH", function()
    local dir = os.getenv("LMK_COPAS4_PATH")
    if not dir or dir == "" then
      pending("LMK_COPAS4_PATH is not set (a directory with copas.lua 4.x and its dependencies)")
      return
    end
    it("passes every case in a child process (slow: a fresh interpreter)", function()
      local r = H.run_lua(([[
        local dir = %q
        package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;lua/?.lua;lua/?/init.lua;" .. package.path
        local copas = require("copas")
        io.write("version ", copas._VERSION, "\n")
        local c = {
          copas = copas, mit = require("luamockit"), socket = require("socket"),
          assert = require("luassert"), adapter = require("luamockit.copas"),
          msock = require("luamockit.socket"), co = require("luamockit.co"),
          tp = select(2, pcall(require, "testproducer")),
        }
        for _, k in ipairs(dofile("test/copas_cases.lua")) do
          local ok, err = pcall(k[2], c)
          io.write(ok and "ok" or "FAIL", " ", k[1], ok and "" or (": " .. tostring(err)), "\n")
        end
      ]]):format(dir))
      assert.equal(0, r.rc, r.err)
      assert.matches("version Copas 4", r.out)
      assert.is_nil(r.out:match("FAIL[^\n]*"), r.out)
      local n = select(2, r.out:gsub("\nok ", ""))
      assert.equal(#cases, n, r.out)
    end)
  end)
end)

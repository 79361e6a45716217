-- luacheck configuration (make lint: `luacheck lua test`).
-- Everything here runs under lua5.1, lua5.2, lua5.3, lua5.4 and LuaJIT.

-- Tests, benchmarks and the demo may use any version's globals behind a
-- run-time check (`if math.type then`, `rawget(_G, "jit")`).
std = "max"
max_line_length = 120

-- The shipped module code must run unchanged on every interpreter: only
-- globals common to all of them.
files["lua"] = {
  std = "min",
}

files["test"] = {
  -- Callbacks are written with the signature luamockit calls them with
  -- (`function(thread, seq)`), used or not.
  unused_args = false,
  -- `t = t:destroy()` (the documented idiom) and `x = nil` before a
  -- collection drop references on purpose.
  ignore = { "311" },
}

-- busted specs: describe, it, pending, before_each, after_each, setup,
-- teardown, lazy_setup, strict_setup, insulate, expose, finally, spy, stub,
-- mock, and busted's assert (luassert).
files["test/**/*_spec.lua"] = {
  std = "max+busted",
  -- A test's name is the sentence that says what a user would notice; the
  -- `it("...", function()` line carries it whole.
  max_line_length = false,
}

-- examples/testing: a user's busted specs (docs/testing.md).
files["examples/**/*_spec.lua"] = {
  std = "max+busted",
}

exclude_files = {}

-- luamockit.socket: the LuaSocket/copas helper module (lua/luamockit/socket.lua).
local H = package.loaded["test.helpers"] or dofile("test/helpers.lua")
local mit = require("luamockit")
local has_socket, socket = pcall(require, "socket")
local has_copas, copas = pcall(require, "copas")

describe("luamockit.socket", function()
  if not has_socket then
    pending("LuaSocket is not installed for " .. _VERSION)
    return
  end
  local msock = require("luamockit.socket")

  after_each(function()
    mit.setport(0)
    mit.process_events()
  end)

  it("binds a loopback UDP socket and points setport at it", function()
    local w = assert(msock.new())
    assert.is_number(w.port)
    assert.are.equal(w.port, mit.getport())
    w:close()
    assert.are.equal(0, mit.getport())
    w:close() -- twice is harmless
  end)

  it("handle() after close() returns 0 at once and runs nothing", function()
    local w = assert(msock.new())
    local ran = 0
    H.track(mit.oneoff(0, function() ran = ran + 1 end))
    H.await_pending(1)
    w:close()
    local t0 = mit.monotime()
    assert.equal(0, w:handle())
    assert.is_true(mit.monotime() - t0 < 100, "handle() after close took " .. (mit.monotime() - t0) .. " ms")
    assert.equal(0, ran)
    assert.equal(1, mit.process_events())
  end)

  it("wakes socket.select when a timer fires, and handle() runs the callbacks", function()
    local w = assert(msock.new())
    local ran = 0
    mit.oneoff(30, function() ran = ran + 1 end)
    local t0 = mit.monotime()
    local ready = socket.select({ w.socket }, nil, 5)
    local waited = mit.monotime() - t0
    assert.is_truthy(ready[w.socket], "select timed out instead of waking")
    assert.is_true(waited >= 25, "woke before the timer was due: " .. waited)
    assert.are.equal(1, w:handle())
    assert.are.equal(1, ran)
    -- nothing queued: the socket is quiet again
    ready = socket.select({ w.socket }, nil, 0.05)
    assert.is_nil(ready[w.socket])
    w:close()
  end)

  it("keeps a select loop running while an interval timer ticks (timing-sensitive)", function()
    local w = assert(msock.new())
    local ticks = 0
    local t = mit.getit(20, function() ticks = ticks + 1 end)
    local t0 = mit.monotime()
    while mit.monotime() - t0 < 400 do
      local ready = socket.select({ w.socket }, nil, 1)
      if ready[w.socket] then w:handle() end
    end
    t:destroy()
    -- about 20 expirations; a lost wake-up would stall the loop for 1 s
    assert.is_true(ticks >= 12 and ticks <= 21, "ticks: " .. ticks)
    w:close()
  end)

  it("wakes itself when events are left after handle(max)", function()
    local w = assert(msock.new())
    local ran = 0
    for _ = 1, 5 do mit.oneoff(0, function() ran = ran + 1 end) end
    local deadline = mit.monotime() + 2000
    while mit.pending() < 5 and mit.monotime() < deadline do mit.sleep(1) end
    local n = 0
    while ran < 5 and mit.monotime() < deadline do
      local ready = socket.select({ w.socket }, nil, 1)
      if ready[w.socket] then n = n + 1; w:handle(2) end
    end
    assert.are.equal(5, ran)
    assert.is_true(n >= 3, "handle(2) ran " .. n .. " times for 5 events")
    w:close()
  end)

  it("a waker is itself selectable (getfd): select({ waker }) wakes on a timer", function()
    local w = assert(msock.new())
    local ran = 0
    mit.oneoff(20, function() ran = ran + 1 end)
    local ready = socket.select({ w }, nil, 5)
    assert.is_truthy(ready[w], "select timed out")
    assert.are.equal(1, w:handle())
    assert.are.equal(1, ran)
    w:close()
  end)

  describe("msock.newfd(): mit.fd() in a select loop, no UDP", function()
    it("wakes socket.select when a timer fires, sends no datagram, and handle() runs the callbacks", function()
      local w = msock.newfd()
      assert.are.equal(mit.fd(), w:getfd())
      assert.are.equal(w, w.socket)
      local ran = 0
      mit.oneoff(30, function() ran = ran + 1 end)
      local t0 = mit.monotime()
      local ready = socket.select({ w }, nil, 5)
      local waited = mit.monotime() - t0
      assert.is_truthy(ready[w], "select timed out instead of waking")
      assert.is_true(waited >= 25, "woke before the timer was due: " .. waited)
      assert.are.equal(0, mit.getport())
      assert.are.equal(1, w:handle())
      assert.are.equal(1, ran)
      -- drained: the fd is quiet again
      ready = socket.select({ w }, nil, 0.05)
      assert.is_nil(ready[w])
      w:close()
    end)

    it("events left after handle(max) keep it readable", function()
      local w = msock.newfd()
      local ran = 0
      for _ = 1, 5 do H.track(mit.oneoff(0, function() ran = ran + 1 end)) end
      H.await_pending(5)
      local rounds = 0
      while ran < 5 and rounds < 20 do
        local ready = socket.select({ w }, nil, 1)
        assert.is_truthy(ready[w], "select timed out with events pending")
        w:handle(2)
        rounds = rounds + 1
      end
      assert.are.equal(5, ran)
      assert.are.equal(3, rounds)
      w:close()
    end)

    it("close(): select returns the waker at once (dirty), handle() runs nothing", function()
      local w = msock.newfd()
      w:close()
      local t0 = mit.monotime()
      local ready = socket.select({ w }, nil, 2)
      assert.is_truthy(ready[w])
      assert.is_true(mit.monotime() - t0 < 500)
      H.track(mit.oneoff(0, function() end))
      H.await_pending(1)
      assert.are.equal(0, w:handle())
      assert.are.equal(1, mit.pending())
    end)
  end)

  describe("with copas", function()
    if not has_copas then
      pending("copas is not installed for " .. _VERSION .. " (Debian packages it for 5.1 and 5.2)")
      return
    end
    it("runs the callbacks from a copas thread", function()
      local ran = {}
      local w = msock.addthread(copas)
      mit.oneoff(10, function() ran[#ran + 1] = "a" end)
      mit.oneoff(40, function() ran[#ran + 1] = "b" end)
      local t0 = mit.monotime()
      while #ran < 2 and mit.monotime() - t0 < 3000 do copas.step(0.05) end
      w:close()
      copas.step(0.01)
      assert.are.same({ "a", "b" }, ran)
    end)

    -- msock.addthread's thread runs on luamockit.adapter's drain: an error
    -- of its own code (here: reading the wake-up datagrams, made to fail
    -- once) goes to copas' error handling, and the thread goes on.
    it("an error in the thread's own code is reported to copas, and the thread goes on", function()
      local seen = {}
      local restore
      if copas.geterrorhandler then
        local old = copas.geterrorhandler()
        copas.seterrorhandler(function(msg) seen[#seen + 1] = tostring(msg) end, true)
        restore = function() copas.seterrorhandler(old, true) end
      else -- copas 1.x prints a thread's error
        local old = print
        _G.print = function(msg) seen[#seen + 1] = tostring(msg) end
        restore = function() _G.print = old end
      end
      local w = msock.addthread(copas)
      w.drain = function(self)
        self.drain = nil -- once: the method again from then on
        error("drain-boom")
      end
      local ran = {}
      mit.oneoff(10, function() ran[#ran + 1] = "a" end)
      mit.oneoff(60, function() ran[#ran + 1] = "b" end)
      local t0 = mit.monotime()
      while #ran < 2 and mit.monotime() - t0 < 3000 do copas.step(0.02) end
      restore()
      local alive = coroutine.status(w.thread) ~= "dead"
      w:close()
      local t1 = mit.monotime()
      while coroutine.status(w.thread) ~= "dead" and mit.monotime() - t1 < 3000 do copas.step(0.01) end
      mit.process_events()
      assert.is_true(alive, "the waker's copas thread ended with the error")
      assert.are.same({ "a", "b" }, ran)
      assert.equal(1, #seen, table.concat(seen, "\n"))
      assert.matches("drain%-boom", seen[1])
      assert.equal("dead", coroutine.status(w.thread))
    end)
  end)
end)

//go:build lmkhost

package main

// In-process tests of the real binding: golua creates lua_States, hostOpen
// opens the standard libraries and preloads this package's luaopen, and
// hostRun runs chunks under lua_pcall (a chunk fails by raising; check()
// below raises with a message). The same file runs against Lua 5.1 and,
// with -tags lua54, Lua 5.4:
//
//	CGO_CFLAGS=-I/usr/include/lua5.1 go test -race -count=1 ./cmd/luamockit
//	CGO_CFLAGS=-I/usr/include/lua5.4 go test -race -count=1 -tags lua54 ./cmd/luamockit
//
// Tests whose name ends in _Timing depend on the real clock and use
// tolerant bounds.

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aarzilli/golua/lua"

	"github.com/luamockit/luamockit/internal/queue"
)

// prelude is run in every state: the module as the global mit, and helpers.
const prelude = `
mit = require("luamockit")

-- check(cond, fmt, ...): raise fmt (with tostring'd arguments) unless cond
function check(cond, fmt, ...)
  if cond then return end
  local n, args = select('#', ...), {...}
  for i = 1, n do args[i] = tostring(args[i]) end
  error(string.format(fmt or "check failed", (unpack or table.unpack)(args, 1, n)), 2)
end

-- pump(pred, ms): wait and process events until pred() holds or ms pass
function pump(pred, ms)
  local deadline = mit.monotime() + (ms or 3000)
  while not pred() do
    if mit.monotime() > deadline then return false end
    mit.wait(20)
    mit.process_events()
  end
  return true
end

-- waitpending(n, ms): sleep until at least n events are pending; returns pending()
function waitpending(n, ms)
  local deadline = mit.monotime() + (ms or 3000)
  while mit.pending() < n and mit.monotime() < deadline do mit.sleep(1, true) end
  return mit.pending()
end
`

type host struct {
	L *lua.State
	p unsafe.Pointer
	q *queue.Queue // this state's queue
}

func handles() map[uint64]*queue.Queue {
	universesMu.RLock()
	defer universesMu.RUnlock()
	m := make(map[uint64]*queue.Queue, len(universes))
	for h, u := range universes {
		m[h] = u.q
	}
	return m
}

// openHost creates a state with the module loaded (global mit) and finds
// its Go queue. It does not touch testing.T, so goroutines can use it.
func openHost() (*host, error) {
	L := lua.NewState()
	h := &host{L: L, p: unsafe.Pointer(L.GetState())}
	hostOpen(h.p)
	before := handles()
	if err := hostRun(h.p, prelude); err != nil {
		L.Close()
		return nil, fmt.Errorf("prelude: %v", err)
	}
	for hd, q := range handles() {
		if _, ok := before[hd]; !ok {
			if h.q != nil {
				L.Close()
				return nil, fmt.Errorf("more than one new queue after require (states opened concurrently?)")
			}
			h.q = q
		}
	}
	return h, nil
}

// newHost opens a state that is closed when the test ends.
func newHost(t testing.TB) *host {
	t.Helper()
	h, err := openHost()
	if err != nil {
		t.Fatal(err)
	}
	if h.q == nil {
		t.Fatal("require created no queue")
	}
	t.Cleanup(h.close)
	return h
}

func (h *host) close() {
	if h.L != nil {
		h.L.Close()
		h.L = nil
	}
}

// timers is how many timers Go's queue holds, once the arms the shim
// deferred have crossed (next_due() crosses: sched.c).
func (h *host) timers(t testing.TB) int {
	t.Helper()
	h.run(t, "mit.next_due()")
	return h.q.Timers()
}

// armCalls is how many calls into Go have armed timers of h's universe.
func (h *host) armCalls() uint64 {
	universesMu.RLock()
	defer universesMu.RUnlock()
	for _, u := range universes {
		if u.q == h.q {
			return u.armCalls.Load()
		}
	}
	return 0
}

func (h *host) run(t testing.TB, chunk string) {
	t.Helper()
	if err := hostRun(h.p, chunk); err != nil {
		t.Fatalf("Lua: %v", err)
	}
}

// globalsMu serialises opening states in tests that diff the universe
// table from several goroutines.
var globalsMu sync.Mutex

// ---- the module table ----

func TestRequireModuleTable(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	p := unsafe.Pointer(L.GetState())
	hostOpen(p)
	err := hostRun(p, `
local before = {}
for k in pairs(_G) do before[k] = true end
local m = require("luamockit")
for k in pairs(_G) do
  if not before[k] then error("require set the global " .. tostring(k)) end
end
if type(m) ~= "table" then error("require returned a " .. type(m)) end
if require("luamockit") ~= m then error("a second require returned another table") end
if package.loaded.luamockit ~= m then error("package.loaded.luamockit is not the module") end
if m._VERSION ~= "luamockit 0.1.0" then error("_VERSION is " .. tostring(m._VERSION)) end
local names = {"oneoff", "getit", "process_events", "wait", "pending", "inqueue", "sleep",
  "time", "mstimestamp", "monotime", "seterrorhandler", "poll", "fd", "setport", "getport"}
for _, name in ipairs(names) do
  if type(m[name]) ~= "function" then error(name .. " is a " .. type(m[name])) end
end
local names2 = {"timers", "next_due", "stats"}
for _, name in ipairs(names2) do
  if type(m[name]) ~= "function" then error(name .. " is a " .. type(m[name])) end
end
local t = m.getit(1000, function() end)
for _, name in ipairs{"destroy", "cancel", "stop", "start", "state", "interval", "remaining"} do
  if type(t[name]) ~= "function" then error("timer method " .. name .. " is a " .. type(t[name])) end
end
if getmetatable(t) ~= false then error("the timer metatable is not protected") end
t:destroy()
-- the clocks
local s, ms = m.time()
local stamp = m.mstimestamp()
if type(s) ~= "number" or ms < 0 or ms > 999 then error("time() = " .. tostring(s) .. ", " .. tostring(ms)) end
if math.abs(stamp - (s * 1000 + ms)) > 2000 then error("mstimestamp and time disagree") end
local a = m.monotime(); m.sleep(20, true); local b = m.monotime()
if not (b - a >= 19.5 and b - a < 1000) then error("monotime moved " .. (b - a) .. " ms over sleep(20)") end
local rem, errno = m.sleep(1)
if rem ~= 0 or errno ~= 0 then error("sleep(1) = " .. tostring(rem) .. ", " .. tostring(errno)) end
`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestTimerMethods(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local f = function() end
local t = mit.getit(100, f)
check(t:state() == "armed", "state %s", t:state())
check(t:interval() == 100, "interval %s", t:interval())
check(tostring(t):match("^luamockit%.timer: 0?x?%x+ %(interval 100 ms, armed%)$"), "tostring %s", tostring(t))
check(t:stop() == t, "stop does not return the timer")
check(t:state() == "stopped", "state after stop %s", t:state())
check(t:stop() == t, "second stop")
check(t:start() == t, "start does not return the timer")
check(t:state() == "armed", "state after start %s", t:state())
check(t:destroy() == nil, "destroy returns something")
check(t:state() == "destroyed", "state after destroy %s", t:state())
t:destroy() ; t:cancel(true) ; t:destroy(false)
local ok, err = pcall(function() t:stop() end)
check(not ok and err:find("luamockit: timer is destroyed", 1, true), "stop after destroy: %s", err)
ok, err = pcall(function() t:start() end)
check(not ok and err:find("luamockit: timer is destroyed", 1, true), "start after destroy: %s", err)

local o = mit.oneoff(10, f)
check(tostring(o):find("(one-off 10 ms, armed)", 1, true), "tostring %s", tostring(o))
check(pump(function() return mit.pending() == 0 and o:state() == "fired" end), "one-off never fired")
check(o:state() == "fired", "one-off state after it ran: %s", o:state())
check(o:stop() == o and o:state() == "fired", "stop of a fired one-off: %s", o:state())
check(o:remaining() == nil, "remaining() of a fired one-off: %s", o:remaining())
check(o:start(5) == o and o:state() == "armed" and o:interval() == 5, "start(5) of a fired one-off: %s", o:state())
check(o:remaining() > 0 and o:remaining() <= 5, "remaining() after start(5): %s", o:remaining())
check(mit.next_due() ~= nil and mit.next_due() <= 5, "next_due(): %s", mit.next_due())
check(pump(function() return o:state() == "fired" and mit.pending() == 0 end), "the restarted one-off never ran")
o:destroy()
check(o:state() == "destroyed", "state %s", o:state())
`)
	if n := h.timers(t); n != 0 {
		t.Errorf("Go queue still tracks %d timers after every timer was destroyed or fired", n)
	}
}

// ---- timers and callbacks ----

func TestOneOffCallbackArgs(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local got
local t = mit.oneoff(10, function(...) got = {n = select('#', ...), ...} end, "x", 2, nil)
check(mit.pending() == 0, "pending before expiry")
check(pump(function() return got ~= nil end), "the one-off never ran")
check(got.n == 3 and got[1] == "x" and got[2] == 2 and got[3] == nil, "args n=%s %s %s", got.n, got[1], got[2])
check(mit.process_events() == 0, "ran again")
-- without arguments
local n0
mit.oneoff(0, function(...) n0 = select('#', ...) end)
check(pump(function() return n0 ~= nil end), "the second one-off never ran")
check(n0 == 0, "callback without arguments got %s", n0)
`)
}

func TestIntervalBurstProcessEvents_Timing(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local count = 0
local t0 = mit.monotime()
local t = mit.getit(20, function() count = count + 1 end)
mit.sleep(200, true)
local p = mit.pending()
local n = mit.process_events()
local el = mit.monotime() - t0
check(n == count, "process_events returned %s but %s callbacks ran", n, count)
check(n >= p and n <= p + 2, "pending() was %s, process_events ran %s", p, n)
check(n >= 6 and n <= 14, "a 20 ms timer left 200 ms ran %s times (want ~10)", n)
check(n <= math.floor(el / 20), "%s runs in %s ms", n, el)
t:destroy()
`)
}

func TestWaitReturnsWhenTimerFires_Timing(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local t0 = mit.monotime()
mit.oneoff(50, function() end)
local r = mit.wait(5000)
local el = mit.monotime() - t0
check(r == 0, "wait returned %s", r)
check(el >= 49.5 and el < 1000, "wait returned after %s ms for a 50 ms timer", el)
check(mit.pending() == 1, "pending after wait: %s", mit.pending())
-- something pending: at once
t0 = mit.monotime()
mit.wait(5000)
check(mit.monotime() - t0 < 300, "wait with an event pending blocked %s ms", mit.monotime() - t0)
check(mit.process_events() == 1, "the event did not run")
-- nothing pending: the timeout
t0 = mit.monotime()
r = mit.wait(60)
el = mit.monotime() - t0
check(r == 0 and el >= 59.5 and el < 700, "wait(60) with nothing armed: %s after %s ms", r, el)
-- no timeout (nil): returns when the timer fires
mit.oneoff(30, function() end)
t0 = mit.monotime()
mit.wait()
el = mit.monotime() - t0
check(el < 1000 and mit.pending() == 1, "wait() returned after %s ms, pending %s", el, mit.pending())
mit.process_events()
`)
}

func TestProcessEventsMaxAndPoll(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local ran = {}
for i = 1, 5 do mit.oneoff(0, function() ran[#ran + 1] = i end) end
check(waitpending(5) == 5, "pending %s", mit.pending())
check(mit.process_events(2) == 2, "process_events(2) did not run 2")
check(#ran == 2 and ran[1] == 1 and ran[2] == 2, "ran %s", table.concat(ran, ","))
check(mit.pending() == 3, "pending after max: %s", mit.pending())
local ok, left = mit.poll()
check(ok == true and left == 2, "poll() = %s, %s", ok, left)
check(ran[3] == 3, "poll ran %s", ran[3])
check(mit.process_events(100) == 2, "the rest")
ok, left = mit.poll()
check(ok == false and left == 0, "poll() on an empty queue = %s, %s", ok, left)
check(table.concat(ran, ",") == "1,2,3,4,5", "order %s", table.concat(ran, ","))
`)
}

// Events queued while process_events runs (here: by a timer armed in a
// callback) run on the next call.
func TestEventsQueuedDuringProcessingRunNextCall(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local inner = 0
mit.oneoff(0, function()
  mit.oneoff(0, function() inner = inner + 1 end)
  mit.sleep(20, true) -- the inner one-off is queued meanwhile
end)
check(waitpending(1) == 1, "outer never fired")
check(mit.process_events() == 1, "process_events ran more than the events queued when called")
check(inner == 0, "inner ran in the same call")
check(mit.pending() == 1, "inner not pending: %s", mit.pending())
check(mit.process_events() == 1 and inner == 1, "inner did not run on the next call")
`)
}

func TestDestroyDropsQueuedEvents(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local a, b = 0, 0
local ta = mit.getit(5, function() a = a + 1 end)
local tb = mit.getit(5, function() b = b + 1 end)
mit.sleep(40, true)
check(mit.pending() >= 4, "pending %s", mit.pending())
ta:destroy()
mit.process_events()
check(a == 0, "destroyed timer's queued events ran %s times", a)
check(b > 0, "the other timer did not run")
-- destroyed by an earlier callback of the same batch
tb:destroy()
local d = 0
local td = mit.getit(5, function() d = d + 1 end)
mit.oneoff(0, function() td:destroy() end) -- due before td's first expiration
mit.sleep(40, true)
check(mit.pending() >= 4, "pending %s", mit.pending())
mit.process_events()
check(d == 0, "events of a timer destroyed by an earlier callback ran %s times", d)
check(mit.pending() == 0 and mit.inqueue() == 0, "left: %s pending, %s queued", mit.pending(), mit.inqueue())
`)
	if n := h.timers(t); n != 0 {
		t.Errorf("Go queue tracks %d timers, want 0", n)
	}
}

// t:stop() drops t's queued events: a callback that stops timer B must
// keep B's events already queued (taken in the same batch) from running.
func TestStopInsideCallbackDropsQueuedEvents(t *testing.T) {
	h := newHost(t)
	h.run(t, `
for _, restart in ipairs{false, true} do
  local b = 0
  local B = mit.getit(5, function() b = b + 1 end)
  mit.oneoff(0, function() B:stop(); if restart then B:start() end end)
  mit.sleep(40, true) -- about 8 expirations of B queued behind the one-off
  local p = mit.pending()
  check(p >= 4, "pending %s", p)
  mit.process_events()
  check(b == 0, "B ran %s times after a callback stopped it (restart=%s; %s events were pending)", b, restart, p)
  B:destroy()
  mit.process_events()
end
`)
}

// ---- states ----

func TestTwoStatesSameThread(t *testing.T) {
	A, B := newHost(t), newHost(t)
	if A.q == B.q {
		t.Fatal("two states share one queue")
	}
	// Both states' first timer has id 1.
	A.run(t, `a = 0; ta = mit.getit(2, function() a = a + 1 end)`)
	B.run(t, `b = 0; tb = mit.getit(1000, function() b = b + 1 end)`)
	B.run(t, `
local t0 = mit.monotime()
mit.wait(100)
local el = mit.monotime() - t0
check(el >= 99, "B's wait returned after %s ms: woken by A's events", el)
check(mit.pending() == 0 and mit.inqueue() == 0, "B sees %s pending, %s queued", mit.pending(), mit.inqueue())
check(mit.process_events() == 0 and b == 0, "B ran events")
`)
	A.run(t, `
check(mit.pending() > 10, "A has %s pending", mit.pending())
local n = mit.process_events()
check(n == a and n > 10, "A ran %s (a=%s)", n, a)
`)
	// Destroying A's id 1 leaves B's id 1 alone, and the reverse.
	A.run(t, `ta:destroy()`)
	B.run(t, `tb:destroy(); b2 = 0; tb2 = mit.getit(2, function() b2 = b2 + 1 end)`)
	A.run(t, `a2 = 0; ta2 = mit.getit(3, function() a2 = a2 + 1 end)`)
	B.run(t, `check(pump(function() return b2 >= 5 end), "B's new timer stalled at %s", b2)`)
	A.run(t, `check(pump(function() return a2 >= 5 end), "A's new timer stalled at %s", a2)`)
	if a, b := A.timers(t), B.timers(t); a != 1 || b != 1 {
		t.Errorf("the states schedule %d and %d timers, want 1 and 1", a, b)
	}
}

// The virtual clock is per state: A's advances leave B on the real clock,
// its timers and time functions untouched.
func TestVirtualClockPerState(t *testing.T) {
	A, B := newHost(t), newHost(t)
	A.run(t, `a = 0; ta = mit.getit(1000, function() a = a + 1 end)`)
	B.run(t, `b = 0; tb = mit.oneoff(60000, function() b = b + 1 end); b0 = mit.monotime(); s0 = mit.time()`)
	A.run(t, `
check(mit.clock("virtual") == "real", "clock() did not report real")
local n = mit.advance(3600 * 1000)
check(n == 3600 and a == 3600, "A ran %s (a=%s) in a virtual hour", n, a)
`)
	B.run(t, `
check(mit.clock() == "real", "B's clock is %s", mit.clock())
check(mit.monotime() - b0 < 5000, "B's monotime moved by %s ms", mit.monotime() - b0)
check(mit.time() - s0 < 5, "B's time() moved by %s s", mit.time() - s0)
check(tb:state() == "armed" and tb:remaining() > 50000, "B's one-off is %s, %s ms left", tb:state(), tb:remaining())
check(mit.process_events() == 0 and b == 0, "B ran something")
local ok, err = pcall(mit.advance, 10)
check(not ok and tostring(err):find("virtual clock", 1, true), "advance on B: %s", tostring(err))
`)
	A.run(t, `check(mit.clock("real") == "virtual", "A was not virtual"); ta:destroy()`)
	B.run(t, `tb:destroy()`)
}

func TestStatesOnGoroutines_Timing(t *testing.T) {
	const nStates = 4
	errs := make(chan error, nStates)
	var wg sync.WaitGroup
	for i := 0; i < nStates; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			globalsMu.Lock()
			h, err := openHost()
			globalsMu.Unlock()
			if err != nil {
				errs <- err
				return
			}
			defer h.close()
			period, k := 2+3*i, 1+2*i
			// id 1 is an interval with a different period in every state,
			// ids 2..k+1 one-offs: another state's event would show as an
			// extra tick or a missing one-off.
			err = hostRun(h.p, fmt.Sprintf(`
local P, K = %d, %d
local ticks, oneoffs = 0, 0
local t0 = mit.monotime()
local iv = mit.getit(P, function() ticks = ticks + 1 end)
for j = 1, K do mit.oneoff(10 * j, function() oneoffs = oneoffs + 1 end) end
while mit.monotime() - t0 < 300 do mit.wait(50); mit.process_events() end
iv:destroy()
mit.process_events()
local el = mit.monotime() - t0
check(oneoffs == K, "state %%d: %%s one-offs ran, %%s armed", %d, oneoffs, K)
check(ticks <= math.floor(el / P), "state with period %%s: %%s ticks in %%s ms", P, ticks, el)
check(ticks >= 300 / P / 3, "state with period %%s: only %%s ticks in %%s ms", P, ticks, el)
check(mit.pending() == 0, "pending %%s", mit.pending())
`, period, k, i))
			if err != nil {
				errs <- fmt.Errorf("state %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// lua_close while 100 interval timers fire every 1 ms stops them and frees
// the queue, 50 times over, while another state keeps working.
func TestCloseWhileFiring(t *testing.T) {
	B := newHost(t)
	B.run(t, `b = 0; tb = mit.getit(2, function() b = b + 1 end)`)
	base := len(handles())
	for i := 0; i < 50; i++ {
		h, err := openHost()
		if err != nil {
			t.Fatal(err)
		}
		err = hostRun(h.p, fmt.Sprintf(`
keep = {}
for j = 1, 100 do keep[j] = mit.getit(1, function() end) end
mit.sleep(%d)
if %d %% 2 == 0 then mit.process_events(50) end
`, 1+i%4, i))
		if err != nil {
			h.close()
			t.Fatal(err)
		}
		q := h.q
		h.close()
		if q.Timers() != 0 || q.Pending() != 0 {
			t.Fatalf("round %d: closed state's queue still has %d timers, %d pending",
				i, q.Timers(), q.Pending())
		}
		if _, err := q.Arm(time.Millisecond, 0, 1); err != queue.ErrClosed {
			t.Fatalf("round %d: the closed state's queue accepts timers (%v)", i, err)
		}
		if i%10 == 0 {
			B.run(t, `mit.process_events()`)
		}
	}
	if n := len(handles()); n != base {
		t.Errorf("%d universes registered after closing every extra state, want %d", n, base)
	}
	B.run(t, `
mit.process_events()
local n0 = b
check(pump(function() return b >= n0 + 5 end), "the surviving state's timer stalled at %s", b)
check(tb:state() == "armed", "state %s", tb:state())
`)
}

// ---- callback errors ----

func TestCallbackErrorDefault(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local ran = {}
mit.oneoff(0, function() ran[#ran + 1] = "a" end)
mit.oneoff(0, function() error("boom") end)
mit.oneoff(0, function() ran[#ran + 1] = "c" end)
mit.oneoff(0, function() ran[#ran + 1] = "d" end)
check(waitpending(4) == 4, "pending %s", mit.pending())
local ok, err = pcall(mit.process_events)
check(not ok, "process_events did not raise")
check(type(err) == "string" and err:find("boom", 1, true), "error %s", err)
check(err:find("stack traceback:", 1, true), "no traceback in %s", err)
check(#ran == 1 and ran[1] == "a", "ran %s", table.concat(ran, ","))
check(mit.pending() == 2, "%s events left after the failing one, want 2", mit.pending())
check(mit.process_events() == 2, "the rest did not run")
check(table.concat(ran, ",") == "a,c,d", "order %s", table.concat(ran, ","))
-- an error object that is not a string
mit.oneoff(0, function() error({}) end)
check(waitpending(1) == 1, "pending")
ok, err = pcall(mit.process_events)
check(not ok and tostring(err):find("table", 1, true), "table error: %s", err)
`)
}

func TestCallbackErrorInterval_Timing(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local calls = 0
local t = mit.getit(10, function() calls = calls + 1; if calls == 2 then error("second") end end)
mit.sleep(100, true)
local p = mit.pending()
check(p >= 5, "pending %s", p)
local ok, err = pcall(mit.process_events)
check(not ok and err:find("second", 1, true), "error %s", err)
check(calls == 2, "calls %s", calls)
check(mit.pending() >= p - 2, "events lost: %s pending before, %s after 2 ran", p, mit.pending())
t:stop()
mit.process_events()
check(calls == 2, "events of a stopped timer ran")
`)
}

func TestErrorHandler(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local msgs, ran = {}, 0
mit.seterrorhandler(function(m) msgs[#msgs + 1] = m end)
mit.oneoff(0, function() error("e1") end)
mit.oneoff(0, function() ran = ran + 1 end)
mit.oneoff(0, function() error("e2") end)
check(waitpending(3) == 3, "pending %s", mit.pending())
check(mit.process_events() == 3, "with a handler every callback runs")
check(#msgs == 2 and msgs[1]:find("e1", 1, true) and msgs[2]:find("e2", 1, true), "handler got %s", #msgs)
check(ran == 1, "ran %s", ran)
-- a handler that errors: process_events raises its error, the rest stays
mit.seterrorhandler(function(m) error("handler failed", 0) end)
mit.oneoff(0, function() error("e3") end)
mit.oneoff(0, function() ran = ran + 1 end)
check(waitpending(2) == 2, "pending %s", mit.pending())
local ok, err = pcall(mit.process_events)
check(not ok and tostring(err):find("handler failed", 1, true), "error %s", err)
check(mit.pending() == 1, "pending %s", mit.pending())
-- nil restores the default
mit.seterrorhandler(nil)
check(mit.process_events() == 1 and ran == 2, "the rest did not run")
mit.oneoff(0, function() error("e4") end)
check(waitpending(1) == 1, "pending")
ok, err = pcall(mit.process_events)
check(not ok and err:find("e4", 1, true), "default not restored: %s, %s", ok, err)
`)
}

func TestYieldingCallback(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local after = false
mit.oneoff(0, function() coroutine.yield(1) end)
mit.oneoff(0, function() after = true end)
check(waitpending(2) == 2, "pending")
-- from a coroutine: the yield cannot cross process_events
local co = coroutine.create(function() return mit.process_events() end)
local ok, err = coroutine.resume(co)
check(not ok, "a yielding callback did not raise (resume returned %s)", err)
check(mit.pending() == 1, "pending %s", mit.pending())
check(mit.process_events() == 1 and after, "the next event did not run")
`)
}

// ---- arguments ----

func TestBadArguments(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local f = function() end
local t = mit.getit(1000, f)
local cases = {
  {"oneoff negative", function() mit.oneoff(-1, f) end, "#1 to 'oneoff'"},
  {"oneoff string", function() mit.oneoff("x", f) end, "#1 to 'oneoff'"},
  {"oneoff nan", function() mit.oneoff(0/0, f) end, "#1 to 'oneoff'"},
  {"oneoff inf", function() mit.oneoff(math.huge, f) end, "#1 to 'oneoff'"},
  {"oneoff over a year", function() mit.oneoff(367 * 24 * 3600 * 1000, f) end, "#1 to 'oneoff'"},
  {"oneoff no callback", function() mit.oneoff(10) end, "#2 to 'oneoff'"},
  {"oneoff number callback", function() mit.oneoff(10, 5) end, "#2 to 'oneoff'"},
  {"getit zero", function() mit.getit(0, f) end, "#1 to 'getit'"},
  {"getit negative", function() mit.getit(-5, f) end, "#1 to 'getit'"},
  {"getit table callback", function() mit.getit(5, {}) end, "#2 to 'getit'"},
  {"wait negative", function() mit.wait(-1) end, "#1 to 'wait'"},
  {"wait nan", function() mit.wait(0/0) end, "#1 to 'wait'"},
  {"wait string", function() mit.wait("soon") end, "#1 to 'wait'"},
  {"process_events zero", function() mit.process_events(0) end, "#1 to 'process_events'"},
  {"process_events negative", function() mit.process_events(-3) end, "#1 to 'process_events'"},
  {"process_events string", function() mit.process_events("all") end, "#1 to 'process_events'"},
  {"sleep negative", function() mit.sleep(-1) end, "#1 to 'sleep'"},
  {"sleep resume not boolean", function() mit.sleep(1, 5) end, "#2 to 'sleep'"},
  {"seterrorhandler number", function() mit.seterrorhandler(5) end, "#1 to 'seterrorhandler'"},
  {"setport negative", function() mit.setport(-1) end, "#1 to 'setport'"},
  {"setport too large", function() mit.setport(70000) end, "#1 to 'setport'"},
  {"setport fraction", function() mit.setport(1.5) end, "#1 to 'setport'"},
  {"destroy wait not boolean", function() t:destroy(5) end, "#1 to 'destroy'"},
  {"stop on a number", function() t.stop(5) end, "#1 to 'stop'"},
  {"state on a table", function() t.state({}) end, "#1 to 'state'"},
  {"interval on nil", function() t.interval() end, "#1 to 'interval'"},
}
for _, c in ipairs(cases) do
  local ok, err = pcall(c[2])
  check(not ok, "%s: no error", c[1])
  check(type(err) == "string" and err:find("bad argument " .. c[3], 1, true),
    "%s: error %s, want 'bad argument %s'", c[1], err, c[3])
end
check(t:state() == "armed", "the timer was disturbed: %s", t:state())
check(mit.pending() == 0, "a bad call queued something")
t:destroy()
`)
	if n := h.timers(t); n != 0 {
		t.Errorf("bad arguments left %d timers armed in Go", n)
	}
}

// ---- garbage collection and many timers ----

// Armed means alive: a dropped interval timer keeps running after full
// collections, and mit.timers() hands it out again; a stopped one that
// nothing refers to is collected and its record freed.
func TestGCKeepsArmedTimers(t *testing.T) {
	h := newHost(t)
	h.run(t, `
hits = 0
local function arm() local t = mit.getit(2, function() hits = hits + 1 end) end
arm()
oneoff_ran = false
mit.oneoff(20, function() oneoff_ran = true end) -- handle dropped: still fires
collectgarbage("collect"); collectgarbage("collect")
local s = mit.stats()
check(s.armed == 2 and #mit.timers() == 2, "after a full GC %s timers are armed, %s listed, want 2 (armed means alive)",
  s.armed, #mit.timers())
`)
	h.run(t, `
check(pump(function() return oneoff_ran and hits >= 5 end), "hits %s, one-off ran %s", hits, oneoff_ran)
local ts = mit.timers()
check(#ts == 1 and ts[1]:state() == "armed", "timers(): %s", #ts)
ts[1]:stop()
`)
	h.run(t, `collectgarbage("collect"); collectgarbage("collect")`)
	if n := h.timers(t); n != 0 {
		t.Errorf("%d timers scheduled after the stopped one was collected, want 0", n)
	}
	h.run(t, `
local before = hits
mit.sleep(20, true)
mit.process_events()
check(hits == before, "the stopped interval ran %s times", hits - before)
check(#mit.timers() == 0, "timers() lists %s", #mit.timers())
local s = mit.stats()
check(s.timers == 0 and s.armed == 0 and s.callbacks >= 6, "stats: timers %s armed %s callbacks %s",
  s.timers, s.armed, s.callbacks)
`)
}

// The error handler gets the value a callback raised, unchanged, and the
// failing timer's handle.
func TestErrorHandlerGetsRawValueAndTimer(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local obj = { code = 7 }
local got, from
mit.seterrorhandler(function(e, t) got, from = e, t end)
local tm = mit.oneoff(0, function() error(obj) end)
check(pump(function() return got ~= nil end), "the handler was not called")
check(got == obj, "the handler got %s, not the object raised", got)
check(from == tm, "the handler got %s, not the timer", from)
mit.seterrorhandler(nil)
mit.oneoff(0, function() error(obj) end)
mit.sleep(1, true)
local ok, err = pcall(mit.process_events)
check(not ok and err == obj, "process_events raised %s", err)
`)
}

func TestManyTimers(t *testing.T) {
	h := newHost(t)
	h.run(t, `
ts = {}
for i = 1, 10000 do ts[i] = mit.getit(5 + i % 7, function() error("destroyed timer ran") end) end
`)
	if n := h.timers(t); n != 10000 {
		t.Fatalf("Go tracks %d timers, want 10000", n)
	}
	h.run(t, `
mit.sleep(20, true) -- let them fire
for i = 1, 10000 do ts[i]:destroy() end
check(mit.pending() == 0, "pending %s after destroying every timer", mit.pending())
check(mit.process_events() == 0, "events of destroyed timers ran")
check(mit.inqueue() == 0, "inqueue %s after process_events", mit.inqueue())
ts = nil
collectgarbage("collect")
count = 0
for i = 1, 10000 do mit.oneoff(i % 20, function() count = count + 1 end) end
check(pump(function() return count == 10000 end, 4000), "%s of 10000 one-offs ran", count)
check(mit.pending() == 0, "pending %s", mit.pending())
`)
	if n := h.timers(t); n != 0 {
		t.Errorf("Go tracks %d timers at the end, want 0", n)
	}
}

// ---- wake-up channels ----

func readable(t *testing.T, fd int) bool {
	t.Helper()
	var set syscall.FdSet
	set.Bits[fd/64] |= 1 << (uint(fd) % 64)
	tv := syscall.Timeval{}
	n, err := syscall.Select(fd+1, &set, nil, nil, &tv)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	return n > 0
}

func TestFdReadableWhilePending(t *testing.T) {
	h := newHost(t)
	h.run(t, `efd = mit.fd(); check(math.type == nil or math.type(efd) == "integer", "fd %s", efd)`)
	fdOf := func(hh *host) int {
		hh.L.GetGlobal("efd")
		defer hh.L.Pop(1)
		return hh.L.ToInteger(-1)
	}
	fd := fdOf(h)
	if fd < 0 || fd >= 1024 {
		t.Fatalf("fd() = %d", fd)
	}
	if readable(t, fd) {
		t.Fatal("fd readable with nothing pending")
	}
	h.run(t, `mit.oneoff(0, function() end); check(waitpending(1) == 1, "pending")`)
	if !readable(t, fd) {
		t.Fatal("fd not readable with an event pending")
	}
	h.run(t, `check(mit.fd() == efd, "fd changed"); mit.process_events()`)
	if readable(t, fd) {
		t.Error("fd still readable after process_events emptied the queue")
	}
	other := newHost(t)
	other.run(t, `efd = mit.fd()`)
	if ofd := fdOf(other); ofd == fd {
		t.Errorf("two states share fd %d", fd)
	}
}

func TestSetPortWakeup_Timing(t *testing.T) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skipf("no UDP on loopback: %v", err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	h := newHost(t)
	h.run(t, fmt.Sprintf(`
check(mit.getport() == 0, "getport %%s before setport", mit.getport())
check(mit.setport(%d) == true, "setport failed")
check(mit.getport() == %d, "getport %%s", mit.getport())
mit.oneoff(10, function() end)
`, port, port))
	buf := make([]byte, 16)
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, _, err := conn.ReadFromUDP(buf); err != nil {
		t.Fatalf("no wake-up datagram: %v", err)
	}
	h.run(t, `
check(mit.process_events() == 1, "the event did not run")
check(mit.setport(0) == true and mit.getport() == 0, "setport(0)")
mit.oneoff(0, function() end)
check(waitpending(1) == 1, "pending")
mit.process_events()
`)
	conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := conn.ReadFromUDP(buf); err == nil {
		t.Error("a datagram came after setport(0)")
	}
}

// Lua 5.4: a to-be-closed timer is destroyed at scope exit.
func TestToBeClosedTimer(t *testing.T) {
	h := newHost(t)
	h.run(t, `is54 = _VERSION == "Lua 5.4"`)
	h.L.GetGlobal("is54")
	is54 := h.L.ToBoolean(-1)
	h.L.Pop(1)
	if !is54 {
		t.Skip("to-be-closed variables need Lua 5.4")
	}
	h.run(t, `
local hits = 0
local t = assert(load([[
  local mit, inc = ...
  local t <close> = mit.getit(1, inc)
  mit.sleep(10, true)
  return t
]]))(mit, function() hits = hits + 1 end)
check(t:state() == "destroyed", "state after scope exit: %s", t:state())
mit.process_events()
check(hits == 0, "a closed timer ran %s times", hits)
`)
	if n := h.timers(t); n != 0 {
		t.Errorf("Go tracks %d timers, want 0", n)
	}
}

// The messages of raised errors name the module.
func TestErrorMessagesNameModule(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local t = mit.getit(5, function() end)
t:destroy()
local ok, err = pcall(t.stop, t)
check(not ok and err:find("luamockit:", 1, true), "%s", err)
`)
}

// Intervals below 1 us are bad arguments (they used to round to a period of
// 0 ns and turn into one-offs); the shortest allowed one stays periodic.
func TestTinyIntervalStaysPeriodic(t *testing.T) {
	h := newHost(t)
	h.run(t, `
local ok, err = pcall(mit.getit, 1e-7, function() end)
check(not ok and tostring(err):find("at least 0.001 ms", 1, true), "getit(1e-7): %s", tostring(err))
local count = 0
local t = mit.getit(0.001, function() count = count + 1 end)
check(pump(function() return count >= 1 end), "never ran")
local first = count
mit.sleep(2, true)
mit.process_events()
check(count > first, "getit(0.001) ran %s time(s) and stopped: state %s", count, t:state())
check(t:state() == "armed", "state %s", t:state())
t:destroy()
`)
}

// A stopped one-off whose handle is garbage can never be started again:
// collecting the handle releases it (its callback; no schedule is left).
func TestGCReleasesStoppedOneOff(t *testing.T) {
	h := newHost(t)
	h.run(t, `
cbs = setmetatable({}, { __mode = "k" })
local function arm(i)
  local cb = function() return i end -- an upvalue: Lua 5.2 may not share it
  cbs[cb] = true
  local o = mit.oneoff(50, cb)
  o:stop()
end
collectgarbage("stop") -- no cycle may collect a handle before the count
for i = 1, 10 do arm(i) end
local n = 0
for _ in pairs(cbs) do n = n + 1 end
check(n == 10, "%s callbacks before the collection", n)
`)
	h.run(t, `
collectgarbage("restart"); collectgarbage("collect"); collectgarbage("collect")
local n = 0
for _ in pairs(cbs) do n = n + 1 end
check(n == 0, "after collecting the handles of 10 stopped one-offs, %s callbacks are still held (leak)", n)
`)
	// Go keeps a stopped timer (start() may arm it again) until then
	if n := h.timers(t); n != 0 {
		t.Fatalf("%d timers held by Go after their handles were collected, want 0", n)
	}
}

// holdUniverses takes the universes' lock and releases it d later, so that
// the next call from C into Go waits that long for it.
func holdUniverses(d time.Duration) {
	universesMu.Lock()
	go func() {
		time.Sleep(d)
		universesMu.Unlock()
	}()
}

// Once Go keeps time (fd()), a timer reaches Go when it is armed; a
// hand-over that reaches Go late (a slow crossing, a contended lock) keeps
// the schedule of the moment it was armed: the expirations due meanwhile
// are pending as soon as it arrives. Here the hand-over waits 55 ms for
// the universes' lock: a 10 ms interval timer has 5 expirations pending
// right after, not 0.
func TestLateHandOverKeepsSchedule(t *testing.T) {
	h := newHost(t)
	h.run(t, `mit.fd(); n = 0`)
	holdUniverses(55 * time.Millisecond)
	h.run(t, `
t0 = mit.monotime()
tm = mit.getit(10, function() n = n + 1 end) -- hands it to Go: waits for the lock
local p = mit.pending()
local hi = math.floor((mit.monotime() - t0) / 10)
check(p >= 5 and p <= hi, "%s expirations pending after a 55 ms hand-over, want 5..%s", p, hi)
mit.process_events()
check(n == p, "ran %s callbacks, want %s", n, p)
tm:stop()
n = 0
t0 = mit.monotime()
`)
	// t:start() likewise restarts from the moment it is called.
	holdUniverses(35 * time.Millisecond)
	h.run(t, `
tm:start() -- waits for the lock
local p = mit.pending()
local hi = math.floor((mit.monotime() - t0) / 10)
check(p >= 3 and p <= hi, "%s expirations pending after a 35 ms restart, want 3..%s", p, hi)
tm:destroy()
`)
}

// ---- signals as events ----

// Two Lua states in one process (one Go runtime, one router): a signal
// sent to the process reaches every armed handle of it in both, once per
// delivery; a stopped handle gets nothing, and its queued deliveries go.
// The real os/signal path: SIGUSR1 sent to this test process (a plain Go
// program ignores SIGUSR1 once nothing catches it).
func TestSignalBroadcastTwoStates(t *testing.T) {
	a, b := newHost(t), newHost(t)
	for _, h := range []*host{a, b} {
		h.run(t, `
n1, n2 = 0, 0
h1 = mit.signal("USR1", function(k) n1 = n1 + k end, 1)
h2 = mit.signal("SIGUSR1", function() n2 = n2 + 1 end)
check(h1:signal() == "SIGUSR1", "signal() %s", h1:signal())
check(tostring(h1):match("^luamockit%.signal: 0?x?%x+ %(SIGUSR1, armed%)$"), "tostring %s", tostring(h1))
check(#mit.timers() == 0, "timers() lists a signal handle")
check(mit.stats().signals == 2, "stats().signals %s", mit.stats().signals)
`)
	}
	if got := a.q.Signals(); got != 2 {
		t.Fatalf("Go holds %d signal schedules of state a, want 2", got)
	}
	b.run(t, `h2:stop()`)
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	a.run(t, `check(pump(function() return n1 == 1 and n2 == 1 end), "state a: n1 %s n2 %s", n1, n2)`)
	b.run(t, `check(pump(function() return n1 == 1 end), "state b: n1 %s", n1)
mit.sleep(20)
mit.process_events()
check(n2 == 0, "a stopped handle ran %s times", n2)`)
	// queued, then stopped or destroyed: nothing runs
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	a.run(t, `
check(waitpending(2) == 2, "pending %s", mit.pending())
h1:stop()
h2:destroy()
check(mit.pending() == 0, "pending %s after stop and destroy", mit.pending())
check(mit.process_events() == 0, "a stopped or destroyed handle ran")
check(n1 == 1 and n2 == 1, "n1 %s n2 %s", n1, n2)
check(h1:state() == "stopped" and h2:state() == "destroyed", "states %s %s", h1:state(), h2:state())
h1:destroy()`)
	b.run(t, `check(pump(function() return n1 == 2 end), "state b: n1 %s", n1)
h1:destroy(); h2:destroy()
check(mit.stats().signals == 0, "signals %s", mit.stats().signals)`)
	if got := a.q.Signals() + b.q.Signals(); got != 0 {
		t.Fatalf("Go holds %d signal schedules after destroy", got)
	}
}

// Closing a state with armed signal handles stops catching for it.
func TestSignalCloseState(t *testing.T) {
	h := newHost(t)
	h.run(t, `s = mit.signal("USR2", function() end)`)
	q := h.q
	h.close()
	if got := q.Signals(); got != 0 {
		t.Fatalf("a closed state's queue holds %d signal schedules", got)
	}
}

// Arms that nothing needs in Go at once cross together (sched.c's
// deferred arms): a loop arming 100 one-offs crosses once, at the next
// crossing (here next_due()), and each keeps the schedule of the moment it
// was asked for: they run by due time, ties in arming order. Under fd(),
// arms made outside a drain cross at once (the outside loop watches the
// timer fd), and those made by a drain's callbacks cross once, as it ends.
func TestDeferredArmsCrossTogether(t *testing.T) {
	h := newHost(t)
	before := h.armCalls()
	h.run(t, `
order = {}
for i = 1, 100 do mit.oneoff(i % 2 == 0 and 20 or 400, function() order[#order + 1] = i end) end
check(mit.next_due() ~= nil, "nothing armed")
`)
	if n := h.armCalls() - before; n != 1 {
		t.Fatalf("100 arms crossed in %d calls, want 1", n)
	}
	h.run(t, `
check(pump(function() return #order == 100 end), "%s of 100 ran", #order)
for k = 1, 50 do check(order[k] == 2 * k, "run %s was timer %s, want %s", k, order[k], 2 * k) end
for k = 51, 100 do check(order[k] == 2 * (k - 50) - 1, "run %s was timer %s, want %s", k, order[k], 2 * (k - 50) - 1) end
`)
	h.run(t, "mit.fd()")
	// on Linux fd() leaves Go passive: an arm outside a drain waits like
	// any other (fd()'s timer is brought forward to its due time), and the
	// next fd() sends what waits; on the portable path fd() makes Go
	// active: its clock goroutine must know each timer at once, so every
	// arm crosses
	alone := uint64(0)
	if portablePath {
		alone = 1
	}
	before = h.armCalls()
	h.run(t, "t1 = mit.oneoff(60000, function() end); t2 = mit.oneoff(60000, function() end)")
	if n := h.armCalls() - before; n != 2*alone {
		t.Fatalf("under fd(), 2 arms outside a drain crossed in %d calls, want %d", n, 2*alone)
	}
	h.run(t, "mit.fd()")
	if n, want := h.armCalls()-before, max(2*alone, 1); n != want {
		t.Fatalf("under fd(), 2 arms outside a drain and fd() crossed in %d calls, want %d", n, want)
	}
	before = h.armCalls()
	h.run(t, `
ran = 0
mit.oneoff(0, function() for i = 1, 50 do mit.oneoff(30, function() ran = ran + 1 end) end end)
`)
	mid := h.armCalls()
	h.run(t, `
check(pump(function() return ran == 50 end), "%s of 50 ran", ran)
t1:destroy(); t2:destroy()
`)
	if n := mid - before; n != alone {
		t.Fatalf("under fd(), a one-off outside a drain crossed in %d calls, want %d", n, alone)
	}
	// the drain sends the one-off (Linux), and its callback's 50 arms
	// cross together at the drain's end
	want := uint64(2)
	if portablePath {
		want = 50
	}
	if n := h.armCalls() - mid; n != want {
		t.Fatalf("under fd(), 50 arms in one callback crossed in %d calls, want %d", n, want)
	}
}

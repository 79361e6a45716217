package queue

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"unsafe"
)

// The engine against a naive model, by random operations: arm one-offs
// and interval timers (a few durations, so the FIFO lists fill, and odd
// ones), drop them, restart them with a backlog, drains that take
// expirations one at a time (with timers dropped, restarted and armed
// between two expirations, as callbacks do) or all of a timer's due ones
// at once (takeDue, what the Queue's clock goroutine does), pending
// counts, and emptying the engine and refilling it. The model keeps a
// plain array and finds the next expiration by a linear scan in (key, id)
// order, with the rule that a timer's due expirations run back to back.
// It is test/engine_test.c's model, for the Go engine.

type mtimer struct {
	due, period, left, blDue, blLeft int64
	id                               uint64
	in                               bool
	slot                             int32
}

func (m *mtimer) key() int64 {
	if m.blLeft != 0 {
		return m.blDue
	}
	return m.due
}

func (m *mtimer) before(o *mtimer) bool {
	return m.key() < o.key() || (m.key() == o.key() && m.id < o.id)
}

// dueCount is how many of m's expirations are due at now.
func (m *mtimer) dueCount(now int64) int64 {
	n := int64(0)
	if m.blLeft != 0 && m.blDue <= now {
		n = m.blLeft
	}
	if m.left != 0 && m.due <= now {
		k := int64(1)
		if m.left != 1 {
			k = (now-m.due)/m.period + 1
			if m.left > 0 && k > m.left {
				k = m.left
			}
		}
		n += k
	}
	return n
}

func (m *mtimer) sched() sched {
	return sched{due: m.due, period: m.period, left: int32(m.left), id: m.id}
}

type engineRun struct {
	e       engine
	m       []*mtimer
	now     int64
	nextID  uint64
	mcursor *mtimer
	rng     uint64
	log     []string
	seed    uint64
}

func (r *engineRun) rnd() uint64 {
	r.rng ^= r.rng << 13
	r.rng ^= r.rng >> 7
	r.rng ^= r.rng << 17
	return r.rng
}

func (r *engineRun) rint(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return int64(r.rnd() % uint64(n))
}

func (r *engineRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
	if len(r.log) > 64 {
		r.log = r.log[len(r.log)-32:]
	}
}

func (r *engineRun) fail(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("seed %d, now %d: %s\nlast operations:\n  %s", r.seed, r.now, fmt.Sprintf(format, args...), strings.Join(r.log, "\n  "))
}

func (r *engineRun) pickPeriod() int64 {
	common := []int64{10, 25, 100, 1000}
	if r.rint(4) != 0 {
		return common[r.rint(4)]
	}
	return 5 * (1 + r.rint(100))
}

func (r *engineRun) load(m *mtimer) {
	r.e.setBacklog(m.slot, 0, 0)
	t := r.e.t.at(m.slot)
	at, prev, next := t.at, t.prev, t.next
	*t = m.sched()
	t.at, t.prev, t.next = at, prev, next
	r.e.setBacklog(m.slot, m.blDue, m.blLeft)
}

func (r *engineRun) arm() {
	if len(r.m) >= 400 {
		return
	}
	r.nextID++
	m := &mtimer{id: r.nextID, period: r.pickPeriod(), left: 1, in: true}
	if r.rint(2) == 0 {
		m.left = -1
	}
	m.due = r.now + m.period
	if r.rint(8) == 0 {
		m.due = r.now + 5*r.rint(10) // out of its list's order
	}
	m.slot = r.e.alloc()
	r.load(m)
	r.logf("arm id %d due %d period %d left %d", m.id, m.due, m.period, m.left)
	r.e.insert(m.slot)
	r.m = append(r.m, m)
}

func (r *engineRun) pickHeld() *mtimer {
	for range 8 {
		if len(r.m) == 0 {
			return nil
		}
		if m := r.m[r.rint(int64(len(r.m)))]; m.in {
			return m
		}
	}
	return nil
}

func (r *engineRun) drop() {
	m := r.pickHeld()
	if m == nil {
		return
	}
	r.logf("drop id %d", m.id)
	r.e.remove(m.slot)
	m.in = false
	if r.mcursor == m {
		r.mcursor = nil
	}
}

// restart: what is due now becomes the backlog, the main part starts over
// from now (the engine's owner does this).
func (r *engineRun) restart() {
	m := r.pickHeld()
	if m == nil {
		return
	}
	r.e.remove(m.slot)
	if r.mcursor == m {
		r.mcursor = nil
	}
	var dueMain int64
	if m.due <= r.now && m.left != 0 {
		dueMain = 1
		if m.left != 1 {
			dueMain = (r.now-m.due)/m.period + 1
			if m.left > 0 && dueMain > m.left {
				dueMain = m.left
			}
		}
	}
	if dueMain > 0 {
		if m.blLeft == 0 {
			m.blDue = m.due
		}
		m.blLeft += dueMain
	}
	if m.left == 0 {
		m.left = 1
	}
	m.due = r.now + m.period
	r.logf("restart id %d backlog %d due %d", m.id, m.blLeft, m.due)
	r.load(m)
	r.e.insert(m.slot)
}

func (r *engineRun) mnext(upto int64) *mtimer {
	if c := r.mcursor; c != nil && c.in && c.key() <= upto {
		return c
	}
	r.mcursor = nil
	var best *mtimer
	for _, m := range r.m {
		if m.in && (best == nil || m.before(best)) {
			best = m
		}
	}
	if best == nil || best.key() > upto {
		return nil
	}
	r.mcursor = best
	return best
}

func mtake(m *mtimer) bool {
	if m.blLeft != 0 {
		m.blLeft--
	} else {
		if m.left > 0 {
			m.left--
		}
		m.due += m.period
	}
	if m.left == 0 && m.blLeft == 0 {
		m.in = false
		return true
	}
	return false
}

func (r *engineRun) checkSame(t testing.TB, m *mtimer) {
	t.Helper()
	if r.e.held(m.slot) != m.in {
		r.fail(t, "id %d: held %v, model %v", m.id, r.e.held(m.slot), m.in)
	}
	if !m.in {
		return
	}
	s := r.e.t.at(m.slot)
	blDue, blLeft := r.e.backlog(m.slot)
	if s.due != m.due || int64(s.left) != m.left || blLeft != m.blLeft || (blLeft != 0 && blDue != m.blDue) || s.id != m.id {
		r.fail(t, "id %d: schedule %+v backlog %d at %d, model %+v", m.id, *s, blLeft, blDue, *m)
	}
}

// drain takes expirations due by upto, one at a time (at most max, -1:
// all) with a callback's operations between them; bulk drains take each
// timer's due ones at once.
func (r *engineRun) drain(t testing.TB, upto int64, max int, bulk bool) {
	r.e.begin()
	r.mcursor = nil
	r.logf("drain upto %d max %d bulk %v", upto, max, bulk)
	for steps := 0; ; steps++ {
		m := r.mnext(upto)
		s := r.e.next(upto)
		if (m == nil) != (s < 0) {
			r.fail(t, "next: model %v, engine slot %d", m, s)
		}
		if s < 0 || steps == max {
			return
		}
		if s != m.slot {
			r.fail(t, "next: order: model id %d, engine id %d", m.id, r.e.t.at(s).id)
		}
		if bulk {
			wantN := m.dueCount(upto)
			var n int64
			for n = 0; m.in && m.key() <= upto; n++ {
				mtake(m)
			}
			if n != wantN {
				r.fail(t, "model: dueCount %d, took %d", wantN, n)
			}
			got, over := r.e.takeDue(s, upto)
			if got != n || over != !m.in {
				r.fail(t, "takeDue id %d = %d %v, model %d %v", m.id, got, over, n, !m.in)
			}
		} else if r.e.take(s) != mtake(m) {
			r.fail(t, "take id %d: over differs", m.id)
		}
		r.checkSame(t, m)
		switch r.rint(12) { // what a callback might do
		case 0:
			r.drop()
		case 1:
			r.restart()
		case 2:
			r.arm()
		}
	}
}

func (r *engineRun) checkPending(t testing.TB) {
	t.Helper()
	var want int64
	var top *mtimer
	for _, m := range r.m {
		if !m.in {
			continue
		}
		want += m.dueCount(r.now)
		if top == nil || m.before(top) {
			top = m
		}
	}
	if got := r.e.pending(r.now); got != want {
		r.fail(t, "pending %d, model %d", got, want)
	}
	if top == nil {
		if r.e.top() != -1 || r.e.nextDue() != math.MaxInt64 || r.e.n != 0 {
			r.fail(t, "empty model, engine top %d nextDue %d n %d", r.e.top(), r.e.nextDue(), r.e.n)
		}
		return
	}
	if r.e.top() != top.slot {
		r.fail(t, "top: engine id %d, model id %d", r.e.t.at(r.e.top()).id, top.id)
	}
	if r.e.nextDue() != top.key() {
		r.fail(t, "nextDue %d, model %d", r.e.nextDue(), top.key())
	}
}

// cycle empties the engine (every held timer comes out exactly once),
// then puts everything back.
func (r *engineRun) cycle(t testing.TB) {
	r.logf("cycle")
	held := 0
	for _, m := range r.m {
		if m.in {
			held++
		}
	}
	out := 0
	for s := r.e.popAny(); s >= 0; s = r.e.popAny() {
		if r.e.held(s) {
			r.fail(t, "popAny: slot %d still held", s)
		}
		out++
	}
	if out != held || r.e.n != 0 {
		r.fail(t, "popAny: %d out, %d held, n %d", out, held, r.e.n)
	}
	r.mcursor = nil
	for _, m := range r.m {
		if m.in {
			r.e.insert(m.slot)
		}
	}
}

// compact releases the slots of the timers that are over (their ids
// become 0, so IDs made from them name nothing; the slots are reused by
// later arms).
func (r *engineRun) compact(t testing.TB) {
	k := 0
	for _, m := range r.m {
		if m.in {
			r.m[k] = m
			k++
			continue
		}
		r.e.release(m.slot)
		if r.e.t.at(m.slot).id != 0 || r.e.t.at(m.slot).hasBL {
			r.fail(t, "release kept the id or a backlog")
		}
	}
	r.m = r.m[:k]
	if r.e.live != k {
		r.fail(t, "live slots %d, model %d", r.e.live, k)
	}
}

func runEngineModel(t testing.TB, seed uint64, ops int) {
	r := &engineRun{e: newEngine(), now: 1000, seed: seed, rng: seed*0x9E3779B97F4A7C15 + 1}
	for range ops {
		switch r.rint(10) {
		case 0, 1, 2:
			r.arm()
		case 3:
			r.drop()
		case 4:
			r.restart()
		case 5, 6:
			max := -1
			if r.rint(4) == 0 {
				max = int(r.rint(5))
			}
			r.drain(t, r.now, max, r.rint(3) == 0)
		case 7:
			r.now += 5 * r.rint(40)
		case 8:
			r.checkPending(t)
		default:
			if r.rint(10) == 0 {
				r.cycle(t)
			} else {
				r.now += 5 * r.rint(4)
			}
		}
		if len(r.m) > 380 {
			r.compact(t)
		}
	}
	r.checkPending(t)
	for _, m := range r.m {
		r.checkSame(t, m)
	}
}

// TestEngineModel runs 500 seeds of 2000 operations (the C test's
// defaults were 2000 seeds); -short and -race run 25.
func TestEngineModel(t *testing.T) {
	seeds := uint64(500)
	if testing.Short() || raceEnabled {
		seeds = 25
	}
	for s := uint64(1); s <= seeds; s++ {
		runEngineModel(t, s, 2000)
	}
}

// FuzzEngine runs the model from a fuzzed seed and length.
//
//	go test -run '^$' -fuzz FuzzEngine -fuzztime 60s ./internal/queue
func FuzzEngine(f *testing.F) {
	f.Add(uint64(1), uint16(2000))
	f.Add(uint64(0xdeadbeef), uint16(500))
	f.Add(uint64(7), uint16(5000))
	f.Fuzz(func(t *testing.T, seed uint64, ops uint16) {
		runEngineModel(t, seed|1, int(ops))
	})
}

func TestSchedSize(t *testing.T) {
	if n := unsafe.Sizeof(sched{}); n != 56 {
		t.Errorf("sched is %d bytes, want 56", n)
	}
}

// A group emptied and refilled is reused; many empty groups are swept.
func TestEngineGroupsSwept(t *testing.T) {
	e := newEngine()
	var slots []int32
	for i := range 200 {
		s := e.alloc()
		*e.t.at(s) = sched{due: int64(1000 + i), period: int64(1000 + i), left: 1, id: uint64(i + 1), at: notHeld, prev: -1, next: -1}
		e.insert(s)
		slots = append(slots, s)
	}
	if len(e.gmap) != 200 {
		t.Fatalf("%d groups, want 200", len(e.gmap))
	}
	for _, s := range slots {
		e.remove(s)
		e.release(s)
	}
	s := e.alloc()
	e.t.at(s).due, e.t.at(s).period, e.t.at(s).left, e.t.at(s).id = 5, 5, 1, 999
	e.insert(s) // sweeps first
	if len(e.gmap) > emptyKeep+1 || e.nempty != len(e.gmap)-1 {
		t.Errorf("after the sweep: %d groups, %d empty", len(e.gmap), e.nempty)
	}
}

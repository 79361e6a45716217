package queue

// White-box tests of the queue and its timers.
//
// Two clocks are used. Tests whose name ends in _Timing run on the real
// clock and use tolerant bounds (2 noisy cores, -race). The others drive a
// virtual clock (advance): they shift the queue's epoch back by whole hours
// and call fire directly, so what has expired is exact and independent of
// scheduling noise (a real wake-up can only come hours later).

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// U is the virtual clock's unit: long enough that no real timer of the
// queue fires during a test, and that real time spent between operations
// (well under a second) never moves a due time across a unit boundary.
const U = time.Hour

// advance moves q's clock forward by d and runs the expirations now due,
// as the runtime timer would.
func advance(q *Queue, d time.Duration) {
	q.mu.Lock()
	q.epoch = q.epoch.Add(-d)
	q.mu.Unlock()
	q.fireNow(false) // not fire: a runtime timer's fire waiting meanwhile would make it return at once
}

// fakeNotifier records Set and Clear. They run with the queue's mutex held,
// so it checks there that the queue's pending count agrees with the call,
// and that the calls alternate.
type fakeNotifier struct {
	q      *Queue // read only under q.mu
	set    bool
	sets   int
	clears int
	errs   []string
}

func (f *fakeNotifier) Set() {
	if f.set {
		f.errs = append(f.errs, "Set while already set")
	}
	if f.q != nil && f.q.pending <= 0 {
		f.errs = append(f.errs, fmt.Sprintf("Set with pending=%d", f.q.pending))
	}
	f.set = true
	f.sets++
}

func (f *fakeNotifier) Clear() {
	if !f.set {
		f.errs = append(f.errs, "Clear while already clear")
	}
	if f.q != nil && f.q.pending != 0 {
		f.errs = append(f.errs, fmt.Sprintf("Clear with pending=%d", f.q.pending))
	}
	f.set = false
	f.clears++
}

func newNotified() (*Queue, *fakeNotifier) {
	n := &fakeNotifier{}
	q := New(n)
	n.q = q
	return q, n
}

// checkNotifier verifies, under q.mu, that the notifier is set exactly when
// events are pending and that no call broke the alternation.
func checkNotifier(t testing.TB, q *Queue, n *fakeNotifier) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if n.set != (q.pending > 0) {
		t.Errorf("notifier set=%v but pending=%d", n.set, q.pending)
	}
	if len(n.errs) > 0 {
		t.Errorf("notifier protocol broken: %v", n.errs)
		n.errs = nil
	}
}

// checkStructure verifies the queue's internal bookkeeping under q.mu:
// pending and stale counts match the ring, each timer's queued/records/tail
// match its records, the heap is ordered and holds exactly the armed timers,
// and ring cells outside the live window hold no timer (nothing retained).
func checkStructure(t testing.TB, q *Queue) {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := structureErr(q); err != nil {
		t.Error(err)
	}
}

func structureErr(q *Queue) error {
	if q.closed {
		if q.pending != 0 || q.stale != 0 || q.size != 0 || q.timers.len() != 0 || len(q.heap) != 0 ||
			len(q.producers) != 0 || len(q.waiters) != 0 {
			return fmt.Errorf("closed queue not empty: pending=%d stale=%d size=%d timers=%d heap=%d",
				q.pending, q.stale, q.size, q.timers.len(), len(q.heap))
		}
		return nil
	}
	if q.size < 0 || q.size > len(q.ring) || len(q.ring)&(len(q.ring)-1) != 0 {
		return fmt.Errorf("ring: size %d, len %d", q.size, len(q.ring))
	}
	queued := map[*timer]int{}
	records := map[*timer]int{}
	items := map[*producer]int{}
	pending, stale := 0, 0
	holes := map[uint64]int{}
	for id, c := range q.holes {
		if c <= 0 {
			return fmt.Errorf("hole count %d for id %d", c, id)
		}
		holes[id] = c
	}
	for i := 0; i < q.size; i++ {
		pos := q.head + uint64(i)
		r := q.at(pos)
		if r.p != nil {
			if r.t != nil {
				return fmt.Errorf("record at %d is both a timer's and an item", pos)
			}
			if r.n == 0 {
				stale++
				continue
			}
			if r.n != 1 {
				return fmt.Errorf("item record at %d has n=%d", pos, r.n)
			}
			if q.producers[r.p.id] != r.p {
				return fmt.Errorf("live item at %d of unregistered producer %d", pos, r.p.id)
			}
			if r.w != nil && (r.w.state != wQueued || r.w.pos != pos || q.waiters[r.w.id] != r.w) {
				return fmt.Errorf("item at %d: waiter %d state %d pos %d", pos, r.w.id, r.w.state, r.w.pos)
			}
			items[r.p]++
			pending++
			continue
		}
		if r.once {
			if r.t != nil || r.n < 0 {
				return fmt.Errorf("run at %d: timer %v, n=%d", pos, r.t != nil, r.n)
			}
			if r.n == 0 {
				stale++
				continue
			}
			// Each id is a hole (oldest occurrences first, as Take skips
			// them) or a fired one-off whose record this is.
			for id := r.val; id < r.val+uint64(r.n); id++ {
				if holes[id] > 0 {
					holes[id]--
					stale++
					continue
				}
				tm := q.timers.get(id)
				if tm == nil || tm.period != 0 || tm.state != tFired || !tm.hasTail || tm.tail != pos {
					return fmt.Errorf("run at %d holds one-off %d, not a fired one-off queued here (%+v)", pos, id, tm)
				}
				queued[tm]++
				records[tm]++
				pending++
			}
			continue
		}
		if r.t == nil {
			return fmt.Errorf("record at %d has no timer", pos)
		}
		if r.t.period == 0 {
			return fmt.Errorf("record at %d of one-off %d is not a run", pos, r.t.id)
		}
		if r.gen != r.t.gen {
			stale++
			continue
		}
		if r.n <= 0 {
			return fmt.Errorf("live record of timer %d at %d has n=%d", r.t.id, pos, r.n)
		}
		if q.timers.get(r.t.id) != r.t {
			return fmt.Errorf("live record at %d of timer %d that the queue forgot", pos, r.t.id)
		}
		queued[r.t] += r.n
		records[r.t]++
		pending += r.n
	}
	for id, c := range holes {
		if c != 0 {
			return fmt.Errorf("%d holes for id %d that no run holds", c, id)
		}
	}
	for i := q.size; i < len(q.ring); i++ {
		if r := q.at(q.head + uint64(i)); r.t != nil {
			return fmt.Errorf("ring cell outside the window still holds timer %d", r.t.id)
		}
	}
	if pending != q.pending {
		return fmt.Errorf("pending=%d but live records hold %d", q.pending, pending)
	}
	if stale != q.stale {
		return fmt.Errorf("stale=%d but ring holds %d stale records", q.stale, stale)
	}
	var terr error
	q.timers.each(func(id uint64, tm *timer) {
		if terr == nil {
			terr = checkTimer(q, id, tm, queued, records)
		}
	})
	if terr != nil {
		return terr
	}
	for id, p := range q.producers {
		if p.id != id || p.closed || p.queued != items[p] {
			return fmt.Errorf("producer %d: id %d closed %v queued %d, ring has %d", id, p.id, p.closed, p.queued, items[p])
		}
	}
	for i, tm := range q.heap {
		if tm.hidx != i {
			return fmt.Errorf("heap[%d] has hidx %d", i, tm.hidx)
		}
		if q.timers.get(tm.id) != tm {
			return fmt.Errorf("heap[%d] timer %d is not known", i, tm.id)
		}
		if i > 0 && q.heap.less(i, (i-1)/2) {
			return fmt.Errorf("heap order broken at %d", i)
		}
	}
	return nil
}

func takeAll(q *Queue) []Slot {
	var out []Slot
	buf := make([]Slot, 64)
	for {
		n, _ := q.Take(buf)
		out = append(out, buf[:n]...)
		if n < len(buf) {
			return out
		}
	}
}

func ids(s []Slot) []uint64 {
	out := make([]uint64, len(s))
	for i := range s {
		out[i] = s[i].ID
	}
	return out
}

func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

func mustArm(t testing.TB, q *Queue, id uint64, delay, period time.Duration) {
	t.Helper()
	if err := q.Arm(id, delay, period); err != nil {
		t.Fatalf("Arm(%d, %v, %v): %v", id, delay, period, err)
	}
}

func wantCounts(t testing.TB, q *Queue, pending, inqueue int) {
	t.Helper()
	if p, iq := q.Pending(), q.InQueue(); p != pending || iq != inqueue {
		t.Errorf("Pending, InQueue = %d, %d; want %d, %d", p, iq, pending, inqueue)
	}
}

// ---- argument errors ----

func TestArmErrors(t *testing.T) {
	cases := []struct {
		name          string
		setup         func(q *Queue)
		id            uint64
		delay, period time.Duration
		want          error
		timers        int // Timers() afterwards
	}{
		{"negative delay", nil, 1, -time.Millisecond, 0, ErrRange, 0},
		{"negative period", nil, 1, time.Millisecond, -time.Millisecond, ErrRange, 0},
		{"both negative", nil, 1, -1, -1, ErrRange, 0},
		{"zero delay one-off", nil, 1, 0, 0, nil, 1},
		{"duplicate of armed", func(q *Queue) { q.Arm(7, U, 0) }, 7, U, 0, ErrExists, 1},
		{"duplicate of armed interval", func(q *Queue) { q.Arm(7, U, U) }, 7, U, 0, ErrExists, 1},
		{"duplicate of stopped", func(q *Queue) { q.Arm(7, U, U); q.Stop(7) }, 7, U, U, ErrExists, 1},
		{"duplicate of fired one-off", func(q *Queue) { q.Arm(7, U, 0); advance(q, U) }, 7, U, 0, ErrExists, 1},
		{"id free after cancel", func(q *Queue) { q.Arm(7, U, U); q.Cancel(7) }, 7, U, U, nil, 1},
		{"id free after one-off taken", func(q *Queue) { q.Arm(7, U, 0); advance(q, U); takeAll(q) }, 7, U, 0, nil, 1},
		{"closed", func(q *Queue) { q.Close() }, 1, U, 0, ErrClosed, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := New(nil)
			defer q.Close()
			if c.setup != nil {
				c.setup(q)
			}
			if err := q.Arm(c.id, c.delay, c.period); !errors.Is(err, c.want) {
				t.Fatalf("Arm = %v, want %v", err, c.want)
			}
			if n := q.Timers(); n != c.timers {
				t.Errorf("Timers() = %d, want %d", n, c.timers)
			}
			checkStructure(t, q)
		})
	}
}

func TestUnknownIDs(t *testing.T) {
	q := New(nil)
	defer q.Close()
	if q.Cancel(42) {
		t.Error("Cancel of an unknown id reported true")
	}
	if err := q.Stop(42); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop = %v, want ErrNotFound", err)
	}
	if err := q.Start(42); !errors.Is(err, ErrNotFound) {
		t.Errorf("Start = %v, want ErrNotFound", err)
	}
	if s := q.State(42); s != StateNone {
		t.Errorf("State = %d, want StateNone", s)
	}
	mustArm(t, q, 42, U, U)
	if !q.Cancel(42) {
		t.Error("Cancel of an armed timer reported false")
	}
	if q.Cancel(42) {
		t.Error("second Cancel reported true")
	}
}

// ---- one-offs ----

func TestOneOffOrder_Timing(t *testing.T) {
	const gap = 25 * time.Millisecond
	cases := []struct {
		name   string
		delays []int // in gaps, by id 1..n
	}{
		{"ascending", []int{1, 2, 3}},
		{"descending", []int{3, 2, 1}},
		{"mixed", []int{2, 4, 1, 3}},
		{"zero first", []int{1, 0, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, nt := newNotified()
			defer q.Close()
			start := time.Now()
			for i, d := range c.delays {
				mustArm(t, q, uint64(i+1), time.Duration(d)*gap, 0)
			}
			if el := time.Since(start); el > gap/2 {
				t.Skipf("arming took %v (machine too loaded for a %v gap)", el, gap)
			}
			n := len(c.delays)
			if !eventually(5*time.Second, func() bool { return q.Pending() == n }) {
				t.Fatalf("Pending() = %d after 5 s, want %d", q.Pending(), n)
			}
			buf := make([]Slot, n+4)
			got, before := q.Take(buf)
			if got != n || before != n {
				t.Fatalf("Take = %d, %d; want %d, %d", got, before, n, n)
			}
			want := make([]uint64, n)
			for i := range want {
				want[i] = uint64(i + 1)
			}
			sort.Slice(want, func(a, b int) bool { return c.delays[want[a]-1] < c.delays[want[b]-1] })
			if fmt.Sprint(ids(buf[:n])) != fmt.Sprint(want) {
				t.Errorf("order %v, want %v (by due time)", ids(buf[:n]), want)
			}
			for _, s := range buf[:n] {
				if s.Flags != FlagLast {
					t.Errorf("one-off slot %d has flags %d, want FlagLast", s.ID, s.Flags)
				}
			}
			if k := q.Timers(); k != 0 {
				t.Errorf("Timers() = %d after taking every one-off, want 0", k)
			}
			wantCounts(t, q, 0, 0)
			checkStructure(t, q)
			checkNotifier(t, q, nt)
		})
	}
}

func TestOneOffLifecycle(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	mustArm(t, q, 1, 2*U, 0)
	if s := q.State(1); s != StateArmed {
		t.Fatalf("State = %d, want StateArmed", s)
	}
	advance(q, U)
	wantCounts(t, q, 0, 0)
	advance(q, U)
	if s := q.State(1); s != StateFired {
		t.Errorf("State after expiry = %d, want StateFired", s)
	}
	if k := q.Timers(); k != 1 {
		t.Errorf("Timers() = %d before take, want 1", k)
	}
	wantCounts(t, q, 1, 1)
	checkNotifier(t, q, nt)
	advance(q, 10*U) // a one-off expires once
	wantCounts(t, q, 1, 1)
	got := takeAll(q)
	if len(got) != 1 || got[0] != (Slot{ID: 1, Flags: FlagLast}) {
		t.Fatalf("Take = %+v, want one FlagLast slot of 1", got)
	}
	if k := q.Timers(); k != 0 {
		t.Errorf("Timers() = %d after take, want 0", k)
	}
	if s := q.State(1); s != StateNone {
		t.Errorf("State after take = %d, want StateNone", s)
	}
	checkStructure(t, q)
	checkNotifier(t, q, nt)
}

// ---- intervals ----

func TestIntervalBurst_Timing(t *testing.T) {
	const period = 20 * time.Millisecond
	q := New(nil)
	defer q.Close()
	t0 := time.Now()
	mustArm(t, q, 1, period, period)
	mustArm(t, q, 2, 100*time.Millisecond, 0)
	time.Sleep(200 * time.Millisecond)
	buf := make([]Slot, 1000)
	n, _ := q.Take(buf)
	elapsed := time.Since(t0)
	got := buf[:n]

	count, first, last := 0, -1, -1
	for i, s := range got {
		switch s.ID {
		case 1:
			count++
			if first < 0 {
				first = i
			}
			last = i
			if s.Flags != 0 {
				t.Errorf("interval slot has flags %d", s.Flags)
			}
		case 2:
			if s.Flags != FlagLast {
				t.Errorf("one-off slot has flags %d", s.Flags)
			}
		default:
			t.Errorf("unexpected id %d", s.ID)
		}
	}
	if maxN := int(elapsed / period); count > maxN {
		t.Errorf("%d expirations in %v: more than %d periods elapsed", count, elapsed, maxN)
	}
	if count < 6 || count > 14 {
		t.Errorf("%d expirations of a 20 ms timer left 200 ms, want ~10 (6..14); slots %v", count, ids(got))
	}
	if count > 0 && last-first+1 != count {
		t.Errorf("interval slots not consecutive: %v", ids(got))
	}
}

// The schedule is start + k*period whatever the wake-up latency: with an
// advance of 0.7 period per wake-up, a drifting (re-arm from now) timer
// would count 5 expirations after 7 periods.
func TestAbsoluteSchedule_VirtualClock(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, U, U)
	step := 7 * U / 10
	for i := 1; i <= 20; i++ {
		advance(q, step)
		want := i * 7 / 10
		if p := q.Pending(); p != want {
			t.Fatalf("after %d wake-ups of 0.7 period: Pending() = %d, want %d", i, p, want)
		}
	}
	// a late wake-up counts every period that passed, once each
	advance(q, 5*U+U/2)
	if p := q.Pending(); p != 14+5 {
		t.Errorf("after a 5.5 period stall: Pending() = %d, want %d", p, 19)
	}
	checkStructure(t, q)
}

func TestAbsoluteSchedule_Timing(t *testing.T) {
	const period = 10 * time.Millisecond
	const periods = 100
	q := New(nil)
	defer q.Close()
	t0 := time.Now()
	mustArm(t, q, 1, period, period)
	t1 := time.Now()
	buf := make([]Slot, 512)
	total := 0
	take := func() {
		n, _ := q.Take(buf)
		for _, s := range buf[:n] {
			if s.ID != 1 {
				t.Fatalf("unexpected slot %+v", s)
			}
		}
		total += n
		if maxN := int(time.Since(t0) / period); total > maxN {
			t.Fatalf("%d expirations after %v: more than elapsed/period = %d", total, time.Since(t0), maxN)
		}
	}
	// A consumer that takes at irregular moments, with one long stall.
	for i := 0; time.Since(t1) < periods*period-50*time.Millisecond; i++ {
		take()
		if i == 20 {
			time.Sleep(150 * time.Millisecond)
		} else {
			time.Sleep(time.Duration(1+i%7) * time.Millisecond)
		}
	}
	// The 100th expiration is due at t1+1 s at the latest; with no
	// cumulative drift it is queued soon after, whatever happened before
	// (take() checks the upper bound, elapsed/period, at every step).
	deadline := t1.Add(periods*period + 200*time.Millisecond)
	for total < periods && time.Now().Before(deadline) {
		take()
		time.Sleep(time.Millisecond)
	}
	if total < periods {
		t.Fatalf("only %d expirations %v after arming a 10 ms timer: schedule drifts (want >= %d)",
			total, time.Since(t1), periods)
	}
}

// ---- memory bound ----

func TestMemoryBoundStalledConsumer_Timing(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, time.Millisecond, time.Millisecond)
	var prev int
	for i := 0; i < 6; i++ {
		time.Sleep(50 * time.Millisecond)
		q.mu.Lock()
		size, ringLen := q.size, len(q.ring)
		q.mu.Unlock()
		p, iq := q.Pending(), q.InQueue()
		if size != 1 || ringLen != 16 {
			t.Fatalf("stalled consumer: %d records in a ring of %d after %d expirations; want 1 record, ring 16",
				size, ringLen, p)
		}
		if iq < p {
			t.Errorf("InQueue %d < Pending %d", iq, p)
		}
		if p < prev {
			t.Errorf("Pending shrank from %d to %d with no Take", prev, p)
		}
		prev = p
	}
	if prev < 50 {
		t.Errorf("Pending() = %d after 300 ms of a 1 ms timer, want it to grow (>= 50)", prev)
	}
	q.Stop(1)
	checkStructure(t, q)
}

func TestMemoryBoundManyExpirations(t *testing.T) {
	q := New(nil)
	defer q.Close()
	for id := uint64(1); id <= 8; id++ {
		mustArm(t, q, id, U, U)
	}
	advance(q, 100_000*U)
	q.mu.Lock()
	size, ringLen := q.size, len(q.ring)
	q.mu.Unlock()
	wantCounts(t, q, 800_000, 800_000)
	if size != 8 || ringLen != 16 {
		t.Errorf("8 timers, 10^5 expirations each: %d records, ring %d; want 8, 16", size, ringLen)
	}
	buf := make([]Slot, 4096)
	counts := map[uint64]int{}
	for {
		n, _ := q.Take(buf)
		for _, s := range buf[:n] {
			counts[s.ID]++
		}
		if n == 0 {
			break
		}
	}
	for id := uint64(1); id <= 8; id++ {
		if counts[id] != 100_000 {
			t.Errorf("timer %d: %d slots, want 100000", id, counts[id])
		}
	}
	checkStructure(t, q)
}

// ---- cancel ----

func TestCancel(t *testing.T) {
	cases := []struct {
		name   string
		build  func(q *Queue) // arms timers 1..3 and fills the queue
		cancel uint64
		// after Cancel: Pending, InQueue; then the ids of one full Take
		pending, inqueue int
		rest             []uint64
	}{
		{"armed one-off never fires",
			func(q *Queue) { q.Arm(1, 2*U, 0) }, 1, 0, 0, nil},
		{"queued one-off",
			func(q *Queue) { q.Arm(1, U, 0); advance(q, U) }, 1, 0, 1, nil},
		{"queued interval",
			func(q *Queue) { q.Arm(1, U, U); advance(q, 5*U) }, 1, 0, 1, nil},
		{"between others",
			func(q *Queue) {
				q.Arm(1, U, U)
				q.Arm(2, U, U)
				q.Arm(3, U, 0)
				advance(q, 2*U)
			}, 2, 3, 4, []uint64{1, 1, 3}},
		{"keeps others",
			func(q *Queue) {
				q.Arm(1, U, U)
				q.Arm(2, U, U)
				advance(q, U)
			}, 1, 1, 2, []uint64{2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, nt := newNotified()
			defer q.Close()
			c.build(q)
			if !q.Cancel(c.cancel) {
				t.Fatal("Cancel reported false for a known timer")
			}
			wantCounts(t, q, c.pending, c.inqueue)
			checkNotifier(t, q, nt)
			got := takeAll(q)
			if fmt.Sprint(ids(got)) != fmt.Sprint(c.rest) {
				t.Errorf("Take after Cancel = %v, want %v", ids(got), c.rest)
			}
			advance(q, 3*U) // the cancelled timer never expires again
			for _, s := range takeAll(q) {
				if s.ID == c.cancel {
					t.Fatalf("slot of cancelled timer %d returned", c.cancel)
				}
			}
			wantCounts(t, q, 0, 0)
			if s := q.State(c.cancel); s != StateNone {
				t.Errorf("State of cancelled timer = %d", s)
			}
			checkStructure(t, q)
			checkNotifier(t, q, nt)
		})
	}
}

// No slot of a timer appears in a Take that starts after Cancel returned,
// while that timer (1 ms) and others fire concurrently.
func TestCancelWhileFiring_Timing(t *testing.T) {
	for round := 0; round < 5; round++ {
		q, nt := newNotified()
		const nTimers = 20
		for id := uint64(1); id <= nTimers; id++ {
			mustArm(t, q, id, time.Millisecond, time.Millisecond)
		}
		var cancelled [nTimers + 1]atomic.Bool
		var stop atomic.Bool
		var wg sync.WaitGroup
		var bad atomic.Value
		seen := make([]int, nTimers+1)
		wg.Add(1)
		go func() { // consumer
			defer wg.Done()
			buf := make([]Slot, 7)
			var snap [nTimers + 1]bool
			for !stop.Load() {
				for id := range snap {
					snap[id] = cancelled[id].Load()
				}
				n, _ := q.Take(buf)
				for _, s := range buf[:n] {
					if snap[s.ID] {
						bad.Store(fmt.Sprintf("slot of timer %d taken after its Cancel returned", s.ID))
					}
					seen[s.ID]++
				}
				if n == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
		rng := rand.New(rand.NewSource(int64(round)))
		for id := uint64(1); id <= nTimers/2; id++ {
			time.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
			if !q.Cancel(id) {
				t.Errorf("Cancel(%d) = false", id)
			}
			cancelled[id].Store(true)
		}
		time.Sleep(20 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if v := bad.Load(); v != nil {
			t.Fatal(v)
		}
		if k := q.Timers(); k != nTimers/2 {
			t.Errorf("Timers() = %d, want %d", k, nTimers/2)
		}
		for id := nTimers/2 + 1; id <= nTimers; id++ {
			if seen[id] == 0 {
				t.Errorf("live timer %d delivered nothing", id)
			}
		}
		checkStructure(t, q)
		checkNotifier(t, q, nt)
		q.Close()
	}
}

// ---- stop / start ----

func TestStopStartInterval(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	mustArm(t, q, 1, U, U)
	mustArm(t, q, 2, U, U) // a neighbour that keeps going
	advance(q, 3*U)
	wantCounts(t, q, 6, 6)
	if err := q.Stop(1); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if s := q.State(1); s != StateStopped {
		t.Errorf("State = %d, want StateStopped", s)
	}
	wantCounts(t, q, 3, 4) // timer 1's record is stale until the next Take
	if err := q.Stop(1); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	advance(q, 5*U)
	wantCounts(t, q, 8, 9)
	got := takeAll(q)
	for _, s := range got {
		if s.ID == 1 {
			t.Fatalf("slot of stopped timer: %v", ids(got))
		}
	}
	wantCounts(t, q, 0, 0)
	// Start: first expiration one interval from now, not at once.
	advance(q, U/2)
	if err := q.Start(1); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if s := q.State(1); s != StateArmed {
		t.Errorf("State after Start = %d, want StateArmed", s)
	}
	takeAll(q)
	advance(q, 9*U/10)
	if got := takeAll(q); countID(got, 1) != 0 {
		t.Errorf("restarted timer expired %d times 0.9 period after Start", countID(got, 1))
	}
	advance(q, U/10)
	if got := takeAll(q); countID(got, 1) != 1 {
		t.Errorf("restarted timer expired %d times one period after Start, want 1", countID(got, 1))
	}
	checkStructure(t, q)
	checkNotifier(t, q, nt)
}

func countID(s []Slot, id uint64) int {
	n := 0
	for _, x := range s {
		if x.ID == id {
			n++
		}
	}
	return n
}

func TestStartArmedRestartsAndKeepsQueued(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, U, U)
	advance(q, 2*U) // 2 queued
	advance(q, 6*U/10)
	if err := q.Start(1); err != nil { // restart: next due 1 U from now, not 0.4
		t.Fatal(err)
	}
	wantCounts(t, q, 2, 2)
	advance(q, 6*U/10)
	wantCounts(t, q, 2, 2)
	advance(q, 4*U/10)
	wantCounts(t, q, 3, 3)
	if got := takeAll(q); len(got) != 3 {
		t.Errorf("took %d, want 3", len(got))
	}
	checkStructure(t, q)
}

func TestStopStartOneOff(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, 2*U, 0)
	advance(q, U)
	if err := q.Stop(1); err != nil {
		t.Fatal(err)
	}
	advance(q, 5*U)
	wantCounts(t, q, 0, 0)
	if err := q.Start(1); err != nil {
		t.Fatal(err)
	}
	advance(q, U)
	wantCounts(t, q, 0, 0)
	advance(q, U) // one delay (2 U) after Start
	wantCounts(t, q, 1, 1)
	if err := q.Stop(1); !errors.Is(err, ErrFired) {
		t.Errorf("Stop of a fired one-off = %v, want ErrFired", err)
	}
	if err := q.Start(1); !errors.Is(err, ErrFired) {
		t.Errorf("Start of a fired one-off = %v, want ErrFired", err)
	}
	wantCounts(t, q, 1, 1) // still queued
	takeAll(q)
	if err := q.Stop(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop after take = %v, want ErrNotFound", err)
	}
	if err := q.Start(1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Start after take = %v, want ErrNotFound", err)
	}
	checkStructure(t, q)
}

// armOneOffs arms one-offs 1..n, each due one unit from now, in id order.
func armOneOffs(t testing.TB, q *Queue, n uint64) {
	t.Helper()
	for id := uint64(1); id <= n; id++ {
		mustArm(t, q, id, U, 0)
	}
}

// takeStepwise takes everything in Takes of size slots, checking the
// queue's structure after each.
func takeStepwise(t testing.TB, q *Queue, size int) []Slot {
	t.Helper()
	buf := make([]Slot, size)
	var got []Slot
	for {
		n, _ := q.Take(buf)
		got = append(got, buf[:n]...)
		checkStructure(t, q)
		if n == 0 {
			return got
		}
	}
}

// One-offs armed in a row with one delay fire into a single run record;
// Take hands them out in id order, however the buffer splits the run.
func TestOneOffRun(t *testing.T) {
	q := New(nil)
	defer q.Close()
	armOneOffs(t, q, 1000)
	advance(q, U)
	if q.size != 1 {
		t.Errorf("1000 one-offs fired into %d records, want one run", q.size)
	}
	checkStructure(t, q)
	got := takeStepwise(t, q, 7)
	if len(got) != 1000 {
		t.Fatalf("took %d slots, want 1000", len(got))
	}
	for i, s := range got {
		if s != (Slot{ID: uint64(i + 1), Flags: FlagLast}) {
			t.Fatalf("slot %d = %+v, want one-off %d", i, s, i+1)
		}
	}
	if n := q.Timers(); n != 0 {
		t.Errorf("%d timers still known after their one-offs were taken", n)
	}
}

// A one-off cancelled inside a run leaves a hole that Take skips; an id
// armed again after its cancel fires into a later run, and only the hole
// of the earlier one is skipped.
func TestOneOffRunHoles(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	armOneOffs(t, q, 6)
	advance(q, U)
	for _, id := range []uint64{1, 3, 6} { // first, middle, last
		if !q.Cancel(id) {
			t.Fatalf("Cancel(%d) = false", id)
		}
		checkStructure(t, q)
	}
	wantCounts(t, q, 3, 6)
	mustArm(t, q, 7, U, 0)
	mustArm(t, q, 3, U, 0) // a cancelled id armed again
	mustArm(t, q, 8, U, 0)
	advance(q, U) // 7 joins the run; the new 3 and 8 get records of their own
	checkStructure(t, q)
	if !q.Cancel(3) { // the new 3: its lone record goes stale
		t.Fatal("Cancel(3) = false")
	}
	wantCounts(t, q, 5, 9)
	if got := ids(takeStepwise(t, q, 2)); fmt.Sprint(got) != "[2 4 5 7 8]" {
		t.Errorf("took %v, want [2 4 5 7 8]", got)
	}
	wantCounts(t, q, 0, 0)
	if len(q.holes) != 0 {
		t.Errorf("holes left: %v", q.holes)
	}
	checkNotifier(t, q, nt)
}

// A run queued before a drain began takes no one-off that fires after it,
// though that one-off's id follows the run's.
func TestOneOffRunDrainLimit(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, U, 0)
	mustArm(t, q, 2, U, 0)
	mustArm(t, q, 3, 2*U, 0)
	advance(q, U)
	limit := q.Drain()
	advance(q, U) // 3 fires next to the run [1 2], after the drain began
	buf := make([]Slot, 8)
	if n := q.TakeBefore(buf, limit); fmt.Sprint(ids(buf[:n])) != "[1 2]" {
		t.Errorf("the drain took %v, want [1 2]", ids(buf[:n]))
	}
	if got := ids(takeAll(q)); fmt.Sprint(got) != "[3]" {
		t.Errorf("the next drain took %v, want [3]", got)
	}
	checkStructure(t, q)
}

// Slots of a run put back return as lone records ahead of the rest of the
// run, and a cancel of one of them or of the rest is exact.
func TestOneOffRunPutBack(t *testing.T) {
	q := New(nil)
	defer q.Close()
	armOneOffs(t, q, 5)
	advance(q, U)
	buf := make([]Slot, 3)
	n, _ := q.Take(buf) // 1 2 3 out, 4 5 left in the run
	q.PutBack(buf[1:n]) // 2 3 back
	checkStructure(t, q)
	q.Cancel(2)
	q.Cancel(5)
	checkStructure(t, q)
	wantCounts(t, q, 2, 4)
	if got := ids(takeAll(q)); fmt.Sprint(got) != "[3 4]" {
		t.Errorf("took %v, want [3 4]", got)
	}
	wantCounts(t, q, 0, 0)
	checkStructure(t, q)
}

func TestStopStart_Timing(t *testing.T) {
	const period = 5 * time.Millisecond
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, period, period)
	time.Sleep(30 * time.Millisecond)
	if err := q.Stop(1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if p := q.Pending(); p != 0 {
		t.Errorf("Pending() = %d 50 ms after Stop, want 0", p)
	}
	if got := takeAll(q); len(got) != 0 {
		t.Errorf("Take after Stop returned %v", ids(got))
	}
	before := time.Now()
	if err := q.Start(1); err != nil {
		t.Fatal(err)
	}
	if !q.Wait(5 * time.Second) {
		t.Fatal("no expiration within 5 s of Start")
	}
	if el := time.Since(before); el < period {
		t.Errorf("first expiration %v after Start, want >= %v", el, period)
	}
}

// ---- put back ----

func TestPutBack(t *testing.T) {
	type step struct {
		take    int      // Take with a buffer of this size (0: skip)
		want    []uint64 // ids the Take must return, in order
		putBack []int    // indices into all slots taken so far, put back in this order
		cancel  uint64
		stop    uint64
		start   uint64
		advance time.Duration
		pending int // after the step; -1 to skip
	}
	cases := []struct {
		name  string
		arm   func(q *Queue)
		steps []step
	}{
		{"put-back slots come first",
			func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); advance(q, 3*U) },
			[]step{
				{take: 4, want: []uint64{1, 1, 1, 2}, pending: 2},
				{putBack: []int{2, 3}, pending: 4}, // the consumer ran the first two
				{take: 10, want: []uint64{1, 2, 2, 2}, pending: 0},
			}},
		{"before newer expirations",
			func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); advance(q, U) },
			[]step{
				{take: 2, want: []uint64{1, 2}, pending: 0},
				{advance: U, pending: 2},
				{putBack: []int{1}, pending: 3},
				{take: 10, want: []uint64{2, 1, 2}, pending: 0},
			}},
		{"interleaved order kept",
			func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); advance(q, 3*U) },
			[]step{
				{take: 6, want: []uint64{1, 1, 1, 2, 2, 2}, pending: 0},
				{putBack: []int{0, 3, 1, 4, 2}, pending: 5},
				{take: 10, want: []uint64{1, 2, 1, 2, 1}, pending: 0},
			}},
		{"stacked put-backs",
			func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); advance(q, U) },
			[]step{
				{take: 2, want: []uint64{1, 2}, pending: 0},
				{putBack: []int{1}, pending: 1},
				{putBack: []int{0}, pending: 2},
				{take: 1, want: []uint64{1}, pending: 1},
				{take: 1, want: []uint64{2}, pending: 0},
			}},
		{"cancelled timer dropped",
			func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); advance(q, 2*U) },
			[]step{
				{take: 4, want: []uint64{1, 1, 2, 2}, pending: 0},
				{cancel: 1, pending: 0},
				{putBack: []int{1, 2, 3}, pending: 2},
				{take: 10, want: []uint64{2, 2}, pending: 0},
			}},
		{"stopped timer dropped",
			func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); advance(q, U) },
			[]step{
				{take: 2, want: []uint64{1, 2}, pending: 0},
				{stop: 1, pending: 0},
				{putBack: []int{0, 1}, pending: 1},
				{take: 10, want: []uint64{2}, pending: 0},
			}},
		{"partial record then put back",
			func(q *Queue) { q.Arm(1, U, U); advance(q, 5*U) },
			[]step{
				{take: 2, want: []uint64{1, 1}, pending: 3},
				{putBack: []int{1}, pending: 4},
				{advance: U, pending: 5},
				{take: 10, want: []uint64{1, 1, 1, 1, 1}, pending: 0},
			}},
		{"one-off revived",
			func(q *Queue) { q.Arm(1, U, 0); q.Arm(2, U, U); advance(q, U) },
			[]step{
				{take: 2, want: []uint64{1, 2}, pending: 0},
				{putBack: []int{0, 1}, pending: 2},
				{take: 10, want: []uint64{1, 2}, pending: 0},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, nt := newNotified()
			defer q.Close()
			c.arm(q)
			var taken []Slot
			for i, s := range c.steps {
				switch {
				case s.take > 0:
					buf := make([]Slot, s.take)
					n, _ := q.Take(buf)
					if fmt.Sprint(ids(buf[:n])) != fmt.Sprint(s.want) {
						t.Fatalf("step %d: Take = %v, want %v", i, ids(buf[:n]), s.want)
					}
					taken = append(taken, buf[:n]...)
				case s.putBack != nil:
					var pb []Slot
					for _, j := range s.putBack {
						pb = append(pb, taken[j])
					}
					q.PutBack(pb)
				case s.cancel != 0:
					q.Cancel(s.cancel)
				case s.stop != 0:
					q.Stop(s.stop)
				case s.start != 0:
					q.Start(s.start)
				case s.advance != 0:
					advance(q, s.advance)
				}
				if s.pending >= 0 {
					if p := q.Pending(); p != s.pending {
						t.Fatalf("step %d: Pending() = %d, want %d", i, p, s.pending)
					}
				}
				checkStructure(t, q)
				checkNotifier(t, q, nt)
			}
		})
	}
}

func TestPutBackRevivesOneOff(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, U, 0)
	advance(q, U)
	got := takeAll(q)
	if len(got) != 1 || got[0].Flags != FlagLast {
		t.Fatalf("Take = %+v", got)
	}
	if q.Timers() != 0 || q.State(1) != StateNone {
		t.Fatalf("one-off still known after its last slot was taken")
	}
	q.PutBack(got)
	if q.Timers() != 1 || q.State(1) != StateFired {
		t.Errorf("after PutBack: Timers %d State %d, want 1, StateFired", q.Timers(), q.State(1))
	}
	wantCounts(t, q, 1, 1)
	if err := q.Stop(1); !errors.Is(err, ErrFired) {
		t.Errorf("Stop of revived one-off = %v, want ErrFired", err)
	}
	again := takeAll(q)
	if len(again) != 1 || again[0] != (Slot{ID: 1, Flags: FlagLast}) {
		t.Errorf("second Take = %+v, want the FlagLast slot again", again)
	}
	if q.Timers() != 0 {
		t.Errorf("Timers() = %d, want 0", q.Timers())
	}
	// revived, then cancelled: dropped for good
	q.PutBack(again)
	if !q.Cancel(1) {
		t.Error("Cancel of a revived one-off reported false")
	}
	wantCounts(t, q, 0, 1)
	if got := takeAll(q); len(got) != 0 {
		t.Errorf("Take after cancel = %v", ids(got))
	}
	checkStructure(t, q)
}

// ---- pending / inqueue accounting ----

func TestPendingInQueue(t *testing.T) {
	type op struct {
		name             string
		do               func(q *Queue) int // returns slots taken, or -1
		taken            int
		pending, inqueue int
	}
	take := func(n int) func(q *Queue) int {
		return func(q *Queue) int { k, _ := q.Take(make([]Slot, n)); return k }
	}
	none := func(f func(q *Queue)) func(q *Queue) int { return func(q *Queue) int { f(q); return -1 } }
	ops := []op{
		{"arm", none(func(q *Queue) { q.Arm(1, U, U); q.Arm(2, U, U); q.Arm(3, U, U) }), -1, 0, 0},
		{"2 periods", none(func(q *Queue) { advance(q, 2*U) }), -1, 6, 6},
		{"stop 2", none(func(q *Queue) { q.Stop(2) }), -1, 4, 5},
		{"take 1 stops before the stale record", take(1), 1, 3, 4},
		{"take with room drops it", take(8), 3, 0, 0},
		{"1 period", none(func(q *Queue) { advance(q, U) }), -1, 2, 2},
		{"cancel 1", none(func(q *Queue) { q.Cancel(1) }), -1, 1, 2},
		{"cancel 3", none(func(q *Queue) { q.Cancel(3) }), -1, 0, 2},
		{"take with room drops stale only", take(4), 0, 0, 0},
		{"start 2", none(func(q *Queue) { q.Start(2); advance(q, U) }), -1, 1, 1},
		{"stop and start keep the stale record", none(func(q *Queue) { q.Stop(2); q.Start(2); advance(q, U) }), -1, 1, 2},
		{"drain", take(4), 1, 0, 0},
	}
	q, nt := newNotified()
	defer q.Close()
	for _, o := range ops {
		if k := o.do(q); k != o.taken {
			t.Fatalf("%s: took %d, want %d", o.name, k, o.taken)
		}
		if p, iq := q.Pending(), q.InQueue(); p != o.pending || iq != o.inqueue {
			t.Fatalf("%s: Pending, InQueue = %d, %d; want %d, %d", o.name, p, iq, o.pending, o.inqueue)
		}
		checkStructure(t, q)
		checkNotifier(t, q, nt)
	}
}

// ---- wait ----

func TestWait_Timing(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(q *Queue)
		timeout  time.Duration
		want     bool
		min, max time.Duration
	}{
		{"pending returns at once", func(q *Queue) { q.Arm(1, U, 0); advance(q, U) }, 5 * time.Second, true, 0, 500 * time.Millisecond},
		{"zero timeout, nothing pending", nil, 0, false, 0, 500 * time.Millisecond},
		{"zero timeout, pending", func(q *Queue) { q.Arm(1, 0, 0); q.fireNow(false) }, 0, true, 0, 500 * time.Millisecond},
		{"timeout", nil, 60 * time.Millisecond, false, 60 * time.Millisecond, 560 * time.Millisecond},
		{"stale record only", func(q *Queue) { q.Arm(1, U, U); advance(q, U); q.Stop(1) }, 60 * time.Millisecond, false, 60 * time.Millisecond, 560 * time.Millisecond},
		{"event arrives", func(q *Queue) { q.Arm(1, 40*time.Millisecond, 0) }, 5 * time.Second, true, 40 * time.Millisecond, 540 * time.Millisecond},
		{"event arrives, no limit", func(q *Queue) { q.Arm(1, 40*time.Millisecond, 0) }, -1, true, 40 * time.Millisecond, 540 * time.Millisecond},
		{"close wakes a waiter", func(q *Queue) { time.AfterFunc(40*time.Millisecond, func() { q.Close() }) }, -1, false, 40 * time.Millisecond, 540 * time.Millisecond},
		{"closed returns at once", func(q *Queue) { q.Close() }, -1, false, 0, 500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := New(nil)
			defer q.Close()
			t0 := time.Now()
			if c.setup != nil {
				c.setup(q)
			}
			res := make(chan bool, 1)
			go func() { res <- q.Wait(c.timeout) }()
			var got bool
			select {
			case got = <-res:
			case <-time.After(5 * time.Second):
				t.Fatalf("Wait(%v) still blocked after 5 s", c.timeout)
			}
			el := time.Since(t0)
			if got != c.want {
				t.Errorf("Wait(%v) = %v, want %v", c.timeout, got, c.want)
			}
			if el < c.min || el > c.max {
				t.Errorf("Wait(%v) returned after %v, want %v..%v", c.timeout, el, c.min, c.max)
			}
		})
	}
}

// ---- close ----

func TestCloseWhileFiring_Timing(t *testing.T) {
	for round := 0; round < 10; round++ {
		q, nt := newNotified()
		for id := uint64(1); id <= 200; id++ {
			period := time.Millisecond
			if id%10 == 0 {
				period = 0 // some one-offs
			}
			mustArm(t, q, id, time.Millisecond, period)
		}
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Add(2)
		go func() { // consumer, putting back some of what it takes
			defer wg.Done()
			buf := make([]Slot, 16)
			for {
				select {
				case <-done:
					return
				default:
				}
				n, _ := q.Take(buf)
				if n > 2 {
					q.PutBack(buf[n-2 : n])
				}
				q.Wait(time.Millisecond)
			}
		}()
		go func() { // timer operations racing Close
			defer wg.Done()
			for i := uint64(1); ; i++ {
				select {
				case <-done:
					return
				default:
				}
				id := i%200 + 1
				switch i % 4 {
				case 0:
					q.Stop(id)
				case 1:
					q.Start(id)
				case 2:
					q.Cancel(id)
				case 3:
					q.Arm(id, time.Millisecond, time.Millisecond)
				}
			}
		}()
		time.Sleep(time.Duration(5+round*3) * time.Millisecond)
		closed := make(chan struct{})
		go func() { q.Close(); close(closed) }()
		<-closed
		close(done)
		wg.Wait()

		time.Sleep(5 * time.Millisecond) // a wake-up racing Close must queue nothing
		if err := q.Arm(9999, 0, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Arm after Close = %v, want ErrClosed", err)
		}
		if q.Cancel(1) {
			t.Error("Cancel after Close reported true")
		}
		if err := q.Stop(1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stop after Close = %v", err)
		}
		if err := q.Start(1); !errors.Is(err, ErrNotFound) {
			t.Errorf("Start after Close = %v", err)
		}
		q.PutBack([]Slot{{ID: 1}, {ID: 2, Flags: FlagLast}})
		if n, before := q.Take(make([]Slot, 8)); n != 0 || before != 0 {
			t.Errorf("Take after Close = %d, %d", n, before)
		}
		wantCounts(t, q, 0, 0)
		if k := q.Timers(); k != 0 {
			t.Errorf("Timers() after Close = %d", k)
		}
		if s := q.State(1); s != StateNone {
			t.Errorf("State after Close = %d", s)
		}
		t0 := time.Now()
		if q.Wait(time.Second) {
			t.Error("Wait after Close reported an event")
		}
		if el := time.Since(t0); el > 500*time.Millisecond {
			t.Errorf("Wait after Close blocked %v", el)
		}
		q.Close()
		q.Close()
		checkStructure(t, q)
		checkNotifier(t, q, nt)
	}
}

// ---- notifier ----

// The notifier is set exactly while events are pending, and Set/Clear
// alternate, under concurrent expirations, takes, put-backs, cancels,
// stops and starts. fakeNotifier checks this inside every call (with the
// queue's mutex held); a checker goroutine also checks it between calls.
func TestNotifierInvariant_Timing(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	for id := uint64(1); id <= 30; id++ {
		mustArm(t, q, id, time.Duration(1+id%3)*time.Millisecond, time.Duration(1+id%3)*time.Millisecond)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	var checks atomic.Int64
	var mismatch atomic.Value
	run := func(f func(rng *rand.Rand)) {
		wg.Add(1)
		seed := rand.Int63()
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for {
				select {
				case <-done:
					return
				default:
				}
				f(rng)
			}
		}()
	}
	run(func(rng *rand.Rand) { // consumer
		buf := make([]Slot, 1+rng.Intn(5))
		n, _ := q.Take(buf)
		if n > 0 && rng.Intn(4) == 0 {
			q.PutBack(buf[rng.Intn(n):n])
		}
		if rng.Intn(3) == 0 {
			q.Wait(time.Millisecond)
		}
	})
	next := uint64(1000)
	run(func(rng *rand.Rand) { // timer operations
		id := uint64(1 + rng.Intn(30))
		switch rng.Intn(5) {
		case 0:
			q.Stop(id)
		case 1:
			q.Start(id)
		case 2:
			if q.Cancel(id) {
				q.Arm(id, time.Millisecond, time.Millisecond)
			}
		case 3:
			next++
			q.Arm(next, 0, 0) // one-offs due at once
		case 4:
			time.Sleep(200 * time.Microsecond)
		}
	})
	run(func(rng *rand.Rand) { // checker
		q.mu.Lock()
		if nt.set != (q.pending > 0) {
			mismatch.Store(fmt.Sprintf("notifier set=%v with pending=%d", nt.set, q.pending))
		}
		q.mu.Unlock()
		checks.Add(1)
		time.Sleep(50 * time.Microsecond)
	})
	time.Sleep(400 * time.Millisecond)
	close(done)
	wg.Wait()
	if v := mismatch.Load(); v != nil {
		t.Error(v)
	}
	checkNotifier(t, q, nt)
	checkStructure(t, q)
	q.mu.Lock()
	sets, clears := nt.sets, nt.clears
	q.mu.Unlock()
	if sets < 10 || clears < 9 {
		t.Errorf("only %d Set and %d Clear calls: the test did not exercise the transitions", sets, clears)
	}
	// quiescent end: everything cancelled and drained
	for id := uint64(1); id <= next; id++ {
		q.Cancel(id)
	}
	takeAll(q)
	wantCounts(t, q, 0, 0)
	checkNotifier(t, q, nt)
	q.mu.Lock()
	if nt.set {
		t.Error("notifier still set with nothing pending")
	}
	q.mu.Unlock()
	t.Logf("%d Set, %d Clear, %d concurrent checks", sets, clears, checks.Load())
}

func TestCloseClearsNotifier(t *testing.T) {
	q, nt := newNotified()
	mustArm(t, q, 1, U, U)
	advance(q, 3*U)
	checkNotifier(t, q, nt)
	q.Close()
	checkNotifier(t, q, nt)
	q.mu.Lock()
	defer q.mu.Unlock()
	if nt.set || nt.sets != 1 || nt.clears != 1 {
		t.Errorf("after Close: set=%v sets=%d clears=%d; want cleared once", nt.set, nt.sets, nt.clears)
	}
}

// checkTimer checks one entry of the timer table against the ring.
func checkTimer(q *Queue, id uint64, tm *timer, queued, records map[*timer]int) error {
	if tm.id != id {
		return fmt.Errorf("timer map: key %d holds id %d", id, tm.id)
	}
	if tm.queued != queued[tm] || tm.records != records[tm] {
		return fmt.Errorf("timer %d: queued=%d records=%d, ring has %d in %d records",
			id, tm.queued, tm.records, queued[tm], records[tm])
	}
	if tm.hasTail {
		if tm.tail-q.head >= uint64(q.size) {
			return fmt.Errorf("timer %d: tail %d outside the ring window", id, tm.tail)
		}
		if r := q.at(tm.tail); tm.period != 0 && (r.t != tm || r.gen != tm.gen) {
			return fmt.Errorf("timer %d: tail record is not its own live record", id)
		}
	}
	inHeap := tm.hidx >= 0
	if inHeap != (tm.state == tArmed && !tm.lent) {
		return fmt.Errorf("timer %d: state %d (lent %v) but heap index %d", id, tm.state, tm.lent, tm.hidx)
	}
	if tm.lent && tm.state != tArmed {
		return fmt.Errorf("timer %d: lent in state %d, period %d", id, tm.state, tm.period)
	}
	if tm.state == tDead {
		return fmt.Errorf("timer %d: dead but still known", id)
	}
	return nil
}

package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The timers the queue runs, against a naive model on a manual clock, by
// random operations: arm one-offs and interval timers (a few durations and
// odd ones, several at one instant), stop, start (with expirations due and
// not yet published), reset, destroy, time passing (with and without
// waiting for the clock goroutine), and takes of a few records at a time.
// The model keeps, per timer, the due times of its expirations that fell
// due and were not yet taken or dropped, found by stepping each schedule
// one period at a time. After every operation Pending and Timers must
// match it; every record taken must be the timer's oldest outstanding
// expiration, never due after the clock's reading, counted within what
// fell due (all of it after Sync), and records come in increasing (due,
// arming order) across the whole run. The one exception is a one-off
// restarted with delay 0 (keeping its place in arming order): due at the
// instant of its restart, it comes after what was already published as
// due at that instant, as it would after a drain run just before.

type qmodel struct {
	id        ID
	seq       uint64
	interval  bool
	period    int64
	due       int64
	running   bool
	alive     bool
	dues      []int64 // fell due, not taken nor dropped
	startedAt int64   // the clock at its last Start or Reset
}

type queueRun struct {
	q      *Queue
	c      *ManualClock
	m      []*qmodel
	byID   map[ID]*qmodel
	seq    uint64
	rng    uint64
	seed   uint64
	log    []string
	lastD  int64
	lastS  uint64
	taken  int64
	synced bool
}

func (r *queueRun) rnd() uint64 {
	r.rng ^= r.rng << 13
	r.rng ^= r.rng >> 7
	r.rng ^= r.rng << 17
	return r.rng
}

func (r *queueRun) rint(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return int64(r.rnd() % uint64(n))
}

func (r *queueRun) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
	if len(r.log) > 64 {
		r.log = r.log[len(r.log)-32:]
	}
}

func (r *queueRun) fail(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("seed %d, now %d: %s\nlast operations:\n  %s", r.seed, r.c.Now(), fmt.Sprintf(format, args...), strings.Join(r.log, "\n  "))
}

// accrue steps every running schedule to now.
func (r *queueRun) accrue() {
	now := r.c.Now()
	for _, m := range r.m {
		for m.running && m.due <= now {
			m.dues = append(m.dues, m.due)
			m.due += m.period
			if !m.interval {
				m.running = false
			}
		}
	}
}

func (r *queueRun) pick() *qmodel {
	if len(r.m) == 0 {
		return nil
	}
	return r.m[r.rint(int64(len(r.m)))]
}

func (r *queueRun) dur() int64 {
	common := []int64{1000, 2500, 10000}
	if r.rint(3) != 0 {
		return common[r.rint(3)]
	}
	return 100 * (1 + r.rint(200))
}

func (r *queueRun) arm(t testing.TB) {
	d := r.dur()
	var period int64
	if r.rint(2) == 0 {
		period = d
		if r.rint(6) == 0 {
			period = r.dur()
		}
	}
	if r.rint(10) == 0 {
		d = 0
	}
	id, err := r.q.Arm(time.Duration(d), time.Duration(period), uintptr(r.seq+1))
	if err != nil {
		r.fail(t, "Arm: %v", err)
	}
	if old := r.byID[id]; old != nil && old.alive {
		r.fail(t, "Arm gave id %x of a live timer", id)
	}
	r.seq++
	m := &qmodel{id: id, seq: r.seq, interval: period > 0, period: period, due: r.c.Now() + d, running: true, alive: true}
	if !m.interval {
		m.period = d
	}
	r.logf("arm %x seq %d delay %d period %d", id, m.seq, d, period)
	r.m = append(r.m, m)
	r.byID[id] = m
}

func (r *queueRun) expectFound(t testing.TB, what string, m *qmodel, err error) bool {
	t.Helper()
	if !m.alive {
		if !errors.Is(err, ErrNotFound) {
			r.fail(t, "%s of gone %x (seq %d) = %v", what, m.id, m.seq, err)
		}
		return false
	}
	if err != nil {
		r.fail(t, "%s %x = %v", what, m.id, err)
	}
	return true
}

func (r *queueRun) stop(t testing.TB) {
	if m := r.pick(); m != nil {
		r.logf("stop %x", m.id)
		if r.expectFound(t, "Stop", m, r.q.Stop(m.id)) {
			m.running, m.dues = false, nil
		}
	}
}

func (r *queueRun) start(t testing.TB, reset bool) {
	m := r.pick()
	if m == nil {
		return
	}
	var err error
	p := m.period
	if reset {
		p = r.dur()
		err = r.q.Reset(m.id, time.Duration(p))
	} else {
		err = r.q.Start(m.id)
	}
	r.logf("start %x reset %v period %d", m.id, reset, p)
	if r.expectFound(t, "Start", m, err) {
		m.period = p
		m.running = true
		m.startedAt = r.c.Now()
		m.due = r.c.Now() + p
	}
}

func (r *queueRun) destroy(t testing.TB) {
	if m := r.pick(); m != nil {
		r.logf("destroy %x", m.id)
		if r.expectFound(t, "Destroy", m, r.q.Destroy(m.id)) {
			m.alive, m.running, m.dues = false, false, nil
		}
	}
}

func (r *queueRun) take(t testing.TB, sync bool) {
	r.synced = sync || r.rint(2) == 0
	if r.synced {
		r.q.Sync()
	}
	buf := make([]Expiration, 1+r.rint(6))
	if r.rint(3) == 0 {
		buf = make([]Expiration, 1024)
	}
	n := r.q.Take(buf)
	r.logf("take %d of %d (synced %v)", n, len(buf), r.synced)
	now := r.c.Now()
	for _, x := range buf[:n] {
		m := r.byID[x.ID]
		switch {
		case m == nil || !m.alive:
			r.fail(t, "took %+v of no live timer", x)
		case uint64(x.Tag) != m.seq:
			r.fail(t, "took %+v: tag, want %d", x, m.seq)
		case x.Count <= 0 || x.Count > int64(len(m.dues)):
			r.fail(t, "took %+v: count, model has %v due", x, m.dues)
		case x.Due != m.dues[0]:
			r.fail(t, "took %+v: due, model's oldest %d", x, m.dues[0])
		case x.Due > now:
			r.fail(t, "took %+v early", x)
		case r.synced && x.Count != int64(len(m.dues)):
			r.fail(t, "took %+v after Sync, model has %d due", x, len(m.dues))
		case (x.Due < r.lastD || (x.Due == r.lastD && m.seq < r.lastS)) && x.Due != m.startedAt:
			r.fail(t, "took %+v (seq %d) after (%d, %d)", x, m.seq, r.lastD, r.lastS)
		}
		r.lastD, r.lastS = x.Due, m.seq
		r.taken += x.Count
		m.dues = m.dues[x.Count:]
		if !m.interval && !m.running && len(m.dues) == 0 {
			m.alive = false // a one-off taken is gone
		}
	}
	if n == len(buf) || !r.synced {
		return
	}
	for _, m := range r.m {
		if len(m.dues) != 0 {
			s := int32(uint32(m.id))
			st := r.q.run.t.at(s)
			r.fail(t, "took everything after Sync, model has %x due %v; sched %+v top %d nextDue %d heap %v", m.id, m.dues, st, r.q.run.top(), r.q.run.nextDue(), r.q.run.heap[:min(5, len(r.q.run.heap))])
		}
	}
}

func (r *queueRun) check(t testing.TB) {
	var want int64
	live := 0
	for _, m := range r.m {
		if m.alive {
			live++
			want += int64(len(m.dues))
		}
	}
	if got := r.q.Pending(); got != want {
		r.fail(t, "Pending %d, model %d", got, want)
	}
	if got := r.q.Timers(); got != live {
		r.fail(t, "Timers %d, model %d", got, live)
	}
}

func runQueueModel(t testing.TB, seed uint64, ops int) {
	c := NewManualClock(1000)
	q := NewClock(nil, c)
	defer q.Close()
	r := &queueRun{q: q, c: c, byID: map[ID]*qmodel{}, seed: seed, rng: seed*0x9E3779B97F4A7C15 + 1}
	for range ops {
		switch r.rint(12) {
		case 0, 1, 2:
			k := 1 + r.rint(3) // several at one instant
			for range k {
				r.arm(t)
			}
		case 3:
			r.stop(t)
		case 4:
			r.start(t, r.rint(3) == 0)
		case 5:
			r.destroy(t)
		case 6, 7:
			r.take(t, false)
		case 8, 9:
			d := 100 * r.rint(60)
			r.logf("advance %d", d)
			c.Advance(time.Duration(d))
			if r.rint(2) == 0 {
				q.Sync()
			}
		default:
			r.c.Advance(time.Duration(r.rint(3) * 100))
		}
		r.accrue()
		r.check(t)
		if len(r.m) > 300 { // forget the gone ones
			k := 0
			for _, m := range r.m {
				if m.alive {
					r.m[k] = m
					k++
				}
			}
			r.m = r.m[:k]
		}
	}
	// everything that fell due comes out, exactly
	q.Sync()
	for {
		before := r.taken
		r.take(t, true)
		if r.taken == before {
			break
		}
	}
	r.check(t)
}

func TestQueueModel(t *testing.T) {
	seeds := uint64(200)
	if testing.Short() || raceEnabled {
		seeds = 40
	}
	for s := uint64(1); s <= seeds; s++ {
		runQueueModel(t, s, 1000)
	}
}

// FuzzQueue runs the queue model from a fuzzed seed and length.
//
//	go test -run '^$' -fuzz FuzzQueue -fuzztime 60s ./internal/queue
func FuzzQueue(f *testing.F) {
	f.Add(uint64(1), uint16(1000))
	f.Add(uint64(99), uint16(3000))
	f.Fuzz(func(t *testing.T, seed uint64, ops uint16) {
		runQueueModel(t, seed|1, int(ops))
	})
}

// A Go consumer in its own goroutine gets, from Next, every expiration of
// interval timers with exact counts in (due, id) order while time passes
// in steps it does not see, and nothing of a timer destroyed before.
func TestQueueConsumerGoroutine(t *testing.T) {
	c := NewManualClock(0)
	q := NewClock(nil, c)
	defer q.Close()
	const K = 50
	ids := make([]ID, K)
	periods := make([]int64, K)
	for i := range ids {
		periods[i] = int64(1000 * (1 + i%7))
		id, err := q.Arm(time.Duration(periods[i]), time.Duration(periods[i]), uintptr(i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	gone, err := q.Arm(500, 0, K)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Destroy(gone); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := make([]int64, K)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		buf := make([]Expiration, 7)
		var lastDue int64
		var lastTag uintptr
		for {
			n, err := q.Next(ctx, buf)
			if err != nil {
				done <- nil
				return
			}
			mu.Lock()
			for _, x := range buf[:n] {
				if x.Tag >= K {
					done <- fmt.Errorf("got %+v of the destroyed timer", x)
					mu.Unlock()
					return
				}
				if x.Due < lastDue || (x.Due == lastDue && x.Tag <= lastTag) {
					done <- fmt.Errorf("got %+v after (%d, %d)", x, lastDue, lastTag)
					mu.Unlock()
					return
				}
				lastDue, lastTag = x.Due, x.Tag
				got[x.Tag] += x.Count
			}
			mu.Unlock()
		}
	}()
	for range 400 {
		c.Advance(333)
	}
	end := c.Now()
	q.Sync()
	for q.Pending() != 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if want := end / periods[i]; got[i] != want {
			t.Errorf("timer %d (every %d): %d expirations, want %d", i, periods[i], got[i], want)
		}
	}
}

// With Go's clock, the clock goroutine publishes an expiration when it is
// due, not before, and Next returns it.
func TestQueueNextRealClock_Timing(t *testing.T) {
	q := New(nil)
	defer q.Close()
	t0 := time.Now()
	id, _ := q.Arm(20*time.Millisecond, 0, 7)
	if _, err := q.Arm(time.Hour, 0, 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]Expiration, 4)
	n, err := q.Next(ctx, buf)
	if err != nil || n != 1 || buf[0].ID != id || buf[0].Count != 1 {
		t.Fatalf("Next = %d %v %+v", n, err, buf[:n])
	}
	if d := time.Since(t0); d < 20*time.Millisecond {
		t.Errorf("published after %v, before the timer was due", d)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if n, err := q.Next(short, buf); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Next with nothing due = %d, %v", n, err)
	}
	if err := q.Stop(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop of a one-off taken = %v, want ErrNotFound", err)
	}
	q.Close()
	if _, err := q.Next(context.Background(), buf); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v", err)
	}
	if _, err := q.Arm(1, 0, 0); !errors.Is(err, ErrClosed) {
		t.Errorf("Arm after Close = %v", err)
	}
}

// Arm refuses what is not a schedule; Stop of a stale id finds nothing.
func TestQueueArmRefuses(t *testing.T) {
	q := NewClock(nil, NewManualClock(0))
	defer q.Close()
	if _, err := q.Arm(-1, 0, 0); !errors.Is(err, ErrRange) {
		t.Errorf("Arm(-1) = %v", err)
	}
	if _, err := q.Arm(0, -1, 0); !errors.Is(err, ErrRange) {
		t.Errorf("Arm(0, -1) = %v", err)
	}
	id, _ := q.Arm(10, 10, 0)
	if err := q.Reset(id, 0); !errors.Is(err, ErrRange) {
		t.Errorf("Reset of an interval to 0 = %v", err)
	}
	if err := q.Destroy(id); err != nil {
		t.Fatal(err)
	}
	id2, _ := q.Arm(10, 10, 0) // the slot again, a new generation
	if uint32(id2) != uint32(id) || id2 == id {
		t.Errorf("slot reuse: %x then %x", id, id2)
	}
	if err := q.Stop(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop of a destroyed id = %v", err)
	}
	if err := q.Stop(0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stop(0) = %v", err)
	}
}

// An ID is a slot and the low 32 bits of its timer's arming order: across
// the point where those bits wrap to 0 no ID is 0, and an ID of a
// destroyed timer names nothing, though its slot is armed again.
func TestIDAcrossArmingOrderWrap(t *testing.T) {
	q, _, _ := newVirtual()
	defer q.Close()
	q.mu.Lock()
	q.seq = 1<<32 - 3
	q.mu.Unlock()
	seen := map[ID]bool{}
	var last ID
	for i := range 6 {
		id, err := q.Arm(time.Second, 0, uintptr(i))
		if err != nil {
			t.Fatal(err)
		}
		if id == 0 || seen[id] {
			t.Fatalf("arm %d: ID %#x (0, or given twice)", i, uint64(id))
		}
		seen[id] = true
		if last != 0 {
			if err := q.Destroy(last); err != nil {
				t.Fatal(err)
			}
			// the slot is free, then taken by the next arm: the old ID names nothing
			if err := q.Stop(last); !errors.Is(err, ErrNotFound) {
				t.Fatalf("stop of destroyed ID %#x: %v, want ErrNotFound", uint64(last), err)
			}
		}
		last = id
	}
	if err := q.Stop(last); err != nil {
		t.Fatalf("stop of the live timer: %v", err)
	}
}

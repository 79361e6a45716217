package queue

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"
)

// TakeAhead against the naive model of timers_test.go, with a consumer
// that follows the contract the Lua binding (sched.c) follows: it holds
// what TakeAhead handed out and runs each expiration once its clock has
// passed its due time; it calls again only once its clock passes the
// returned bound, or after arming or restarting a timer due by then; it
// drops what it holds of a timer it stops or destroys, and of one it
// restarts what is not due yet; a one-off Go has let go of (handed out)
// is armed again under a new id. Every expiration due by the consumer's
// clock must have run after each step, exactly once, never early, in
// (due, arming order); Pending plus what it holds and is due must match
// the model.
type aheadRun struct {
	queueRun
	held  []Expiration
	until int64
	calls int
}

func (r *aheadRun) lower(due int64) {
	if due-1 < r.until {
		r.until = due - 1
	}
}

// armAhead arms as the Lua binding does: ArmAhead hands out at once what
// the new timer has due by the consumer's bound.
func (r *aheadRun) armAhead(t testing.TB) {
	d := r.dur()
	var period int64
	if r.rint(2) == 0 {
		period = d
	}
	if r.rint(10) == 0 {
		d = 0
	}
	buf := make([]Expiration, 1+r.rint(12))
	from := int64(math.MinInt64) // where what the consumer holds ends
	if len(r.held) > 0 {
		from = r.held[len(r.held)-1].Due
	}
	id, first, n, next, err := r.q.ArmAhead(-1, time.Duration(d), time.Duration(period), uintptr(r.seq+1), from, r.until, buf)
	if err != nil {
		r.fail(t, "ArmAhead: %v", err)
	}
	r.seq++
	m := &qmodel{id: id, seq: r.seq, interval: period > 0, period: period, due: r.c.Now() + d, running: true, alive: true}
	if !m.interval {
		m.period = d
	}
	if first != m.due {
		r.fail(t, "ArmAhead: first due %d, model %d", first, m.due)
	}
	r.logf("arm ahead %x seq %d delay %d period %d: %d handed out, next %d (until %d)", id, m.seq, d, period, n, next, r.until)
	r.m = append(r.m, m)
	r.byID[id] = m
	for _, x := range buf[:n] {
		if x.Due > r.until {
			r.fail(t, "ArmAhead handed out %+v after the bound %d", x, r.until)
		}
		if x.Due < from {
			r.fail(t, "ArmAhead handed out %+v before what the consumer holds ends (%d)", x, from)
		}
		r.hold(x)
	}
	r.lower(next)
}

// hold keeps x in (due, arming order) among what the consumer holds.
func (r *aheadRun) hold(x Expiration) {
	i := sort.Search(len(r.held), func(i int) bool {
		h := r.held[i]
		return h.Due > x.Due || (h.Due == x.Due && h.Seq > x.Seq)
	})
	r.held = append(r.held, Expiration{})
	copy(r.held[i+1:], r.held[i:])
	r.held[i] = x
}

func (r *aheadRun) drop(id ID, after int64) {
	k := 0
	for _, x := range r.held {
		if x.ID == id && x.Due > after {
			continue
		}
		r.held[k] = x
		k++
	}
	r.held = r.held[:k]
}

func (r *aheadRun) run(t testing.TB) {
	now := r.c.Now()
	for now > r.until {
		buf := make([]Expiration, 1+r.rint(40))
		n, until := r.q.TakeAhead(now, now+int64(5000+r.rint(20000)), buf)
		r.calls++
		if until < now && n < len(buf) {
			r.fail(t, "TakeAhead bound %d before its upto %d with room left", until, now)
		}
		r.until = until
		for _, x := range buf[:n] {
			r.hold(x)
		}
		r.logf("take ahead: %d records, until %d", n, until)
	}
	k := 0
	for k < len(r.held) && r.held[k].Due <= now {
		x := r.held[k]
		m := r.byID[x.ID]
		switch {
		case m == nil:
			r.fail(t, "ran %+v of no timer", x)
		case x.Count <= 0 || x.Count > int64(len(m.dues)):
			r.fail(t, "ran %+v: count, model has %v due", x, m.dues)
		case x.Due != m.dues[0]:
			r.fail(t, "ran %+v: due, model's oldest %d", x, m.dues[0])
		case (x.Due < r.lastD || (x.Due == r.lastD && m.seq < r.lastS)) && x.Due != m.startedAt:
			r.fail(t, "ran %+v (seq %d) after (%d, %d)", x, m.seq, r.lastD, r.lastS)
		}
		r.lastD, r.lastS = x.Due, m.seq
		m.dues = m.dues[x.Count:]
		k++
	}
	r.held = r.held[k:]
	for _, m := range r.m {
		if m.alive && len(m.dues) != 0 {
			r.fail(t, "timer %x (seq %d) has %v due and not run at %d (until %d)", m.id, m.seq, m.dues, now, r.until)
		}
	}
}

func (r *aheadRun) check(t testing.TB) {
	var want, held int64
	now := r.c.Now()
	for _, m := range r.m {
		if m.alive {
			want += int64(len(m.dues))
		}
	}
	for _, x := range r.held {
		if x.Due <= now {
			held += x.Count
		}
	}
	if got := r.q.Pending(); got+held != want {
		r.fail(t, "Pending %d + held due %d, model %d", got, held, want)
	}
}

func runAheadModel(t testing.TB, seed uint64, ops int) (calls, steps int) {
	c := NewManualClock(1000)
	q := NewClock(nil, c)
	defer q.Close()
	q.SetPassive(true)
	r := &aheadRun{queueRun: queueRun{q: q, c: c, byID: map[ID]*qmodel{}, seed: seed, rng: seed*0x9E3779B97F4A7C15 + 1}}
	for range ops {
		switch r.rint(12) {
		case 0, 1, 2:
			for range 1 + r.rint(3) {
				if r.rint(2) == 0 {
					r.arm(t)
					r.lower(r.m[len(r.m)-1].due)
				} else {
					r.armAhead(t)
				}
			}
		case 3:
			if m := r.pick(); m != nil && m.alive {
				r.logf("stop %x", m.id)
				if err := q.Stop(m.id); err != nil && !errors.Is(err, ErrNotFound) {
					r.fail(t, "Stop: %v", err)
				}
				r.drop(m.id, -1)
				m.running, m.dues = false, nil
			}
		case 4:
			if m := r.pick(); m != nil && m.alive {
				p := m.period
				reset := r.rint(3) == 0
				if reset {
					p = r.dur()
				}
				now := c.Now()
				r.drop(m.id, now)
				_, _, err := q.Restart(m.id, map[bool]int64{true: p, false: -1}[reset], false, -1)
				if errors.Is(err, ErrNotFound) && !m.interval { // handed out: Go let go of it
					// (what the consumer holds of it keeps the old id: the
					// map keeps it too, as the binding's record does)
					r.seq++ // a new timer for Go: it comes after those armed before
					m.id, err = q.Arm(time.Duration(p), 0, uintptr(r.seq))
					m.seq = r.seq
					r.byID[m.id] = m
				}
				if err != nil {
					r.fail(t, "start %x: %v", m.id, err)
				}
				r.logf("start %x reset %v period %d", m.id, reset, p)
				m.period, m.running, m.startedAt, m.due = p, true, now, now+p
				r.lower(m.due)
			}
		case 5:
			if m := r.pick(); m != nil && m.alive {
				r.logf("destroy %x", m.id)
				if err := q.Destroy(m.id); err != nil && !errors.Is(err, ErrNotFound) {
					r.fail(t, "Destroy: %v", err)
				}
				r.drop(m.id, -1)
				m.alive, m.running, m.dues = false, false, nil
			}
		default:
			d := 100 * r.rint(60)
			if r.rint(4) == 0 {
				d = r.rint(3) * 100
			}
			c.Advance(time.Duration(d))
			r.logf("advance %d", d)
			r.accrue()
			r.run(t)
			steps++
		}
		r.accrue()
		r.check(t)
	}
	return r.calls, steps
}

func TestTakeAheadModel(t *testing.T) {
	seeds := uint64(200)
	if testing.Short() || raceEnabled {
		seeds = 40
	}
	for s := uint64(1); s <= seeds; s++ {
		runAheadModel(t, s, 1000)
	}
}

// One 1000 ns interval timer, a consumer whose clock moves one period at
// a time: every call hands out the expiration due and AheadPerTimer
// ahead, so it calls once per AheadPerTimer+1 expirations.
func TestTakeAheadCallsPerExpiration(t *testing.T) {
	c := NewManualClock(0)
	q := NewClock(nil, c)
	defer q.Close()
	q.SetPassive(true)
	if _, err := q.Arm(1000, 1000, 1); err != nil {
		t.Fatal(err)
	}
	buf := make([]Expiration, 2*AheadPerTimer)
	until, calls, ran := int64(-1), 0, int64(0)
	var held []Expiration
	for step := 1; step <= 800; step++ {
		c.Advance(1000)
		now := c.Now()
		if now > until {
			var n int
			n, until = q.TakeAhead(now, now+1_000_000, buf)
			calls++
			if n != AheadPerTimer+1 {
				t.Fatalf("call %d at %d handed out %d records, want %d", calls, now, n, AheadPerTimer+1)
			}
			held = append(held, buf[:n]...)
		}
		for len(held) > 0 && held[0].Due <= now {
			ran += held[0].Count
			held = held[1:]
		}
		if ran != int64(step) {
			t.Fatalf("at %d: %d expirations ran, want %d", now, ran, step)
		}
	}
	if want := 800/(AheadPerTimer+1) + 1; calls > want {
		t.Fatalf("%d calls for 800 expirations, want at most %d", calls, want)
	}
}

// A passive queue's clock goroutine does not wake for expirations; an
// active one publishes them when they fall due.
func TestPassiveClockGoroutineSleeps(t *testing.T) {
	q, c := newPassive(0)
	defer q.Close()
	if _, err := q.Arm(time.Millisecond, time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(5 * time.Millisecond)
	time.Sleep(20 * time.Millisecond) // an active clock goroutine would publish now
	if n := q.Take(make([]Expiration, 4)); n != 0 {
		t.Fatalf("a passive queue published %d records on its own", n)
	}
	q.SetPassive(false)
	q.Sync()
	buf := make([]Expiration, 4)
	if n := q.Take(buf); n != 1 || buf[0].Count != 5 {
		t.Fatalf("active again: took %d records %+v, want 1 of 5", n, buf[:n])
	}
}

// ArmAheadMany arms as ArmAt would, each arm from its At (the same IDs
// and first due times as a twin queue armed with one ArmAt call each), and
// what it hands out is grouped by arm in call order, in due order behind
// from, one record per expiration, each within its arm's window. Nothing is lost
// or doubled: what it handed out plus what later takes bring is, per
// timer, every expiration the twin's takes bring, one by one. Random arms
// of one-offs and interval timers at random past instants, behind a
// random amount of held work.
func TestArmAheadManyHandsOutInOrder(t *testing.T) {
	const ahead = 128_000
	handed, armed, skipped := 0, 0, 0
	for seed := uint64(1); seed <= 300; seed++ {
		rng := seed*0x9E3779B97F4A7C15 + 7
		rint := func(n int) int {
			rng ^= rng << 13
			rng ^= rng >> 7
			rng ^= rng << 17
			return int(rng % uint64(n))
		}
		qa, ca := newPassive(1_000_000)
		qb, cb := newPassive(1_000_000)
		period := map[ID]int64{}
		// some timers armed before, held by the queue
		for range rint(4) {
			d, p := time.Duration(1+rint(300_000)), time.Duration(0)
			if rint(2) == 0 {
				p = d
			}
			ida, err := qa.Arm(d, p, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := qb.Arm(d, p, 1); err != nil {
				t.Fatal(err)
			}
			period[ida] = int64(p)
		}
		ca.Advance(time.Duration(rint(50_000)))
		cb.Advance(time.Duration(ca.Now() - cb.Now()))
		qa.Sync() // both publish what fell due
		qb.Sync()
		ticksA, ticksB := ticksOf(qa), ticksOf(qb)
		now := ca.Now()
		from := int64(math.MinInt64)
		if rint(3) == 0 {
			from = now + int64(rint(200_000))
		}
		arms := make([]Arming, 1+rint(40))
		for i := range arms {
			d := time.Duration(rint(3) * rint(100_000))
			p := time.Duration(0)
			if rint(3) == 0 {
				p = time.Duration(1 + rint(40_000))
			}
			arms[i] = Arming{At: now - int64(rint(20_000)), Delay: d, Period: p, Tag: uintptr(100 + i)}
		}
		want := make([]Arming, len(arms))
		for i, a := range arms {
			id, err := qa.ArmAt(a.At, a.Delay, a.Period, a.Tag)
			if err != nil {
				t.Fatal(err)
			}
			first, _ := qa.Due(id)
			want[i] = a
			want[i].ID, want[i].First = id, first
			period[id] = int64(a.Period)
		}
		buf := make([]Expiration, 64+rint(400))
		used, err := qb.ArmAheadMany(arms, from, ahead, buf)
		if err != nil {
			t.Fatal(err)
		}
		if ticksOf(qa) != ticksA || ticksOf(qb) != ticksB {
			// the clock goroutine looked once more (a Sync's poke it had
			// not used yet) while one of the two armed: what it published
			// then may differ between the two
			skipped++
			qa.Close()
			qb.Close()
			continue
		}
		j, last := 0, from
		for i, a := range arms {
			w := want[i]
			w.N = a.N
			if a != w {
				t.Fatalf("seed %d: arm %d: %+v, armed with ArmAt: %+v", seed, i, a, w)
			}
			if a.N > AheadPerTimer {
				t.Fatalf("seed %d: arm %d handed out %d records", seed, i, a.N)
			}
			for k := 0; k < a.N; k, j = k+1, j+1 {
				e := buf[j]
				if e.ID != a.ID || e.Tag != a.Tag || e.Count != 1 || e.Due < last || e.Due > a.At+ahead {
					t.Fatalf("seed %d: record %d of arm %d: %+v (behind %d, window to %d)", seed, k, i, e, last, a.At+ahead)
				}
				last = e.Due
			}
		}
		if j != used {
			t.Fatalf("seed %d: %d records handed out, the arms count %d", seed, used, j)
		}
		// what each timer runs, one entry per expiration
		runs := func(m map[ID][]int64, recs []Expiration) {
			for _, e := range recs {
				for c := int64(0); c < e.Count; c++ {
					m[e.ID] = append(m[e.ID], e.Due+c*period[e.ID])
				}
			}
		}
		gotA, gotB := map[ID][]int64{}, map[ID][]int64{}
		runs(gotB, buf[:used])
		big := make([]Expiration, 4096)
		for step := 0; step < 20; step++ {
			ca.Advance(50_000)
			cb.Advance(50_000)
			na, _ := qa.TakeAhead(ca.Now(), ca.Now(), big)
			runs(gotA, big[:na])
			nb, _ := qb.TakeAhead(cb.Now(), cb.Now(), big)
			runs(gotB, big[:nb])
		}
		for id, a := range gotA {
			if b := gotB[id]; fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("seed %d: timer %v ran at %v, armed with ArmAt: %v", seed, id, b, a)
			}
		}
		if len(gotA) != len(gotB) {
			t.Fatalf("seed %d: %d timers ran, armed with ArmAt: %d", seed, len(gotB), len(gotA))
		}
		handed, armed = handed+used, armed+len(arms)
		qa.Close()
		qb.Close()
	}
	if skipped > 30 {
		t.Fatalf("%d of 300 seeds skipped: the clock goroutine looked during the arms", skipped)
	}
	if handed < armed/10 {
		t.Fatalf("%d records handed out for %d arms: the arms did not exercise the hand-out", handed, armed)
	}
	t.Logf("%d arms, %d records handed out with them (%d seeds skipped)", armed, handed, skipped)
}

// Interval timers of one period armed in a burst, in one call, each hand
// out their first expiration behind the one before: none hands out a
// window of its own that the next could not land behind (the consumer
// then holds the burst's expirations together and wakes once for them).
func TestArmAheadManyBurst(t *testing.T) {
	q, c := newPassive(1_000_000)
	defer q.Close()
	const period = 1_000_000
	arms := make([]Arming, 8)
	for i := range arms {
		arms[i] = Arming{At: c.Now() - int64(8-i)*1000, Delay: period, Period: period, Tag: uintptr(i + 1)}
	}
	buf := make([]Expiration, 64)
	used, err := q.ArmAheadMany(arms, math.MinInt64, 128*period, buf)
	if err != nil {
		t.Fatal(err)
	}
	if used != len(arms) {
		t.Fatalf("handed out %d records for a burst of %d: %+v", used, len(arms), buf[:used])
	}
	for i, a := range arms {
		if a.N != 1 || buf[i].ID != a.ID || buf[i].Due != a.At+period {
			t.Fatalf("arm %d: %+v, record %+v", i, a, buf[i])
		}
	}
}

func ticksOf(q *Queue) uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ticks
}

// An arming's Drop destroys that timer first, as Destroy would, in the
// same call: its expirations never come, its id names nothing, the new
// timer runs on its own schedule; a Drop that names nothing (a one-off
// already handed out, a stale id) is no error.
func TestArmAheadManyDrop(t *testing.T) {
	c := NewManualClock(1_000_000)
	q := NewClock(nil, c)
	defer q.Close()
	q.SetPassive(true)
	old, err := q.Arm(10*time.Millisecond, 10*time.Millisecond, 7)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(25 * time.Millisecond) // two of old's expirations fell due, not taken
	buf := make([]Expiration, 16)
	arms := []Arming{{At: c.Now(), Delay: 5 * time.Millisecond, Period: 5 * time.Millisecond, Tag: 8, Drop: old},
		{At: c.Now(), Delay: time.Millisecond, Tag: 9, Drop: ID(12345)}}
	if _, err := q.ArmAheadMany(arms, math.MinInt64, 0, buf); err != nil {
		t.Fatal(err)
	}
	if arms[0].ID == 0 || arms[1].ID == 0 || arms[0].ID == old {
		t.Fatalf("ids %v %v (old %v)", arms[0].ID, arms[1].ID, old)
	}
	if err := q.Stop(old); err != ErrNotFound {
		t.Fatalf("Stop of the dropped timer: %v, want ErrNotFound", err)
	}
	c.Advance(10 * time.Millisecond)
	n := q.TakeDue(c.Now(), buf)
	got := map[uintptr]int64{}
	for _, e := range buf[:n] {
		got[e.Tag] += e.Count
	}
	if got[7] != 0 || got[8] != 2 || got[9] != 1 {
		t.Fatalf("taken per tag %v, want none of 7, 2 of 8, 1 of 9", got)
	}
}

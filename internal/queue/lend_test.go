package queue

import (
	"testing"
	"time"
)

// shift moves q's clock forward by d without firing anything, as time
// passes for a queue whose consumer keeps time.
func shift(q *Queue, d time.Duration) {
	q.mu.Lock()
	q.epoch = q.epoch.Add(-d)
	q.mu.Unlock()
}

// lendAll begins a wait on a consumer-clock queue and lends what it can.
func lendAll(t *testing.T, q *Queue, room int) []Lent {
	t.Helper()
	if _, pending := q.BeginWait(); pending {
		t.Fatal("events pending before the lend")
	}
	buf := make([]Lent, room)
	return buf[:q.Lend(buf)]
}

// take advances a lent timer's count as the consumer does when it runs
// expirations, and checks that they were due.
func take(t *testing.T, q *Queue, l *Lent, n int64) {
	t.Helper()
	due := int64(0)
	if l.Period == 0 && q.Now() >= l.Start {
		due = 1
	} else if l.Period > 0 {
		due = (q.Now() - l.Start) / l.Period
	}
	if l.K+n > due {
		t.Fatalf("timer %d: taking %d after %d, only %d due", l.ID, n, l.K, due)
	}
	l.K += n
}

// While timers are lent, the queue leaves their expirations to the
// consumer; Reclaim takes back the counts it took, and what was due but
// not taken is queued at the next look, on the timers' own schedules.
func TestLendReclaimKeepsSchedules(t *testing.T) {
	q := New(nil)
	defer q.Close()
	q.SetConsumerClock(true)
	mustArm(t, q, 1, U, U)
	mustArm(t, q, 2, 3*U, 3*U)
	mustArm(t, q, 3, 5*U+U/2, 0) // a one-off, due at 5.5
	lent := lendAll(t, q, 8)
	byID := map[uint64]*Lent{}
	for i := range lent {
		byID[lent[i].ID] = &lent[i]
	}
	if len(lent) != 3 || byID[1] == nil || byID[2] == nil || byID[3] == nil {
		t.Fatalf("lent %+v, want timers 1, 2 and 3", lent)
	}
	if one := byID[3]; one.Period != 0 || one.K != 0 || one.Start < q.Now()+int64(5*U) || one.Start > q.Now()+int64(5*U+U/2) {
		t.Fatalf("lent one-off %+v, want period 0, k 0, start at its due time (~5.5 units from now)", *one)
	}
	if q.waiting || !q.lazy {
		t.Fatal("a lend must end the wait and leave the queue lazy")
	}
	checkStructure(t, q)
	shift(q, 4*U+U/2)
	if p := q.Pending(); p != 0 {
		t.Fatalf("Pending = %d while the due timers are lent, want 0 (they are the consumer's)", p)
	}
	take(t, q, byID[1], 3) // 4 due, 3 taken
	q.Reclaim(lent)
	if got := takeCounts(q); got[1] != 1 || got[2] != 1 || len(got) != 2 {
		t.Fatalf("after Reclaim: %v, want map[1:1 2:1] (due minus taken)", got)
	}
	shift(q, 3*U/2) // 6 units: timer 1 at 5 and 6, timer 2 at 6, the one-off at 5.5
	if got := takeCounts(q); got[1] != 2 || got[2] != 1 || got[3] != 1 {
		t.Fatalf("at 6 units: %v, want map[1:2 2:1 3:1]", got)
	}
	checkStructure(t, q)
}

// A lent one-off the consumer took is over when it comes back: the queue
// forgets it and queues nothing. One it did not take, or claims to have
// taken before it was due, keeps its due time.
func TestLendOneOffs(t *testing.T) {
	q := New(nil)
	defer q.Close()
	q.SetConsumerClock(true)
	mustArm(t, q, 1, U, 0)
	mustArm(t, q, 2, U, 0)
	mustArm(t, q, 3, 3*U, 0)
	lent := lendAll(t, q, 4)
	if len(lent) != 3 {
		t.Fatalf("lent %d one-offs, want 3", len(lent))
	}
	shift(q, 2*U)
	for i := range lent {
		switch lent[i].ID {
		case 1:
			take(t, q, &lent[i], 1)
		case 3:
			lent[i].K = 1 // not due yet: the count is clamped
		}
	}
	q.Reclaim(lent)
	if s := q.State(1); s != StateNone {
		t.Errorf("State(1) = %d after its lent expiration was taken, want StateNone", s)
	}
	if got := takeCounts(q); got[2] != 1 || len(got) != 1 {
		t.Fatalf("after Reclaim: %v, want map[2:1] (due, not taken)", got)
	}
	shift(q, 2*U)
	if got := takeCounts(q); got[3] != 1 || len(got) != 1 {
		t.Fatalf("at 4 units: %v, want map[3:1]", got)
	}
	if n := q.Timers(); n != 0 {
		t.Errorf("%d timers still known", n)
	}
	checkStructure(t, q)
}

func TestLendRefuses(t *testing.T) {
	cases := []struct {
		name  string
		setup func(q *Queue)
	}{
		{"consumer clock off", func(q *Queue) { q.SetConsumerClock(false) }},
		{"more timers than room", func(q *Queue) {
			for id := uint64(10); id < 20; id++ {
				mustArm(t, q, id, U, U)
			}
		}},
		{"events pending", func(q *Queue) { mustArm(t, q, 9, 0, 0) }},
		{"nothing armed", func(q *Queue) { q.Cancel(1) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := New(nil)
			defer q.Close()
			q.SetConsumerClock(true)
			mustArm(t, q, 1, U, U)
			c.setup(q)
			q.BeginWait()
			buf := make([]Lent, 4)
			if n := q.Lend(buf); n != 0 {
				t.Fatalf("Lend = %d, want 0", n)
			}
			q.EndWait()
			checkStructure(t, q)
		})
	}
	q := New(nil)
	defer q.Close()
	q.SetConsumerClock(true)
	mustArm(t, q, 1, U, U)
	if n := q.Lend(make([]Lent, 4)); n != 0 {
		t.Fatalf("Lend outside a wait lent %d timers", n)
	}
}

// Stop, Start and Cancel of a lent timer take it back without its count;
// Reclaim leaves those timers as they are.
func TestLentTimerStopStartCancel(t *testing.T) {
	q := New(nil)
	defer q.Close()
	q.SetConsumerClock(true)
	mustArm(t, q, 1, U, U)
	mustArm(t, q, 2, U, U)
	mustArm(t, q, 3, U, U)
	lent := lendAll(t, q, 4)
	if len(lent) != 3 {
		t.Fatalf("lent %d timers, want 3", len(lent))
	}
	shift(q, U/2)
	if err := q.Stop(1); err != nil {
		t.Fatal(err)
	}
	if err := q.Start(2); err != nil { // next expiration at 1.5 units
		t.Fatal(err)
	}
	if !q.Cancel(3) {
		t.Fatal("Cancel(3) found nothing")
	}
	q.Reclaim(lent)
	checkStructure(t, q)
	shift(q, U/2+U/4) // 1.25 units: 2 restarted at 0.5, due at 1.5
	if got := takeCounts(q); len(got) != 0 {
		t.Fatalf("at 1.25 units: %v, want nothing", got)
	}
	shift(q, U/2) // 1.75 units
	if got := takeCounts(q); got[2] != 1 || len(got) != 1 {
		t.Fatalf("at 1.75 units: %v, want map[2:1] (1 stopped, 3 cancelled)", got)
	}
	if s := q.State(1); s != StateStopped {
		t.Fatalf("State(1) = %d, want stopped", s)
	}
	checkStructure(t, q)
}

// A count beyond the clock cannot push a timer's schedule ahead: its next
// expiration stays the next one due.
func TestReclaimClampsCount(t *testing.T) {
	q := New(nil)
	defer q.Close()
	q.SetConsumerClock(true)
	mustArm(t, q, 1, U, U)
	lent := lendAll(t, q, 1)
	shift(q, 2*U+U/2)
	lent[0].K = 10
	q.Reclaim(lent)
	if p := q.Pending(); p != 0 {
		t.Fatalf("Pending = %d, want 0", p)
	}
	shift(q, U)
	if got := takeCounts(q); got[1] != 1 {
		t.Fatalf("at 3.5 units: %v, want map[1:1] (the expiration at 3)", got)
	}
	q.Close()
	q.Reclaim(lent) // after Close: nothing, no panic
}

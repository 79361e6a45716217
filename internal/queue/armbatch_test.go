package queue

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// A request handed over late keeps the schedule of the moment it was made
// (At), whatever the clock says when the batch gets the lock: an interval
// timer requested 2.5 periods ago has 2 expirations queued at once and its
// next one 0.5 period away, like a timer armed back then.
func TestArmBatchAtKeepsSchedule(t *testing.T) {
	q := New(nil)
	defer q.Close()
	now := q.Now()
	q.epoch = q.epoch.Add(-5 * U / 2) // the clock moves on 2.5 units before the batch goes
	err := q.ArmBatch([]ArmReq{
		{ID: 1, Delay: int64(U), Period: int64(U), At: now},
		{ID: 2, Delay: int64(U), Period: 0, At: now + int64(U)},   // one-off, overdue
		{ID: 3, Delay: int64(U), Period: 0, At: now + int64(2*U)}, // one-off, half a unit to go
		{ID: 4, Delay: int64(U), Period: 0, At: now + int64(4*U)}, // stamped ahead of the queue's clock: counts from now
	})
	if err != nil {
		t.Fatal(err)
	}
	counts := takeCounts(q)
	if counts[1] != 2 || counts[2] != 1 || len(counts) != 2 {
		t.Fatalf("queued at once: %v, want map[1:2 2:1]", counts)
	}
	advance(q, U/2+U/10) // crosses timer 1's third expiration and 3's due time
	counts = takeCounts(q)
	if counts[1] != 1 || counts[3] != 1 || len(counts) != 2 {
		t.Fatalf("after 0.6 unit more: %v, want map[1:1 3:1]", counts)
	}
	advance(q, U/2) // 1.1 units after the batch: 4's due time
	counts = takeCounts(q)
	if counts[4] != 1 || len(counts) != 1 {
		t.Fatalf("1.1 units after the batch: %v, want timer 4 expired", counts)
	}
	checkStructure(t, q)
}

// A request for a timer the caller kept and ran itself before handing it
// over (K) queues only the expirations it did not run; a one-off it ran is
// not armed at all; a K beyond the clock is clamped.
func TestArmBatchTakenCounts(t *testing.T) {
	q := New(nil)
	defer q.Close()
	now := q.Now()
	q.epoch = q.epoch.Add(-7 * U / 2) // 3.5 units pass before the batch goes
	err := q.ArmBatch([]ArmReq{
		{ID: 1, Delay: int64(U), Period: int64(U), At: now, K: 2},  // 3 due, 2 run
		{ID: 2, Delay: int64(U), Period: 0, At: now, K: 1},         // a one-off that ran
		{ID: 3, Delay: int64(U), Period: int64(U), At: now, K: 9},  // more than due: clamped to 3
		{ID: 4, Delay: int64(4 * U), Period: 0, At: now, K: 0},     // a one-off still to come
		{ID: 5, Delay: int64(U), Period: int64(U), At: now, K: -1}, // range
	})
	if !errors.Is(err, ErrRange) {
		t.Fatalf("ArmBatch = %v, want ErrRange for the negative count", err)
	}
	if counts := takeCounts(q); counts[1] != 1 || len(counts) != 1 {
		t.Fatalf("queued at once: %v, want map[1:1]", counts)
	}
	if s := q.State(2); s != StateNone {
		t.Errorf("State(2) = %d, want StateNone: a one-off that ran is not armed", s)
	}
	advance(q, U) // 4.5 units: the 4th expiration of 1 and 3, and 4's due time
	if counts := takeCounts(q); counts[1] != 1 || counts[3] != 1 || counts[4] != 1 || len(counts) != 3 {
		t.Fatalf("at 4.5 units: %v, want map[1:1 3:1 4:1]", counts)
	}
	checkStructure(t, q)
}

func TestArmBatchErrorsAndWithdrawn(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 7, U, 0)
	err := q.ArmBatch([]ArmReq{
		{ID: 0, Delay: -1},               // withdrawn: skipped, even if invalid
		{ID: 1, Delay: int64(U)},         // fine
		{ID: 7, Delay: int64(U)},         // exists
		{ID: 2, Delay: -1},               // range
		{ID: 3, Delay: int64(U), At: -1}, // range: before the queue existed
		{ID: 4, Delay: int64(U), Period: int64(U)},
	})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("ArmBatch = %v, want the first error met, ErrExists", err)
	}
	if n := q.Timers(); n != 3 {
		t.Fatalf("Timers() = %d, want 3 (7, 1, 4)", n)
	}
	for id, want := range map[uint64]int{1: StateArmed, 4: StateArmed, 2: StateNone, 3: StateNone} {
		if got := q.State(id); got != want {
			t.Errorf("State(%d) = %v, want %v", id, got, want)
		}
	}
	q.Close()
	if err := q.ArmBatch([]ArmReq{{ID: 9, Delay: 1}}); !errors.Is(err, ErrClosed) {
		t.Errorf("ArmBatch after Close = %v, want ErrClosed", err)
	}
	checkStructure(t, q)
}

// Firings of the runtime timer do not pile up behind the mutex: while the
// lock is held, any number of fires leave at most one goroutine waiting,
// and once the lock is free that one queues what is due.
func TestFireDoesNotPileUp(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, U, 0)
	q.mu.Lock()
	q.epoch = q.epoch.Add(-2 * U) // timer 1 is due
	var wg sync.WaitGroup
	returned := make(chan struct{}, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q.fire()
			returned <- struct{}{}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(returned) < 99 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := len(returned); n != 99 {
		q.mu.Unlock()
		t.Fatalf("%d of 100 fires returned while the lock was held, want 99", n)
	}
	q.mu.Unlock()
	wg.Wait()
	if p := q.Pending(); p != 1 {
		t.Errorf("Pending() = %d after the waiting fire ran, want 1", p)
	}
	checkStructure(t, q)
}

// takeCounts takes every pending event and counts them per timer id.
func takeCounts(q *Queue) map[uint64]int {
	counts := map[uint64]int{}
	for _, s := range takeAll(q) {
		counts[s.ID]++
	}
	return counts
}

// StartAt restarts from the moment it was asked for: an interval timer
// restarted 2.5 periods before the call got the lock has 2 expirations
// queued at once (and its queued ones dropped by the stop stay dropped); a
// time ahead of the queue's clock counts as now.
func TestStartAtKeepsSchedule(t *testing.T) {
	q := New(nil)
	defer q.Close()
	mustArm(t, q, 1, U, U)
	mustArm(t, q, 2, U, U)
	if err := q.Stop(1); err != nil {
		t.Fatal(err)
	}
	asked := q.Now()
	advance(q, 5*U/2) // timer 2 expires twice meanwhile
	if err := q.StartAt(1, asked); err != nil {
		t.Fatal(err)
	}
	if err := q.StartAt(2, q.Now()+int64(10*U)); err != nil {
		t.Fatal(err)
	}
	counts := takeCounts(q)
	if counts[1] != 2 || counts[2] != 2 || len(counts) != 2 {
		t.Fatalf("queued after the restarts: %v, want map[1:2 2:2]", counts)
	}
	advance(q, 6*U/10) // 1's third expiration (3 U after asked); 2 restarted 0.6 U ago
	counts = takeCounts(q)
	if counts[1] != 1 || len(counts) != 1 {
		t.Fatalf("0.6 unit later: %v, want map[1:1]", counts)
	}
	advance(q, U/2) // 2's first since its restart
	counts = takeCounts(q)
	if counts[2] != 1 || len(counts) != 1 {
		t.Fatalf("1.1 units after the restart: %v, want map[2:1]", counts)
	}
	checkStructure(t, q)
}

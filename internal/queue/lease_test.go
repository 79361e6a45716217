package queue

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func TestEntryDueCount(t *testing.T) {
	for _, c := range []struct {
		name string
		e    Entry
		now  int64
		want int64
	}{
		{"one-off not due", oneoff(1, 100), 99, 0},
		{"one-off due", oneoff(1, 100), 100, 1},
		{"one-off long overdue", oneoff(1, 100), 1e9, 1},
		{"interval first due", interval(1, 100, 10), 100, 1},
		{"interval 3 due", interval(1, 100, 10), 129, 3},
		{"interval not due", interval(1, 100, 10), 50, 0},
		{"bounded part", Entry{ID: 1, Due: 100, Period: 10, Left: 2}, 1000, 2},
		{"backlog only", Entry{ID: 1, Due: 500, Period: 10, Left: -1, BlDue: 90, BlLeft: 4}, 200, 4},
		{"backlog and main", Entry{ID: 1, Due: 500, Period: 10, Left: -1, BlDue: 90, BlLeft: 4}, 520, 7},
		{"saturates", Entry{ID: 1, Due: 0, Period: 1, Left: -1, BlDue: 0, BlLeft: math.MaxInt64}, 10, math.MaxInt64},
	} {
		if got := c.e.DueCount(c.now); got != c.want {
			t.Errorf("%s: DueCount(%d) = %d, want %d", c.name, c.now, got, c.want)
		}
	}
}

func TestEntryKey(t *testing.T) {
	e := interval(1, 500, 10)
	if e.Key() != 500 {
		t.Errorf("Key = %d, want the main part's due 500", e.Key())
	}
	e.BlDue, e.BlLeft = 90, 2
	if e.Key() != 90 {
		t.Errorf("Key = %d, want the backlog's due 90", e.Key())
	}
}

func TestReturnRefuses(t *testing.T) {
	q := New(nil)
	for _, e := range []Entry{
		{ID: 0, Due: 1, Left: 1},                         // no id
		{ID: 1, Due: 1, Left: 0},                         // nothing left
		{ID: 2, Due: 1, Left: -2},                        // bad count
		{ID: 3, Due: 1, Period: 0, Left: -1},             // an interval that does not advance
		{ID: 4, Due: 1, Period: 1, Left: -1, BlLeft: -1}, // bad backlog
	} {
		if err := q.Return([]Entry{e}); !errors.Is(err, ErrRange) {
			t.Errorf("Return(%+v) = %v, want ErrRange", e, err)
		}
	}
	mustReturn(t, q, oneoff(7, 10))
	// a refused entry does not stop the others of the batch
	if err := q.Return([]Entry{oneoff(7, 10), oneoff(8, 10)}); !errors.Is(err, ErrExists) {
		t.Errorf("Return of a held id = %v, want ErrExists", err)
	}
	if n := q.Timers(); n != 2 {
		t.Errorf("Timers = %d, want 2", n)
	}
	q.Close()
	if err := q.Return([]Entry{oneoff(9, 10)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Return after Close = %v, want ErrClosed", err)
	}
	if n := q.Lend(math.MaxInt64, make([]Entry, 4)); n != 0 {
		t.Errorf("Lend after Close = %d", n)
	}
	if _, ok := q.LendID(7); ok {
		t.Error("LendID after Close found a timer")
	}
}

// Lend hands out what is due by its bound, in (key, id) order, and the
// queue forgets it; what is not due stays.
func TestLendOrderAndBound(t *testing.T) {
	q, _, _ := newVirtual()
	defer q.Close()
	mustReturn(t, q,
		interval(5, 300, 100),
		oneoff(3, 200),
		oneoff(4, 200), // same due as 3: by id
		Entry{ID: 9, Due: 900, Period: 100, Left: -1, BlDue: 150, BlLeft: 2}, // its backlog first
		oneoff(1, 1000),
	)
	got := lendAll(q, 300)
	if want := []uint64{9, 3, 4, 5}; !slices.Equal(ids(got), want) {
		t.Fatalf("Lend(300) = %v, want %v", ids(got), want)
	}
	if got[0].BlLeft != 2 || got[0].Due != 900 {
		t.Errorf("lent entry changed: %+v", got[0])
	}
	if n := q.Timers(); n != 1 {
		t.Errorf("Timers after Lend = %d, want 1", n)
	}
	// a small buffer takes the earliest first
	mustReturn(t, q, got...)
	buf := make([]Entry, 2)
	if n := q.Lend(math.MaxInt64, buf); n != 2 || buf[0].ID != 9 || buf[1].ID != 3 {
		t.Errorf("Lend into 2 slots = %v", ids(buf[:n]))
	}
	if e, ok := q.LendID(1); !ok || e != oneoff(1, 1000) {
		t.Errorf("LendID(1) = %+v, %v", e, ok)
	}
	if _, ok := q.LendID(1); ok {
		t.Error("LendID found a lent timer again")
	}
	if left := lendAll(q, math.MaxInt64); !slices.Equal(ids(left), []uint64{4, 5}) {
		t.Errorf("what is left: %v, want [4 5]", ids(left))
	}
}

// Pending counts each due expiration of the held timers, and nothing of
// the lent ones.
func TestPendingCounts(t *testing.T) {
	q, c, _ := newVirtual()
	defer q.Close()
	mustReturn(t, q, interval(1, 1100, 100), oneoff(2, 1250), Entry{ID: 3, Due: 5000, Period: 10, Left: -1, BlDue: 900, BlLeft: 3})
	if p := q.Pending(); p != 3 { // the backlog only
		t.Fatalf("Pending at 1000 = %d, want 3", p)
	}
	c.advance(q, 300) // 1300: interval 1100, 1200, 1300; the one-off
	if p := q.Pending(); p != 3+3+1 {
		t.Fatalf("Pending at 1300 = %d, want 7", p)
	}
	lendAll(q, 1300)
	if p := q.Pending(); p != 0 {
		t.Errorf("Pending after lending the due ones = %d, want 0", p)
	}
}

// The notifier is set exactly while something is due or queued.
func TestNotifierFollowsDueTimers(t *testing.T) {
	q, c, n := newVirtual()
	defer q.Close()
	mustReturn(t, q, oneoff(1, 1500), interval(2, 2000, 1000))
	checkNotifier(t, q, n)
	if n.state() {
		t.Fatal("set before anything is due")
	}
	c.advance(q, 400) // 1400
	checkNotifier(t, q, n)
	c.advance(q, 100) // 1500: the one-off
	if !n.state() {
		t.Fatal("not set when the one-off fell due")
	}
	lendAll(q, 1500)
	checkNotifier(t, q, n)
	if n.state() {
		t.Fatal("still set after the due one-off was lent")
	}
	c.advance(q, 600) // 2100: the interval
	checkNotifier(t, q, n)
	if !n.state() {
		t.Fatal("not set when the interval fell due")
	}
	e, _ := q.LendID(2)
	checkNotifier(t, q, n)
	e.Due += e.Period // the consumer ran one expiration
	mustReturn(t, q, e)
	checkNotifier(t, q, n)
	if n.state() {
		t.Fatal("set after the returned timer's next expiration, not due yet")
	}
	// returning a due timer sets it at once
	mustReturn(t, q, oneoff(3, 100))
	if !n.state() {
		t.Fatal("not set after a due timer was returned")
	}
	q.Close()
	if n.state() {
		t.Error("still set after Close")
	}
}

// With the real clock, the runtime timer wakes a waiter when the earliest
// timer falls due, not before.
func TestRuntimeTimerWakes_Timing(t *testing.T) {
	q := New(nil)
	defer q.Close()
	t0 := time.Now()
	mustReturn(t, q, oneoff(1, q.Now()+int64(20*time.Millisecond)), oneoff(2, q.Now()+int64(time.Hour)))
	if !q.Wait(5 * time.Second) {
		t.Fatal("Wait timed out: the runtime timer did not fire")
	}
	if d := time.Since(t0); d < 19*time.Millisecond {
		t.Errorf("woke after %v, before the timer was due", d)
	}
	if got := lendAll(q, q.Now()); !slices.Equal(ids(got), []uint64{1}) {
		t.Errorf("due after the wake-up: %v, want [1]", ids(got))
	}
	if q.Wait(30 * time.Millisecond) {
		t.Error("Wait returned true with nothing due")
	}
}

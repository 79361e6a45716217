package queue

import (
	"testing"
	"time"
)

// countNotifier is a Notifier that only remembers the last due time told.
type dueNotifier struct {
	flagNotifier
	due int64
}

func (n *dueNotifier) NextDue(d int64) { n.mu.Lock(); n.due = d; n.mu.Unlock() }

// A virtual clock stands still, moves only by SetNow, and the counts of a
// day of interval timers stepped through it are exact.
func TestVirtualClockCounts(t *testing.T) {
	q := New(nil)
	defer q.Close()
	q.SetPassive(true)
	start := q.SetVirtual(true)
	if !q.Virtual() {
		t.Fatal("Virtual() is false after SetVirtual(true)")
	}
	time.Sleep(2 * time.Millisecond)
	if got := q.Now(); got != start {
		t.Fatalf("the virtual clock moved by itself: %d -> %d", start, got)
	}
	sec := int64(time.Second)
	a, _ := q.ArmAt(start, time.Second, time.Second, 1)
	b, _ := q.ArmAt(start, time.Hour, time.Hour, 2)
	o, _ := q.ArmAt(start, 90*time.Minute, 0, 3)
	_, _, _ = a, b, o
	counts := map[uintptr]int64{}
	buf := make([]Expiration, 16)
	day := start + 24*3600*sec
	last := start
	for now := start + sec/2; now <= day; now += sec / 2 {
		got, err := q.SetNow(now)
		if err != nil || got != now {
			t.Fatalf("SetNow(%d) = %d, %v", now, got, err)
		}
		for {
			k := q.TakeDue(now, buf)
			for _, e := range buf[:k] {
				if e.Due > now || e.Due < last {
					t.Fatalf("expiration due %d taken at %d (last step %d)", e.Due, now, last)
				}
				counts[e.Tag] += e.Count
			}
			if k < len(buf) {
				break
			}
		}
		last = now
	}
	if counts[1] != 24*3600 || counts[2] != 24 || counts[3] != 1 {
		t.Fatalf("counts over a virtual day: %v, want 86400, 24, 1", counts)
	}
	if _, err := q.SetNow(start); err != nil || q.Now() != day {
		t.Fatalf("SetNow back in time moved the clock: now %d, want %d", q.Now(), day)
	}
}

// Switching keeps the reading: back on a real clock, it goes on from the
// virtual reading, and a timer keeps its distance to now.
func TestVirtualClockSwitchBack(t *testing.T) {
	n := &dueNotifier{}
	q := New(n)
	defer q.Close()
	v := q.SetVirtual(true)
	id, _ := q.ArmAt(v, time.Hour, 0, 7)
	if _, err := q.SetNow(v + int64(59*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r := q.SetVirtual(false)
	if r != v+int64(59*time.Minute) {
		t.Fatalf("the switch moved the reading: %d, want %d", r, v+int64(59*time.Minute))
	}
	if q.Virtual() {
		t.Fatal("still virtual")
	}
	if _, err := q.SetNow(r + 1); err != ErrRange {
		t.Fatalf("SetNow on a real clock: %v, want ErrRange", err)
	}
	due, ok := q.Due(id)
	if !ok || due-q.Now() > int64(time.Minute) || due-q.Now() < int64(time.Minute)-int64(time.Second) {
		t.Fatalf("after the switch the one-off is due in %v, want about 1m", time.Duration(due-q.Now()))
	}
	if q.Now() < r {
		t.Fatal("the real clock went back")
	}
	q.Retell()
	n.mu.Lock()
	told := n.due
	n.mu.Unlock()
	if told != due {
		t.Fatalf("Retell told %d, want %d", told, due)
	}
}

// The clock goroutine of an active queue sleeps on the virtual clock and
// publishes at SetNow; switching under it is race-free (run with -race).
func TestVirtualClockActive(t *testing.T) {
	q := New(nil)
	defer q.Close()
	v := q.SetVirtual(true)
	q.ArmAt(v, time.Millisecond, time.Millisecond, 1)
	if q.Pending() != 0 {
		t.Fatal("pending before the clock moved")
	}
	q.SetNow(v + int64(10*time.Millisecond))
	if got := q.Pending(); got != 10 {
		t.Fatalf("pending after 10 virtual ms: %d, want 10", got)
	}
	for i := 0; i < 50; i++ {
		q.SetVirtual(i%2 == 0)
		q.SetNow(q.Now() + int64(time.Millisecond))
	}
}

package queue

import (
	"errors"
	"sync"
	"testing"
	"time"
)

func mustRegister(t testing.TB, q *Queue, cookie uintptr) uint32 {
	t.Helper()
	pid, err := q.Register(cookie)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return pid
}

func TestDeliverInOrderWithTimers(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	p1 := mustRegister(t, q, 0xA)
	p2 := mustRegister(t, q, 0xB)
	if p1 == p2 {
		t.Fatal("two producers got the same id")
	}
	mustArm(t, q, 7, U, 0)
	if st := q.Deliver(p1, 100); st != StatusOK {
		t.Fatalf("Deliver = %d", st)
	}
	advance(q, U)
	q.Deliver(p2, 200)
	q.Deliver(p1, 101)
	wantCounts(t, q, 4, 4)
	checkNotifier(t, q, nt)
	got := takeAll(q)
	want := []Slot{
		{Flags: FlagItem, PID: p1, Item: 100, Cookie: 0xA},
		{ID: 7, Flags: FlagLast},
		{Flags: FlagItem, PID: p2, Item: 200, Cookie: 0xB},
		{Flags: FlagItem, PID: p1, Item: 101, Cookie: 0xA},
	}
	if len(got) != len(want) {
		t.Fatalf("Take = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("slot %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	wantCounts(t, q, 0, 0)
	checkStructure(t, q)
	checkNotifier(t, q, nt)
}

func TestDeliverRefused(t *testing.T) {
	q := New(nil)
	if st := q.Deliver(42, 1); st != StatusClosed {
		t.Errorf("Deliver to an unknown producer = %d, want StatusClosed", st)
	}
	pid := mustRegister(t, q, 1)
	q.Unregister(pid)
	if st := q.Deliver(pid, 1); st != StatusClosed {
		t.Errorf("Deliver after Unregister = %d, want StatusClosed", st)
	}
	if st := q.DeliverWait(pid, 1, time.Second); st != StatusClosed {
		t.Errorf("DeliverWait after Unregister = %d, want StatusClosed", st)
	}
	pid2 := mustRegister(t, q, 2)
	q.Close()
	if st := q.Deliver(pid2, 1); st != StatusClosed {
		t.Errorf("Deliver after Close = %d, want StatusClosed", st)
	}
	if _, err := q.Register(3); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
	if _, d := q.Unregister(pid2); d != nil {
		t.Errorf("Unregister after Close dropped %v", d)
	}
	wantCounts(t, q, 0, 0)
}

func TestUnregisterDropsQueuedItems(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	p1 := mustRegister(t, q, 0xA)
	p2 := mustRegister(t, q, 0xB)
	q.Deliver(p1, 1)
	q.Deliver(p2, 2)
	q.Deliver(p1, 3)
	mustArm(t, q, 9, U, U)
	advance(q, U)
	q.Deliver(p1, 4)
	taken := make([]Slot, 1)
	if n, _ := q.Take(taken); n != 1 || taken[0].Item != 1 {
		t.Fatalf("Take = %+v", taken[:n])
	}
	cookie, dropped := q.Unregister(p1)
	if cookie != 0xA {
		t.Errorf("Unregister returned cookie %#x, want 0xA", cookie)
	}
	if !sameSlots(dropped, []Slot{
		{Flags: FlagItem, PID: p1, Item: 3, Cookie: 0xA},
		{Flags: FlagItem, PID: p1, Item: 4, Cookie: 0xA},
	}) {
		t.Errorf("Unregister dropped %+v, want items 3 and 4", dropped)
	}
	wantCounts(t, q, 2, 4) // item 2 and timer 9; two stale item records
	checkStructure(t, q)
	// the taken item 1 comes back from PutBack as dropped: its producer is gone
	if d := q.PutBack(taken); !sameSlots(d, taken) {
		t.Errorf("PutBack of an unregistered producer's item dropped %+v, want %+v", d, taken)
	}
	got := takeAll(q)
	if len(got) != 2 || got[0].Item != 2 || got[1].ID != 9 {
		t.Errorf("Take after Unregister = %+v", got)
	}
	wantCounts(t, q, 0, 0)
	if c, d := q.Unregister(p1); c != 0 || d != nil {
		t.Error("second Unregister found the producer again")
	}
	checkStructure(t, q)
	checkNotifier(t, q, nt)
}

func TestPutBackItemsFirst(t *testing.T) {
	q := New(nil)
	defer q.Close()
	pid := mustRegister(t, q, 0xA)
	for i := uintptr(1); i <= 4; i++ {
		q.Deliver(pid, i)
	}
	buf := make([]Slot, 3)
	q.Take(buf)        // items 1, 2, 3
	q.PutBack(buf[1:]) // 2 and 3 did not run
	if got := takeAll(q); len(got) != 3 || got[0].Item != 2 || got[1].Item != 3 || got[2].Item != 4 {
		t.Errorf("Take after PutBack = %+v, want items 2, 3, 4", got)
	}
	checkStructure(t, q)
}

func TestCloseReturnsPlainItems(t *testing.T) {
	q := New(nil)
	pid := mustRegister(t, q, 0xC)
	q.Deliver(pid, 1)
	q.Deliver(pid, 2)
	mustArm(t, q, 1, U, 0)
	advance(q, U)
	waited := make(chan int, 1)
	go func() { waited <- q.DeliverWait(pid, 3, 0) }()
	if !eventually(5*time.Second, func() bool { return q.Pending() == 4 }) {
		t.Fatalf("Pending() = %d, want 4", q.Pending())
	}
	dropped := q.Close()
	if !sameSlots(dropped, []Slot{
		{Flags: FlagItem, PID: pid, Item: 1, Cookie: 0xC},
		{Flags: FlagItem, PID: pid, Item: 2, Cookie: 0xC},
	}) {
		t.Errorf("Close dropped %+v, want the two plain items", dropped)
	}
	select {
	case st := <-waited:
		if st != StatusCancelled {
			t.Errorf("DeliverWait released by Close with %d, want StatusCancelled", st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release a waiting producer")
	}
	if d := q.Close(); d != nil {
		t.Errorf("second Close dropped %v", d)
	}
}

// deliverWait starts DeliverWait on its own goroutine and waits until the
// item is queued.
func deliverWait(t *testing.T, q *Queue, pid uint32, item uintptr, timeout time.Duration) <-chan int {
	t.Helper()
	before := q.InQueue()
	ch := make(chan int, 1)
	go func() { ch <- q.DeliverWait(pid, item, timeout) }()
	if !eventually(5*time.Second, func() bool { return q.InQueue() > before }) {
		t.Fatal("DeliverWait queued nothing")
	}
	return ch
}

func expectStatus(t *testing.T, ch <-chan int, want int, within time.Duration) {
	t.Helper()
	select {
	case st := <-ch:
		if st != want {
			t.Errorf("DeliverWait = %d, want %d", st, want)
		}
	case <-time.After(within):
		t.Fatalf("DeliverWait still blocked after %v", within)
	}
}

func expectBlocked(t *testing.T, ch <-chan int) {
	t.Helper()
	select {
	case st := <-ch:
		t.Fatalf("DeliverWait returned %d early", st)
	case <-time.After(30 * time.Millisecond):
	}
}

func TestDeliverWaitDone(t *testing.T) {
	for _, status := range []int{StatusOK, StatusCallbackErr} {
		q := New(nil)
		pid := mustRegister(t, q, 0xD)
		ch := deliverWait(t, q, pid, 77, 0)
		expectBlocked(t, ch)
		buf := make([]Slot, 4)
		n, _ := q.Take(buf)
		if n != 1 || buf[0].Flags != FlagItem|FlagWait || buf[0].Item != 77 || buf[0].ID == 0 {
			t.Fatalf("Take = %+v", buf[:n])
		}
		expectBlocked(t, ch) // taken, not done
		q.ItemDone(buf[0].ID, status)
		expectStatus(t, ch, status, 5*time.Second)
		q.ItemDone(buf[0].ID, StatusOK) // a second report is ignored
		checkStructure(t, q)
		q.Close()
	}
}

func TestDeliverWaitPutBack(t *testing.T) {
	q := New(nil)
	defer q.Close()
	pid := mustRegister(t, q, 0xD)
	ch := deliverWait(t, q, pid, 5, 0)
	buf := make([]Slot, 1)
	q.Take(buf)
	q.PutBack(buf)
	expectBlocked(t, ch)
	again := make([]Slot, 1)
	if n, _ := q.Take(again); n != 1 || again[0] != buf[0] {
		t.Fatalf("Take after PutBack = %+v, want %+v", again[:n], buf[0])
	}
	q.ItemDone(again[0].ID, StatusOK)
	expectStatus(t, ch, StatusOK, 5*time.Second)
	checkStructure(t, q)
}

func TestDeliverWaitTimeout_Timing(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	pid := mustRegister(t, q, 0xE)
	t0 := time.Now()
	ch := deliverWait(t, q, pid, 1, 40*time.Millisecond)
	expectStatus(t, ch, StatusTimeout, 5*time.Second)
	if el := time.Since(t0); el < 40*time.Millisecond {
		t.Errorf("timed out after %v, want >= 40ms", el)
	}
	wantCounts(t, q, 0, 1) // withdrawn: a stale record until the next Take
	if got := takeAll(q); len(got) != 0 {
		t.Errorf("Take returned a withdrawn item: %+v", got)
	}
	wantCounts(t, q, 0, 0)
	checkNotifier(t, q, nt)

	// Taken before the timeout: the producer waits for ItemDone.
	ch = deliverWait(t, q, pid, 2, 300*time.Millisecond)
	buf := make([]Slot, 1)
	if n, _ := q.Take(buf); n != 1 {
		t.Fatal("the item was withdrawn before it could be taken")
	}
	time.Sleep(400 * time.Millisecond)
	expectBlocked(t, ch)
	q.ItemDone(buf[0].ID, StatusOK)
	expectStatus(t, ch, StatusOK, 5*time.Second)
	checkStructure(t, q)
}

func TestDeliverWaitCancelled(t *testing.T) {
	q := New(nil)
	defer q.Close()
	pid := mustRegister(t, q, 0xF)
	w1 := deliverWait(t, q, pid, 1, 0)
	w2 := deliverWait(t, q, pid, 2, 0)
	buf := make([]Slot, 1)
	q.Take(buf) // item 1; item 2 stays queued
	if _, d := q.Unregister(pid); len(d) != 0 {
		t.Errorf("Unregister dropped waited-for items as plain ones: %+v", d)
	}
	expectStatus(t, w2, StatusCancelled, 5*time.Second)
	// Item 1 is in the consumer's hands: its thread waits for the consumer,
	// which puts it back (or reports it done) once it sees the producer is
	// gone; PutBack then releases it with StatusCancelled.
	expectBlocked(t, w1)
	if d := q.PutBack(buf); len(d) != 0 {
		t.Errorf("PutBack of a waited-for item dropped %+v as a plain item", d)
	}
	expectStatus(t, w1, StatusCancelled, 5*time.Second)
	q.ItemDone(buf[0].ID, StatusOK) // ignored: already released
	wantCounts(t, q, 0, 1)          // item 2's withdrawn record
	if got := takeAll(q); len(got) != 0 {
		t.Errorf("Take after Unregister = %+v", got)
	}
	wantCounts(t, q, 0, 0)
	checkStructure(t, q)
}

// Many producers deliver concurrently while one consumer takes: every item
// arrives exactly once, in each producer's order.
func TestDeliverConcurrent(t *testing.T) {
	q, nt := newNotified()
	defer q.Close()
	const producers, items = 8, 2000
	pids := make([]uint32, producers)
	for i := range pids {
		pids[i] = mustRegister(t, q, uintptr(i))
	}
	var wg sync.WaitGroup
	for i := range pids {
		wg.Add(1)
		go func(pid uint32) {
			defer wg.Done()
			for k := 1; k <= items; k++ {
				if st := q.Deliver(pid, uintptr(k)); st != StatusOK {
					t.Errorf("Deliver = %d", st)
					return
				}
			}
		}(pids[i])
	}
	last := map[uint32]uintptr{}
	buf := make([]Slot, 7)
	for got := 0; got < producers*items; {
		if !q.Wait(5 * time.Second) {
			t.Fatalf("stalled after %d items", got)
		}
		n, _ := q.Take(buf)
		for _, s := range buf[:n] {
			if s.Item != last[s.PID]+1 {
				t.Fatalf("producer %d: item %d after %d", s.PID, s.Item, last[s.PID])
			}
			last[s.PID] = s.Item
		}
		got += n
	}
	wg.Wait()
	wantCounts(t, q, 0, 0)
	checkStructure(t, q)
	checkNotifier(t, q, nt)
}

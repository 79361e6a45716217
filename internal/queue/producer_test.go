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

// takeItems takes every item delivered by upto.
func takeItems(q *Queue, upto int64) []Slot {
	var out []Slot
	for {
		s, ok, _ := q.TakeItem(upto, upto)
		if !ok {
			return out
		}
		out = append(out, s)
	}
}

func TestItemsInOrderWithStamps(t *testing.T) {
	q, c, n := newVirtual()
	defer q.Close()
	p1 := mustRegister(t, q, 0xA)
	p2 := mustRegister(t, q, 0xB)
	if p1 == p2 {
		t.Fatal("two producers got the same id")
	}
	if st := q.Deliver(p1, 100); st != StatusOK {
		t.Fatalf("Deliver = %d", st)
	}
	checkNotifier(t, q, n)
	c.advance(q, 10)
	q.Deliver(p2, 200)
	c.advance(q, 10)
	q.Deliver(p1, 101)
	if p := q.Pending(); p != 3 {
		t.Fatalf("Pending = %d, want 3", p)
	}
	// bound: only what was delivered by it
	s, ok, more := q.TakeItem(1000, 1020)
	if !ok || s != (Slot{PID: p1, Item: 100, Cookie: 0xA, Stamp: 1000}) || !more {
		t.Fatalf("TakeItem = %+v %v %v", s, ok, more)
	}
	if _, ok, more := q.TakeItem(1005, 1005); ok || more {
		t.Fatalf("TakeItem took an item delivered after its bound (more %v)", more)
	}
	got := takeItems(q, 1020)
	if len(got) != 2 || got[0].Item != 200 || got[0].Stamp != 1010 || got[1].Item != 101 {
		t.Fatalf("rest = %+v", got)
	}
	checkNotifier(t, q, n)
	if n.state() {
		t.Error("notifier still set with no items")
	}
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
}

// Unregister drops the producer's queued items (returned for cancel), keeps
// the others in order, and leaves no dead record behind.
func TestUnregisterDropsQueuedItems(t *testing.T) {
	q, _, n := newVirtual()
	defer q.Close()
	p1 := mustRegister(t, q, 0xA)
	p2 := mustRegister(t, q, 0xB)
	for i, p := range []uint32{p1, p2, p1, p1, p2} {
		q.Deliver(p, uintptr(i+1))
	}
	cookie, dropped := q.Unregister(p1)
	if cookie != 0xA {
		t.Errorf("cookie %#x, want 0xA", cookie)
	}
	if len(dropped) != 3 || dropped[0].Item != 1 || dropped[1].Item != 3 || dropped[2].Item != 4 {
		t.Errorf("dropped %+v, want items 1, 3, 4", dropped)
	}
	// the dead records between the live ones count in InQueue until taken
	if p, iq := q.Pending(), q.InQueue(); p != 2 || iq != 4 {
		t.Errorf("Pending %d, InQueue %d; want 2 and 4", p, iq)
	}
	got := takeItems(q, 1<<60)
	if len(got) != 2 || got[0].Item != 2 || got[1].Item != 5 {
		t.Errorf("left: %+v", got)
	}
	if iq := q.InQueue(); iq != 0 {
		t.Errorf("InQueue = %d after taking everything", iq)
	}
	checkNotifier(t, q, n)
	if c, d := q.Unregister(p1); c != 0 || d != nil {
		t.Error("second Unregister found the producer again")
	}
	// a producer whose only items are dropped leaves an empty ring
	p3 := mustRegister(t, q, 0xC)
	q.Deliver(p3, 9)
	q.Unregister(p3)
	if iq := q.InQueue(); iq != 0 {
		t.Errorf("InQueue = %d, want 0: dead records linger", iq)
	}
	checkNotifier(t, q, n)
}

func TestDeliverWaitDone(t *testing.T) {
	q := New(nil)
	defer q.Close()
	pid := mustRegister(t, q, 1)
	res := make(chan int)
	go func() { res <- q.DeliverWait(pid, 7, 0) }()
	var s Slot
	for {
		var ok bool
		if s, ok, _ = q.TakeItem(1<<62, 1<<62); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if s.Flags&FlagWait == 0 || s.ID == 0 || s.Item != 7 {
		t.Fatalf("slot %+v", s)
	}
	select {
	case st := <-res:
		t.Fatalf("DeliverWait returned %d before ItemDone", st)
	case <-time.After(20 * time.Millisecond):
	}
	q.ItemDone(s.ID, StatusCallbackErr)
	if st := <-res; st != StatusCallbackErr {
		t.Errorf("DeliverWait = %d, want StatusCallbackErr", st)
	}
	q.ItemDone(s.ID, StatusOK) // harmless twice
}

func TestDeliverWaitTimeout_Timing(t *testing.T) {
	q := New(nil)
	defer q.Close()
	pid := mustRegister(t, q, 1)
	t0 := time.Now()
	if st := q.DeliverWait(pid, 7, 30*time.Millisecond); st != StatusTimeout {
		t.Fatalf("DeliverWait = %d, want StatusTimeout", st)
	}
	if d := time.Since(t0); d < 25*time.Millisecond {
		t.Errorf("timed out after %v", d)
	}
	if p, iq := q.Pending(), q.InQueue(); p != 0 || iq != 0 {
		t.Errorf("Pending %d, InQueue %d after the withdrawal", p, iq)
	}
	// an item taken before the timeout is waited for
	res := make(chan int)
	go func() { res <- q.DeliverWait(pid, 8, 30*time.Millisecond) }()
	var s Slot
	for ok := false; !ok; {
		s, ok, _ = q.TakeItem(1<<62, 1<<62)
		time.Sleep(100 * time.Microsecond)
	}
	time.Sleep(60 * time.Millisecond)
	q.ItemDone(s.ID, StatusOK)
	if st := <-res; st != StatusOK {
		t.Errorf("DeliverWait of a taken item = %d, want StatusOK", st)
	}
}

func TestDeliverWaitCancelled(t *testing.T) {
	q := New(nil)
	p1 := mustRegister(t, q, 1)
	p2 := mustRegister(t, q, 2)
	var wg sync.WaitGroup
	got := make([]int, 4)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i] = q.DeliverWait([]uint32{p1, p2}[i%2], uintptr(i), 0)
		}(i)
	}
	for q.Pending() < 4 {
		time.Sleep(time.Millisecond)
	}
	q.Unregister(p1) // releases 0 and 2
	q.Close()        // releases 1 and 3
	wg.Wait()
	for i, st := range got {
		if st != StatusCancelled {
			t.Errorf("waiter %d = %d, want StatusCancelled", i, st)
		}
	}
}

func TestCloseReturnsPlainItems(t *testing.T) {
	q := New(nil)
	pid := mustRegister(t, q, 0xA)
	q.Deliver(pid, 1)
	q.Deliver(pid, 2)
	dropped := q.Close()
	if len(dropped) != 2 || dropped[0].Item != 1 || dropped[1].Item != 2 {
		t.Errorf("Close dropped %+v", dropped)
	}
	if q.Close() != nil {
		t.Error("second Close dropped items again")
	}
}

// Four goroutines deliver while one takes: every item exactly once, in
// per-producer order (run with -race).
func TestDeliverConcurrent(t *testing.T) {
	q := New(nil)
	defer q.Close()
	const G, N = 4, 5000
	pids := make([]uint32, G)
	for i := range pids {
		pids[i] = mustRegister(t, q, uintptr(i))
	}
	var wg sync.WaitGroup
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 1; i <= N; i++ {
				if st := q.Deliver(pids[g], uintptr(i)); st != StatusOK {
					t.Errorf("Deliver = %d", st)
					return
				}
			}
		}(g)
	}
	next := make([]uintptr, G)
	for total := 0; total < G*N; {
		s, ok, _ := q.TakeItem(1<<62, 1<<62)
		if !ok {
			q.Wait(time.Millisecond)
			continue
		}
		g := int(s.Cookie)
		if s.Item != next[g]+1 {
			t.Fatalf("producer %d: item %d after %d", g, s.Item, next[g])
		}
		next[g] = s.Item
		total++
	}
	wg.Wait()
}

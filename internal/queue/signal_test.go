package queue

import (
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Signal schedules: deliveries counted, published at once, in (due, id)
// order with timers; stop drops what is pending, destroy forgets, the
// router calls Notify for the first armed schedule of a signal and Reset
// once the last one goes; all of it concurrent with takes.

// fakeSignals swaps the router's signal.Notify and signal.Reset for
// counters, so that deliveries come only from the test (router.deliver).
type fakeSignals struct {
	mu      sync.Mutex
	notify  map[int]int
	reset   map[int]int
	catches map[int]bool
}

func withFakeSignals(t *testing.T) *fakeSignals {
	t.Helper()
	f := &fakeSignals{notify: map[int]int{}, reset: map[int]int{}, catches: map[int]bool{}}
	router.mu.Lock()
	oldN, oldR := router.notify, router.reset
	router.notify = func(_ chan<- os.Signal, sigs ...os.Signal) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range sigs {
			n := int(s.(syscall.Signal))
			if f.catches[n] {
				t.Errorf("Notify(%v) while it is caught already", s)
			}
			f.notify[n]++
			f.catches[n] = true
		}
	}
	router.reset = func(sigs ...os.Signal) {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, s := range sigs {
			n := int(s.(syscall.Signal))
			if !f.catches[n] {
				t.Errorf("Reset(%v) while it is not caught", s)
			}
			f.reset[n]++
			f.catches[n] = false
		}
	}
	router.mu.Unlock()
	t.Cleanup(func() {
		router.mu.Lock()
		router.notify, router.reset = oldN, oldR
		router.mu.Unlock()
	})
	return f
}

func (f *fakeSignals) counts(sig int) (notify, reset int, caught bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notify[sig], f.reset[sig], f.catches[sig]
}

const (
	usr1 = int(syscall.SIGUSR1)
	usr2 = int(syscall.SIGUSR2)
	term = int(syscall.SIGTERM)
)

func mustArmSignal(t *testing.T, q *Queue, sig int, tag uintptr) ID {
	t.Helper()
	id, err := q.ArmSignal(sig, tag)
	if err != nil {
		t.Fatalf("ArmSignal(%d): %v", sig, err)
	}
	return id
}

func takeAll(q *Queue) []Expiration {
	buf := make([]Expiration, 64)
	n := q.Take(buf)
	return buf[:n]
}

func TestSignalDeliveriesCounted(t *testing.T) {
	f := withFakeSignals(t)
	q, c, n := newVirtual()
	defer q.Close()
	id := mustArmSignal(t, q, usr1, 7)
	if nt, _, caught := f.counts(usr1); nt != 1 || !caught {
		t.Fatalf("Notify calls %d, caught %v: want 1, true", nt, caught)
	}
	if q.Pending() != 0 || n.state() {
		t.Fatal("something pending before any delivery")
	}
	at := c.read()
	for range 3 {
		router.deliver(usr1)
	}
	if got := q.Pending(); got != 3 {
		t.Fatalf("Pending = %d after 3 deliveries, want 3", got)
	}
	checkNotifier(t, q, n)
	if !n.state() {
		t.Fatal("the notifier was not set by a delivery")
	}
	// no clock makes a signal due: time passing changes nothing
	c.advance(q, 1e9)
	if got := q.Pending(); got != 3 {
		t.Fatalf("Pending = %d after time passed, want 3", got)
	}
	if d, ok := q.NextDue(); ok {
		t.Fatalf("NextDue = %d, true: a signal schedule has no due time", d)
	}
	got := takeAll(q)
	if len(got) != 1 || got[0].ID != id || got[0].Count != 3 || got[0].Due != at || got[0].Tag != 7 {
		t.Fatalf("took %+v, want one record of %v counting 3, due %d, tag 7", got, id, at)
	}
	checkNotifier(t, q, n)
	router.deliver(usr1)
	got = takeAll(q)
	if len(got) != 1 || got[0].Count != 1 || got[0].Due != c.read() {
		t.Fatalf("took %+v after one more delivery, want one record counting 1 due now", got)
	}
	// another signal reaches nobody here
	router.deliver(usr2)
	if q.Pending() != 0 {
		t.Fatal("a delivery of another signal was counted")
	}
	if s, ok := q.Signal(id); !ok || s != usr1 {
		t.Fatalf("Signal(id) = %d, %v", s, ok)
	}
}

func TestSignalBroadcastAndOrder(t *testing.T) {
	f := withFakeSignals(t)
	q1, c1, _ := newVirtual()
	defer q1.Close()
	q2, _, _ := newVirtual()
	defer q2.Close()
	// q1: a timer due at +5, then two schedules of SIGTERM
	tid, err := q1.Arm(5, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	a := mustArmSignal(t, q1, term, 2)
	b := mustArmSignal(t, q1, term, 3)
	x := mustArmSignal(t, q2, term, 4)
	if nt, _, _ := f.counts(term); nt != 1 {
		t.Fatalf("Notify called %d times for 3 schedules, want 1", nt)
	}
	c1.advance(q1, 3)
	router.deliver(term) // at +3: before the timer
	c1.advance(q1, 4)    // +7: the timer is due at +5
	buf := make([]Expiration, 8)
	k := q1.TakeDue(c1.read(), buf)
	got := buf[:k]
	if k != 3 || got[0].ID != a || got[1].ID != b || got[2].ID != tid {
		t.Fatalf("took %+v: want the two SIGTERM records (arming order), then the timer", got)
	}
	if got[0].Due != 1003 || got[0].Count != 1 || got[2].Due != 1005 {
		t.Fatalf("took %+v: want SIGTERM due at 1003, the timer at 1005", got)
	}
	if got := takeAll(q2); len(got) != 1 || got[0].ID != x || got[0].Count != 1 {
		t.Fatalf("the other queue took %+v, want one SIGTERM record", got)
	}
}

func TestSignalTakeBound(t *testing.T) {
	withFakeSignals(t)
	q, c, _ := newVirtual()
	defer q.Close()
	mustArmSignal(t, q, usr1, 1)
	upto := c.read()
	c.advance(q, 10)
	router.deliver(usr1) // arrives after the drain's bound
	buf := make([]Expiration, 4)
	if k, _ := q.TakeAhead(upto, upto+1e8, buf); k != 0 {
		t.Fatalf("a take bounded before the delivery took %+v", buf[:k])
	}
	if k, _ := q.TakeAhead(c.read(), c.read()+1e8, buf); k != 1 || buf[0].Count != 1 {
		t.Fatalf("the next take took %d records, want the delivery", k)
	}
}

func TestSignalStopDropsPending(t *testing.T) {
	f := withFakeSignals(t)
	q, _, n := newVirtual()
	defer q.Close()
	id := mustArmSignal(t, q, usr2, 1)
	router.deliver(usr2)
	router.deliver(usr2)
	if err := q.Stop(id); err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 0 || len(takeAll(q)) != 0 {
		t.Fatal("deliveries of a stopped schedule are still pending")
	}
	checkNotifier(t, q, n)
	if _, nr, caught := f.counts(usr2); nr != 1 || caught {
		t.Fatalf("Reset calls %d, caught %v after the last schedule stopped: want 1, false", nr, caught)
	}
	router.deliver(usr2)
	if q.Pending() != 0 {
		t.Fatal("a stopped schedule caught a delivery")
	}
	if err := q.Stop(id); err != nil { // twice: nothing more
		t.Fatal(err)
	}
	if _, _, err := q.Restart(id, 5, false, -1); err != ErrRange {
		t.Fatalf("Restart with a period: %v, want ErrRange", err)
	}
	due, taken, err := q.Restart(id, -1, true, -1)
	if err != nil || due != math.MaxInt64 || taken != 0 {
		t.Fatalf("Restart = %d, %d, %v: want MaxInt64, 0, nil", due, taken, err)
	}
	if nt, _, caught := f.counts(usr2); nt != 2 || !caught {
		t.Fatalf("Notify calls %d after start, caught %v: want 2, true", nt, caught)
	}
	router.deliver(usr2)
	// Start on an armed schedule keeps what is pending
	if err := q.Start(id); err != nil {
		t.Fatal(err)
	}
	if got := takeAll(q); len(got) != 1 || got[0].Count != 1 {
		t.Fatalf("took %+v after start, want one delivery", got)
	}
}

func TestSignalDestroyAndClose(t *testing.T) {
	f := withFakeSignals(t)
	q, _, n := newVirtual()
	a := mustArmSignal(t, q, usr1, 1)
	b := mustArmSignal(t, q, usr1, 2)
	if q.Signals() != 2 {
		t.Fatalf("Signals = %d, want 2", q.Signals())
	}
	router.deliver(usr1)
	if err := q.Destroy(a); err != nil {
		t.Fatal(err)
	}
	if got := q.Pending(); got != 1 {
		t.Fatalf("Pending = %d after destroying one of two, want 1 (the other's)", got)
	}
	if _, nr, _ := f.counts(usr1); nr != 0 {
		t.Fatal("Reset while a schedule still catches the signal")
	}
	if err := q.Destroy(a); err != ErrNotFound {
		t.Fatalf("Destroy twice: %v, want ErrNotFound", err)
	}
	if err := q.Destroy(b); err != nil {
		t.Fatal(err)
	}
	if q.Pending() != 0 || q.Signals() != 0 || q.Timers() != 0 {
		t.Fatalf("after destroy: pending %d, signals %d, timers %d", q.Pending(), q.Signals(), q.Timers())
	}
	checkNotifier(t, q, n)
	if _, nr, caught := f.counts(usr1); nr != 1 || caught {
		t.Fatalf("Reset calls %d, caught %v: want 1, false", nr, caught)
	}
	if _, ok := q.Signal(b); ok {
		t.Fatal("a destroyed schedule still names a signal")
	}
	// Close stops what is armed
	mustArmSignal(t, q, term, 3)
	mustArmSignal(t, q, usr2, 4)
	q.Close()
	for _, s := range []int{term, usr2} {
		if _, nr, caught := f.counts(s); nr != 1 || caught || router.caught(s) != 0 {
			t.Fatalf("signal %d after Close: reset %d, caught %v", s, nr, caught)
		}
	}
	if _, err := q.ArmSignal(usr1, 5); err != ErrClosed {
		t.Fatalf("ArmSignal on a closed queue: %v", err)
	}
}

func TestSignalCatchable(t *testing.T) {
	for _, s := range []syscall.Signal{syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGSEGV, syscall.SIGBUS,
		syscall.SIGFPE, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGABRT, syscall.SIGSYS, syscall.SIGURG, syscall.SIGPROF} {
		if Catchable(int(s)) {
			t.Errorf("%v is catchable", s)
		}
		q, _, _ := newVirtual()
		if _, err := q.ArmSignal(int(s), 0); err != ErrRange {
			t.Errorf("ArmSignal(%v): %v, want ErrRange", s, err)
		}
		q.Close()
	}
	for _, s := range []int{0, -1, sigMax, 1000} {
		if Catchable(s) {
			t.Errorf("%d is catchable", s)
		}
	}
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1,
		syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGCHLD, syscall.SIGWINCH, syscall.SIGALRM, syscall.SIGPIPE} {
		if !Catchable(int(s)) {
			t.Errorf("%v is not catchable", s)
		}
	}
}

// Deliveries from several goroutines while a consumer takes (as the Lua
// thread does: TakeAhead on a passive queue, on the real clock) and
// timers run: every delivery is counted once.
func TestSignalConcurrentWithTakes(t *testing.T) {
	withFakeSignals(t)
	q := New(nil)
	q.SetPassive(true)
	defer q.Close()
	mustArmSignal(t, q, usr1, 1)
	mustArmSignal(t, q, usr2, 2)
	if _, err := q.Arm(time.Millisecond, time.Millisecond, 3); err != nil {
		t.Fatal(err)
	}
	const senders, each = 4, 2000
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				router.deliver(usr1 + g%2*(usr2-usr1))
			}
		}()
	}
	var done atomic.Bool
	go func() { wg.Wait(); done.Store(true) }()
	counts := map[uintptr]int64{}
	buf := make([]Expiration, 8)
	last := int64(math.MinInt64)
	for {
		fin := done.Load()
		now := q.Now()
		k, _ := q.TakeAhead(now, now+int64(time.Millisecond), buf)
		for _, e := range buf[:k] {
			if e.Tag != 3 && e.Due > now {
				t.Fatalf("a delivery handed out ahead of its arrival: %+v, now %d", e, now)
			}
			if e.Tag != 3 && e.Due < last {
				t.Fatalf("deliveries out of order: %+v after %d", e, last)
			}
			if e.Tag != 3 {
				last = e.Due
			}
			counts[e.Tag] += e.Count
		}
		if fin && k == 0 && q.Pending() == 0 {
			break
		}
	}
	if counts[1] != senders/2*each || counts[2] != senders/2*each {
		t.Fatalf("counted %d SIGUSR1 and %d SIGUSR2, want %d each", counts[1], counts[2], senders/2*each)
	}
}

// Stop and Start racing deliveries: nothing is counted while stopped, and
// a delivery taken is one the schedule caught (never more than sent).
func TestSignalStopStartRace(t *testing.T) {
	withFakeSignals(t)
	q := New(nil)
	defer q.Close()
	id := mustArmSignal(t, q, term, 1)
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			router.deliver(term)
			sent.Add(1)
		}
	}()
	var taken int64
	for i := range 2000 {
		if i%2 == 0 {
			_ = q.Stop(id)
			if p := q.Pending(); p != 0 {
				t.Fatalf("%d pending right after Stop", p)
			}
		} else {
			_ = q.Start(id)
		}
		for _, e := range takeAll(q) {
			taken += e.Count
		}
	}
	close(stop)
	wg.Wait()
	for _, e := range takeAll(q) {
		taken += e.Count
	}
	if taken > sent.Load() {
		t.Fatalf("took %d deliveries of %d sent", taken, sent.Load())
	}
}

// The real thing: SIGUSR2 sent to this process reaches the queue through
// os/signal, and once the last schedule is gone the router lets go of it.
func TestSignalRealDelivery(t *testing.T) {
	q := New(nil)
	defer q.Close()
	id := mustArmSignal(t, q, usr2, 9)
	for range 3 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR2); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	var got int64
	for got < 1 && time.Now().Before(deadline) {
		q.Wait(100 * time.Millisecond)
		for _, e := range takeAll(q) {
			if e.Tag != 9 {
				t.Fatalf("took %+v", e)
			}
			got += e.Count
		}
	}
	if got < 1 || got > 3 {
		t.Fatalf("took %d deliveries of 3 SIGUSR2 sent (merged: 1 to 3)", got)
	}
	if err := q.Destroy(id); err != nil {
		t.Fatal(err)
	}
	if router.caught(usr2) != 0 {
		t.Fatal("the router still catches SIGUSR2 for this queue")
	}
}

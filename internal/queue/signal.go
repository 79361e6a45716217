package queue

import (
	"math"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// Signals as events.
//
// A signal schedule (ArmSignal) is a schedule that no clock makes due: it
// has a slot, and so an ID, like a timer, but the engine never holds it
// (tick, TakeAhead and NextDue never see it). Each delivery of its signal
// to the process adds one expiration, due at its arrival on the queue's
// clock, to its record, which the queue publishes at once and tells the
// Notifier about (Set), as the clock goroutine publishes a due expiration
// of a timer: a consumer waiting on the Notifier's fd wakes, and its next
// take (Take, TakeDue, TakeAhead) hands the record over, counted like an
// interval timer's expirations (Count deliveries, the first due at Due),
// in (due, id) order with the timers' records. Its period is 0 and it
// never ends (left -1): take's cut keeps every delivery of a record due by
// the take's bound, and nothing else in the engine's arithmetic applies.
//
// Stop withdraws its record (the deliveries not yet taken are dropped) and
// stops catching, Start (Restart without a period) catches again, Destroy
// forgets it; all three under the queue's mutex, which a delivery takes
// too, so nothing of a stopped or destroyed signal schedule is taken
// after they return. Close stops every signal schedule of the queue.
//
// Deliveries come from one process-wide router (signals are process-wide):
// one goroutine reading one os/signal channel, and per signal the number
// of armed signal schedules in every queue of the process. The first one
// of a signal calls signal.Notify for it; when the last one is stopped or
// destroyed, signal.Reset gives the signal back the disposition it had
// when Notify was called (in a c-shared library, Go's runtime then puts
// back the handler it found, or the default action). The router keeps no
// state of any queue beyond the count: a queue alone knows which of its
// schedules are armed for a signal.
//
// What the kernel does not count, no one can: a standard signal sent while
// one of the same number is still pending in the process is merged with
// it, and Go's runtime merges likewise the ones its handler has not passed
// on yet; so a burst of N deliveries is counted as between 1 and N.

// fSignal marks a signal schedule (sched.flags).
const fSignal = fLive << 1

// sigMax bounds the signal numbers the router handles: 1..sigMax-1
// (Linux's 64 with the real-time ones, FreeBSD's 128).
const sigMax = 129

// sigSet is what a queue keeps of its signal schedules.
type sigSet struct {
	of    map[int32]int   // slot -> its signal, for every live signal schedule
	armed map[int][]int32 // signal -> its armed schedules' slots, in arming order
	n     int             // live signal schedules
}

// Catchable reports whether signal sig may be armed (ArmSignal): not one a
// process cannot catch (SIGKILL, SIGSTOP), nor a synchronous fault (SIGSEGV,
// SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS: the thread that raised
// it would go on from the fault), nor one Go's runtime uses (SIGURG,
// SIGPROF), nor on Linux the real-time signals the C library reserves (32
// and 33, below SIGRTMIN).
func Catchable(sig int) bool {
	if sig <= 0 || sig >= sigMax {
		return false
	}
	switch syscall.Signal(sig) {
	case syscall.SIGKILL, syscall.SIGSTOP, syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL,
		syscall.SIGTRAP, syscall.SIGABRT, syscall.SIGSYS, syscall.SIGURG, syscall.SIGPROF:
		return false
	}
	if runtime.GOOS == "linux" && (sig == 32 || sig == 33) {
		return false
	}
	return true
}

// ArmSignal makes a signal schedule for signal sig, armed: from now on
// each delivery of sig to the process publishes one expiration of it (see
// above). tag is the consumer's, handed back in each Expiration. ErrRange
// if sig is not Catchable.
func (q *Queue) ArmSignal(sig int, tag uintptr) (ID, error) {
	if !Catchable(sig) {
		return 0, ErrRange
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	s := q.run.alloc()
	t := q.run.t.at(s)
	t.id, t.tag, t.flags = q.nextSeq(), tag, fLive|fSignal|fStopped
	t.left = -1 // never ends; period 0
	if q.sigs.of == nil {
		q.sigs.of, q.sigs.armed = map[int32]int{}, map[int][]int32{}
	}
	q.sigs.of[s] = sig
	q.sigs.n++
	q.sigOn(s)
	return makeID(s, t.id), nil
}

// Signal returns the signal of signal schedule id, and whether id names
// one (alive: armed or stopped).
func (q *Queue) Signal(id ID) (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.slot(id)
	if !ok || q.run.t.at(s).flags&fSignal == 0 {
		return 0, false
	}
	return q.sigs.of[s], true
}

// Signals returns how many signal schedules the queue holds (armed or
// stopped); Timers counts them too.
func (q *Queue) Signals() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sigs.n
}

// sigOn arms signal schedule s (stopped) for its signal. q.mu must be held.
func (q *Queue) sigOn(s int32) {
	t := q.run.t.at(s)
	if t.flags&fStopped == 0 {
		return
	}
	t.flags &^= fStopped
	sig := q.sigs.of[s]
	q.sigs.armed[sig] = append(q.sigs.armed[sig], s)
	if len(q.sigs.armed[sig]) == 1 {
		router.add(sig, q)
	}
}

// sigOff disarms slot s if it is an armed signal schedule: it catches no
// more deliveries (its record, if any, is the caller's to withdraw).
// Nothing for a timer. q.mu must be held.
func (q *Queue) sigOff(s int32) {
	t := q.run.t.at(s)
	if t.flags&fSignal == 0 || t.flags&fStopped != 0 {
		return
	}
	t.flags |= fStopped
	sig := q.sigs.of[s]
	a := q.sigs.armed[sig]
	for i, x := range a {
		if x == s {
			a = append(a[:i], a[i+1:]...)
			break
		}
	}
	if len(a) == 0 {
		delete(q.sigs.armed, sig)
		router.remove(sig, q)
	} else {
		q.sigs.armed[sig] = a
	}
}

// sigRelease forgets slot s if it is a signal schedule (Destroy), after
// sigOff. q.mu must be held.
func (q *Queue) sigRelease(s int32) {
	if q.run.t.at(s).flags&fSignal == 0 {
		return
	}
	delete(q.sigs.of, s)
	q.sigs.n--
}

// sigRestart is Restart for signal schedule s: a stopped one catches
// again; an armed one keeps what it has published. A period is no part of
// a signal schedule (ErrRange). There is no due time: it returns MaxInt64.
// q.mu must be held.
func (q *Queue) sigRestart(s int32, period int64) (int64, int64, error) {
	if period >= 0 {
		return 0, 0, ErrRange
	}
	q.sigOn(s)
	q.update()
	return math.MaxInt64, 0, nil
}

// sigClose stops every signal schedule of the queue (Close). q.mu must be
// held.
func (q *Queue) sigClose() {
	for sig := range q.sigs.armed {
		router.remove(sig, q)
	}
	q.sigs = sigSet{}
}

// deliverSignal is one delivery of sig to the process: one expiration of
// each of the queue's armed schedules of sig, due now, published at once.
func (q *Queue) deliverSignal(sig int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	a := q.sigs.armed[sig]
	if len(a) == 0 {
		return // stopped or destroyed since the router looked
	}
	now := q.clk.Now()
	for _, s := range a {
		q.publish(s, now, 1, 0, now)
	}
	q.signal(true)
	q.cond.Broadcast()
}

// sigRouter passes each signal the process receives to the queues that
// have a schedule armed for it.
type sigRouter struct {
	mu      sync.Mutex
	ch      chan os.Signal
	queues  [sigMax]map[*Queue]struct{} // under mu
	snap    [sigMax]atomic.Pointer[[]*Queue]
	started bool
	// notify and reset are signal.Notify and signal.Reset (tests count
	// the calls).
	notify func(c chan<- os.Signal, sig ...os.Signal)
	reset  func(sig ...os.Signal)
}

// router is the process's: signals are process-wide. It holds, per
// signal, the queues that catch it, nothing of a Lua universe.
var router = &sigRouter{notify: signal.Notify, reset: signal.Reset}

// sigBuffer is the router channel's room: os/signal drops what does not
// fit (Go's runtime has merged repeats of a signal before that already).
const sigBuffer = 256

// add: queue q has its first armed schedule of sig. Called with q.mu held
// (the router never takes a queue's mutex while it holds its own).
func (r *sigRouter) add(sig int, q *Queue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.started = true
		r.ch = make(chan os.Signal, sigBuffer)
		go r.loop(r.ch)
	}
	m := r.queues[sig]
	if m == nil {
		m = map[*Queue]struct{}{}
		r.queues[sig] = m
	}
	m[q] = struct{}{}
	r.publishLocked(sig)
	if len(m) == 1 {
		r.notify(r.ch, syscall.Signal(sig))
	}
}

// remove: queue q has no armed schedule of sig left. Called with q.mu
// held.
func (r *sigRouter) remove(sig int, q *Queue) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.queues[sig]
	if _, ok := m[q]; !ok {
		return
	}
	delete(m, q)
	r.publishLocked(sig)
	if len(m) == 0 {
		r.reset(syscall.Signal(sig))
	}
}

// publishLocked makes the list of queues of sig the router loop reads.
// r.mu must be held.
func (r *sigRouter) publishLocked(sig int) {
	list := make([]*Queue, 0, len(r.queues[sig]))
	for q := range r.queues[sig] {
		list = append(list, q)
	}
	r.snap[sig].Store(&list)
}

// caught returns how many queues catch sig now.
func (r *sigRouter) caught(sig int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queues[sig])
}

// loop is the router's goroutine: each signal goes to the queues that
// catch it at that moment (a queue that stopped catching it since looks
// again under its own mutex and drops it).
func (r *sigRouter) loop(ch <-chan os.Signal) {
	for s := range ch {
		if sig, ok := s.(syscall.Signal); ok {
			r.deliver(int(sig))
		}
	}
}

// deliver hands one delivery of sig to every queue that catches it.
func (r *sigRouter) deliver(sig int) {
	if sig <= 0 || sig >= sigMax {
		return
	}
	p := r.snap[sig].Load()
	if p == nil {
		return
	}
	for _, q := range *p {
		q.deliverSignal(sig)
	}
}

package queue

import (
	"errors"
	"math"
	"sync"
	"time"
)

// Notifier is told when the queue's pending state goes from nothing
// pending to something pending (Set) and back (Clear). Both are called
// with the queue's mutex held and must not call back into the queue.
type Notifier interface {
	Set()
	Clear()
}

// DueNotifier is a Notifier that is also told, with the queue's mutex
// held, each time the earliest due time of the timers the queue runs and
// has not published changes (math.MaxInt64: none): a consumer may sleep
// until then without asking the queue (the Lua binding reads it from
// memory). It must not call back into the queue.
type DueNotifier interface {
	Notifier
	NextDue(due int64)
}

// Errors returned by the queue's methods.
var (
	ErrClosed   = errors.New("queue closed")
	ErrExists   = errors.New("timer id already held")
	ErrRange    = errors.New("invalid schedule")
	ErrNotFound = errors.New("no such timer")
)

// Queue holds the timers of one Lua universe (or of any Go consumer).
type Queue struct {
	mu     sync.Mutex
	cond   sync.Cond // consumers: something published, the pending state changed, closed
	notify Notifier
	dueN   DueNotifier // notify, if it is one
	told   int64       // the due time dueN was last told
	clk    Clock
	closed bool
	set    bool // what the Notifier was last told: something is pending
	// passive: the consumer takes what is due itself (TakeAhead) and
	// sleeps until NextDue on its own; the clock goroutine then sleeps
	// until poked instead of waking for every expiration (SetPassive).
	passive bool

	// Timers the queue runs (Arm): its clock goroutine takes their due
	// expirations and publishes them in ready.
	run engine
	seq uint64 // the last order id Arm gave (sched.id; nextSeq)

	sigs sigSet // the signal schedules (signal.go)

	// ready holds the published expirations, ready[rhead:] not yet taken,
	// in (due, id) order; a timer has at most one record there, which
	// counts all of its published expirations (Count 0: withdrawn).
	// Positions are absolute: ready[i] is at rbase+i.
	ready  []readyRec
	rhead  int
	rbase  uint32
	nready int   // live records
	readyN int64 // their counts

	// The clock goroutine: it sleeps until sleepUntil (MaxInt64: until a
	// poke) and ticks once per wake-up; ticks counts them (Sync).
	poke       chan struct{}
	sleepUntil int64
	ticks      uint64
	ticked     sync.Cond
	done       chan struct{}
}

// Flags of a timer the queue runs (sched.flags).
const (
	fReady   = 1 << iota // it has a record in ready, at rpos
	fStopped             // stopped: alive, not held, nothing published
	fFired               // a one-off whose expiration is published: released once taken
	fLive                // the slot is alive (Arm to release)
)

// New returns an empty queue on Go's monotonic clock (Now counts from
// New). n may be nil.
func New(n Notifier) *Queue {
	return NewClock(n, &realClock{epoch: time.Now()})
}

// NewClock returns an empty queue on clock c (see ManualClock). n may be
// nil.
func NewClock(n Notifier, c Clock) *Queue {
	q := &Queue{
		notify:     n,
		clk:        c,
		run:        newEngine(),
		poke:       make(chan struct{}, 1),
		sleepUntil: math.MaxInt64,
		told:       math.MaxInt64,
		done:       make(chan struct{}),
	}
	q.dueN, _ = n.(DueNotifier)
	q.cond.L = &q.mu
	q.ticked.L = &q.mu
	go q.loop()
	return q
}

// Now returns the queue's clock. Expiration times are readings
// of it.
func (q *Queue) Now() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.clk.Now()
}

// Close forgets every timer and stops the clock goroutine; it returns once
// the goroutine has ended. Later calls do nothing (Return and Arm return
// ErrClosed), and the Notifier hears nothing more. Close is idempotent.
func (q *Queue) Close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return
	}
	q.closed = true
	q.sigClose()
	q.signal(false)
	q.run = newEngine()
	q.ready, q.rhead, q.nready, q.readyN = nil, 0, 0, 0
	q.cond.Broadcast()
	q.ticked.Broadcast()
	q.pokeLocked()
	q.mu.Unlock()
	<-q.done
}

// loop is the clock goroutine: it decides every expiration of the timers
// the queue runs (tick), tells the Notifier and the waiting consumers, and
// sleeps until the next one is due or a change pokes it.
func (q *Queue) loop() {
	defer close(q.done)
	q.mu.Lock()
	for !q.closed {
		q.sleepUntil = q.tick(q.clk.Now())
		q.ticks++
		q.ticked.Broadcast()
		until, clk := q.sleepUntil, q.clk // SetVirtual swaps q.clk (and pokes)
		q.mu.Unlock()
		clk.Sleep(until, q.poke)
		q.mu.Lock()
	}
	q.mu.Unlock()
}

// tick is the one place that decides expirations: every timer the queue
// runs whose next expiration is due at now gives all of its due
// expirations (backlog and main part, back to back, counted) to one
// record, in (key, id) order; a timer that already has a record not yet
// taken adds to its count. It returns when the clock goroutine must look
// again (MaxInt64: only on a poke). q.mu must be held.
func (q *Queue) tick(now int64) int64 {
	published := false
	for {
		s, t, ok := q.firstBy(now)
		if !ok {
			break
		}
		first := q.run.key(t, s)
		bl, mainFirst := int64(0), t.due
		if d, l := q.run.backlog(s); l != 0 && d <= now {
			bl = l
		}
		n, over := q.run.takeDue(s, now)
		q.publish(s, first, n, bl, mainFirst)
		if over {
			t.flags |= fFired
		}
		published = true
	}
	q.signal(q.pendingNow(now))
	q.tellDue()
	if published {
		q.cond.Broadcast()
	}
	return q.nextWake(now)
}

// firstBy returns the run timer whose next expiration comes first, if it
// is due by limit. q.mu must be held.
func (q *Queue) firstBy(limit int64) (int32, *sched, bool) {
	s := q.run.top()
	if s < 0 {
		return -1, nil, false
	}
	t := q.run.t.at(s)
	return s, t, q.run.key(t, s) <= limit
}

// readyRec is a published record and what it counts: bl expirations of
// its timer's backlog due at Due, then the rest of them every period from
// first (its main part). It lives only while published, so the timer's
// schedule (sched) does not carry these two words.
type readyRec struct {
	Expiration
	bl, first int64
}

// publish adds n expirations of run timer s, the first due at first, to
// its record: bl of its backlog, then the rest of its main part from
// mainFirst. q.mu must be held.
func (q *Queue) publish(s int32, first, n, bl, mainFirst int64) {
	t := q.run.t.at(s)
	q.readyN += n
	if t.flags&fReady != 0 {
		r := &q.ready[int(t.rpos-q.rbase)]
		if r.Count == r.bl && n > bl {
			r.first = mainFirst
		}
		r.bl = addSat(r.bl, bl)
		r.Count = addSat(r.Count, n)
		return
	}
	t.flags |= fReady
	t.rpos = q.rbase + uint32(len(q.ready))
	q.ready = append(q.ready, readyRec{Expiration{ID: makeID(s, t.id), Tag: t.tag, Due: first, Count: n, Seq: t.id}, bl, mainFirst})
	q.nready++
}

// withdraw drops run timer s's record, if it has one. q.mu must be held.
func (q *Queue) withdraw(s int32) {
	t := q.run.t.at(s)
	if t.flags&fReady == 0 {
		return
	}
	r := &q.ready[int(t.rpos-q.rbase)]
	q.readyN -= r.Count
	r.Count = 0
	q.nready--
	t.flags &^= fReady
}

// pendingNow reports whether something is pending: a published
// expiration. q.mu must be held.
func (q *Queue) pendingNow(now int64) bool {
	_ = now
	return q.nready > 0
}

// nextWake is when the clock goroutine must look next: the next
// expiration of a run timer.
func (q *Queue) nextWake(now int64) int64 {
	_ = now
	if q.passive {
		return math.MaxInt64
	}
	return q.run.nextDue()
}

// update follows a change made by a method: the Notifier hears what is
// pending now, and the clock goroutine is poked if something is due
// before it would look. q.mu must be held.
func (q *Queue) update() {
	if q.closed {
		return
	}
	now := q.clk.Now()
	q.signal(q.pendingNow(now))
	q.tellDue()
	if next := q.nextWake(now); next < q.sleepUntil {
		q.sleepUntil = next
		q.pokeLocked()
	}
}

// tellDue tells the DueNotifier the earliest due time of the run timers
// when it changed. q.mu must be held.
func (q *Queue) tellDue() {
	if q.dueN == nil {
		return
	}
	if d := q.run.nextDue(); d != q.told {
		q.told = d
		q.dueN.NextDue(d)
	}
}

func (q *Queue) pokeLocked() {
	select {
	case q.poke <- struct{}{}:
	default:
	}
}

// signal sets or clears the Notifier on a change. q.mu must be held.
func (q *Queue) signal(p bool) {
	if p == q.set {
		return
	}
	q.set = p
	if p {
		if q.notify != nil {
			q.notify.Set()
		}
		q.cond.Broadcast()
	} else if q.notify != nil {
		q.notify.Clear()
	}
}

// Sync returns once the clock goroutine has looked at the clock after
// Sync was called: with a ManualClock, everything due at its reading is
// then decided.
func (q *Queue) Sync() {
	q.mu.Lock()
	defer q.mu.Unlock()
	g := q.ticks
	q.pokeLocked()
	for q.ticks == g && !q.closed {
		q.ticked.Wait()
	}
}

// Pending returns the number of expirations that will run: those
// published and not taken, those of run timers due and not yet published,
// and the due expirations of the returned timers (lent ones are the
// consumer's to count).
func (q *Queue) Pending() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clk.Now()
	if q.dueN != nil { // publish what is due: the Notifier's fd agrees with the count
		q.tick(now)
	}
	return addSat(q.readyN, q.run.pending(now))
}

// Timers returns how many timers the queue holds: the ones it runs
// and has not released (a stopped one counts until destroyed; a one-off
// until its expiration is taken).
func (q *Queue) Timers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.run.live
}

// NextDue returns when the earliest timer the queue holds is due (its
// key), and whether it holds any.
func (q *Queue) NextDue() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := q.run.nextDue()
	return k, k != math.MaxInt64
}

// Wait blocks until something is pending, the queue is closed, or timeout
// passes (timeout < 0 waits without limit). It reports whether something
// is pending. The Lua binding waits on the Notifier's file descriptor
// instead.
func (q *Queue) Wait(timeout time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.set || q.closed || timeout == 0 {
		return q.set
	}
	expired := false
	if timeout > 0 {
		t := time.AfterFunc(timeout, func() {
			q.mu.Lock()
			expired = true
			q.cond.Broadcast()
			q.mu.Unlock()
		})
		defer t.Stop()
	}
	for !q.set && !q.closed && !expired {
		q.cond.Wait()
	}
	return q.set
}

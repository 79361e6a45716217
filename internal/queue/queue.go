package queue

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Notifier is told when the queue's pending state goes from nothing
// pending to something pending (Set) and back (Clear). Both are called
// with the queue's mutex held and must not call back into the queue.
type Notifier interface {
	Set()
	Clear()
}

// Errors returned by Return.
var (
	ErrClosed = errors.New("queue closed")
	ErrExists = errors.New("timer id already held")
	ErrRange  = errors.New("invalid schedule")
)

// Queue holds the timers of one Lua universe.
type Queue struct {
	mu       sync.Mutex
	nonEmpty sync.Cond
	notify   Notifier
	closed   bool
	set      bool // what the Notifier was last told: something is pending

	epoch time.Time
	// clock, when set (tests), replaces the real clock; the runtime timer
	// is then not used, and the test calls fire itself.
	clock func() int64

	// The timers the queue holds: the heap orders them by Key, byID finds
	// them for LendID.
	byID map[uint64]*timer
	heap timerHeap
	// The runtime timer that wakes the queue when the earliest timer falls
	// due; schedAt is the Key it is set for (-1: not set).
	sched       *time.Timer
	schedAt     int64
	fireWaiting atomic.Bool // a fire goroutine is waiting for mu (see fire)
}

// New returns an empty queue. n may be nil.
func New(n Notifier) *Queue {
	q := &Queue{
		notify:  n,
		epoch:   time.Now(),
		byID:    make(map[uint64]*timer),
		schedAt: -1,
	}
	q.nonEmpty.L = &q.mu
	return q
}

func (q *Queue) now() int64 {
	if q.clock != nil {
		return q.clock()
	}
	return int64(time.Since(q.epoch))
}

// Now returns the queue's clock: monotonic ns since New. Entry times are
// readings of it.
func (q *Queue) Now() int64 { return q.now() }

// Close forgets every timer. Later calls do nothing (Return returns
// ErrClosed), and the Notifier hears nothing more. Close is idempotent and
// may run while the runtime timer fires.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	if q.sched != nil {
		q.sched.Stop()
	}
	q.byID, q.heap = nil, nil
	q.signal(false)
	q.nonEmpty.Broadcast()
}

// pendingNow reports whether a timer's next expiration is due. q.mu must
// be held.
func (q *Queue) pendingNow(now int64) bool {
	return len(q.heap) > 0 && q.heap[0].Key() <= now
}

// update tells the Notifier what is pending now and points the runtime
// timer at the next timer to fall due while nothing is. Every change of
// the timers ends with it. q.mu must be held.
func (q *Queue) update() {
	if q.closed {
		return
	}
	now := q.now()
	p := q.pendingNow(now)
	q.signal(p)
	if p || len(q.heap) == 0 || q.clock != nil {
		return // a stale wake-up finds nothing to do
	}
	due := q.heap[0].Key()
	if due == q.schedAt {
		return
	}
	q.schedAt = due
	d := time.Duration(due - now)
	if q.sched == nil {
		q.sched = time.AfterFunc(d, q.fire)
	} else {
		q.sched.Reset(d)
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
		q.nonEmpty.Broadcast()
	} else if q.notify != nil {
		q.notify.Clear()
	}
}

// fire runs on the runtime timer when the earliest timer falls due.
//
// At most one fire waits for the lock: a later one returns at once, since
// the waiting one reads the clock after it gets the lock, which is after
// the later one's due time. Without this, tens of thousands of short
// timers on a loaded machine piled up a goroutine per expiry in front of
// the mutex, and every call of the Lua thread waited behind all of them.
func (q *Queue) fire() {
	if q.fireWaiting.Swap(true) {
		return
	}
	q.mu.Lock()
	q.fireWaiting.Store(false)
	defer q.mu.Unlock()
	q.schedAt = -1
	q.update()
}

// Pending returns the number of callbacks that would run if the consumer
// took everything due now: the due expirations of the timers the queue
// holds (lent timers are the consumer's to count).
func (q *Queue) Pending() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.timersDue(q.now())
}

// timersDue sums the due expirations of the held timers, visiting only
// the part of the heap whose keys are due. q.mu must be held.
func (q *Queue) timersDue(now int64) int64 {
	var n int64
	var walk func(i int)
	walk = func(i int) {
		if i >= len(q.heap) || q.heap[i].Key() > now {
			return
		}
		n += q.heap[i].DueCount(now)
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	return n
}

// Wait blocks until something is pending, the queue is closed, or timeout
// passes (timeout < 0 waits without limit). It reports whether something
// is pending. It is the condition-variable side of the queue, for a Go
// consumer; the Lua binding waits on the Notifier's file descriptor.
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
			q.nonEmpty.Broadcast()
			q.mu.Unlock()
		})
		defer t.Stop()
	}
	for !q.set && !q.closed && !expired {
		q.nonEmpty.Wait()
	}
	return q.set
}

package queue

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Slot is one callback invocation handed to the consumer by Take. Its
// layout (32 bytes) matches struct lmk_slot in the C shim.
type Slot struct {
	ID     uint64  // timer id; for a producer item, its waiter id (0: none)
	Flags  uint32  // FlagLast, FlagItem, FlagWait
	PID    uint32  // producer id (items)
	Item   uintptr // the producer's item (items)
	Cookie uintptr // the producer's handle (items)
}

// Slot flags.
const (
	// FlagLast marks the slot of a one-off timer's expiration: after it no
	// event of that timer can ever be queued, so the consumer releases what
	// it holds for the timer once the slot has run.
	FlagLast uint32 = 1 << iota
	// FlagItem marks a producer's item.
	FlagItem
	// FlagWait marks an item whose producer thread waits for ItemDone.
	FlagWait
)

// Notifier is told when the queue's pending count goes from zero to
// non-zero (Set) and back to zero (Clear). Both are called with the queue's
// mutex held and must not call back into the queue.
type Notifier interface {
	Set()
	Clear()
}

// Errors returned by the timer operations.
var (
	ErrClosed   = errors.New("queue closed")
	ErrExists   = errors.New("timer id already in use")
	ErrNotFound = errors.New("no such timer")
	ErrFired    = errors.New("one-off timer has already fired")
	ErrRange    = errors.New("duration out of range")
)

// State of a timer as reported by State.
const (
	StateNone    = iota // unknown id: destroyed, or a one-off whose event was taken
	StateArmed          // waiting for its next expiration
	StateStopped        // stopped; Start re-arms it
	StateFired          // one-off that has expired; its event is queued
)

type timerState uint8

const (
	tArmed timerState = iota
	tStopped
	tFired // one-off expired, record queued
	tDead  // cancelled or fully taken
)

type timer struct {
	id     uint64
	delay  int64 // ns until the first expiration
	period int64 // ns between expirations; 0 for a one-off
	start  int64 // schedule origin, ns since the queue's epoch
	due    int64 // next expiration
	k      int64 // expirations scheduled so far
	hidx   int   // index in the heap, -1 when not in it
	state  timerState
	lent   bool   // lent to the consumer (Lend): out of the heap until Reclaim
	gen    uint32 // bumped on stop/cancel: older records are stale
	// queued counts expirations waiting in the ring; records counts the
	// ring records of the current generation that point here.
	queued    int
	records   int
	hasTail   bool
	tailEpoch uint64 // the drain epoch its tail record belongs to
	tail      uint64 // ring position of the record that takes new expirations
}

// record is one ring entry: a timer's expirations (t != nil, n of them,
// stale once t.gen moves on), a run of one-off expirations (once: the
// timers with ids val .. val+n-1, each expiring once; see pushOnce) or
// one producer item (p != nil, the item in val, stale once n drops to 0).
// A one-off's record names its timers by id only, so that Take never
// reads a timer it hands out: drop makes a one-off's lone record stale by
// setting n to 0, and marks its id in a longer run as a hole.
type record struct {
	t    *timer
	p    *producer
	w    *waiter
	val  uint64
	gen  uint32
	once bool
	n    int
}

func (r *record) isStale() bool {
	if r.t != nil {
		return r.gen != r.t.gen
	}
	return r.n == 0
}

// Queue is the event queue and timer set of one Lua universe.
type Queue struct {
	mu       sync.Mutex
	nonEmpty sync.Cond
	notify   Notifier
	closed   bool

	// ring of records at absolute positions [head, head+size); positions
	// start at 1<<32 so that PutBack can go below the first one and 0 is
	// never a position
	ring       []record
	head       uint64
	size       int
	drainEpoch uint64 // drain epoch (Drain)

	pending int // expirations and items in live records
	stale   int // records of stopped or cancelled timers and withdrawn items not yet dropped, plus holes

	// runPos is the ring position of the last run of one-offs begun, in
	// drain epoch runEpoch: a one-off expiring next to it joins it.
	runPos   uint64
	runEpoch uint64
	// holes counts, per id, the dropped one-offs still inside runs (see
	// drop); Take skips as many occurrences of the id, oldest first.
	holes map[uint64]int

	timers idTable
	heap   timerHeap
	epoch  time.Time
	sched  *time.Timer
	// fireWaiting: a fire goroutine is waiting for mu (see fire)
	fireWaiting atomic.Bool
	schedAt     int64 // due time sched is set for; -1 when not set
	waiting     bool  // the consumer keeps time (BeginWait .. EndWait)
	waitDue     int64 // when the waiting consumer wakes for the timers
	// consumerClock lets the consumer keep time between its waits too
	// (SetConsumerClock); lazy is set while it does: the runtime timer is
	// off and expirations due are queued when the consumer looks.
	consumerClock bool
	lazy          bool

	producers  map[uint32]*producer
	waiters    map[uint64]*waiter
	lastPID    uint32
	lastWaiter uint64
}

// New returns an empty queue. n may be nil.
func New(n Notifier) *Queue {
	q := &Queue{
		notify:    n,
		ring:      make([]record, 16),
		head:      1 << 32,
		producers: make(map[uint32]*producer),
		waiters:   make(map[uint64]*waiter),
		epoch:     time.Now(),
		schedAt:   -1,
	}
	q.nonEmpty.L = &q.mu
	return q
}

func (q *Queue) now() int64 { return int64(time.Since(q.epoch)) }

// Now returns the queue's clock: monotonic ns since New. ArmReq.At is a
// reading of it.
func (q *Queue) Now() int64 { return q.now() }

// Close stops every timer, drops every queued event, unregisters every
// producer and releases every waiting producer thread with
// StatusCancelled. It returns the slots of the plain (not waited-for)
// items it dropped, whose producers' cancel functions the caller runs.
// Later calls on the queue do nothing (Arm returns ErrClosed). Close is
// idempotent and may run while timers fire.
func (q *Queue) Close() []Slot {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	if q.sched != nil {
		q.sched.Stop()
	}
	var dropped []Slot
	for i := 0; i < q.size; i++ {
		r := q.at(q.head + uint64(i))
		if r.p != nil && r.n > 0 && r.w == nil {
			dropped = append(dropped, itemSlot(r))
		}
	}
	for _, w := range q.waiters {
		w.finish(StatusCancelled)
	}
	for _, p := range q.producers {
		p.closed = true
	}
	q.setPending(0)
	q.ring, q.size, q.stale, q.holes = nil, 0, 0, nil
	q.timers, q.heap, q.producers, q.waiters = idTable{}, nil, nil, nil
	q.nonEmpty.Broadcast()
	return dropped
}

// Pending returns the number of expirations that will run a callback.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.catchUp()
	return q.pending
}

// InQueue returns Pending plus the stale records of stopped or cancelled
// timers that the next Take drops without running anything.
func (q *Queue) InQueue() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.catchUp()
	return q.pending + q.stale
}

// Timers returns the number of timers the queue still tracks: armed,
// stopped, or fired one-offs whose event has not been taken.
func (q *Queue) Timers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.timers.len()
}

// Wait blocks until an event is pending, the queue is closed, or timeout
// passes (timeout < 0 waits without limit). It reports whether an event is
// pending.
func (q *Queue) Wait(timeout time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pending > 0 || q.closed || timeout == 0 {
		return q.pending > 0
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
	for q.pending == 0 && !q.closed && !expired {
		q.nonEmpty.Wait()
	}
	return q.pending > 0
}

// setPending changes the pending count and signals the 0 <-> non-zero
// transitions. q.mu must be held.
func (q *Queue) setPending(n int) {
	was := q.pending
	q.pending = n
	switch {
	case was == 0 && n > 0:
		if q.notify != nil {
			q.notify.Set()
		}
		q.nonEmpty.Broadcast()
	case was > 0 && n == 0:
		if q.notify != nil {
			q.notify.Clear()
		}
	}
}

// ring helpers; q.mu must be held.

func (q *Queue) at(pos uint64) *record { return &q.ring[pos&uint64(len(q.ring)-1)] }

func (q *Queue) grow() {
	if q.size < len(q.ring) {
		return
	}
	nr := make([]record, 2*len(q.ring))
	for i := 0; i < q.size; i++ {
		pos := q.head + uint64(i)
		nr[pos&uint64(len(nr)-1)] = *q.at(pos)
	}
	q.ring = nr
}

// pushBack adds n expirations of t, coalescing into t's tail record if
// that was queued since the last Drain (so that a drain never runs
// expirations queued after it began, and never lets them overtake events
// queued before).
func (q *Queue) pushBack(t *timer, n int) {
	if t.period == 0 {
		q.pushOnce(t)
		return
	}
	if t.hasTail && t.tailEpoch == q.drainEpoch {
		q.at(t.tail).n += n
	} else {
		q.grow()
		pos := q.head + uint64(q.size)
		*q.at(pos) = record{t: t, gen: t.gen, n: n, val: t.id}
		q.size++
		t.hasTail, t.tail, t.tailEpoch = true, pos, q.drainEpoch
		t.records++
	}
	t.queued += n
	q.setPending(q.pending + n)
}

// pushOnce queues a one-off's only expiration. When the ring's last record
// is a run of one-offs begun since the last Drain and ending at t.id - 1,
// t joins it: timers armed in a row with the same delay then fire into a
// single record, which Take turns into slots without a memory access per
// timer.
func (q *Queue) pushOnce(t *timer) {
	pos := q.head + uint64(q.size) - 1
	if q.size > 0 && pos == q.runPos && q.runEpoch == q.drainEpoch && q.joins(q.at(pos), t.id) {
		q.at(pos).n++
	} else {
		q.grow()
		pos = q.head + uint64(q.size)
		*q.at(pos) = record{once: true, val: t.id, n: 1}
		q.size++
		q.runPos, q.runEpoch = pos, q.drainEpoch
	}
	t.hasTail, t.tail, t.tailEpoch = true, pos, q.drainEpoch
	t.records++
	t.queued++
	q.setPending(q.pending + 1)
}

// joins reports whether the one-off id may join the run r.
func (q *Queue) joins(r *record, id uint64) bool {
	return r.once && r.n > 0 && r.val+uint64(r.n) == id
}

// popFront drops the head record.
func (q *Queue) popFront() {
	r := q.at(q.head)
	switch {
	case r.isStale():
		q.stale--
	case r.once: // Take takes runs itself
	case r.t != nil:
		t := r.t
		t.records--
		if t.hasTail && t.tail == q.head {
			t.hasTail = false
		}
	default:
		r.p.queued--
	}
	*r = record{}
	q.head++
	q.size--
}

// Drain begins a drain: it returns the ring position that bounds the
// events queued so far. TakeBefore with that limit takes only those events,
// whatever is queued meanwhile (new expirations of a timer go to a new
// record after the limit instead of joining the old one).
func (q *Queue) Drain() (limit uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.drainLocked()
}

func (q *Queue) drainLocked() uint64 {
	q.catchUp()
	q.drainEpoch++
	return q.head + uint64(q.size)
}

// Take begins a drain and takes from it (Drain, then TakeBefore) under one
// lock; it also returns how many events were pending when the drain
// began, all of which it takes if buf has room.
func (q *Queue) Take(buf []Slot) (n, before int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit := q.drainLocked()
	before = q.pending
	return q.takeBeforeLocked(buf, limit), before
}

// TakeBefore moves up to len(buf) pending events queued before limit (see
// Drain), oldest first, into buf and returns how many it wrote. An
// expiration counted n times fills n consecutive slots. A one-off timer's
// slot carries FlagLast, and the queue forgets the timer. A producer item
// fills one slot with FlagItem (and FlagWait if a thread waits for it).
func (q *Queue) TakeBefore(buf []Slot, limit uint64) (n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeBeforeLocked(buf, limit)
}

func (q *Queue) takeBeforeLocked(buf []Slot, limit uint64) (n int) {
	q.catchUp()
	taken := 0
	for n < len(buf) && q.size > 0 && q.head < limit {
		r := q.at(q.head)
		if r.isStale() {
			q.popFront()
			continue
		}
		if r.once {
			k := r.n
			if room := len(buf) - n; k > room {
				k = room
			}
			got := q.takeRun(buf[n:], r.val, k)
			n += got
			taken += got
			r.val += uint64(k)
			r.n -= k
			if r.n == 0 {
				*r = record{}
				q.head++
				q.size--
			}
			continue
		}
		if r.p != nil {
			buf[n] = itemSlot(r)
			if r.w != nil {
				r.w.state = wTaken
			}
			n++
			taken++
			q.popFront()
			continue
		}
		t := r.t
		k := r.n
		if room := len(buf) - n; k > room {
			k = room
		}
		for i := 0; i < k; i++ {
			buf[n] = Slot{ID: t.id}
			n++
		}
		r.n -= k
		t.queued -= k
		taken += k
		if r.n == 0 {
			// popFront, for a live timer record
			t.records--
			if t.hasTail && t.tail == q.head {
				t.hasTail = false
			}
			*r = record{}
			q.head++
			q.size--
		}
	}
	if taken > 0 {
		q.setPending(q.pending - taken)
	}
	return n
}

// takeRun hands out the one-offs with ids id .. id+k-1 of a run, skipping
// holes, and forgets their timers without reading them (a burst of
// thousands then costs no cache miss per timer). Returns the slots
// written.
func (q *Queue) takeRun(buf []Slot, id uint64, k int) int {
	if len(q.holes) == 0 {
		for i := range buf[:k] {
			buf[i] = Slot{ID: id + uint64(i), Flags: FlagLast}
		}
		q.timers.delRange(id, k)
		return k
	}
	n := 0
	for end := id + uint64(k); id < end; id++ {
		if c, ok := q.holes[id]; ok {
			if c == 1 {
				delete(q.holes, id)
			} else {
				q.holes[id] = c - 1
			}
			q.stale--
			continue
		}
		buf[n] = Slot{ID: id, Flags: FlagLast}
		n++
		q.timers.del(id)
	}
	return n
}

// PutBack returns slots that Take handed out but that were not run to the
// head of the queue, in their order, so the next Take yields them first.
// Slots of timers cancelled since are dropped, except a one-off's FlagLast
// slot, which revives the one-off (the consumer still holds it). Items of
// producers unregistered since are dropped: waiters are released with
// StatusCancelled, and the plain items are returned for the caller to
// cancel.
func (q *Queue) PutBack(slots []Slot) (dropped []Slot) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	for end := len(slots); end > 0; {
		s := slots[end-1]
		if s.Flags&FlagItem != 0 {
			end--
			q.putBackItem(s, &dropped)
			continue
		}
		last := s.Flags&FlagLast != 0
		beg := end - 1
		for beg > 0 && slots[beg-1].ID == s.ID && slots[beg-1].Flags&(FlagLast|FlagItem) == 0 {
			beg--
		}
		n := end - beg
		end = beg
		t := q.timers.get(s.ID)
		if t == nil {
			if !last {
				continue // cancelled since it was taken
			}
			t = &timer{id: s.ID, hidx: -1, state: tFired}
			q.timers.put(s.ID, t)
		}
		if t.state == tStopped {
			continue
		}
		q.grow()
		q.head--
		q.runPos = 0 // no run to join at the tail any more
		if last && t.period == 0 {
			n = 1
			*q.at(q.head) = record{once: true, val: t.id, n: 1}
			t.hasTail, t.tail = true, q.head // where drop finds it
		} else {
			*q.at(q.head) = record{t: t, gen: t.gen, n: n, val: t.id}
		}
		q.size++
		t.records++
		t.queued += n
		q.setPending(q.pending + n)
	}
	return dropped
}

// Arm adds a timer with the given id. Its first expiration comes after
// delay; with period > 0 it then expires every period on the absolute
// schedule delay + k*period; with period == 0 it is a one-off.
func (q *Queue) Arm(id uint64, delay, period time.Duration) error {
	if delay < 0 || period < 0 {
		return ErrRange
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	t := &timer{id: id, delay: int64(delay), period: int64(period), hidx: -1}
	if !q.timers.insert(id, t) {
		return ErrExists
	}
	now := q.now()
	q.schedule(t, now, now)
	return nil
}

// ArmReq is one timer of ArmBatch: Arm(ID, Delay, Period) as if called at
// time At of the queue's clock (Now), of which the caller has already run
// K expirations itself (a timer it kept before the queue knew it, see
// Lend). Its layout (five 8-byte fields) is shared with C (lmk_armreq).
type ArmReq struct {
	ID     uint64
	Delay  int64 // ns
	Period int64 // ns; 0 for a one-off
	At     int64 // Now() when the caller decided to arm it
	K      int64 // expirations already run by the caller (a one-off: over, not armed)
}

// ArmBatch arms several timers under one lock. Each is scheduled from the
// moment it was requested (At; a time after the lock was taken counts as
// that time), so a caller that collects arm requests and hands them over
// later keeps every timer's absolute schedule, however long the hand-over
// and the lock took; expirations that fell due in between are queued at
// once, with their full counts, minus the K the caller ran (clamped to
// those due by now). Requests with ID 0 are skipped (withdrawn), and so
// are one-offs with K > 0 (they have run). It arms every valid request and
// returns the first error met (ErrRange, ErrExists), or ErrClosed.
func (q *Queue) ArmBatch(reqs []ArmReq) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	var err error
	now := q.now()
	for i := range reqs {
		r := &reqs[i]
		switch {
		case r.ID == 0 || (r.Period == 0 && r.K > 0):
			continue
		case r.Delay < 0 || r.Period < 0 || r.At < 0 || r.K < 0:
			if err == nil {
				err = ErrRange
			}
			continue
		}
		t := &timer{id: r.ID, delay: r.Delay, period: r.Period, hidx: -1}
		if !q.timers.insert(r.ID, t) {
			if err == nil {
				err = ErrExists
			}
			continue
		}
		q.schedule(t, min(r.At, now), now)
		if r.K > 0 {
			t.k = max(0, min(r.K, (now-t.start)/t.period))
			t.due = t.start + (t.k+1)*t.period
			q.heap.fix(t.hidx)
		}
	}
	if len(q.heap) > 0 && q.heap[0].due <= now {
		q.expire(now) // what fell due since it was requested is queued now
		q.resched(now)
	}
	return err
}

// schedule arms t from at (<= now). q.mu must be held.
func (q *Queue) schedule(t *timer, at, now int64) {
	t.state = tArmed
	t.k = 0
	t.start = at + t.delay - t.period
	t.due = at + t.delay
	if t.period == 0 {
		t.start = at
	}
	q.heap.push(t)
	if t.hidx == 0 {
		q.resched(now)
	}
}

// resched points the runtime timer at the earliest due time, unless the
// consumer, waiting in BeginWait/FireDue, will wake by then anyway.
func (q *Queue) resched(now int64) {
	if len(q.heap) == 0 {
		return // a stale wake-up finds nothing due and costs nothing more
	}
	due := q.heap[0].due
	if q.lazy || (q.waiting && due >= q.waitDue) {
		return
	}
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

// fire runs on the runtime timer: it queues every expiration now due.
//
// At most one fire waits for the lock: a later one returns at once, since
// the waiting one reads the clock after it gets the lock, which is after
// the later one's due time. Without this, a pass slower than the shortest
// period (tens of thousands of short timers on a loaded machine) piled up
// a goroutine per expiry in front of the mutex, and every call of the Lua
// thread waited behind all of them.
func (q *Queue) fire() {
	if q.fireWaiting.Swap(true) {
		return
	}
	q.fireNow(true)
}

// fireNow takes the lock and queues every expiration now due; waiting
// says it runs for a fire that set fireWaiting.
func (q *Queue) fireNow(waiting bool) {
	q.mu.Lock()
	if waiting {
		q.fireWaiting.Store(false)
	}
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	now := q.now()
	q.schedAt = -1
	q.expire(now)
	q.resched(now)
}

// expire queues every expiration due by now. q.mu must be held.
func (q *Queue) expire(now int64) {
	for len(q.heap) > 0 && q.heap[0].due <= now {
		t := q.heap[0]
		n := 1
		if t.period > 0 {
			k := (now - t.start) / t.period // expirations due by now
			n = int(k - t.k)
			t.k = k
			t.due = t.start + (k+1)*t.period
			q.heap.fix(0)
		} else {
			q.heap.remove(0)
			t.state = tFired
		}
		q.pushBack(t, n)
	}
}

// nextLocked returns the delay until the earliest due timer (-1: none)
// and records it as the time the waiting consumer wakes. q.mu must be held.
func (q *Queue) nextLocked(now int64) time.Duration {
	if len(q.heap) == 0 {
		q.waitDue = math.MaxInt64
		return -1
	}
	q.waitDue = q.heap[0].due
	if d := q.waitDue - now; d > 0 {
		return time.Duration(d)
	}
	return 0
}

// BeginWait tells the queue that its consumer is about to block in a wait
// of its own (C's wait() in poll): while it waits, the consumer keeps time.
// The runtime timer is stopped, so no Go thread wakes up for the timers;
// the consumer sleeps until the returned delay (-1: no timer) and then
// calls FireDue. Deliveries and expirations queued by anyone else still
// signal the Notifier. It also reports whether events are pending.
// EndWait ends the wait.
func (q *Queue) BeginWait() (next time.Duration, pending bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return -1, false
	}
	q.waiting = true
	q.lazy = false
	if q.sched != nil && q.schedAt >= 0 {
		q.sched.Stop()
		q.schedAt = -1
	}
	now := q.now()
	q.expire(now)
	return q.nextLocked(now), q.pending > 0
}

// FireDue queues the expirations due now, on the calling (waiting
// consumer's) thread, and returns the next delay and whether events are
// pending.
func (q *Queue) FireDue() (next time.Duration, pending bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return -1, false
	}
	now := q.now()
	q.expire(now)
	return q.nextLocked(now), q.pending > 0
}

// EndWait ends the consumer's wait: the runtime timer keeps time again.
func (q *Queue) EndWait() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || !q.waiting {
		return
	}
	q.waiting = false
	if q.consumerClock {
		q.lazy = true // it will look (Take, Pending, BeginWait) before anyone else
		return
	}
	q.resched(q.now())
}

// SetConsumerClock chooses who keeps time between the consumer's waits.
// Off (the default), EndWait hands time keeping back to the runtime timer,
// so the Notifier fires on time for anyone watching it. On, the runtime
// timer stays off after EndWait: expirations due are queued when the
// consumer next looks (Take, Pending, InQueue, State, BeginWait), with the
// same counts, order and absolute schedule, and no Go thread wakes up for
// the timers at all. Only a consumer that waits through BeginWait and
// nobody else may turn it on; turning it off queues what is due and
// re-arms the runtime timer.
func (q *Queue) SetConsumerClock(on bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.consumerClock = on
	if !on && q.lazy && !q.closed {
		q.lazy = false
		now := q.now()
		q.expire(now)
		q.resched(now)
	}
}

// catchUp queues what is due while the consumer keeps time. q.mu must be
// held.
func (q *Queue) catchUp() {
	if q.lazy && len(q.heap) > 0 {
		if now := q.now(); q.heap[0].due <= now {
			q.expire(now)
		}
	}
}

// drop forgets t's queued expirations. q.mu must be held.
func (q *Queue) drop(t *timer) {
	t.lent = false
	if t.hidx >= 0 {
		q.heap.remove(t.hidx)
	}
	if t.period == 0 && t.hasTail {
		if r := q.at(t.tail); r.n == 1 {
			r.n = 0 // its lone record: stale, and Take never looks at t
		} else {
			if q.holes == nil {
				q.holes = make(map[uint64]int)
			}
			q.holes[t.id]++ // one of a run: Take skips it
		}
	}
	q.stale += t.records
	t.records = 0
	t.hasTail = false
	t.gen++
	q.setPending(q.pending - t.queued)
	t.queued = 0
}

// Cancel stops the timer for good and drops its queued expirations; no
// event of it is queued after Cancel returns. It reports whether the id
// was known.
func (q *Queue) Cancel(id uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.timers.get(id)
	if t == nil {
		return false
	}
	q.drop(t)
	t.state = tDead
	q.timers.del(id)
	return true
}

// Stop disarms the timer and drops its queued expirations; Start re-arms
// it. Stopping a stopped timer does nothing.
func (q *Queue) Stop(id uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.timers.get(id)
	switch {
	case t == nil:
		return ErrNotFound
	case t.state == tFired:
		return ErrFired
	}
	q.drop(t)
	t.state = tStopped
	return nil
}

// Start re-arms the timer from now, with its first expiration one delay
// away, whether it was stopped or armed. Queued expirations are kept.
func (q *Queue) Start(id uint64) error { return q.StartAt(id, math.MaxInt64) }

// StartAt is Start as if called at time at of the queue's clock (Now; a
// time after the lock was taken counts as that time), so that a restart
// keeps the schedule of the moment it was asked for however long the
// caller waited for the lock. Expirations already due are queued at once.
func (q *Queue) StartAt(id uint64, at int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.timers.get(id)
	switch {
	case t == nil:
		return ErrNotFound
	case t.state == tFired:
		return ErrFired
	}
	if t.hidx >= 0 {
		q.heap.remove(t.hidx)
	}
	t.lent = false
	now := q.now()
	q.schedule(t, min(at, now), now)
	if t.due <= now {
		q.expire(now)
		q.resched(now)
	}
	return nil
}

// State reports the timer's state (StateNone for an unknown id).
func (q *Queue) State(id uint64) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.catchUp()
	t := q.timers.get(id)
	if t == nil {
		return StateNone
	}
	switch t.state {
	case tArmed:
		return StateArmed
	case tStopped:
		return StateStopped
	case tFired:
		return StateFired
	}
	return StateNone
}

package queue

import "time"

// Status of a delivery, as returned by Deliver, DeliverWait and passed to
// ItemDone. The values are part of the producer C API (luamockit_api.h).
const (
	StatusOK          = 0 // delivered; for DeliverWait: the callback ran and its results were handed back
	StatusClosed      = 1 // the queue is closed or the producer unregistered: the item was not taken
	StatusTimeout     = 2 // DeliverWait: the timeout passed before Lua took the item; it was withdrawn
	StatusCancelled   = 3 // DeliverWait: the producer was unregistered or the state closed first
	StatusCallbackErr = 4 // DeliverWait: the Lua callback raised an error
)

// Slot is one producer item handed to the consumer by TakeItem. Its layout
// (five 8-byte fields) matches struct lmk_slot in the C shim.
type Slot struct {
	ID     uint64  // the waiter id of a FlagWait item (ItemDone), else 0
	Flags  uint32  // FlagWait
	PID    uint32  // producer id
	Item   uintptr // the producer's item
	Cookie uintptr // the producer's handle
	Stamp  int64   // when it was delivered, on the queue's clock
}

// FlagWait marks an item whose producer thread waits for ItemDone.
const FlagWait uint32 = 4

// producer is a registered source of items.
type producer struct {
	id     uint32
	cookie uintptr
	closed bool
}

type waiterState uint8

const (
	wQueued waiterState = iota
	wTaken
	wDone
)

// waiter is a producer thread blocked in DeliverWait.
type waiter struct {
	id     uint64
	pos    uint64 // ring position of its record while queued
	state  waiterState
	status int
	ch     chan struct{}
}

// finish releases the waiting thread with status. q.mu must be held.
func (w *waiter) finish(status int) {
	if w.state == wDone {
		return
	}
	w.state = wDone
	w.status = status
	close(w.ch)
}

// item is one ring record: a delivered item, dead once withdrawn.
type item struct {
	p     *producer
	w     *waiter
	val   uintptr
	stamp int64
	live  bool
}

func (r *item) slot() Slot {
	s := Slot{PID: r.p.id, Item: r.val, Cookie: r.p.cookie, Stamp: r.stamp}
	if r.w != nil {
		s.ID = r.w.id
		s.Flags = FlagWait
	}
	return s
}

// itemRing is the FIFO of items, at absolute positions [head, head+size).
// Withdrawn items stay in it, dead, until they reach the head.
type itemRing struct {
	buf  []item
	head uint64
	size int
	live int
}

func (r *itemRing) init() { r.buf = make([]item, 16) }

func (r *itemRing) at(pos uint64) *item { return &r.buf[pos&uint64(len(r.buf)-1)] }

// grow doubles the ring when it is full.
func (r *itemRing) grow() {
	if r.size < len(r.buf) {
		return
	}
	nb := make([]item, 2*len(r.buf))
	for i := 0; i < r.size; i++ {
		pos := r.head + uint64(i)
		nb[pos&uint64(len(nb)-1)] = *r.at(pos)
	}
	r.buf = nb
}

func (r *itemRing) push(it item) uint64 {
	r.grow()
	pos := r.head + uint64(r.size)
	*r.at(pos) = it
	r.size++
	r.live++
	return pos
}

// pushFront puts a record at the head (a taken item handed back).
func (r *itemRing) pushFront(it item) uint64 {
	r.grow()
	r.head--
	*r.at(r.head) = it
	r.size++
	r.live++
	return r.head
}

// front drops dead records at the head and returns the first live one.
func (r *itemRing) front() *item {
	for r.size > 0 {
		if it := r.at(r.head); it.live {
			return it
		}
		r.pop()
	}
	return nil
}

func (r *itemRing) pop() {
	it := r.at(r.head)
	if it.live {
		r.live--
	}
	*it = item{}
	r.head++
	r.size--
}

// kill makes a live record dead in place.
func (r *itemRing) kill(it *item) {
	it.live = false
	r.live--
}

// trim drops the dead records at the head (all of them, when none is
// live), so that withdrawn items do not linger.
func (r *itemRing) trim() {
	if r.live == 0 {
		for r.size > 0 {
			r.pop()
		}
		return
	}
	r.front()
}

// dropAll empties the ring and returns its live plain items.
func (r *itemRing) dropAll() (dropped []Slot) {
	for i := 0; i < r.size; i++ {
		if it := r.at(r.head + uint64(i)); it.live && it.w == nil {
			dropped = append(dropped, it.slot())
		}
	}
	*r = itemRing{}
	return dropped
}

// Register adds a producer whose items carry cookie (the C side's handle)
// and returns its id.
func (q *Queue) Register(cookie uintptr) (uint32, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	q.lastPID++
	q.producers[q.lastPID] = &producer{id: q.lastPID, cookie: cookie}
	return q.lastPID, nil
}

// Unregister removes the producer, drops its queued items and releases its
// waiting threads with StatusCancelled. It returns the producer's cookie
// (0 if pid is unknown) and the plain items it dropped, for the caller to
// run their cancel function.
func (q *Queue) Unregister(pid uint32) (cookie uintptr, dropped []Slot) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.producers[pid]
	if p == nil {
		return 0, nil
	}
	delete(q.producers, pid)
	p.closed = true
	for i := 0; i < q.items.size; i++ {
		it := q.items.at(q.items.head + uint64(i))
		if it.p != p || !it.live {
			continue
		}
		if it.w != nil {
			it.w.finish(StatusCancelled)
			delete(q.waiters, it.w.id)
		} else {
			dropped = append(dropped, it.slot())
		}
		q.items.kill(it)
	}
	q.items.trim()
	q.update()
	return p.cookie, dropped
}

// Deliver queues item for the producer; it returns StatusOK, or
// StatusClosed if the queue is closed or the producer unregistered (the
// item was not taken). Safe from any goroutine or thread.
func (q *Queue) Deliver(pid uint32, item uintptr) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.producers[pid]
	if q.closed || p == nil {
		return StatusClosed
	}
	q.deliver(p, item, nil)
	return StatusOK
}

// deliver queues one item. q.mu must be held.
func (q *Queue) deliver(p *producer, val uintptr, w *waiter) {
	pos := q.items.push(item{p: p, w: w, val: val, stamp: q.now(), live: true})
	if w != nil {
		w.pos = pos
		w.state = wQueued
	}
	q.signal(true)
}

// DeliverWait queues item and blocks until the consumer reports it done
// (ItemDone), the producer is unregistered or the queue closed
// (StatusCancelled), or timeout passes while the item is still queued
// (StatusTimeout: the item is withdrawn). An item the consumer has already
// taken when the timeout passes is waited for. timeout <= 0 waits without
// limit.
func (q *Queue) DeliverWait(pid uint32, item uintptr, timeout time.Duration) int {
	q.mu.Lock()
	p := q.producers[pid]
	if q.closed || p == nil {
		q.mu.Unlock()
		return StatusClosed
	}
	q.lastWaiter++
	w := &waiter{id: q.lastWaiter, ch: make(chan struct{})}
	q.waiters[w.id] = w
	q.deliver(p, item, w)
	q.mu.Unlock()

	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-w.ch:
			return w.status
		case <-t.C:
		}
		q.mu.Lock()
		if w.state == wQueued {
			q.items.kill(q.items.at(w.pos))
			q.items.trim()
			w.finish(StatusTimeout)
			delete(q.waiters, w.id)
			q.update()
		}
		q.mu.Unlock()
	}
	<-w.ch
	return w.status
}

// ItemDone reports the outcome of a FlagWait item and releases its thread.
func (q *Queue) ItemDone(wid uint64, status int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w := q.waiters[wid]; w != nil {
		w.finish(status)
		delete(q.waiters, wid)
	}
}

// PutBackItem hands back a taken item that did not run (the consumer could
// not start it): it goes to the head of the queue, first in line again,
// with its delivery time. It reports whether it was dropped instead: its
// producer is gone (or the queue closed), and then a waiting thread has
// been released with StatusCancelled and a plain item is the caller's to
// cancel.
func (q *Queue) PutBackItem(s Slot) (dropped bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.producers[s.PID]
	var w *waiter
	if s.Flags&FlagWait != 0 {
		if w = q.waiters[s.ID]; w == nil {
			return true // released meanwhile
		}
	}
	if q.closed || p == nil || p.cookie != s.Cookie {
		if w != nil {
			w.finish(StatusCancelled)
			delete(q.waiters, w.id)
		}
		return true
	}
	pos := q.items.pushFront(item{p: p, w: w, val: s.Item, stamp: s.Stamp, live: true})
	if w != nil {
		w.pos = pos
		w.state = wQueued
	}
	q.update()
	return false
}

// TakeItem takes the oldest item if it was delivered at or before bound
// (on the queue's clock). ok reports whether it took one; more whether an
// item delivered at or before upto is still queued.
func (q *Queue) TakeItem(bound, upto int64) (s Slot, ok, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	it := q.items.front()
	if it != nil && it.stamp <= bound {
		s, ok = it.slot(), true
		if it.w != nil {
			it.w.state = wTaken
		}
		q.items.pop()
		q.update()
		it = q.items.front()
	}
	return s, ok, it != nil && it.stamp <= upto
}

package queue

import "time"

// Status of a delivery, as returned by Deliver, DeliverWait and passed to
// ItemDone. The values are part of the producer C API (luamockit.h).
const (
	StatusOK          = 0 // delivered; for DeliverWait: the callback ran and its results were handed back
	StatusClosed      = 1 // the queue is closed or the producer unregistered: the item was not taken
	StatusTimeout     = 2 // DeliverWait: the timeout passed before Lua took the item; it was withdrawn
	StatusCancelled   = 3 // DeliverWait: the producer was unregistered or the state closed first
	StatusCallbackErr = 4 // DeliverWait: the Lua callback raised an error
)

// producer is a registered source of items.
type producer struct {
	id     uint32
	cookie uintptr
	closed bool
	queued int // live item records in the ring
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

func itemSlot(r *record) Slot {
	s := Slot{Flags: FlagItem, PID: r.p.id, Item: uintptr(r.val), Cookie: r.p.cookie}
	if r.w != nil {
		s.ID = r.w.id
		s.Flags |= FlagWait
	}
	return s
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
// (0 if pid is unknown) and the slots of the plain items it dropped, for
// the caller to run their cancel function.
func (q *Queue) Unregister(pid uint32) (cookie uintptr, dropped []Slot) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.producers[pid]
	if p == nil {
		return 0, nil
	}
	delete(q.producers, pid)
	p.closed = true
	for i := 0; i < q.size && p.queued > 0; i++ {
		r := q.at(q.head + uint64(i))
		if r.p != p || r.n == 0 {
			continue
		}
		if r.w != nil {
			r.w.finish(StatusCancelled)
			delete(q.waiters, r.w.id)
		} else {
			dropped = append(dropped, itemSlot(r))
		}
		q.withdraw(r)
	}
	return p.cookie, dropped
}

// withdraw turns a live item record stale. q.mu must be held.
func (q *Queue) withdraw(r *record) {
	r.n = 0
	r.p.queued--
	q.stale++
	q.setPending(q.pending - 1)
}

// pushItem queues one item. q.mu must be held.
func (q *Queue) pushItem(p *producer, item uintptr, w *waiter, front bool) {
	q.grow()
	var pos uint64
	if front {
		q.head--
		pos = q.head
	} else {
		pos = q.head + uint64(q.size)
	}
	*q.at(pos) = record{p: p, w: w, val: uint64(item), n: 1}
	q.size++
	p.queued++
	if w != nil {
		w.pos = pos
		w.state = wQueued
	}
	q.setPending(q.pending + 1)
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
	q.pushItem(p, item, nil, false)
	return StatusOK
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
	q.pushItem(p, item, w, false)
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
			q.withdraw(q.at(w.pos))
			w.finish(StatusTimeout)
			delete(q.waiters, w.id)
		}
		q.mu.Unlock()
	}
	<-w.ch
	return w.status
}

// ItemDone reports the outcome of a FlagWait slot and releases its thread.
func (q *Queue) ItemDone(wid uint64, status int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w := q.waiters[wid]; w != nil {
		w.finish(status)
		delete(q.waiters, wid)
	}
}

// putBackItem returns a taken item to the head. q.mu must be held.
func (q *Queue) putBackItem(s Slot, dropped *[]Slot) {
	p := q.producers[s.PID]
	var w *waiter
	if s.Flags&FlagWait != 0 {
		w = q.waiters[s.ID]
		if w == nil {
			return // released meanwhile
		}
	}
	if p == nil {
		if w != nil {
			w.finish(StatusCancelled)
			delete(q.waiters, w.id)
		} else {
			*dropped = append(*dropped, s)
		}
		return
	}
	q.pushItem(p, s.Item, w, true)
}

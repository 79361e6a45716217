package main

// The C preamble of a file with //export holds declarations only (cgo's
// rule: its definitions would be emitted twice).

/*
#include "lmk.h"
void lmk_cancel_item(uintptr_t cookie, uintptr_t item);
*/
import "C"

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/luamockit/luamockit/internal/queue"
)

// universe is what Go keeps of one Lua universe.
type universe struct {
	q *queue.Queue
	n *notifier
}

// universes maps the handles that C holds to each Lua universe. Handles are
// never reused, so a stale one finds nothing.
var (
	universesMu sync.RWMutex
	universes   = map[uint64]universe{}
	lastHandle  atomic.Uint64
)

func lookupU(h C.uint64_t) universe {
	universesMu.RLock()
	u := universes[uint64(h)]
	universesMu.RUnlock()
	return u
}

func lookup(h C.uint64_t) *queue.Queue { return lookupU(h).q }

// cancelItems runs the producers' cancel functions for dropped items.
func cancelItems(dropped []queue.Slot) {
	for _, s := range dropped {
		C.lmk_cancel_item(C.uintptr_t(s.Cookie), C.uintptr_t(s.Item))
	}
}

// recoverTo turns a panic into LMK_EPANIC in *rc: no Go panic reaches C.
func recoverTo(rc *C.int) {
	if recover() != nil {
		*rc = C.LMK_EPANIC
	}
}

func code(err error) C.int {
	switch {
	case err == nil:
		return C.LMK_OK
	case errors.Is(err, queue.ErrClosed):
		return C.LMK_ECLOSED
	case errors.Is(err, queue.ErrExists):
		return C.LMK_EEXISTS
	case errors.Is(err, queue.ErrNotFound):
		return C.LMK_ENOTFOUND
	case errors.Is(err, queue.ErrFired):
		return C.LMK_EFIRED
	case errors.Is(err, queue.ErrRange):
		return C.LMK_ERANGE
	}
	return C.LMK_EPANIC
}

// lmk_open creates the queue of a new Lua universe, signalling efd, and
// returns its handle (0 on failure). *clockOff receives CLOCK_MONOTONIC
// minus the queue's clock, so that C stamps arm requests in the queue's
// time (lmk_armreq.at) when it makes them, not when Go gets them.
//
//export lmk_open
func lmk_open(efd C.int, clockOff *C.int64_t) (h C.uint64_t) {
	defer func() {
		if recover() != nil {
			h = 0
		}
	}()
	n := &notifier{efd: int(efd)}
	q := queue.New(n)
	*clockOff = C.int64_t(clockOffset(q))
	id := lastHandle.Add(1)
	universesMu.Lock()
	universes[id] = universe{q: q, n: n}
	universesMu.Unlock()
	return C.uint64_t(id)
}

// clockOffset returns CLOCK_MONOTONIC minus q's clock. Both read the same
// kernel clock (Go's monotonic time is CLOCK_MONOTONIC on Linux), so the
// difference is a constant; of a few readings between two of C's, the
// narrowest pair pins it to within tens of ns.
func clockOffset(q *queue.Queue) int64 {
	best, off := int64(-1), int64(0)
	for range 5 {
		c0 := int64(C.lmk_mono_ns())
		g := q.Now()
		c1 := int64(C.lmk_mono_ns())
		if w := c1 - c0; best < 0 || w < best {
			best, off = w, c0+w/2-g
		}
	}
	return off
}

// lmk_close stops every timer of the universe, cancels its producers'
// queued items, releases their waiting threads and forgets its queue.
//
//export lmk_close
func lmk_close(h C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	universesMu.Lock()
	u := universes[uint64(h)]
	delete(universes, uint64(h))
	universesMu.Unlock()
	if u.q != nil {
		cancelItems(u.q.Close())
		u.n.setPort(0)
	}
	return C.LMK_OK
}

// lmk_arm_batch arms n timers (queue.ArmBatch): reqs[i] is timer id,
// first expiration delay ns after it was requested (at, on the queue's
// clock), then every period ns (0: one-off); id 0 is skipped. It returns
// the first error.
//
//export lmk_arm_batch
func lmk_arm_batch(h C.uint64_t, reqs *C.lmk_armreq, n C.int) (rc C.int) {
	defer recoverTo(&rc)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	if n <= 0 {
		return C.LMK_OK
	}
	return code(q.ArmBatch(unsafe.Slice((*queue.ArmReq)(unsafe.Pointer(reqs)), int(n))))
}

// lmk_cancel stops timer id for good; no event of it is queued afterwards.
//
//export lmk_cancel
func lmk_cancel(h, id C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil {
		q.Cancel(uint64(id))
	}
	return C.LMK_OK
}

//export lmk_stop
func lmk_stop(h, id C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.Stop(uint64(id)))
}

// lmk_start re-arms timer id from time at of the queue's clock (see
// lmk_open), the moment C was asked.
//
//export lmk_start
func lmk_start(h, id C.uint64_t, at C.int64_t) (rc C.int) {
	defer recoverTo(&rc)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.StartAt(uint64(id), int64(at)))
}

//export lmk_state_of
func lmk_state_of(h, id C.uint64_t) (st C.int) {
	defer recoverTo(&st)
	q := lookup(h)
	if q == nil {
		return C.LMK_ST_NONE
	}
	return C.int(q.State(uint64(id)))
}

// slots views C's slot buffer as queue slots; the layouts match.
func slots(buf *C.lmk_slot, n C.int) []queue.Slot {
	if n <= 0 {
		return nil
	}
	return unsafe.Slice((*queue.Slot)(unsafe.Pointer(buf)), int(n))
}

// lmk_take fills buf with up to capacity queued callback slots, queued
// before *limit; with *limit == 0 it begins a drain and sets *limit (see
// queue.Drain). One crossing serves a whole batch.
//
//export lmk_take
func lmk_take(h C.uint64_t, buf *C.lmk_slot, capacity C.int, limit *C.uint64_t) (n C.int) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	q := lookup(h)
	if q == nil {
		return 0
	}
	if *limit == 0 {
		*limit = C.uint64_t(q.Drain())
	}
	return C.int(q.TakeBefore(slots(buf, capacity), uint64(*limit)))
}

// lmk_putback returns slots that were taken but not run to the queue head.
//
//export lmk_putback
func lmk_putback(h C.uint64_t, buf *C.lmk_slot, n C.int) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil {
		cancelItems(q.PutBack(slots(buf, n)))
	}
	return C.LMK_OK
}

// lmk_counts stores the pending and queued counts (64-bit: a stalled loop
// can pile up more than 2^31 expirations).
//
//export lmk_counts
func lmk_counts(h C.uint64_t, pending, inqueue *C.int64_t) (rc C.int) {
	defer recoverTo(&rc)
	*pending, *inqueue = 0, 0
	if q := lookup(h); q != nil {
		*pending = C.int64_t(q.Pending())
		*inqueue = C.int64_t(q.InQueue())
	}
	return C.LMK_OK
}

// lmk_wait_begin starts a wait() in C: the Lua thread keeps time while it
// waits (see queue.BeginWait). It returns the ns until the earliest timer
// is due (-1: none) and stores whether events are pending. With room for
// lent timers (capacity > 0), it also tries to lend the Lua thread every
// armed timer (queue.Lend): *nlent of them in lent; when it lends, the
// wait on Go's side is over (no lmk_wait_end).
//
//export lmk_wait_begin
func lmk_wait_begin(h C.uint64_t, pending *C.int, lent *C.lmk_lent, capacity C.int, nlent *C.int) (next C.int64_t) {
	next, *pending, *nlent = -1, 0, 0
	defer func() {
		if recover() != nil {
			*nlent = 0
		}
	}()
	if q := lookup(h); q != nil {
		d, p := q.BeginWait()
		next, *pending = C.int64_t(d), cbool(p)
		if !p && capacity > 0 {
			*nlent = C.int(q.Lend(unsafe.Slice((*queue.Lent)(unsafe.Pointer(lent)), int(capacity))))
		}
	}
	return next
}

// lmk_reclaim takes back the timers lent by lmk_wait_begin, with the
// expirations the Lua thread took of each (queue.Reclaim).
//
//export lmk_reclaim
func lmk_reclaim(h C.uint64_t, lent *C.lmk_lent, n C.int) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil && n > 0 {
		q.Reclaim(unsafe.Slice((*queue.Lent)(unsafe.Pointer(lent)), int(n)))
	}
	return C.LMK_OK
}

// lmk_wait_fire queues the expirations now due, on the waiting Lua thread.
//
//export lmk_wait_fire
func lmk_wait_fire(h C.uint64_t, pending *C.int) (next C.int64_t) {
	next, *pending = -1, 0
	defer func() { recover() }()
	if q := lookup(h); q != nil {
		d, p := q.FireDue()
		next, *pending = C.int64_t(d), cbool(p)
	}
	return next
}

// lmk_wait_end ends the wait: Go's runtime timer keeps time again.
//
//export lmk_wait_end
func lmk_wait_end(h C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil {
		q.EndWait()
	}
	return C.LMK_OK
}

// lmk_set_consumer_clock lets the Lua thread keep time between its waits
// (on) or hands it to a Go runtime timer (off); see queue.SetConsumerClock.
//
//export lmk_set_consumer_clock
func lmk_set_consumer_clock(h C.uint64_t, on C.int) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil {
		q.SetConsumerClock(on != 0)
	}
	return C.LMK_OK
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// lmk_register adds a producer whose items carry cookie (its C handle).
//
//export lmk_register
func lmk_register(h C.uint64_t, cookie C.uintptr_t, pid *C.uint32_t) (rc C.int) {
	defer recoverTo(&rc)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	id, err := q.Register(uintptr(cookie))
	*pid = C.uint32_t(id)
	return code(err)
}

// lmk_unregister drops the producer's queued items (running their cancel
// functions), releases its waiting threads and returns its cookie, or 0 if
// the producer (or its universe) is unknown.
//
//export lmk_unregister
func lmk_unregister(h C.uint64_t, pid C.uint32_t) (cookie C.uintptr_t) {
	defer func() {
		if recover() != nil {
			cookie = 0
		}
	}()
	if q := lookup(h); q != nil {
		c, dropped := q.Unregister(uint32(pid))
		cancelItems(dropped)
		return C.uintptr_t(c)
	}
	return 0
}

// lmk_deliver queues a producer's item; any thread.
//
//export lmk_deliver
func lmk_deliver(h C.uint64_t, pid C.uint32_t, item C.uintptr_t) (rc C.int) {
	rc = C.int(queue.StatusClosed)
	defer func() { recover() }()
	if q := lookup(h); q != nil {
		rc = C.int(q.Deliver(uint32(pid), uintptr(item)))
	}
	return rc
}

// lmk_deliver_wait queues a producer's item and blocks until Lua has run
// it (or timeout_ms passes while it is queued, or it is cancelled).
//
//export lmk_deliver_wait
func lmk_deliver_wait(h C.uint64_t, pid C.uint32_t, item C.uintptr_t, timeoutMS C.int) (rc C.int) {
	rc = C.int(queue.StatusClosed)
	defer func() { recover() }()
	if q := lookup(h); q != nil {
		rc = C.int(q.DeliverWait(uint32(pid), uintptr(item), time.Duration(timeoutMS)*time.Millisecond))
	}
	return rc
}

// lmk_item_done reports the outcome of a waited-for item.
//
//export lmk_item_done
func lmk_item_done(h C.uint64_t, wid C.uint64_t, status C.int) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil {
		q.ItemDone(uint64(wid), int(status))
	}
	return C.LMK_OK
}

// lmk_setport sets the UDP port (on 127.0.0.1) that gets a datagram when
// the queue goes from empty to non-empty; 0 disables.
//
//export lmk_setport
func lmk_setport(h C.uint64_t, port C.int) (rc C.int) {
	defer recoverTo(&rc)
	u := lookupU(h)
	if u.q == nil {
		return C.LMK_ECLOSED
	}
	if err := u.n.setPort(int(port)); err != nil {
		return C.LMK_ESYS
	}
	return C.LMK_OK
}

//export lmk_getport
func lmk_getport(h C.uint64_t) (port C.int) {
	defer func() { recover() }()
	if u := lookupU(h); u.n != nil {
		return C.int(u.n.getPort())
	}
	return 0
}

var _ [32 - unsafe.Sizeof(queue.Lent{})]byte
var _ [unsafe.Sizeof(queue.Lent{}) - 32]byte
var _ [40 - unsafe.Sizeof(queue.ArmReq{})]byte
var _ [unsafe.Sizeof(queue.ArmReq{}) - 40]byte
var _ [32 - unsafe.Sizeof(queue.Slot{})]byte
var _ [unsafe.Sizeof(queue.Slot{}) - 32]byte

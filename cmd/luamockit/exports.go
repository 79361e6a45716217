package main

// The C preamble of a file with //export holds declarations only (cgo's
// rule: its definitions would be emitted twice).

/*
#include "lmk.h"
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

// queues maps the handles that C holds to the queue of each Lua universe.
// Handles are never reused, so a stale one finds nothing.
var (
	queuesMu   sync.RWMutex
	queues     = map[uint64]*queue.Queue{}
	lastHandle atomic.Uint64
)

func lookup(h C.uint64_t) *queue.Queue {
	queuesMu.RLock()
	q := queues[uint64(h)]
	queuesMu.RUnlock()
	return q
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
// returns its handle (0 on failure).
//
//export lmk_open
func lmk_open(efd C.int) (h C.uint64_t) {
	defer func() {
		if recover() != nil {
			h = 0
		}
	}()
	q := queue.New(eventfd(efd))
	id := lastHandle.Add(1)
	queuesMu.Lock()
	queues[id] = q
	queuesMu.Unlock()
	return C.uint64_t(id)
}

// lmk_close stops every timer of the universe and forgets its queue.
//
//export lmk_close
func lmk_close(h C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	queuesMu.Lock()
	q := queues[uint64(h)]
	delete(queues, uint64(h))
	queuesMu.Unlock()
	if q != nil {
		q.Close()
	}
	return C.LMK_OK
}

// lmk_arm arms timer id: first expiration after delay ns, then every
// period ns (0: one-off).
//
//export lmk_arm
func lmk_arm(h, id C.uint64_t, delay, period C.int64_t) (rc C.int) {
	defer recoverTo(&rc)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.Arm(uint64(id), time.Duration(delay), time.Duration(period)))
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

//export lmk_start
func lmk_start(h, id C.uint64_t) (rc C.int) {
	defer recoverTo(&rc)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.Start(uint64(id)))
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

// lmk_take fills buf with up to capacity queued callback slots and stores in
// *before how many were pending before the call. One crossing serves a
// whole batch.
//
//export lmk_take
func lmk_take(h C.uint64_t, buf *C.lmk_slot, capacity C.int, before *C.int) (n C.int) {
	defer func() {
		if recover() != nil {
			n = 0
		}
	}()
	q := lookup(h)
	if q == nil {
		*before = 0
		return 0
	}
	k, b := q.Take(slots(buf, capacity))
	*before = C.int(b)
	return C.int(k)
}

// lmk_putback returns slots that were taken but not run to the queue head.
//
//export lmk_putback
func lmk_putback(h C.uint64_t, buf *C.lmk_slot, n C.int) (rc C.int) {
	defer recoverTo(&rc)
	if q := lookup(h); q != nil {
		q.PutBack(slots(buf, n))
	}
	return C.LMK_OK
}

//export lmk_counts
func lmk_counts(h C.uint64_t, pending, inqueue *C.int) (rc C.int) {
	defer recoverTo(&rc)
	*pending, *inqueue = 0, 0
	if q := lookup(h); q != nil {
		*pending = C.int(q.Pending())
		*inqueue = C.int(q.InQueue())
	}
	return C.LMK_OK
}

var _ [16 - unsafe.Sizeof(queue.Slot{})]byte
var _ [unsafe.Sizeof(queue.Slot{}) - 16]byte

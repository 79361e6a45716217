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
	"unsafe"

	"github.com/luamockit/luamockit/internal/queue"
)

// universe is what Go keeps of one Lua universe: its timers.
type universe struct {
	q *queue.Queue
}

// universes maps the handles that C holds to each Lua universe. Handles are
// never reused, so a stale one finds nothing.
var (
	universesMu sync.RWMutex
	universes   = map[uint64]universe{}
	lastHandle  atomic.Uint64
)

func lookup(h C.uint64_t) *queue.Queue {
	universesMu.RLock()
	u := universes[uint64(h)]
	universesMu.RUnlock()
	return u.q
}

// guard is deferred by every export: a Go panic becomes the status fail in
// *rc instead of unwinding into C.
func guard(rc *C.int, fail C.int) {
	if recover() != nil {
		*rc = fail
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
	case errors.Is(err, queue.ErrRange):
		return C.LMK_ERANGE
	}
	return C.LMK_EPANIC
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// entries views C's entry buffer as queue entries; the layouts match (see
// the checks at the end of this file).
func entries(buf *C.lmk_entry, n C.int) []queue.Entry {
	if n <= 0 {
		return nil
	}
	return unsafe.Slice((*queue.Entry)(unsafe.Pointer(buf)), int(n))
}

// lmk_open creates the queue of a new Lua universe, whose notifier tells
// hub (C memory that outlives the queue) when Go has due timers, and
// stores its handle in *h. *clockOff receives C's monotonic clock
// (lmk_mono_ns) minus the queue's clock: C converts every time it hands Go.
//
//export lmk_open
func lmk_open(hub *C.lmk_hub, clockOff *C.int64_t, h *C.uint64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	q := queue.New(notifier{hub})
	*clockOff = C.int64_t(clockOffset(q))
	id := lastHandle.Add(1)
	universesMu.Lock()
	universes[id] = universe{q: q}
	universesMu.Unlock()
	*h = C.uint64_t(id)
	return C.LMK_OK
}

// clockOffset returns lmk_mono_ns minus q's clock. Both read the same
// kernel clock (port.c reads the one Go's runtime does: CLOCK_MONOTONIC on
// Linux and the BSDs, mach_absolute_time on macOS), so the difference is a
// constant; of a few readings between two of C's, the narrowest pair pins
// it to within tens of ns.
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

// lmk_close forgets the universe's timers; its notifier is silent from
// then on.
//
//export lmk_close
func lmk_close(h C.uint64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	universesMu.Lock()
	u := universes[uint64(h)]
	delete(universes, uint64(h))
	universesMu.Unlock()
	if u.q != nil {
		u.q.Close()
	}
	return C.LMK_OK
}

// lmk_return hands n schedules to the queue (queue.Return).
//
//export lmk_return
func lmk_return(h C.uint64_t, buf *C.lmk_entry, n C.int) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.Return(entries(buf, n)))
}

// lmk_lend lends the Lua thread up to capacity schedules due at upto
// (queue.Lend); *n receives how many.
//
//export lmk_lend
func lmk_lend(h C.uint64_t, upto C.int64_t, buf *C.lmk_entry, capacity C.int, n *C.int) (rc C.int) {
	*n = 0
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	*n = C.int(q.Lend(int64(upto), entries(buf, capacity)))
	return C.LMK_OK
}

// lmk_lend_id lends the Lua thread the schedule of timer id, if the queue
// holds it (queue.LendID).
//
//export lmk_lend_id
func lmk_lend_id(h, id C.uint64_t, e *C.lmk_entry, found *C.int) (rc C.int) {
	*found = 0
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	got, ok := q.LendID(uint64(id))
	if ok {
		entries(e, 1)[0] = got
	}
	*found = cbool(ok)
	return C.LMK_OK
}

// lmk_next_key stores the key of the earliest timer the queue holds
// (queue.NextDue) and whether it holds any.
//
//export lmk_next_key
func lmk_next_key(h C.uint64_t, key *C.int64_t, ok *C.int) (rc C.int) {
	*key, *ok = 0, 0
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		k, found := q.NextDue()
		*key, *ok = C.int64_t(k), cbool(found)
	}
	return C.LMK_OK
}

// lmk_counts stores the expirations due in the queue (64-bit: a stalled
// loop can pile up more than 2^31 of them).
//
//export lmk_counts
func lmk_counts(h C.uint64_t, pending *C.int64_t) (rc C.int) {
	*pending = 0
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		*pending = C.int64_t(q.Pending())
	}
	return C.LMK_OK
}

// The structs that cross (lmk.h) have queue's layouts, field by field:
// each line fails to compile unless two offsets are equal.
var (
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.id)-unsafe.Offsetof(queue.Entry{}.ID)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.ptr)-unsafe.Offsetof(queue.Entry{}.Ptr)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.due)-unsafe.Offsetof(queue.Entry{}.Due)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.period)-unsafe.Offsetof(queue.Entry{}.Period)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.left)-unsafe.Offsetof(queue.Entry{}.Left)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.bl_due)-unsafe.Offsetof(queue.Entry{}.BlDue)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_entry{}.bl_left)-unsafe.Offsetof(queue.Entry{}.BlLeft)]
	_ = [1]struct{}{}[unsafe.Sizeof(C.lmk_entry{})-unsafe.Sizeof(queue.Entry{})]
)

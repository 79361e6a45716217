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

// universe is what Go keeps of one Lua universe: its timers.
type universe struct {
	q    *queue.Queue
	n    *notifier
	arms *[]queue.Arming // lmk_arm_many's, reused (the Lua thread's alone)
	// armCalls counts the calls that arm timers (lmk_arm_many):
	// the tests see how many arms crossed together.
	armCalls *atomic.Uint64
}

// universes maps the handles that C holds to each Lua universe. Handles are
// never reused, so a stale one finds nothing.
var (
	universesMu sync.RWMutex
	universes   = map[uint64]universe{}
	lastHandle  atomic.Uint64
)

func lookup(h C.uint64_t) *queue.Queue { return lookupU(h).q }

func lookupU(h C.uint64_t) universe {
	universesMu.RLock()
	u := universes[uint64(h)]
	universesMu.RUnlock()
	return u
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
	case errors.Is(err, queue.ErrNotFound):
		return C.LMK_ENOTFOUND
	}
	return C.LMK_EPANIC
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// lmk_open creates the queue of a new Lua universe, whose notifier tells
// hub (C memory that outlives the queue) when Go has published
// expirations and when its earliest timer is due, and stores its handle
// in *h. *clockOff receives C's monotonic clock
// (lmk_mono_ns) minus the queue's clock: C converts every time it hands Go.
//
//export lmk_open
func lmk_open(hub *C.lmk_hub, clockOff *C.int64_t, h *C.uint64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	n := &notifier{hub: hub}
	q := queue.New(n)
	q.SetPassive(true) // until an outside loop watches (lmk_watch)
	off := clockOffset(q)
	n.setOffset(off)
	*clockOff = C.int64_t(off)
	id := lastHandle.Add(1)
	universesMu.Lock()
	arms := make([]queue.Arming, C.LMK_DEFER_MAX) // a flush's most: no allocation at an arm,
	clear(arms)                                   // and its page faults now, not at the first
	arms = arms[:0]
	universes[id] = universe{q: q, n: n, arms: &arms, armCalls: new(atomic.Uint64)}
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

// lmk_arm_many arms the n timers of arms in order (queue.ArmAheadMany),
// each as a call of its own would have (queue.ArmAhead): from its at
// (queue clock), what it has due within ahead of it, before the first expiration
// Go holds, handed out into buf behind what C holds (from) and what the
// arms before it handed out (at most capacity records in all; *n of
// them; ahead 0: none, as while Go is active). Each arm's id, first due
// time and records handed out are written into it; on an error the arms
// from the failing one have id 0. It is how the shim's arms reach Go: one
// call for all it made since its last call, or one for an arm Go must
// know at once (sched.c).
//
//export lmk_arm_many
func lmk_arm_many(h C.uint64_t, arms *C.lmk_armcmd, n C.int, from, ahead C.int64_t, buf *C.lmk_exp, capacity C.int, k *C.int) (rc C.int) {
	*k = 0
	defer guard(&rc, C.LMK_EPANIC)
	u := lookupU(h)
	if u.q == nil {
		return C.LMK_ECLOSED
	}
	u.armCalls.Add(1)
	cs := unsafe.Slice(arms, int(n))
	as := (*u.arms)[:0]
	for i := range cs {
		cs[i].id, cs[i].due, cs[i].n = 0, 0, 0
		as = append(as, queue.Arming{At: int64(cs[i].at), Delay: time.Duration(cs[i].delay),
			Period: time.Duration(cs[i].period), Tag: uintptr(cs[i].tag), Drop: queue.ID(cs[i].drop)})
	}
	*u.arms = as
	var out []queue.Expiration
	if capacity > 0 {
		out = unsafe.Slice((*queue.Expiration)(unsafe.Pointer(buf)), int(capacity))
	}
	used, err := u.q.ArmAheadMany(as, int64(from), int64(ahead), out)
	for i := range as {
		cs[i].id, cs[i].due, cs[i].n = C.uint64_t(as[i].ID), C.int64_t(as[i].First), C.int(as[i].N)
	}
	*k = C.int(used)
	return code(err)
}

// lmk_stop stops timer id (queue.Stop).
//
//export lmk_stop
func lmk_stop(h, id C.uint64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.Stop(queue.ID(id)))
}

// lmk_restart re-arms timer id from now (queue.Start), with a new period
// (a one-off: delay) when period >= 0 (queue.Reset); *due receives the new
// schedule's first due time (queue clock). With handOver, the expirations
// that fell due and were not taken are counted in *taken instead of kept
// (queue.Restart): the caller joins them to the ones it holds.
//
//export lmk_restart
func lmk_restart(h, id C.uint64_t, at, period C.int64_t, handOver C.int, due, taken *C.int64_t) (rc C.int) {
	*due, *taken = 0, 0
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	d, n, err := q.Restart(queue.ID(id), int64(period), handOver != 0, int64(at))
	if err == nil {
		*due, *taken = C.int64_t(d), C.int64_t(n)
	}
	return code(err)
}

// lmk_destroy forgets timer id (queue.Destroy).
//
//export lmk_destroy
func lmk_destroy(h, id C.uint64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.Destroy(queue.ID(id)))
}

// lmk_take decides what is due at upto (queue clock), moves up to
// capacity expirations due by then into buf and, while the universe's
// queue is passive, those due by limit ahead of their time
// (queue.TakeAhead); *n receives how many. Until when everything due is
// in C's hands, C reads from the hub (go_due, and its go flag).
//
//export lmk_take
func lmk_take(h C.uint64_t, upto, limit C.int64_t, buf *C.lmk_exp, capacity C.int, n *C.int) (rc C.int) {
	*n = 0
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	if capacity > 0 {
		k, _ := q.TakeAhead(int64(upto), int64(limit), unsafe.Slice((*queue.Expiration)(unsafe.Pointer(buf)), int(capacity)))
		*n = C.int(k)
	}
	return C.LMK_OK
}

// lmk_arm_signal makes a signal schedule for signal sig in the queue
// (queue.ArmSignal): each delivery of sig to the process publishes one
// expiration of it, due at its arrival; tag is the C record. *id receives
// its id. Stop, start and destroy go through lmk_stop, lmk_restart and
// lmk_destroy, as a timer's. LMK_ERANGE if sig cannot be caught.
//
//export lmk_arm_signal
func lmk_arm_signal(h C.uint64_t, sig C.int, tag C.uintptr_t, id *C.uint64_t) (rc C.int) {
	*id = 0
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	got, err := q.ArmSignal(int(sig), uintptr(tag))
	if err != nil {
		return code(err)
	}
	*id = C.uint64_t(got)
	return C.LMK_OK
}

// lmk_giveback returns interval timer id's expirations handed out from
// due on (queue clock) and not run to its schedule (queue.GiveBack).
//
//export lmk_giveback
func lmk_giveback(h, id C.uint64_t, due C.int64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	return code(q.GiveBack(queue.ID(id), int64(due)))
}

// lmk_watch makes the universe's queue active: an outside loop watches
// its fd, so Go's clock goroutine publishes every expiration when it
// falls due (it is passive until then: wait() and process_events take
// what is due themselves, and Go hands expirations out ahead).
//
//export lmk_watch
func lmk_watch(h C.uint64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		q.SetPassive(false)
	}
	return C.LMK_OK
}

// lmk_due stores when timer id's next expiration not yet taken is due
// (queue.Due), and whether it is armed.
//
//export lmk_due
func lmk_due(h, id C.uint64_t, due *C.int64_t, ok *C.int) (rc C.int) {
	*due, *ok = 0, 0
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		d, found := q.Due(queue.ID(id))
		*due, *ok = C.int64_t(d), cbool(found)
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

// The struct that crosses (lmk.h) has queue.Expiration's layout, field by
// field: each line fails to compile unless two offsets are equal.
var (
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_exp{}.id)-unsafe.Offsetof(queue.Expiration{}.ID)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_exp{}.tag)-unsafe.Offsetof(queue.Expiration{}.Tag)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_exp{}.due)-unsafe.Offsetof(queue.Expiration{}.Due)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_exp{}.count)-unsafe.Offsetof(queue.Expiration{}.Count)]
	_ = [1]struct{}{}[unsafe.Offsetof(C.lmk_exp{}.seq)-unsafe.Offsetof(queue.Expiration{}.Seq)]
	_ = [1]struct{}{}[unsafe.Sizeof(C.lmk_exp{})-unsafe.Sizeof(queue.Expiration{})]
)

// lmk_clock switches the universe's queue to a virtual clock (virtual) or
// back to a real one (queue.SetVirtual), and stores in *clockOff what C
// adds to the queue's clock from then on: unchanged when it turns
// virtual (the virtual clock starts at the real reading, which C then
// moves up to a whole ms), measured anew when it turns real (the real
// clock goes on from the virtual reading).
// The notifier converts with it from then on, the earliest due time is
// told again, and the hub's vnow word holds the reading.
//
//export lmk_clock
func lmk_clock(h C.uint64_t, virtual C.int, clockOff *C.int64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	u := lookupU(h)
	if u.q == nil {
		return C.LMK_ECLOSED
	}
	now := u.q.SetVirtual(virtual != 0)
	off := u.n.off.Load()
	if virtual == 0 {
		off = clockOffset(u.q)
		u.n.setOffset(off)
		u.q.Retell()
	}
	*clockOff = C.int64_t(off)
	u.n.setNow(now)
	return C.LMK_OK
}

// lmk_setnow moves the universe's virtual clock forward to now (queue
// clock; queue.SetNow: never back) and writes the reading into the hub's
// vnow word, where the Lua thread reads it (C's clock). LMK_ERANGE on a
// real clock.
//
//export lmk_setnow
func lmk_setnow(h C.uint64_t, now C.int64_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	u := lookupU(h)
	if u.q == nil {
		return C.LMK_ECLOSED
	}
	got, err := u.q.SetNow(int64(now))
	u.n.setNow(got)
	return code(err)
}

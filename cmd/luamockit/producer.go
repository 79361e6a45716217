package main

// The producer exports: what producer.c calls for the producer C API
// (luamockit_api.h).

/*
#include "lmk.h"
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/luamockit/luamockit/internal/queue"
)

// cancelItems runs the producers' cancel functions for dropped items.
func cancelItems(dropped []queue.Slot) {
	for _, s := range dropped {
		C.lmk_cancel_item(C.uintptr_t(s.Cookie), C.uintptr_t(s.Item))
	}
}

// lmk_register adds a producer whose items carry cookie (its C handle).
//
//export lmk_register
func lmk_register(h C.uint64_t, cookie C.uintptr_t, pid *C.uint32_t) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	id, err := q.Register(uintptr(cookie))
	*pid = C.uint32_t(id)
	return code(err)
}

// lmk_unregister drops the producer's queued items (running their cancel
// functions), releases its waiting threads and stores its cookie, or 0 if
// the producer (or its universe) is unknown.
//
//export lmk_unregister
func lmk_unregister(h C.uint64_t, pid C.uint32_t, cookie *C.uintptr_t) (rc C.int) {
	*cookie = 0
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		c, dropped := q.Unregister(uint32(pid))
		cancelItems(dropped)
		*cookie = C.uintptr_t(c)
	}
	return C.LMK_OK
}

// lmk_deliver queues a producer's item; any thread. It returns a producer
// status (luamockit_api.h).
//
//export lmk_deliver
func lmk_deliver(h C.uint64_t, pid C.uint32_t, item C.uintptr_t) (rc C.int) {
	rc = C.int(queue.StatusClosed)
	defer guard(&rc, C.int(queue.StatusClosed))
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
	defer guard(&rc, C.int(queue.StatusClosed))
	if q := lookup(h); q != nil {
		rc = C.int(q.DeliverWait(uint32(pid), uintptr(item), time.Duration(timeoutMS)*time.Millisecond))
	}
	return rc
}

// lmk_item_done reports the outcome of a waited-for item.
//
//export lmk_item_done
func lmk_item_done(h C.uint64_t, wid C.uint64_t, status C.int) (rc C.int) {
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		q.ItemDone(uint64(wid), int(status))
	}
	return C.LMK_OK
}

// lmk_putback_item puts a taken item that could not start back at the
// head of the queue (queue.PutBackItem); *dropped tells that its producer
// went meanwhile instead (C then cancels it).
//
//export lmk_putback_item
func lmk_putback_item(h C.uint64_t, s *C.lmk_slot, dropped *C.int) (rc C.int) {
	*dropped = 1
	defer guard(&rc, C.LMK_EPANIC)
	if q := lookup(h); q != nil {
		*dropped = cbool(q.PutBackItem(*(*queue.Slot)(unsafe.Pointer(s))))
	}
	return C.LMK_OK
}

// lmk_take_item takes the oldest item if it was delivered at or before
// bound (queue.TakeItem); *more tells whether an item delivered at or
// before upto is left.
//
//export lmk_take_item
func lmk_take_item(h C.uint64_t, bound, upto C.int64_t, s *C.lmk_slot, ok, more *C.int) (rc C.int) {
	*ok, *more = 0, 0
	defer guard(&rc, C.LMK_EPANIC)
	q := lookup(h)
	if q == nil {
		return C.LMK_ECLOSED
	}
	got, took, left := q.TakeItem(int64(bound), int64(upto))
	if took {
		*(*queue.Slot)(unsafe.Pointer(s)) = got
	}
	*ok, *more = cbool(took), cbool(left)
	return C.LMK_OK
}

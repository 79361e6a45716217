package main

/*
#include "lmk.h"
*/
import "C"

import (
	"math"
	"sync/atomic"
	"unsafe"
)

// notifier is the queue.DueNotifier of a Lua universe. The queue calls it
// under its lock: Set and Clear when it starts and stops holding published
// expirations (the universe's hub, hub.c, makes its file descriptor
// readable and sends the setport() datagram for that as for producer
// items), and NextDue when its earliest unpublished expiration moves: it
// is stored, on C's clock, in the hub's go_due word, which the Lua thread
// reads without a call (wait.c sleeps until it).
type notifier struct {
	hub *C.lmk_hub
	off atomic.Int64 // lmk_mono_ns() minus the queue's clock
}

func (n *notifier) setOffset(off int64) { n.off.Store(off) }

// setNow stores the queue clock's reading now, on C's clock, in the hub's
// vnow word: what the Lua thread reads as "now" while the clock is virtual
// (lmk_now), with no call. Only the Lua thread moves a virtual clock.
func (n *notifier) setNow(now int64) {
	atomic.StoreInt64((*int64)(unsafe.Pointer(&n.hub.vnow)), now+n.off.Load())
}

func (n *notifier) Set()   { C.lmk_wake_go_set(&n.hub.wk) }
func (n *notifier) Clear() { C.lmk_wake_go_clear(&n.hub.wk) }

func (n *notifier) NextDue(due int64) {
	if due != math.MaxInt64 {
		due += n.off.Load()
	}
	atomic.StoreInt64((*int64)(unsafe.Pointer(&n.hub.go_due)), due)
}

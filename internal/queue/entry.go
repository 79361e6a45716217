package queue

import "math"

// Entry is one timer's schedule, as the queue holds it and as it crosses
// to and from the consumer (Lend, Return). Its layout (seven 8-byte
// fields) is shared with C (struct lmk_entry); the binding checks it field
// by field.
//
// The main part's expiration i (i = 0, 1, ...) is due at Due + i*Period,
// and Left of them remain (-1: no end). A one-off has Left 1, and its
// Period is its delay, which the consumer keeps; the queue never uses it.
// After a restart that left expirations due and not yet run, the schedule
// also has a backlog: BlLeft expirations, one record queued at BlDue,
// before any of the main part's.
type Entry struct {
	ID     uint64
	Ptr    uintptr // the consumer's handle of the timer; the queue only keeps it
	Due    int64   // the main part's next expiration, on the queue's clock (Now)
	Period int64   // ns between expirations of the main part
	Left   int64   // expirations left in the main part; -1: unbounded
	BlDue  int64   // when the backlog was queued
	BlLeft int64   // expirations in the backlog; 0: no backlog
}

// Key is when the timer's next expiration is due: the backlog's, if any.
func (e *Entry) Key() int64 {
	if e.BlLeft != 0 {
		return e.BlDue
	}
	return e.Due
}

// DueCount is how many expirations of e are due at now (due <= now).
func (e *Entry) DueCount(now int64) int64 {
	var n int64
	if e.Left != 0 && e.Due <= now {
		if n = 1; e.Left != 1 {
			n = (now-e.Due)/e.Period + 1
			if e.Left > 0 && n > e.Left {
				n = e.Left
			}
		}
	}
	if e.BlLeft != 0 && e.BlDue <= now {
		if n > math.MaxInt64-e.BlLeft {
			return math.MaxInt64
		}
		n += e.BlLeft
	}
	return n
}

// valid reports whether e is a schedule the queue can hold: an id, a live
// main part, and expirations that advance.
func (e *Entry) valid() bool {
	switch {
	case e.ID == 0 || e.Left == 0 || e.Left < -1:
		return false
	case e.Left != 1 && e.Period <= 0:
		return false
	case e.BlLeft < 0:
		return false
	}
	return true
}

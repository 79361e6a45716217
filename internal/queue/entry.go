package queue

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

// DueCount is how many expirations of e are due at now (due <= now),
// saturating: the engine's count.
func (e *Entry) DueCount(now int64) int64 {
	s := e.sched()
	return s.dueCount(now)
}

// sched is e as the engine holds it (Ptr kept as its tag).
func (e *Entry) sched() sched {
	return sched{due: e.Due, period: e.Period, left: e.Left, blDue: e.BlDue, blLeft: e.BlLeft, id: e.ID, tag: e.Ptr}
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

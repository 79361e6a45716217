package queue

// The lease: a consumer that counts and runs expirations itself (the Lua
// binding's C engine, until phase 2 of issue 22 moves it here) hands
// schedules to the queue to keep time for (Return) and takes them back
// (Lend, LendID). The queue keeps them in an engine of their own, which it
// never takes expirations from, and finds them by the consumer's id.

func (q *Queue) leaseEntry(s int32) Entry {
	t := &q.lease.t[s]
	return Entry{ID: t.id, Ptr: t.tag, Due: t.due, Period: t.period, Left: t.left, BlDue: t.blDue, BlLeft: t.blLeft}
}

// Return hands timers back to the queue (or hands it new ones): from now
// on the queue holds their schedules and keeps time for them. Entries that
// are invalid (see Entry) or whose id the queue already holds are
// skipped; the first such error is returned after the rest are taken.
func (q *Queue) Return(entries []Entry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	var err error
	for i := range entries {
		e := &entries[i]
		if _, held := q.byID[e.ID]; !e.valid() || held {
			if err == nil {
				err = ErrRange
				if held {
					err = ErrExists
				}
			}
			continue
		}
		s := q.lease.alloc()
		t := &q.lease.t[s]
		gen := t.gen
		*t = e.sched()
		t.gen, t.at, t.prev, t.next = gen, notHeld, -1, -1
		q.lease.insert(s)
		q.byID[e.ID] = s
	}
	q.update()
	return err
}

// Lend hands the consumer every timer the queue holds for it whose next
// expiration is due at upto (Key <= upto), earliest first (by Key, then
// id), at most len(buf); it returns how many it wrote. The queue forgets
// them: until they are returned, their schedules are the consumer's.
func (q *Queue) Lend(upto int64, buf []Entry) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(buf) {
		s := q.lease.top()
		if s < 0 || q.lease.t[s].key() > upto {
			break
		}
		buf[n] = q.leaseEntry(s)
		q.forget(s)
		n++
	}
	if n > 0 {
		q.update()
	}
	return n
}

// LendID hands the consumer the timer with this id, if the queue holds
// it, and forgets it (a timer the consumer stops, restarts or destroys).
func (q *Queue) LendID(id uint64) (Entry, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.byID[id]
	if !ok {
		return Entry{}, false
	}
	e := q.leaseEntry(s)
	q.forget(s)
	q.update()
	return e, true
}

func (q *Queue) forget(s int32) {
	delete(q.byID, q.lease.t[s].id)
	q.lease.remove(s)
	q.lease.release(s)
}

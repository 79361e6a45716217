package queue

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
		switch {
		case !e.valid():
			if err == nil {
				err = ErrRange
			}
			continue
		case q.byID[e.ID] != nil:
			if err == nil {
				err = ErrExists
			}
			continue
		}
		t := &timer{Entry: *e}
		q.byID[e.ID] = t
		q.heap.push(t)
	}
	q.update()
	return err
}

// Lend hands the consumer every timer the queue holds whose next
// expiration is due at upto (Key <= upto), earliest first (by Key, then
// id), at most len(buf); it returns how many it wrote. The queue forgets
// them: until they are returned, their schedules are the consumer's.
func (q *Queue) Lend(upto int64, buf []Entry) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for n < len(buf) && len(q.heap) > 0 && q.heap[0].Key() <= upto {
		t := q.heap[0]
		q.heap.remove(0)
		delete(q.byID, t.ID)
		buf[n] = t.Entry
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
	t := q.byID[id]
	if t == nil {
		return Entry{}, false
	}
	q.heap.remove(t.hidx)
	delete(q.byID, id)
	q.update()
	return t.Entry, true
}

// NextDue returns when the earliest timer the queue holds is due (its
// Key), and whether it holds any.
func (q *Queue) NextDue() (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.heap) == 0 {
		return 0, false
	}
	return q.heap[0].Key(), true
}

// Timers returns how many timers the queue holds.
func (q *Queue) Timers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.byID)
}

package queue

// Lent is one timer lent to the consumer (Lend). An interval timer's
// expiration k (k = 1, 2, ...) is due at Start + k*Period on the queue's
// clock; a one-off (Period 0) has one expiration, due at Start. K counts
// the expirations taken so far. The consumer advances K as it runs them
// and hands the timer back with Reclaim. Its layout (four 8-byte fields)
// is shared with C (lmk_lent).
type Lent struct {
	ID     uint64
	Start  int64
	Period int64
	K      int64
}

// Lend lends the waiting consumer (between BeginWait and EndWait) every
// armed timer, so that it can count and run their expirations itself,
// with no call into the queue, until it calls Reclaim. It lends only when
// it can lend them all: consumer clock on (SetConsumerClock), nothing
// pending, and between 1 and len(buf) timers armed. A successful Lend also
// ends the wait: the queue is lazy again (see SetConsumerClock), and lent
// timers are not expired by anyone until they are reclaimed. Timers armed
// while others are lent are the queue's; the consumer looks (Take,
// Pending, BeginWait) or reclaims before it sleeps past their due time.
//
// Stop, Start and Cancel of a lent timer take it back without its count
// (the consumer must reclaim first to keep it); Reclaim then skips it.
func (q *Queue) Lend(buf []Lent) (n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || !q.waiting || !q.consumerClock || q.pending > 0 || len(q.heap) == 0 || len(q.heap) > len(buf) {
		return 0
	}
	for _, t := range q.heap {
		l := Lent{ID: t.id, Start: t.start, Period: t.period, K: t.k}
		if t.period == 0 {
			l.Start = t.due
		}
		buf[n] = l
		n++
		t.hidx = -1
		t.lent = true
	}
	clear(q.heap)
	q.heap = q.heap[:0]
	q.waiting = false
	q.lazy = true
	return n
}

// Reclaim takes back timers lent by Lend, each with the count of
// expirations the consumer took (K; clamped to those due by now). A
// one-off it took is over: the queue forgets it, as when Take hands out
// its slot. Timers stopped, restarted or cancelled since they were lent
// are skipped. What fell due and was not taken is queued when the
// consumer next looks.
func (q *Queue) Reclaim(lent []Lent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	now := q.now()
	for i := range lent {
		t := q.timers.get(lent[i].ID)
		if t == nil || !t.lent {
			continue
		}
		t.lent = false
		if t.period == 0 {
			if lent[i].K > 0 && now >= t.due {
				t.state = tDead
				q.timers.del(t.id)
				continue
			}
			q.heap.push(t)
			continue
		}
		if k := lent[i].K; k > t.k {
			t.k = max(t.k, min(k, (now-t.start)/t.period))
		}
		t.due = t.start + (t.k+1)*t.period
		q.heap.push(t)
	}
	if !q.lazy && !q.waiting {
		q.resched(now)
	}
}

package queue

import "math"

// Lent is one interval timer lent to the consumer (Lend): its expiration
// k (k = 1, 2, ...) is due at Start + k*Period on the queue's clock, and K
// counts the expirations taken so far. The consumer advances K as it runs
// them and hands the timer back with Reclaim. Its layout (four 8-byte
// fields) is shared with C (lmk_lent).
type Lent struct {
	ID     uint64
	Start  int64
	Period int64
	K      int64
}

// Lend lends the waiting consumer (between BeginWait and EndWait) the
// interval timers, so that it can count and run their expirations itself,
// with no call into the queue, until it calls Reclaim. It lends only when
// it can lend them all: consumer clock on (SetConsumerClock), nothing
// pending, at most len(buf) timers armed, and at least one of them an
// interval timer. One-offs stay; horizon is the earliest one's due time
// (math.MaxInt64: none), past which the consumer must reclaim before it
// goes on. A successful Lend also ends the wait: the queue is lazy again
// (see SetConsumerClock), and lent timers are not expired by anyone
// until they are reclaimed.
//
// Stop, Start and Cancel of a lent timer take it back without its count
// (the consumer must reclaim first to keep it); Reclaim then skips it.
func (q *Queue) Lend(buf []Lent) (n int, horizon int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	horizon = math.MaxInt64
	if q.closed || !q.waiting || !q.consumerClock || q.pending > 0 || len(q.heap) > len(buf) {
		return 0, horizon
	}
	for _, t := range q.heap {
		if t.period > 0 {
			buf[n] = Lent{ID: t.id, Start: t.start, Period: t.period, K: t.k}
			n++
		}
	}
	if n == 0 {
		return 0, horizon
	}
	for i := 0; i < n; i++ {
		t := q.timers.get(buf[i].ID)
		q.heap.remove(t.hidx)
		t.lent = true
	}
	if len(q.heap) > 0 {
		horizon = q.heap[0].due
	}
	q.waiting = false
	q.lazy = true
	return n, horizon
}

// Reclaim takes back timers lent by Lend, each with the count of
// expirations the consumer took (K; clamped to those due by now). Timers
// stopped, restarted or cancelled since they were lent are skipped. What
// fell due and was not taken is queued when the consumer next looks.
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

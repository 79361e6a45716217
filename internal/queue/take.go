package queue

// take.go: the consumer's side of the timers the queue runs: taking what
// is published or due (Take, Next, TakeDue), asking when a timer is due,
// and the passive mode's hand-outs ahead of time (TakeAhead, GiveBack).
// Arming and the timers' lifecycle are in timers.go.

import (
	"context"
	"math"
)

// Take moves published expirations into buf, in (due, id) order, without
// blocking, and returns how many it wrote.
func (q *Queue) Take(buf []Expiration) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.take(buf, math.MaxInt64)
}

// take moves published expirations due by upto into buf, in (due, id)
// order, each cut at upto (what falls due after it goes back to the
// timer's schedule). The ready list is in publish order, which is not
// always due order (a restart's backlog is published after records due
// later; the clock goroutine may have published records due after upto),
// so every record is looked at; those due later stay.
func (q *Queue) take(buf []Expiration, upto int64) int {
	n := 0
	for i := q.rhead; n < len(buf) && i < len(q.ready); i++ {
		r := q.ready[i]
		if r.Count == 0 || r.Due > upto {
			continue // withdrawn, or not due by upto
		}
		q.ready[i].Count = 0 // taken: skipped from now on
		s := int32(uint32(r.ID))
		t := q.run.t.at(s)
		t.flags &^= fReady
		q.nready--
		q.readyN -= r.Count
		if later := q.cut(s, &r, upto); later > 0 {
			t.flags &^= fFired
		}
		if t.flags&fFired != 0 {
			q.run.release(s)
		}
		// insert by due (nearly sorted already); equal dues keep publish
		// order, which is the engine's (key, id) order within a tick
		j := n
		for j > 0 && buf[j-1].Due > r.Due {
			buf[j] = buf[j-1]
			j--
		}
		buf[j] = r.Expiration
		n++
	}
	for q.rhead < len(q.ready) && q.ready[q.rhead].Count == 0 {
		q.rhead++
	}
	switch {
	case q.rhead == len(q.ready):
		q.rbase += uint32(q.rhead)
		q.ready, q.rhead = q.ready[:0], 0
	case q.rhead >= 1024 && 2*q.rhead >= len(q.ready):
		k := copy(q.ready, q.ready[q.rhead:])
		q.rbase += uint32(q.rhead)
		q.ready, q.rhead = q.ready[:k], 0
	}
	if n > 0 {
		q.update()
	}
	return n
}

// trim drops from run timer s's published record the expirations of its
// main part due after at (the clock goroutine published them before a
// restart asked for at reached the queue): the restart replaces them. The
// record is withdrawn if nothing is left. q.mu must be held.
func (q *Queue) trim(s int32, at int64) {
	t := q.run.t.at(s)
	r := &q.ready[int(t.rpos-q.rbase)]
	main := r.Count - r.bl
	if main <= 0 || r.first+(main-1)*t.period <= at {
		return
	}
	keep := int64(0)
	if r.first <= at {
		keep = (at-r.first)/t.period + 1
	}
	r.Count -= main - keep
	q.readyN -= main - keep
	if r.Count == 0 {
		r.Count = 0
		q.nready--
		t.flags &^= fReady
	}
}

// cut takes back from record r of run timer s the expirations of its main
// part due after upto: they return to the timer's schedule, due as
// before. It returns how many. q.mu must be held.
func (q *Queue) cut(s int32, r *readyRec, upto int64) int64 {
	t := q.run.t.at(s)
	main := r.Count - r.bl
	if main <= 0 || r.first+(main-1)*t.period <= upto {
		return 0
	}
	keep := int64(0)
	if r.first <= upto {
		keep = (upto-r.first)/t.period + 1
	}
	later := main - keep
	r.Count -= later
	held := q.run.held(s)
	if held {
		q.run.remove(s)
	}
	t.due -= later * t.period
	if t.left >= 0 { // a one-off: one expiration at most
		t.left += int32(later)
	}
	q.run.insert(s)
	return later
}

// Next waits until an expiration is published, then moves published ones
// into buf as Take does. It returns early with ctx's error, or ErrClosed
// once the queue is closed.
func (q *Queue) Next(ctx context.Context, buf []Expiration) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.nready == 0 && !q.closed && ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() {
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		})
		defer stop()
	}
	for q.nready == 0 && !q.closed {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		q.cond.Wait()
	}
	if q.closed {
		return 0, ErrClosed
	}
	return q.take(buf, math.MaxInt64), nil
}

// Due returns when timer id's next expiration that a consumer has not
// taken is due: its published record's, if it has one, else its next
// expiration's; false when id names no armed timer (stopped, destroyed,
// or a one-off whose expiration was taken).
func (q *Queue) Due(id ID) (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.slot(id)
	if !ok {
		return 0, false
	}
	t := q.run.t.at(s)
	if t.flags&fReady != 0 {
		return q.ready[int(t.rpos-q.rbase)].Due, true
	}
	if !q.run.held(s) {
		return 0, false
	}
	return q.run.key(t, s), true
}

// TakeDue decides what is due at upto (the clock goroutine's tick, run on
// the caller's goroutine, so a consumer that must run everything due by
// then need not wait for the clock goroutine to wake) and moves the
// published expirations due by upto into buf, in (due, id) order: a
// record that counts expirations due later is cut at upto, and those go
// back to the timer's schedule.
func (q *Queue) TakeDue(upto int64, buf []Expiration) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	q.tick(min(upto, q.clk.Now()))
	return q.take(buf, upto)
}

// AheadPerTimer is how many expirations of one timer a TakeAhead call
// hands out ahead of their time at most: with the shim's window of 128 ms,
// a 1 ms interval timer is handed out a whole window at a time (each call
// wakes the idle runtime's sysmon: 0.46 Go CPU us per callback of eight
// 1 ms timers at 16 per call, 0.07 at 128 with room for them all), a
// 0.1 ms one 12.8 ms at a time.
const AheadPerTimer = 128

// sched.nahead counts up to AheadPerTimer in a uint8: this fails to
// compile if it no longer fits.
const _ = uint8(AheadPerTimer)

// SetPassive says who decides when the consumer wakes. Passive: the
// consumer takes everything due itself (TakeAhead, TakeDue) and sleeps
// until the due time the DueNotifier tells it, so the clock goroutine
// sleeps until poked instead of waking for every expiration (a Go
// runtime timer wakes in whole milliseconds when idle, and each wake-up
// costs the consumer's process tens of microseconds of CPU). Active (the
// default): the clock goroutine publishes every expiration when it falls
// due, for consumers that wait on the Notifier or on Wait and Next.
func (q *Queue) SetPassive(passive bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.passive == passive || q.closed {
		return
	}
	q.passive = passive
	if !passive { // look now: something may be due already
		q.sleepUntil = math.MinInt64
		q.pokeLocked()
	}
}

// TakeAhead is TakeDue, and then, on a passive queue with nothing
// published left, hands out what falls due after upto and by limit, ahead
// of its time: one record per expiration (Count 1, or a backlog's count),
// at its due time, in (due, id) order, at most AheadPerTimer per timer and
// as many as buf holds. The schedules move past what it hands out: the
// consumer holds those expirations and runs each when it falls due, and
// drops those of a timer it stops, destroys or restarts (Restart keeps the
// timer's schedule from its new start, not from what was handed out). It
// returns how many records it wrote and until when everything due is
// handed out: the consumer calls again once its clock passes that (at
// once if it is before upto: buf was full), or once it arms or restarts a
// timer due by then (which lowers it).
func (q *Queue) TakeAhead(upto, limit int64, buf []Expiration) (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, upto
	}
	q.tick(min(upto, q.clk.Now()))
	n := q.take(buf, upto)
	if n == len(buf) {
		return n, upto - 1 // full: more may be due, call again
	}
	if !q.passive || q.nready > 0 || limit <= upto {
		return n, upto
	}
	until := limit
	n0 := n
	for {
		s, t, ok := q.firstBy(limit)
		if !ok {
			break
		}
		k := q.run.key(t, s)
		if n == len(buf) || t.nahead == AheadPerTimer {
			until = max(k-1, upto)
			break
		}
		t.nahead++
		c, over := q.run.takeDue(s, k)
		buf[n] = Expiration{ID: makeID(s, t.id), Tag: t.tag, Due: k, Count: c, Seq: t.id}
		n++
		if over {
			q.run.release(s)
		}
	}
	for _, x := range buf[n0:n] { // the counts are this call's
		q.run.t.at(x.ID.index()).nahead = 0
	}
	q.tellDue()
	return n, until
}

// GiveBack returns to interval timer id's schedule the expirations a
// TakeAhead handed out from due on that the consumer has not run: its
// next expiration is due at due again. It is how a consumer that stops
// holding expirations ahead (its queue turns active: SetPassive(false))
// hands them back; it runs nothing and counts nothing. A one-off handed
// out is gone from the queue: the consumer arms it again (ArmAt).
func (q *Queue) GiveBack(id ID, due int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.slot(id)
	if !ok {
		return q.notFound()
	}
	t := q.run.t.at(s)
	if t.left >= 0 || !q.run.held(s) || t.hasBL {
		return ErrRange // a one-off, stopped, or restarted since
	}
	if due < t.due {
		q.run.remove(s)
		t.due = due
		q.run.insert(s)
		q.update()
	}
	return nil
}

package queue

import "time"

// The virtual clock (mit.clock("virtual"), issue 25): the queue's clock
// is the one source of "now" for everything it decides (arming clamps to
// it, takes decide up to it, signal deliveries are stamped with it). A
// virtual clock is a ManualClock that stands still until SetNow moves it;
// switching never moves the reading: the virtual clock starts where the
// real one was, and the real one that replaces it goes on from the
// virtual reading (its epoch set back), so every schedule keeps its
// distance to now across a switch and the clock never runs backwards.

// SetVirtual switches the queue to a virtual clock (on) or back to a real
// one, and returns the clock's reading, the same before and after. The
// clock goroutine, asleep on the old clock, is poked to sleep on the new
// one. Switching to the mode in effect changes nothing.
func (q *Queue) SetVirtual(on bool) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.clk.Now()
	_, virtual := q.clk.(*ManualClock)
	switch {
	case on && !virtual:
		q.clk = NewManualClock(now)
	case !on && virtual:
		q.clk = &realClock{epoch: time.Now().Add(-time.Duration(now))}
	default:
		return now
	}
	q.pokeLocked()
	q.update()
	return now
}

// Virtual reports whether the queue runs on a virtual clock.
func (q *Queue) Virtual() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, virtual := q.clk.(*ManualClock)
	return virtual
}

// SetNow moves a virtual clock forward to now (never back: an earlier now
// leaves it where it is) and publishes what falls due, as the clock
// goroutine would. It returns the clock's reading; on a real clock it
// moves nothing and returns ErrRange.
func (q *Queue) SetNow(now int64) (int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, ok := q.clk.(*ManualClock)
	if !ok {
		return q.clk.Now(), ErrRange
	}
	if d := now - c.Now(); d > 0 {
		c.Advance(time.Duration(d))
		q.update()
	}
	return c.Now(), nil
}

// Retell tells the DueNotifier the earliest due time again, changed or
// not: after the consumer changed how it converts the queue's clock (a
// switch of clocks moves the offset between the two).
func (q *Queue) Retell() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dueN != nil {
		q.told = q.run.nextDue()
		q.dueN.NextDue(q.told)
	}
}

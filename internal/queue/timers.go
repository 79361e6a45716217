package queue

import (
	"math"
	"time"
)

// ID names a timer the queue runs (Arm). It is the timer's slot in the
// queue's table and the low 32 bits of its arming order (sched.id), so a
// stale ID (of a destroyed timer, or of a one-off whose expiration was
// taken) finds nothing: a freed slot's id is 0, a reused one's another
// arming's (the same low bits again only 2^32 armings later). IDs are
// never 0.
type ID uint64

func makeID(slot int32, seq uint64) ID { return ID(uint64(uint32(seq))<<32 | uint64(uint32(slot))) }

// nextSeq is the arming order of a new timer (sched.id): never 0, nor
// 0 in its low 32 bits, which name the arming in its IDs (so no ID is 0).
// q.mu must be held.
func (q *Queue) nextSeq() uint64 {
	q.seq++
	if uint32(q.seq) == 0 {
		q.seq++
	}
	return q.seq
}

// index is the slot id names (valid while its arming matches: Queue.slot).
func (id ID) index() int32 { return int32(uint32(id)) }

// Expiration is what a consumer takes from the queue: Count expirations of
// timer ID, the first due at Due and the others after it (an interval
// timer taken late: all of those due, back to back), Tag as given to Arm.
type Expiration struct {
	ID    ID
	Tag   uintptr
	Due   int64
	Count int64
	Seq   uint64 // the timer's arming order: ties of Due go by it
}

// slot finds the run timer named id. q.mu must be held.
func (q *Queue) slot(id ID) (int32, bool) {
	s := id.index()
	if q.closed || s < 0 || s >= q.run.t.n {
		return 0, false
	}
	t := q.run.t.at(s)
	return s, uint32(t.id) == uint32(id>>32) && t.flags&fLive != 0
}

// Arm arms a timer the queue runs: its first expiration is due delay from
// now; with period > 0 it is an interval timer due every period after
// that, else a one-off (it is gone once its expiration is taken). tag is
// the consumer's, handed back in each Expiration. Timers armed at the same
// time come in the order they were armed.
func (q *Queue) Arm(delay, period time.Duration, tag uintptr) (ID, error) {
	return q.ArmAt(-1, delay, period, tag)
}

// ArmAt is Arm from the instant at (the queue's clock; < 0 or later than
// now: now), for a consumer whose call reached the queue late (a slow
// crossing, a contended lock): the schedule is the one of the moment it
// was asked for, and what fell due since is due at once.
func (q *Queue) ArmAt(at int64, delay, period time.Duration, tag uintptr) (ID, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, _, err := q.arm(at, q.clk.Now(), delay, period, tag)
	if err == nil {
		q.update()
	}
	return id, err
}

// ArmAhead is ArmAt for a consumer that holds every expiration due by
// until (TakeAhead's bound): what the new timer has due by then is handed
// out at once into buf, as TakeAhead would have (at most AheadPerTimer and
// as many as buf holds), so that the consumer needs no take for it. It
// returns the timer's id, when its first expiration is due, how many
// records it wrote, and when its first expiration not handed out is due
// (math.MaxInt64: none, a one-off handed out): the consumer lowers its
// bound below that.
//
// from says where what the consumer holds ends: nothing is handed out
// unless the new timer's first expiration falls due at or after it, so
// that what is handed out lands behind all the consumer holds (a burst
// of timers of one delay, or a task that sleeps again, is handed out as it
// is armed; a timer due earlier waits for the consumer's next take).
func (q *Queue) ArmAhead(at int64, delay, period time.Duration, tag uintptr, from, until int64, buf []Expiration) (id ID, first int64, n int, next int64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, first, n, next, err = q.armAhead(at, delay, period, tag, from, until, buf)
	if err == nil {
		q.update()
	}
	return id, first, n, next, err
}

// armAhead is ArmAhead with q.mu held; the caller calls update.
func (q *Queue) armAhead(at int64, delay, period time.Duration, tag uintptr, from, until int64, buf []Expiration) (id ID, first int64, n int, next int64, err error) {
	id, s, err := q.arm(at, q.clk.Now(), delay, period, tag)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	first = q.run.t.at(s).due
	n, next = q.handOut(id, from, until, buf)
	return id, first, n, next, nil
}

// handOut hands out what timer id (just armed, held) has due by until
// into buf, at most AheadPerTimer and len(buf) records, if its first
// expiration falls due at or after from (see ArmAhead). It returns how
// many records it wrote and when its first expiration not handed out is
// due (math.MaxInt64: none, a one-off handed out). q.mu held.
func (q *Queue) handOut(id ID, from, until int64, buf []Expiration) (n int, next int64) {
	s := id.index()
	next = math.MaxInt64
	if q.run.t.at(s).due < from {
		until = math.MinInt64
	}
	for {
		t := q.run.t.at(s)
		k := q.run.key(t, s)
		if k > until || n == len(buf) || n == AheadPerTimer {
			next = k
			break
		}
		c, over := q.run.takeDue(s, k)
		buf[n] = Expiration{ID: id, Tag: t.tag, Due: k, Count: c, Seq: t.id}
		n++
		if over {
			q.run.release(s)
			break
		}
	}
	return n, next
}

// Arming is one timer to arm in an ArmAheadMany call: At, Delay, Period
// and Tag as for ArmAhead; Drop, if not 0, a timer destroyed first (as
// Destroy: a consumer's re-arm that drops what fell due, sent with the
// arm; one already gone is no error). The call fills in ID, First (when
// its first expiration is due) and N (how many records of it were
// handed out).
type Arming struct {
	At            int64
	Delay, Period time.Duration
	Tag           uintptr
	Drop          ID
	ID            ID
	First         int64
	N             int
}

// ArmAheadMany arms each of arms in order, under one lock, for a
// consumer that sends the arms it made since its last call in one go:
// each is armed from its own At (the schedule of the moment it was asked
// for), as ArmAt would; then, in the same order, each hands out what
// ArmAhead would have: what it has due within ahead of its At, before
// the first expiration the queue holds of the timers armed before it, into
// buf behind what the consumer holds (from, then behind what the arms
// before it handed out), but no further than the next arm's first
// expiration when that one falls due at or after its own. So timers armed
// in a burst (one delay, in due order) each hand out their first
// expiration behind the one before, not the first a whole window that the
// others could not land behind: the consumer holds the burst's
// expirations together and wakes once for them. With ahead <= 0, or on
// an active queue, nothing is handed out. It returns how many records it
// wrote in all. On an error the arms before the failing one stand (their
// ID is set, and they hand out as above) and the rest are not made.
func (q *Queue) ArmAheadMany(arms []Arming, from, ahead int64, buf []Expiration) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	defer q.update()
	for i := range arms {
		if arms[i].Drop != 0 {
			_ = q.disarmLocked(arms[i].Drop, true)
		}
	}
	held := q.run.nextDue() // of the timers armed before this call
	var err error
	made := len(arms)
	now := q.clk.Now() // one reading: every At was read before the call
	for i := range arms {
		a := &arms[i]
		if a.ID, _, err = q.arm(a.At, now, a.Delay, a.Period, a.Tag); err != nil {
			made = i
			break
		}
		a.First, a.N = q.run.t.at(a.ID.index()).due, 0
	}
	used := 0
	for i := range arms[:made] {
		a := &arms[i]
		until := int64(math.MinInt64)
		if q.passive && ahead > 0 {
			until = min(a.At+ahead, held-1)
			if i+1 < made && arms[i+1].First >= a.First {
				until = min(until, arms[i+1].First) // the next one lands behind
			}
		}
		var next int64
		a.N, next = q.handOut(a.ID, from, until, buf[used:])
		held = min(held, next)
		if a.N > 0 {
			from = buf[used+a.N-1].Due
		}
		used += a.N
	}
	return used, err
}

// arm makes a timer (see ArmAt; now: the clock's reading under q.mu) and
// returns its id and slot. q.mu must be held; the caller calls update.
func (q *Queue) arm(at, now int64, delay, period time.Duration, tag uintptr) (ID, int32, error) {
	if delay < 0 || period < 0 {
		return 0, 0, ErrRange
	}
	if q.closed {
		return 0, 0, ErrClosed
	}
	if at < 0 || at > now {
		at = now
	}
	s := q.run.alloc()
	t := q.run.t.at(s)
	t.id, t.tag, t.flags = q.nextSeq(), tag, fLive
	if period > 0 {
		t.period, t.left = int64(period), -1
	} else {
		t.period, t.left = int64(delay), 1
	}
	t.due = at + int64(delay)
	q.run.insert(s)
	return makeID(s, t.id), s, nil
}

// Stop disarms timer id and drops its expirations not yet taken: none is
// taken after Stop returns. Start arms it again. A one-off whose
// expiration was taken is gone (ErrNotFound).
func (q *Queue) Stop(id ID) error {
	return q.disarm(id, false)
}

// Start (re)arms timer id from now: its first expiration is due one
// period (a one-off: its delay) away. Expirations of an armed timer that
// fell due and are not yet published still come, counted, at the first
// one's due time; those of a stopped timer were dropped by Stop.
func (q *Queue) Start(id ID) error {
	_, _, err := q.restart(id, -1, false, -1)
	return err
}

// Reset is Start with a new period (a one-off: a new delay).
func (q *Queue) Reset(id ID, period time.Duration) error {
	if period < 0 {
		return ErrRange
	}
	_, _, err := q.restart(id, int64(period), false, -1)
	return err
}

// Restart is Start (period < 0) or Reset (period >= 0, in ns) that also
// returns when the first expiration of the new schedule falls due. With
// handOver, the expirations that fell due before it and were not taken
// (published, kept by an earlier restart, or due now) are not kept: they
// are counted in the second result, as if taken, for a consumer that
// holds earlier expirations of the timer and runs them all as one record.
// at is the instant it was asked for, as in ArmAt.
func (q *Queue) Restart(id ID, period int64, handOver bool, at int64) (due, taken int64, err error) {
	return q.restart(id, period, handOver, at)
}

func (q *Queue) restart(id ID, period int64, handOver bool, at int64) (int64, int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.slot(id)
	if !ok {
		return 0, 0, q.notFound()
	}
	t := q.run.t.at(s)
	if t.flags&fSignal != 0 {
		return q.sigRestart(s, period)
	}
	interval := t.left < 0
	if period == 0 && interval {
		return 0, 0, ErrRange
	}
	now := q.clk.Now()
	if at >= 0 && at < now {
		now = at // the moment it was asked for
	}
	taken := int64(0)
	if t.flags&fReady != 0 {
		q.trim(s, now)
	}
	if t.flags&fReady != 0 { // what it published is now all due by now
		if handOver {
			taken = q.ready[int(t.rpos-q.rbase)].Count
			q.withdraw(s)
		} else {
			r := &q.ready[int(t.rpos-q.rbase)]
			r.bl = r.Count
		}
	}
	if q.run.held(s) {
		q.run.remove(s)
		blDue, blLeft := q.run.backlog(s)
		if handOver {
			taken = addSat(taken, blLeft)
			blLeft = 0
		}
		if n := t.mainDue(now); n > 0 {
			if handOver {
				taken = addSat(taken, n)
			} else {
				if blLeft == 0 {
					blDue = t.due
				}
				blLeft += n
			}
		}
		q.run.setBacklog(s, blDue, blLeft)
	} else {
		q.run.setBacklog(s, 0, 0)
	}
	if period >= 0 {
		t.period = period
	}
	t.left = 1
	if interval {
		t.left = -1
	}
	t.due = now + t.period
	due := t.due
	t.flags &^= fStopped | fFired
	q.run.insert(s)
	q.update()
	return due, taken, nil
}

// Destroy disarms timer id for good and drops its expirations not yet
// taken; id names nothing afterwards.
func (q *Queue) Destroy(id ID) error {
	return q.disarm(id, true)
}

// disarm is Stop, or with destroy Destroy: it takes timer id out of the
// schedule and drops its expirations not yet taken, then marks it
// stopped, or frees its slot.
func (q *Queue) disarm(id ID, destroy bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.disarmLocked(id, destroy)
}

// disarmLocked is disarm with q.mu held.
func (q *Queue) disarmLocked(id ID, destroy bool) error {
	s, ok := q.slot(id)
	if !ok {
		return q.notFound()
	}
	q.sigOff(s) // a signal schedule stops catching
	q.run.remove(s)
	q.withdraw(s)
	if destroy {
		q.sigRelease(s)
		q.run.release(s)
	} else {
		t := q.run.t.at(s)
		t.flags = t.flags&^fFired | fStopped
		q.run.setBacklog(s, 0, 0)
	}
	q.update()
	return nil
}

func (q *Queue) notFound() error {
	if q.closed {
		return ErrClosed
	}
	return ErrNotFound
}

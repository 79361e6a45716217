package queue

// FuzzQueueOps decodes its input into a sequence of queue operations and
// checks each result, and the queue's invariants after every operation,
// against a model.
//
//	go test -run '^$' -fuzz=FuzzQueueOps ./internal/queue
//
// Time is kept out of the invariants: timers are armed on the virtual
// clock (advance, whole hours), so which expirations exist after an
// advance is exact. The exception is the one-off armed (or started) with
// zero delay: the runtime timer fires it at any moment, concurrently with
// the operations that follow, until the next advance; the model treats it
// as "maybe fired" and checks only what holds either way.

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"
)

// Operation codes: an input is a sequence of (op, arg) byte pairs.
const (
	opArmOneOff   = iota // delay arg%4 hours (0: fires at once, on the real runtime timer)
	opArmInterval        // delay 1+arg%3, period 1+(arg/3)%3 hours
	opCancel             // timer pick(arg)
	opStop               // timer pick(arg)
	opStart              // timer pick(arg)
	opTake               // buffer of takeSizes[arg%len]
	opPutBack            // the last arg%(len(held)+1) slots held by the consumer
	opAdvance            // clock + arg%4 hours, then fire
	opMisc               // arg%8: 0 Close, 1 duplicate Arm, 2 negative Arm, 3 Wait(0), else fire
	opRegister           // a producer
	opDeliver            // a plain item for producer arg%(producers+1)+1
	opUnregister         // producer arg%(producers+1)+1
	opLend               // lend the timers for arg%4 hours, the consumer taking none, half or all of what falls due
	numOps
)

var takeSizes = []int{0, 1, 2, 3, 5, 8, 64}

type mState uint8

const (
	mArmed mState = iota
	mStopped
	mFired // one-off expired: its one slot is queued
	mGone  // cancelled, or a one-off whose slot was taken (the consumer may hold it)
)

type mTimer struct {
	id            uint64
	oneoff        bool
	delay, period int64 // hours
	st            mState
	maybe         bool  // zero-delay one-off, armed: may have fired already
	due           int64 // one-off
	vstart, k     int64 // interval: schedule origin, expirations so far
	queued        int
}

type fuzzModel struct {
	t       *testing.T
	q       *Queue
	nt      *fakeNotifier
	vnow    int64
	timers  []*mTimer // timers[i].id == i+1
	held    []Slot    // slots of the last Take not yet put back
	front   []Slot    // put-back slots the next Take must return first
	pids    []uint32  // registered producers, in order of registration
	live    map[uint32]bool
	cookie  map[uint32]uintptr
	items   map[uintptr]uint32 // queued item -> producer
	nextIt  uintptr
	closed  bool
	opIndex int
}

func (m *fuzzModel) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("op %d: "+format, append([]any{m.opIndex}, args...)...)
}

// pick maps arg to a timer id; len(timers)+1 is an id never armed so far.
func (m *fuzzModel) pick(arg byte) (uint64, *mTimer) {
	id := uint64(int(arg)%(len(m.timers)+1)) + 1
	if int(id) <= len(m.timers) {
		return id, m.timers[id-1]
	}
	return id, nil
}

func (m *fuzzModel) known(mt *mTimer) bool { return mt != nil && mt.st != mGone }

func (m *fuzzModel) bounds() (lo, hi int) {
	for _, mt := range m.timers {
		lo += mt.queued
		if mt.maybe && mt.st == mArmed {
			hi++
		}
	}
	lo += len(m.items)
	return lo, lo + hi
}

func (m *fuzzModel) dropFront(keep func(s Slot) bool) {
	out := m.front[:0]
	for _, s := range m.front {
		if keep(s) {
			out = append(out, s)
		}
	}
	m.front = out
}

func sameSlots(a, b []Slot) bool {
	key := func(s []Slot) []string {
		k := make([]string, len(s))
		for i, x := range s {
			k[i] = fmt.Sprint(x)
		}
		sort.Strings(k)
		return k
	}
	return fmt.Sprint(key(a)) == fmt.Sprint(key(b))
}

func (m *fuzzModel) armOneOff(arg byte) {
	if len(m.timers) >= 40 {
		m.q.fireNow(false)
		return
	}
	id := uint64(len(m.timers) + 1)
	d := int64(arg % 4)
	err := m.q.Arm(id, D(d), 0)
	if m.closed {
		if !errors.Is(err, ErrClosed) {
			m.fail("Arm on closed queue = %v", err)
		}
		m.timers = append(m.timers, &mTimer{id: id, oneoff: true, st: mGone})
		return
	}
	if err != nil {
		m.fail("Arm(%d, %dU, 0) = %v", id, d, err)
	}
	m.timers = append(m.timers, &mTimer{id: id, oneoff: true, delay: d, due: m.vnow + d, maybe: d == 0})
}

// D converts hours of the virtual clock to a Duration.
func D(h int64) time.Duration { return time.Duration(h) * U }

func (m *fuzzModel) armInterval(arg byte) {
	if len(m.timers) >= 40 {
		m.q.fireNow(false)
		return
	}
	id := uint64(len(m.timers) + 1)
	d, p := int64(1+arg%3), int64(1+(arg/3)%3)
	err := m.q.Arm(id, D(d), D(p))
	if m.closed {
		if !errors.Is(err, ErrClosed) {
			m.fail("Arm on closed queue = %v", err)
		}
		m.timers = append(m.timers, &mTimer{id: id, st: mGone})
		return
	}
	if err != nil {
		m.fail("Arm(%d, %dU, %dU) = %v", id, d, p, err)
	}
	m.timers = append(m.timers, &mTimer{id: id, delay: d, period: p, vstart: m.vnow + d - p})
}

func (m *fuzzModel) cancel(arg byte) {
	id, mt := m.pick(arg)
	got := m.q.Cancel(id)
	if want := !m.closed && m.known(mt); got != want {
		m.fail("Cancel(%d) = %v, want %v", id, got, want)
	}
	if got {
		mt.st, mt.queued, mt.maybe = mGone, 0, false
		m.dropFront(func(s Slot) bool { return s.Flags&FlagItem != 0 || s.ID != id })
	}
}

func (m *fuzzModel) stop(arg byte) {
	id, mt := m.pick(arg)
	err := m.q.Stop(id)
	switch {
	case m.closed || !m.known(mt):
		if !errors.Is(err, ErrNotFound) {
			m.fail("Stop(%d) of unknown = %v", id, err)
		}
		return
	case mt.st == mFired:
		if !errors.Is(err, ErrFired) {
			m.fail("Stop(%d) of fired one-off = %v", id, err)
		}
		return
	case mt.maybe && mt.st == mArmed && errors.Is(err, ErrFired):
		mt.st, mt.queued, mt.maybe = mFired, 1, false // it had fired
		return
	}
	if err != nil {
		m.fail("Stop(%d) = %v", id, err)
	}
	mt.st, mt.queued, mt.maybe = mStopped, 0, false
	m.dropFront(func(s Slot) bool { return s.Flags&FlagItem != 0 || s.ID != id })
}

func (m *fuzzModel) start(arg byte) {
	id, mt := m.pick(arg)
	err := m.q.Start(id)
	switch {
	case m.closed || !m.known(mt):
		if !errors.Is(err, ErrNotFound) {
			m.fail("Start(%d) of unknown = %v", id, err)
		}
		return
	case mt.st == mFired:
		if !errors.Is(err, ErrFired) {
			m.fail("Start(%d) of fired one-off = %v", id, err)
		}
		return
	case mt.maybe && mt.st == mArmed && errors.Is(err, ErrFired):
		mt.st, mt.queued, mt.maybe = mFired, 1, false
		return
	}
	if err != nil {
		m.fail("Start(%d) = %v", id, err)
	}
	mt.st = mArmed
	if mt.oneoff {
		mt.due, mt.maybe = m.vnow+mt.delay, mt.delay == 0
	} else {
		mt.vstart, mt.k = m.vnow+mt.delay-mt.period, 0
	}
}

var sentinel = Slot{ID: ^uint64(0), Flags: ^uint32(0)}

func (m *fuzzModel) take(arg byte) {
	size := takeSizes[int(arg)%len(takeSizes)]
	buf := make([]Slot, size+2)
	for i := range buf {
		buf[i] = sentinel
	}
	lo, hi := m.bounds()
	n, before := m.q.Take(buf[:size])
	if n < 0 || n > size {
		m.fail("Take(buf of %d) returned %d", size, n)
	}
	for i := n; i < len(buf); i++ {
		if buf[i] != sentinel {
			m.fail("Take(buf of %d) = %d but wrote buf[%d]", size, n, i)
		}
	}
	if m.closed {
		if n != 0 || before != 0 {
			m.fail("Take on closed queue = %d, %d", n, before)
		}
		return
	}
	if before < lo || before > hi {
		m.fail("Take: %d pending before, model says %d..%d", before, lo, hi)
	}
	if want := min(size, before); n != want {
		m.fail("Take(buf of %d) with %d pending returned %d slots, want %d", size, before, n, want)
	}
	got := buf[:n]
	for i, s := range got {
		if i < len(m.front) && s != m.front[i] {
			m.fail("Take: slot %d is %+v, want put-back slot %+v (took %v, front %v)", i, s, m.front[i], got, m.front)
		}
		if s.Flags&FlagItem != 0 {
			pid, ok := m.items[s.Item]
			if !ok || pid != s.PID || s.Flags != FlagItem || s.ID != 0 || s.Cookie != m.cookie[pid] {
				m.fail("Take: unexpected item slot %+v (model: queued=%v pid=%d)", s, ok, pid)
			}
			delete(m.items, s.Item)
			continue
		}
		if s.ID == 0 || int(s.ID) > len(m.timers) {
			m.fail("Take: slot of unknown timer %+v", s)
		}
		mt := m.timers[s.ID-1]
		if mt.oneoff {
			if mt.maybe && mt.st == mArmed {
				mt.st, mt.queued, mt.maybe = mFired, 1, false
			}
			if mt.st != mFired || mt.queued != 1 || s.Flags != FlagLast {
				m.fail("Take: one-off slot %+v, model state %d queued %d", s, mt.st, mt.queued)
			}
			mt.st, mt.queued = mGone, 0
			continue
		}
		if mt.queued == 0 || mt.st == mStopped || mt.st == mGone || s.Flags != 0 {
			m.fail("Take: interval slot %+v, model state %d queued %d (stopped=%d gone=%d)",
				s, mt.st, mt.queued, mStopped, mGone)
		}
		mt.queued--
	}
	m.front = m.front[min(n, len(m.front)):]
	m.held = append([]Slot(nil), got...)
}

func (m *fuzzModel) putBack(arg byte) {
	j := int(arg) % (len(m.held) + 1)
	ps := append([]Slot(nil), m.held[len(m.held)-j:]...)
	m.held = m.held[:len(m.held)-j]
	dropped := m.q.PutBack(ps)
	if m.closed {
		if dropped != nil {
			m.fail("PutBack on closed queue dropped %v", dropped)
		}
		return
	}
	var kept, wantDropped []Slot
	for _, s := range ps {
		if s.Flags&FlagItem != 0 {
			if m.live[s.PID] {
				m.items[s.Item] = s.PID
				kept = append(kept, s)
			} else {
				wantDropped = append(wantDropped, s)
			}
			continue
		}
		mt := m.timers[s.ID-1]
		switch {
		case s.Flags&FlagLast != 0:
			if mt.st != mGone {
				m.fail("PutBack: the consumer holds the last slot of %d, model state %d", s.ID, mt.st)
			}
			mt.st, mt.queued = mFired, 1 // revived
			kept = append(kept, s)
		case mt.st == mArmed:
			mt.queued++
			kept = append(kept, s)
		}
	}
	if !sameSlots(dropped, wantDropped) {
		m.fail("PutBack(%v) dropped %v, want %v", ps, dropped, wantDropped)
	}
	m.front = append(kept, m.front...)
}

func (m *fuzzModel) advance(h int64) {
	advance(m.q, D(h))
	if m.closed {
		return
	}
	m.elapse(h)
}

// elapse moves the model's clock h hours on and counts what fell due.
func (m *fuzzModel) elapse(h int64) {
	m.vnow += h
	for _, mt := range m.timers {
		if mt.st != mArmed {
			continue
		}
		if mt.oneoff {
			if mt.due <= m.vnow {
				mt.st, mt.queued, mt.maybe = mFired, 1, false
			}
			continue
		}
		if m.vnow >= mt.vstart+(mt.k+1)*mt.period {
			k := (m.vnow - mt.vstart) / mt.period
			mt.queued += int(k - mt.k)
			mt.k = k
		}
	}
}

// lend: the consumer keeps time (SetConsumerClock), waits, and is lent the
// armed timers if the queue can lend them all; it keeps them for some
// hours, runs some of their expirations itself (a one-off's, all or
// none), hands them back (Reclaim) and hands time keeping back to the
// runtime timer, which queues the rest.
func (m *fuzzModel) lend(arg byte) {
	q := m.q
	m.advance(0) // settles zero-delay one-offs: pending is exact below
	if m.closed {
		return
	}
	lo, _ := m.bounds()
	armed := 0
	for _, mt := range m.timers {
		if mt.st == mArmed {
			armed++
		}
	}
	q.SetConsumerClock(true)
	q.BeginWait()
	buf := make([]Lent, 8)
	n := q.Lend(buf)
	want := 0
	if lo == 0 && armed <= len(buf) {
		want = armed
	}
	if n != want {
		m.fail("Lend lent %d timers, model %d (pending %d, armed %d)", n, want, lo, armed)
	}
	if n == 0 {
		q.EndWait()
		q.SetConsumerClock(false)
		return
	}
	h := int64(arg % 4)
	shift(q, D(h))
	m.vnow += h
	for i := range buf[:n] {
		l := &buf[i]
		mt := m.timers[l.ID-1]
		if mt.oneoff != (l.Period == 0) || mt.st != mArmed || l.K != mt.k {
			m.fail("lent %+v, model timer %+v", *l, *mt)
		}
		if mt.oneoff {
			if due := q.Now() >= l.Start; due != (m.vnow >= mt.due) {
				m.fail("one-off %d: due %v by the lent schedule, model due at %d, now %d", l.ID, due, mt.due, m.vnow)
			}
			if m.vnow >= mt.due && arg/4%3 == 2 {
				l.K = 1
				mt.st = mGone // run by the consumer: never queued
			}
			continue
		}
		due := max(l.K, (q.Now()-l.Start)/l.Period)
		if want := max(mt.k, (m.vnow-mt.vstart)/mt.period); due != want {
			m.fail("timer %d: %d expirations due by the lent schedule, model %d", l.ID, due, want)
		}
		c := (due - l.K) * int64(arg/4%3) / 2
		l.K += c
		mt.k += c // run by the consumer: never queued
	}
	q.Reclaim(buf[:n])
	q.SetConsumerClock(false) // queues what fell due and was not taken
	m.vnow -= h
	m.elapse(h)
}

func (m *fuzzModel) misc(arg byte) {
	switch arg % 8 {
	case 0:
		dropped := m.q.Close()
		if !m.closed {
			var want []Slot
			for it, pid := range m.items {
				want = append(want, Slot{Flags: FlagItem, PID: pid, Item: it, Cookie: m.cookie[pid]})
			}
			if !sameSlots(dropped, want) {
				m.fail("Close dropped %v, want the queued items %v", dropped, want)
			}
		} else if dropped != nil {
			m.fail("second Close dropped %v", dropped)
		}
		m.closed = true
		for _, mt := range m.timers {
			mt.st, mt.queued, mt.maybe = mGone, 0, false
		}
		m.items = map[uintptr]uint32{}
		m.live = map[uint32]bool{}
		m.front = nil
	case 1: // duplicate id
		for _, mt := range m.timers {
			if m.known(mt) && !m.closed {
				if err := m.q.Arm(mt.id, U, 0); !errors.Is(err, ErrExists) {
					m.fail("Arm of known id %d = %v, want ErrExists", mt.id, err)
				}
				return
			}
		}
	case 2:
		if err := m.q.Arm(1000, -1, 0); !errors.Is(err, ErrRange) {
			m.fail("Arm with negative delay = %v", err)
		}
		if err := m.q.Arm(1000, 0, -U); !errors.Is(err, ErrRange) {
			m.fail("Arm with negative period = %v", err)
		}
	case 3:
		lo, hi := m.bounds()
		got := m.q.Wait(0)
		if (lo > 0 && !got) || (hi == 0 && got) || (m.closed && got) {
			m.fail("Wait(0) = %v with model pending %d..%d", got, lo, hi)
		}
	default:
		m.advance(0)
	}
}

func (m *fuzzModel) register() {
	if len(m.pids) >= 8 {
		return
	}
	cookie := uintptr(0xC0DE00 + len(m.pids))
	pid, err := m.q.Register(cookie)
	if m.closed {
		if !errors.Is(err, ErrClosed) {
			m.fail("Register on closed queue = %v", err)
		}
		return
	}
	if err != nil || pid == 0 || m.cookie[pid] != 0 {
		m.fail("Register = %d, %v (known %v)", pid, err, m.pids)
	}
	m.pids = append(m.pids, pid)
	m.live[pid] = true
	m.cookie[pid] = cookie
}

func (m *fuzzModel) pickPID(arg byte) uint32 {
	i := int(arg) % (len(m.pids) + 1)
	if i < len(m.pids) {
		return m.pids[i]
	}
	return 999 // never registered
}

func (m *fuzzModel) deliver(arg byte) {
	pid := m.pickPID(arg)
	m.nextIt++
	item := m.nextIt
	st := m.q.Deliver(pid, item)
	want := StatusClosed
	if !m.closed && m.live[pid] {
		want = StatusOK
		m.items[item] = pid
	}
	if st != want {
		m.fail("Deliver(%d) = %d, want %d", pid, st, want)
	}
}

func (m *fuzzModel) unregister(arg byte) {
	pid := m.pickPID(arg)
	cookie, dropped := m.q.Unregister(pid)
	var want []Slot
	var wantCookie uintptr
	if !m.closed && m.live[pid] {
		wantCookie = m.cookie[pid]
		for it, p := range m.items {
			if p == pid {
				want = append(want, Slot{Flags: FlagItem, PID: pid, Item: it, Cookie: m.cookie[pid]})
				delete(m.items, it)
			}
		}
		delete(m.live, pid)
		m.dropFront(func(s Slot) bool { return s.Flags&FlagItem == 0 || s.PID != pid })
	}
	if !sameSlots(dropped, want) {
		m.fail("Unregister(%d) dropped %v, want %v", pid, dropped, want)
	}
	if cookie != wantCookie {
		m.fail("Unregister(%d) returned cookie %#x, want %#x", pid, cookie, wantCookie)
	}
}

func (m *fuzzModel) check() {
	m.t.Helper()
	q := m.q
	q.mu.Lock()
	serr := structureErr(q)
	pending, stale, set, nerrs := q.pending, q.stale, m.nt.set, m.nt.errs
	q.mu.Unlock()
	if serr != nil {
		m.fail("structure: %v", serr)
	}
	if len(nerrs) > 0 {
		m.fail("notifier: %v", nerrs)
	}
	if set != (pending > 0) {
		m.fail("notifier set=%v with pending=%d", set, pending)
	}
	if stale < 0 {
		m.fail("stale=%d", stale)
	}
	lo, hi := m.bounds()
	if pending < lo || pending > hi {
		m.fail("Pending()=%d, model %d..%d", pending, lo, hi)
	}
	p := q.Pending()
	if iq := q.InQueue(); iq < p {
		m.fail("InQueue()=%d < Pending()=%d", iq, p)
	}
	nknown := 0
	for _, mt := range m.timers {
		st := q.State(mt.id)
		var want int
		switch mt.st {
		case mArmed:
			want = StateArmed
			if mt.maybe && st == StateFired {
				want = StateFired
			}
		case mStopped:
			want = StateStopped
		case mFired:
			want = StateFired
		case mGone:
			want = StateNone
		}
		if st != want {
			m.fail("State(%d)=%d, model %d (model state %d, maybe %v)", mt.id, st, want, mt.st, mt.maybe)
		}
		if m.known(mt) {
			nknown++
		}
	}
	if k := q.Timers(); k != nknown {
		m.fail("Timers()=%d, model %d", k, nknown)
	}
}

func runOps(t *testing.T, data []byte) {
	q, nt := newNotified()
	defer q.Close()
	m := &fuzzModel{t: t, q: q, nt: nt, live: map[uint32]bool{}, cookie: map[uint32]uintptr{},
		items: map[uintptr]uint32{}}
	for i := 0; i+1 < len(data) && i < 600; i += 2 {
		m.opIndex = i / 2
		op, arg := data[i]%numOps, data[i+1]
		switch op {
		case opArmOneOff:
			m.armOneOff(arg)
		case opArmInterval:
			m.armInterval(arg)
		case opCancel:
			m.cancel(arg)
		case opStop:
			m.stop(arg)
		case opStart:
			m.start(arg)
		case opTake:
			m.take(arg)
		case opPutBack:
			m.putBack(arg)
		case opAdvance:
			m.advance(int64(arg % 4))
		case opMisc:
			m.misc(arg)
		case opRegister:
			m.register()
		case opDeliver:
			m.deliver(arg)
		case opUnregister:
			m.unregister(arg)
		case opLend:
			m.lend(arg)
		}
		m.check()
	}
	// Finally everything still queued can be taken, in one go.
	if !m.closed {
		m.advance(0)
		lo, hi := m.bounds()
		got := takeAll(q)
		if len(got) < lo || len(got) > hi {
			m.fail("final drain took %d, model %d..%d", len(got), lo, hi)
		}
	}
}

func FuzzQueueOps(f *testing.F) {
	seeds := [][]byte{
		{},
		// one-offs in due order, take one at a time
		{opArmOneOff, 3, opArmOneOff, 1, opArmOneOff, 2, opAdvance, 3, opTake, 1, opTake, 1, opTake, 1, opTake, 6},
		// interval burst, partial takes, put back, more expirations
		{opArmInterval, 0, opAdvance, 3, opAdvance, 2, opTake, 2, opPutBack, 1, opAdvance, 1, opTake, 6},
		// cancel and stop with queued expirations; start again
		{opArmInterval, 0, opArmInterval, 3, opAdvance, 3, opCancel, 0, opStop, 1, opTake, 1,
			opStart, 1, opAdvance, 3, opTake, 6},
		// one-off revival by put-back, then cancel of the revived one-off
		{opArmOneOff, 1, opAdvance, 1, opTake, 6, opPutBack, 1, opTake, 6, opPutBack, 1, opCancel, 0, opTake, 6},
		// zero-delay one-offs racing stop/start
		{opArmOneOff, 0, opArmOneOff, 0, opStop, 0, opStart, 1, opStart, 0, opTake, 6, opMisc, 4},
		// producers: deliver, take, put back after unregister, close with items queued
		{opRegister, 0, opDeliver, 0, opDeliver, 0, opArmOneOff, 1, opAdvance, 1, opRegister, 0, opDeliver, 1,
			opTake, 2, opUnregister, 0, opPutBack, 2, opDeliver, 1, opMisc, 0, opTake, 6, opPutBack, 1},
		// unregister with items queued, before and after taken ones
		{opRegister, 0, opRegister, 0, opDeliver, 0, opDeliver, 1, opDeliver, 0, opTake, 1, opUnregister, 0,
			opPutBack, 1, opDeliver, 0, opTake, 6, opUnregister, 1, opTake, 6},
		// errors and close
		{opArmInterval, 4, opMisc, 1, opMisc, 2, opMisc, 3, opAdvance, 2, opMisc, 3, opMisc, 0, opArmOneOff, 0,
			opCancel, 0, opStop, 0, opStart, 0, opMisc, 0},
		// lend intervals with a one-off armed, the consumer taking half, then all
		{opArmInterval, 0, opArmInterval, 4, opArmOneOff, 3, opLend, 6, opTake, 6, opLend, 11, opTake, 6,
			opStop, 0, opLend, 1, opCancel, 1, opLend, 3, opTake, 6},
		// a run of one-offs with holes: cancels inside it, a partial take, a put-back
		{opArmOneOff, 1, opArmOneOff, 1, opArmOneOff, 1, opArmOneOff, 1, opArmOneOff, 1, opAdvance, 1,
			opCancel, 1, opCancel, 2, opTake, 2, opPutBack, 1, opCancel, 3, opArmOneOff, 0, opTake, 6, opTake, 6},
		// stale records between live ones
		{opArmInterval, 0, opArmInterval, 0, opArmInterval, 0, opAdvance, 2, opStop, 1, opTake, 1, opTake, 2,
			opTake, 6, opStart, 1, opStop, 1, opStart, 1, opAdvance, 2, opTake, 6},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runOps(t, data)
	})
}

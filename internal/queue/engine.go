package queue

import (
	"math"
	"unsafe"
)

// engine orders timer schedules and hands out their expirations. It is the
// algorithm of the C engine it replaces (libevent's common timeouts): the
// schedules whose next expirations come in the order they were added sit
// in FIFO lists, one per (kind, duration): one-offs armed with one delay,
// and interval timers of one period, which go back to the tail after each
// expiration. A heap orders the lists by their heads and also holds the
// schedules that fit no list (a backlog, an expiration out of order). So
// arming, expiring and re-queueing cost O(1) plus O(log g) in the number
// of distinct durations, and O(log n) at worst.
//
// A schedule has a main part: expiration i is due at due + i*period, and
// left of them remain (-1: no end; a one-off has 1, and its period is its
// delay). After a restart that left expirations due and not run, it may
// also have a backlog: left expirations, one counted record due at due,
// before any of the main part's. Backlogs are rare, so they live in a side
// table (e.bl, flagged by sched.hasBL), not in every schedule. A
// schedule's key is its next expiration (the backlog's, if any); the
// engine orders schedules by (key, id).
//
// Schedules live in a slab (e.t) and are named by their slot. The engine
// has no lock: one goroutine at a time uses it (the Queue's, under its
// mutex).
type engine struct {
	t    slab  // the schedules; a slot is alive from alloc to release
	free int32 // first free slot (linked through next), -1: none
	live int   // slots alive

	heap   []hent
	groups []group
	gfree  []int32 // reusable entries of groups
	gmap   map[gkey]int32
	bl     map[int32]backlog // the backlogs, by slot
	last   int32             // the group of the last insert, -1
	nempty int               // groups alive and empty
	cursor int32             // the schedule whose expirations are being run, -1
	n      int               // schedules held (in the heap or a list)
}

// sched is one timer's schedule and its place in the engine: 56 bytes
// (a million one-offs: 56 MB; TestSchedSize).
type sched struct {
	due, period int64   // the main part
	id          uint64  // its arming order (the Queue's seq); 0 while the slot is free
	tag         uintptr // the owner's; the engine only keeps it
	left        int32   // the main part's expirations left; -1: no end
	prev, next  int32   // in its group's list; next links free slots
	at          int32   // >= 0: heap index (on its own); <= -2: group -2-at; -1: not held
	rpos        uint32  // the Queue's: its record's position (flag fReady)
	// The Queue's: how many expirations the TakeAhead call under way
	// handed out ahead of their time (0 between calls).
	nahead uint8
	flags  uint8 // the Queue's
	hasBL  bool  // it has a backlog in e.bl
}

// backlog is a schedule's backlog (engine.bl).
type backlog struct{ due, left int64 }

const notHeld = -1

// slab holds the schedules in chunks that never move: it grows without
// copying, so many timers cost their schedules and no garbage of a grown
// array (a million one-offs: 88 MB, not up to 2.25 times that until Go's
// collector runs).
type slab struct {
	c [][]sched
	n int32 // slots made
}

const slabBits = 10

// pageScheds is how many schedules a 4 KiB page holds, at least (newEngine).
const pageScheds = 4096 / int(unsafe.Sizeof(sched{}))

func (b *slab) at(s int32) *sched { return &b.c[s>>slabBits][s&(1<<slabBits-1)] }

// grow makes a new slot (zeroed) and returns it.
func (b *slab) grow() int32 {
	if int(b.n)>>slabBits >= len(b.c) {
		b.c = append(b.c, make([]sched, 1<<slabBits))
	}
	b.n++
	return b.n - 1
}

// key is t's next expiration (t is slot s's schedule).
func (e *engine) key(t *sched, s int32) int64 {
	if t.hasBL {
		return e.bl[s].due
	}
	return t.due
}

// keyOf is slot s's key.
func (e *engine) keyOf(s int32) int64 { return e.key(e.t.at(s), s) }

// backlog is slot s's backlog (0, 0: none).
func (e *engine) backlog(s int32) (due, left int64) {
	if !e.t.at(s).hasBL {
		return 0, 0
	}
	b := e.bl[s]
	return b.due, b.left
}

// setBacklog sets slot s's backlog (left 0: none). s's key may change:
// the caller places s again if it is held.
func (e *engine) setBacklog(s int32, due, left int64) {
	t := e.t.at(s)
	if left == 0 {
		if t.hasBL {
			delete(e.bl, s)
			t.hasBL = false
		}
		return
	}
	e.bl[s] = backlog{due, left}
	t.hasBL = true
}

func (s *sched) interval() bool { return s.left < 0 }

// mainDue is how many expirations of the main part are due at now.
func (s *sched) mainDue(now int64) int64 {
	if s.left == 0 || s.due > now {
		return 0
	}
	if s.left == 1 {
		return 1
	}
	n := (now-s.due)/s.period + 1
	if s.left > 0 && n > int64(s.left) {
		n = int64(s.left)
	}
	return n
}

// dueCount is how many expirations of slot s are due at now (a one-off:
// 1; an interval: all of them), saturating.
func (e *engine) dueCount(s int32, now int64) int64 {
	t := e.t.at(s)
	n := t.mainDue(now)
	if t.hasBL {
		if b := e.bl[s]; b.due <= now {
			n = addSat(n, b.left)
		}
	}
	return n
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// hent is a heap entry: a group (ref < 0: group ^ref) or a schedule.
type hent struct {
	key int64
	id  uint64
	ref int32
}

type gkey struct {
	dur      int64
	interval bool
}

type group struct {
	dur        int64
	head, tail int32 // -1: empty
	hidx       int32 // -1: empty, out of the heap
	interval   bool
	alive      bool
}

// emptyKeep: empty groups are kept for reuse (a one-off re-armed in its own
// callback empties and refills its group every cycle) until there are this
// many and they are half of all groups.
const emptyKeep = 64

func newEngine() engine {
	e := engine{free: -1, last: -1, cursor: -1, gmap: make(map[gkey]int32, 8), bl: make(map[int32]backlog),
		heap: make([]hent, 64), groups: make([]group, 8)}
	// the first armings grow nothing, and write memory written once already
	clear(e.heap)
	clear(e.groups)
	e.heap, e.groups = e.heap[:0], e.groups[:0]
	// the first chunk now, its pages written: their faults are the
	// queue's creation's, not the first armings' (which they would make
	// tens of µs late: Go takes a chunk this large from fresh memory, known
	// to be zero, and writes nothing to it)
	c := make([]sched, 1<<slabBits)
	for i := 0; i < len(c); i += pageScheds {
		c[i].at = 0
	}
	e.t.c = append(e.t.c, c)
	return e
}

// ---- the slab ----

// alloc returns a free slot, zeroed.
func (e *engine) alloc() int32 {
	var s int32
	if e.free >= 0 {
		s = e.free
		e.free = e.t.at(s).next
		*e.t.at(s) = sched{}
	} else {
		s = e.t.grow()
	}
	e.t.at(s).at = notHeld
	e.t.at(s).prev, e.t.at(s).next = -1, -1
	e.live++
	return s
}

// release frees slot s (not held): its id is 0 again, so an ID made from
// the old one names nothing (Queue.slot).
func (e *engine) release(s int32) {
	e.setBacklog(s, 0, 0)
	*e.t.at(s) = sched{at: notHeld, next: e.free, prev: -1}
	e.free = s
	e.live--
}

// ---- order ----

func (e *engine) before(a, b int32) bool {
	ka, kb := e.keyOf(a), e.keyOf(b)
	return ka < kb || (ka == kb && e.t.at(a).id < e.t.at(b).id)
}

func (e *engine) setHidx(i int) {
	r := e.heap[i].ref
	if r < 0 {
		e.groups[^r].hidx = int32(i)
	} else {
		e.t.at(r).at = int32(i)
	}
}

func hless(a, b *hent) bool { return a.key < b.key || (a.key == b.key && a.id < b.id) }

func (e *engine) hswap(i, j int) {
	e.heap[i], e.heap[j] = e.heap[j], e.heap[i]
	e.setHidx(i)
	e.setHidx(j)
}

func (e *engine) hup(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !hless(&e.heap[j], &e.heap[i]) {
			break
		}
		e.hswap(i, j)
		j = i
	}
}

func (e *engine) hdown(i0 int) bool {
	i, n := i0, len(e.heap)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j+1 < n && hless(&e.heap[j+1], &e.heap[j]) {
			j++
		}
		if !hless(&e.heap[j], &e.heap[i]) {
			break
		}
		e.hswap(i, j)
		i = j
	}
	return i > i0
}

func (e *engine) hpush(ref int32, key int64, id uint64) {
	i := len(e.heap)
	e.heap = append(e.heap, hent{key: key, id: id, ref: ref})
	e.setHidx(i)
	e.hup(i)
}

func (e *engine) hremove(i int) {
	last := len(e.heap) - 1
	r := e.heap[i].ref
	if i != last {
		e.heap[i] = e.heap[last]
		e.setHidx(i)
	}
	e.heap = e.heap[:last]
	if r < 0 {
		e.groups[^r].hidx = -1
	} else {
		e.t.at(r).at = notHeld
	}
	if i != last && !e.hdown(i) {
		e.hup(i)
	}
}

// ---- groups ----

func (e *engine) findGroup(interval bool, dur int64) int32 {
	if g := e.last; g >= 0 && e.groups[g].dur == dur && e.groups[g].interval == interval && e.groups[g].alive {
		return g
	}
	if g, ok := e.gmap[gkey{dur, interval}]; ok {
		return g
	}
	return -1
}

func (e *engine) newGroup(interval bool, dur int64) int32 {
	var g int32
	if n := len(e.gfree); n > 0 {
		g = e.gfree[n-1]
		e.gfree = e.gfree[:n-1]
	} else {
		g = int32(len(e.groups))
		e.groups = append(e.groups, group{})
	}
	e.groups[g] = group{dur: dur, interval: interval, head: -1, tail: -1, hidx: -1, alive: true}
	e.gmap[gkey{dur, interval}] = g
	e.nempty++
	return g
}

// sweep frees the empty groups once they are many.
func (e *engine) sweep() {
	if e.nempty <= emptyKeep || 2*e.nempty <= len(e.gmap) {
		return
	}
	for k, g := range e.gmap {
		if e.groups[g].head < 0 {
			delete(e.gmap, k)
			e.groups[g] = group{head: -1, tail: -1, hidx: -1}
			e.gfree = append(e.gfree, g)
			if e.last == g {
				e.last = -1
			}
			e.nempty--
		}
	}
}

// ---- placing and unlinking ----

// place puts held s in group g if it goes after g's tail (or g is empty),
// else on its own in the heap.
func (e *engine) place(s, g int32) {
	t := e.t.at(s)
	if g >= 0 {
		gr := &e.groups[g]
		if gr.head < 0 || e.before(gr.tail, s) {
			t.prev, t.next = gr.tail, -1
			t.at = -2 - g
			if gr.head < 0 {
				gr.head, gr.tail = s, s
				e.nempty--
				e.hpush(^g, e.key(t, s), t.id)
			} else {
				e.t.at(gr.tail).next = s
				gr.tail = s
			}
			return
		}
	}
	t.prev, t.next = -1, -1
	e.hpush(s, e.key(t, s), t.id)
}

// unlink takes held s out of its list or the heap (it stays counted).
func (e *engine) unlink(s int32) {
	t := e.t.at(s)
	if t.at >= 0 {
		e.hremove(int(t.at))
		return
	}
	g := -2 - t.at
	gr := &e.groups[g]
	if t.prev >= 0 {
		e.t.at(t.prev).next = t.next
	} else {
		gr.head = t.next
	}
	if t.next >= 0 {
		e.t.at(t.next).prev = t.prev
	} else {
		gr.tail = t.prev
	}
	if gr.head < 0 {
		e.hremove(int(gr.hidx))
		e.nempty++
	} else if t.prev < 0 { // it was the head: the group's key grew
		h := &e.heap[gr.hidx]
		h.key = e.keyOf(gr.head)
		h.id = e.t.at(gr.head).id
		e.hdown(int(gr.hidx))
	}
	t.prev, t.next, t.at = -1, -1, notHeld
}

// ---- the interface ----

func (e *engine) held(s int32) bool { return e.t.at(s).at != notHeld }

// insert adds slot s (alive, not held; its schedule set) to the order.
func (e *engine) insert(s int32) {
	e.sweep()
	t := e.t.at(s)
	g := int32(-1)
	if !t.hasBL {
		iv := t.interval()
		if g = e.findGroup(iv, t.period); g < 0 {
			g = e.newGroup(iv, t.period)
		}
		e.last = g
	}
	e.n++
	e.place(s, g)
}

// remove takes s out of the order (the slot stays alive).
func (e *engine) remove(s int32) {
	if !e.held(s) {
		return
	}
	e.unlink(s)
	e.n--
	if e.cursor == s {
		e.cursor = -1
	}
}

// top is the schedule with the smallest (key, id), or -1.
func (e *engine) top() int32 {
	if len(e.heap) == 0 {
		return -1
	}
	r := e.heap[0].ref
	if r < 0 {
		return e.groups[^r].head
	}
	return r
}

// nextDue is the smallest key (MaxInt64: nothing held).
func (e *engine) nextDue() int64 {
	if len(e.heap) == 0 {
		return math.MaxInt64
	}
	return e.heap[0].key
}

// begin starts a drain: the schedule being run is forgotten.
func (e *engine) begin() { e.cursor = -1 }

// next is the schedule whose expiration runs next in a drain bounded by
// upto: the one being run while it has one due by upto (a timer's due
// expirations run back to back), else the top if due by upto; -1 when
// nothing is due by upto.
func (e *engine) next(upto int64) int32 {
	if s := e.cursor; s >= 0 && e.held(s) && e.keyOf(s) <= upto {
		return s
	}
	e.cursor = -1
	s := e.top()
	if s < 0 || e.keyOf(s) > upto {
		return -1
	}
	e.cursor = s
	return s
}

// take consumes held s's next expiration and re-queues it; it reports
// whether s has no expiration left (it is then out of the order).
func (e *engine) take(s int32) bool {
	t := e.t.at(s)
	if t.hasBL {
		b := e.bl[s]
		e.setBacklog(s, b.due, b.left-1)
	} else {
		if t.left > 0 {
			t.left--
		}
		t.due += t.period
	}
	return e.requeue(s)
}

// takeDue consumes every expiration of held s due at now (its key must
// be): what the cursor rule does one take at a time, at once. It returns
// how many, and whether s has none left.
func (e *engine) takeDue(s int32, now int64) (int64, bool) {
	t := e.t.at(s)
	n := int64(0)
	if t.hasBL {
		if b := e.bl[s]; b.due <= now {
			n = b.left
			e.setBacklog(s, 0, 0)
		}
	}
	if k := t.mainDue(now); k > 0 {
		n = addSat(n, k)
		if t.left > 0 {
			t.left -= int32(k) // k <= left (mainDue)
		}
		t.due += k * t.period
	}
	return n, e.requeue(s)
}

// requeue puts held s back in order after its schedule advanced, or
// takes it out when it is over.
func (e *engine) requeue(s int32) bool {
	t := e.t.at(s)
	if t.left == 0 && !t.hasBL {
		e.remove(s)
		return true
	}
	g := int32(-1)
	if t.at < -1 {
		g = -2 - t.at
		gr := &e.groups[g]
		if gr.head == s && !t.hasBL && (t.next < 0 || e.before(s, t.next)) {
			h := &e.heap[gr.hidx] // still first in its list
			h.key = t.due
			e.hdown(int(gr.hidx))
			return false
		}
	}
	e.unlink(s)
	if t.hasBL {
		g = -1
	} else if g < 0 {
		g = e.findGroup(t.interval(), t.period)
	}
	e.place(s, g)
	return false
}

// pending sums the due expirations of the held schedules at now, visiting
// only the part of the heap (and of each list) that is due.
func (e *engine) pending(now int64) int64 {
	return e.pendingFrom(0, now)
}

func (e *engine) pendingFrom(i int, now int64) int64 {
	if i >= len(e.heap) || e.heap[i].key > now {
		return 0
	}
	var n int64
	if r := e.heap[i].ref; r < 0 {
		for s := e.groups[^r].head; s >= 0 && e.keyOf(s) <= now; s = e.t.at(s).next {
			n = addSat(n, e.dueCount(s, now))
		}
	} else {
		n = e.dueCount(r, now)
	}
	n = addSat(n, e.pendingFrom(2*i+1, now))
	return addSat(n, e.pendingFrom(2*i+2, now))
}

// popAny takes some held schedule out of the order and returns it; -1
// when none is held.
func (e *engine) popAny() int32 {
	if len(e.heap) == 0 {
		return -1
	}
	r := e.heap[len(e.heap)-1].ref
	s := r
	if r < 0 {
		s = e.groups[^r].tail
	}
	e.remove(s)
	return s
}

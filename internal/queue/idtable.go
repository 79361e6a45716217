package queue

// hashTable maps timer ids to timers: open addressing with linear probing in
// Robin Hood order and backward-shift deletion, so that deleting leaves no
// tombstones behind. The queue deletes a timer for every one-off that
// fires; Go's map degraded badly under that pattern (lookups probing past
// deleted slots), this table stays O(1).
//
// Robin Hood order: along a run of occupied slots, entries are sorted by
// their home slot (an entry never sits in front of one whose home comes
// earlier). So a lookup stops as soon as it meets an entry that is closer
// to its home than the sought id would be, and a delete stops shifting
// back at the first entry that sits at its home. With the block homes
// below, consecutive ids sit at their homes, and deleting them in order
// touches one or two slots each.
type hashTable struct {
	slots []idSlot
	n     int
	shift uint // 64 - log2(len(slots))
}

type idSlot struct {
	id uint64
	t  *timer // nil: empty
}

const fib64 = 0x9E3779B97F4A7C15

// idBlockBits: 1<<idBlockBits ids in a row (aligned) share a block of as
// many slots. The block is placed by Fibonacci hashing, the id's low bits
// pick the slot in it. Consecutive ids (what the C side hands out) then
// sit in consecutive slots, so arming and firing timers in order walks the
// table's memory in order instead of missing the cache on every id, while
// distinct blocks still scatter.
const idBlockBits = 4

// minSlots keeps a table at least one block wide.
const minSlots = 16

func (m *hashTable) home(id uint64) int {
	block := ((id >> idBlockBits) * fib64) >> (m.shift + idBlockBits)
	return int(block<<idBlockBits | id&(1<<idBlockBits-1))
}

// dist is how far slot i lies past the home of the id stored there.
func (m *hashTable) dist(i int, id uint64) int {
	return (i - m.home(id)) & (len(m.slots) - 1)
}

// find returns the slot index of id, or -1.
func (m *hashTable) find(id uint64) int {
	if m.n == 0 {
		return -1
	}
	mask := len(m.slots) - 1
	for i, d := m.home(id), 0; ; i, d = (i+1)&mask, d+1 {
		s := &m.slots[i]
		if s.t == nil || m.dist(i, s.id) < d {
			return -1 // id would have displaced this entry
		}
		if s.id == id {
			return i
		}
	}
}

func (m *hashTable) get(id uint64) *timer {
	if i := m.find(id); i >= 0 {
		return m.slots[i].t
	}
	return nil
}

// put adds or replaces the entry for id.
func (m *hashTable) put(id uint64, t *timer) {
	if i := m.find(id); i >= 0 {
		m.slots[i].t = t
		return
	}
	m.add(id, t)
}

// insert adds id -> t unless id is present; it reports whether it did.
func (m *hashTable) insert(id uint64, t *timer) bool {
	if m.find(id) >= 0 {
		return false
	}
	m.add(id, t)
	return true
}

// add places an id known to be absent.
func (m *hashTable) add(id uint64, t *timer) {
	if 4*(m.n+1) > 3*len(m.slots) {
		m.resize()
	}
	mask := len(m.slots) - 1
	cur := idSlot{id, t}
	for i, d := m.home(id), 0; ; i, d = (i+1)&mask, d+1 {
		s := &m.slots[i]
		if s.t == nil {
			*s = cur
			m.n++
			return
		}
		if sd := m.dist(i, s.id); sd < d {
			// the resident is nearer its home: it yields the slot
			cur, *s = *s, cur
			d = sd
		}
	}
}

func (m *hashTable) del(id uint64) {
	i := m.find(id)
	if i < 0 {
		return
	}
	// Backward shift: pull the following entries one slot back until an
	// empty slot or an entry at its home.
	mask := len(m.slots) - 1
	for {
		j := (i + 1) & mask
		s := m.slots[j]
		if s.t == nil || m.dist(j, s.id) == 0 {
			break
		}
		m.slots[i] = s
		i = j
	}
	m.slots[i] = idSlot{}
	m.n--
	if m.n == 0 && len(m.slots) > 1024 {
		*m = hashTable{} // drop a big empty table
	}
}

func (m *hashTable) resize() {
	old := m.slots
	size := minSlots
	for 4*(m.n+1) > 3*size {
		size *= 2
	}
	if size < 2*len(old) && 4*(m.n+1) > 3*len(old) {
		size = 2 * len(old)
	}
	bits := uint(0)
	for 1<<bits < size {
		bits++
	}
	m.slots = make([]idSlot, size)
	m.shift = 64 - bits
	m.n = 0
	for _, s := range old {
		if s.t != nil {
			m.add(s.id, s.t)
		}
	}
}

func (m *hashTable) len() int { return m.n }

// each calls f for every entry, in no particular order; f must not change
// the table.
func (m *hashTable) each(f func(id uint64, t *timer)) {
	for _, s := range m.slots {
		if s.t != nil {
			f(s.id, s.t)
		}
	}
}

// idTable maps timer ids to timers. The module hands out ids counting up
// from 1, so most live ids form a dense run: those sit in a window, a
// slice indexed by id - base (arming appends, firing in order trims the
// front), and cost no hashing at all. Ids that do not fit the window
// (far above it, below it, or the few left when it thins out) live in a
// hashTable. An id is never in both: the window only grows over ids
// outside the hash part's [hmin, hmax] range.
type idTable struct {
	base uint64   // id of win[0]
	win  []*timer // nil: no timer with that id
	wn   int      // live entries in win
	h    hashTable
	hmin uint64 // range of the ids ever put in h since it was last empty
	hmax uint64
}

// winGap: an id at most this far past the window's end extends it (ids
// withdrawn before they reached the queue leave small gaps).
const winGap = 64

// winMin: a window this long or longer that is less than a quarter full
// moves its live entries to the hash part and starts over.
const winMin = 1024

func (m *idTable) inWin(id uint64) (int, bool) {
	i := id - m.base // wraps for id < base: never < len
	return int(i), i < uint64(len(m.win))
}

func (m *idTable) get(id uint64) *timer {
	if i, ok := m.inWin(id); ok {
		return m.win[i]
	}
	if m.h.n == 0 || id < m.hmin || id > m.hmax {
		return nil
	}
	return m.h.get(id)
}

// put adds or replaces the entry for id.
func (m *idTable) put(id uint64, t *timer) {
	if i, ok := m.inWin(id); ok {
		if m.win[i] == nil {
			m.wn++
		}
		m.win[i] = t
		return
	}
	if old := m.get(id); old != nil {
		m.h.put(id, t)
		return
	}
	m.add(id, t)
}

// insert adds id -> t unless id is present; it reports whether it did.
func (m *idTable) insert(id uint64, t *timer) bool {
	if i, ok := m.inWin(id); ok {
		if m.win[i] != nil {
			return false
		}
		m.win[i] = t
		m.wn++
		return true
	}
	if m.get(id) != nil {
		return false
	}
	m.add(id, t)
	return true
}

// add places an id known to be absent and outside the window.
func (m *idTable) add(id uint64, t *timer) {
	free := m.h.n == 0 || id < m.hmin || id > m.hmax // the window may grow over it
	switch {
	case free && len(m.win) == 0:
		m.base = id
		m.win = append(m.win[:0], t)
		m.wn = 1
		return
	case free && id >= m.base+uint64(len(m.win)) && id-(m.base+uint64(len(m.win))) <= winGap &&
		(m.h.n == 0 || m.hmin > id || m.hmax < m.base):
		for m.base+uint64(len(m.win)) < id {
			m.win = append(m.win, nil)
		}
		m.win = append(m.win, t)
		m.wn++
		return
	}
	m.hashAdd(id, t)
}

// hashAdd puts id in the hash part and widens its id range.
func (m *idTable) hashAdd(id uint64, t *timer) {
	if m.h.n == 0 {
		m.hmin, m.hmax = id, id
	} else if id < m.hmin {
		m.hmin = id
	} else if id > m.hmax {
		m.hmax = id
	}
	m.h.add(id, t)
}

func (m *idTable) del(id uint64) {
	i, ok := m.inWin(id)
	if !ok {
		if m.h.n > 0 && id >= m.hmin && id <= m.hmax {
			m.h.del(id)
		}
		return
	}
	if m.win[i] == nil {
		return
	}
	m.win[i] = nil
	m.wn--
	m.settle()
}

// delRange deletes the ids id .. id+k-1 (a run of one-offs taken): a
// stretch of the window is cleared in one go.
func (m *idTable) delRange(id uint64, k int) {
	i, ok := m.inWin(id)
	if !ok || k > len(m.win)-i {
		for end := id + uint64(k); id < end; id++ {
			m.del(id)
		}
		return
	}
	for _, t := range m.win[i : i+k] {
		if t != nil {
			m.wn--
		}
	}
	clear(m.win[i : i+k])
	m.settle()
}

// settle restores the window's shape after deletions: empty, or starting
// at a live entry and at least a quarter full once it is long.
func (m *idTable) settle() {
	if m.wn == 0 {
		m.win, m.base = m.win[:0], 0
		if cap(m.win) > winMin {
			m.win = nil
		}
		return
	}
	k := 0
	for m.win[k] == nil {
		k++
	}
	if k > 0 { // trim the front; append reallocates before the prefix leaks
		m.win = m.win[k:]
		m.base += uint64(k)
	}
	if len(m.win) >= winMin && 4*m.wn < len(m.win) {
		m.spill()
	}
}

// spill moves the window's live entries to the hash part and empties it.
func (m *idTable) spill() {
	win, base := m.win, m.base
	m.win, m.base, m.wn = nil, 0, 0
	for i, t := range win {
		if t != nil {
			m.hashAdd(base+uint64(i), t)
		}
	}
}

func (m *idTable) len() int { return m.wn + m.h.n }

// each calls f for every entry, in no particular order; f must not change
// the table.
func (m *idTable) each(f func(id uint64, t *timer)) {
	for i, t := range m.win {
		if t != nil {
			f(m.base+uint64(i), t)
		}
	}
	m.h.each(f)
}

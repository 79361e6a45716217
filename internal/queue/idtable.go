package queue

// idTable maps timer ids to timers: open addressing with linear probing,
// Fibonacci hashing and backward-shift deletion, so that deleting leaves no
// tombstones behind. The queue deletes a timer for every one-off that
// fires; Go's map degraded badly under that pattern (lookups probing past
// deleted slots), this table stays O(1).
type idTable struct {
	slots []idSlot
	n     int
	shift uint // 64 - log2(len(slots))
}

type idSlot struct {
	id uint64
	t  *timer // nil: empty
}

const fib64 = 0x9E3779B97F4A7C15

func (m *idTable) home(id uint64) int { return int((id * fib64) >> m.shift) }

func (m *idTable) get(id uint64) *timer {
	if m.n == 0 {
		return nil
	}
	mask := len(m.slots) - 1
	for i := m.home(id); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.t == nil {
			return nil
		}
		if s.id == id {
			return s.t
		}
	}
}

// put adds or replaces the entry for id.
func (m *idTable) put(id uint64, t *timer) {
	if 4*(m.n+1) > 3*len(m.slots) {
		m.resize()
	}
	mask := len(m.slots) - 1
	for i := m.home(id); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.t == nil {
			*s = idSlot{id, t}
			m.n++
			return
		}
		if s.id == id {
			s.t = t
			return
		}
	}
}

// insert adds id -> t unless id is present; it reports whether it did.
// One probe sequence does both the lookup and the insertion.
func (m *idTable) insert(id uint64, t *timer) bool {
	if 4*(m.n+1) > 3*len(m.slots) {
		m.resize()
	}
	mask := len(m.slots) - 1
	for i := m.home(id); ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.t == nil {
			*s = idSlot{id, t}
			m.n++
			return true
		}
		if s.id == id {
			return false
		}
	}
}

func (m *idTable) del(id uint64) {
	if m.n == 0 {
		return
	}
	mask := len(m.slots) - 1
	i := m.home(id)
	for ; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.t == nil {
			return
		}
		if s.id == id {
			break
		}
	}
	// Backward-shift: pull later entries of the cluster into the hole when
	// their home does not lie cyclically in (hole, j].
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		s := m.slots[j]
		if s.t == nil {
			break
		}
		h := m.home(s.id)
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			m.slots[i] = s
			i = j
		}
	}
	m.slots[i] = idSlot{}
	m.n--
	if m.n == 0 && len(m.slots) > 1024 {
		*m = idTable{} // drop a big empty table
	}
}

func (m *idTable) resize() {
	old := m.slots
	size := 16
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
			m.put(s.id, s.t)
		}
	}
}

func (m *idTable) len() int { return m.n }

// each calls f for every entry, in no particular order; f must not change
// the table.
func (m *idTable) each(f func(id uint64, t *timer)) {
	for _, s := range m.slots {
		if s.t != nil {
			f(s.id, s.t)
		}
	}
}

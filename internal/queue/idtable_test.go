package queue

import (
	"math/rand"
	"testing"
)

// TestIDTableMatchesMap drives the table and a Go map with the same random
// operations (sequential ids, as the module assigns them, and random ones)
// and checks they agree after every step.
func TestIDTableMatchesMap(t *testing.T) {
	for _, seq := range []bool{true, false} {
		rng := rand.New(rand.NewSource(1))
		var tab idTable
		ref := map[uint64]*timer{}
		var next uint64
		ids := []uint64{}
		for step := 0; step < 200000; step++ {
			switch op := rng.Intn(10); {
			case op < 5:
				var id uint64
				if seq {
					next += 2
					id = next
				} else {
					id = rng.Uint64() % 5000
				}
				tm := &timer{id: id}
				tab.put(id, tm)
				ref[id] = tm
				ids = append(ids, id)
			case op < 9 && len(ids) > 0:
				k := rng.Intn(len(ids))
				if seq {
					k = 0 // FIFO, like one-offs firing in order
				}
				id := ids[k]
				ids = append(ids[:k], ids[k+1:]...)
				tab.del(id)
				delete(ref, id)
			default:
				id := rng.Uint64() % (next + 5000)
				if got, want := tab.get(id), ref[id]; got != want {
					t.Fatalf("step %d: get(%d) = %p, want %p", step, id, got, want)
				}
			}
			if tab.len() != len(ref) {
				t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
			}
			if step%1000 == 0 {
				checkRobinHood(t, &tab.h)
				checkWindow(t, &tab)
			}
		}
		for id, want := range ref {
			if got := tab.get(id); got != want {
				t.Fatalf("get(%d) = %p, want %p", id, got, want)
			}
		}
	}
}

// checkRobinHood checks the table's order: along a run of occupied slots,
// an entry lies at most one slot further from its home than the one
// before it, and every entry is reachable from its home without crossing
// an empty slot.
func checkRobinHood(t *testing.T, m *hashTable) {
	t.Helper()
	size := len(m.slots)
	for i := 0; i < size; i++ {
		s := m.slots[i]
		if s.t == nil {
			continue
		}
		d := m.dist(i, s.id)
		for k := 1; k <= d; k++ {
			if m.slots[(i-k+size)%size].t == nil {
				t.Fatalf("id %d at slot %d: empty slot between it and its home", s.id, i)
			}
		}
		prev := m.slots[(i-1+size)%size]
		if prev.t != nil && d > m.dist((i-1+size)%size, prev.id)+1 {
			t.Fatalf("id %d at slot %d (dist %d) behind id %d (dist %d): not in Robin Hood order",
				s.id, i, d, prev.id, m.dist((i-1+size)%size, prev.id))
		}
	}
}

// checkWindow checks the dense window: its live count, that its first
// entry is live, and that no id lives both in it and in the hash part.
func checkWindow(t *testing.T, m *idTable) {
	t.Helper()
	live := 0
	for i, tm := range m.win {
		if tm == nil {
			continue
		}
		live++
		id := m.base + uint64(i)
		if m.h.get(id) != nil {
			t.Fatalf("id %d in the window and in the hash part", id)
		}
	}
	if live != m.wn {
		t.Fatalf("window holds %d live entries, wn says %d", live, m.wn)
	}
	if len(m.win) > 0 && m.win[0] == nil {
		t.Fatalf("window starts with a hole at id %d", m.base)
	}
}

// The module's pattern over a long run: ids counting up with small gaps
// (withdrawn arms), most released soon in about the order they came, a
// few kept for long, and an early one kept for ever. The table must agree
// with a map, keep its window dense, and stay small.
func TestIDTableWindowChurn(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var tab idTable
	ref := map[uint64]*timer{}
	var live []uint64
	forever := &timer{id: 1}
	tab.put(1, forever)
	ref[1] = forever
	next := uint64(1)
	for step := 0; step < 300000; step++ {
		switch op := rng.Intn(100); {
		case op < 50:
			next += 1 + uint64(rng.Intn(3)/2) // now and then an id is skipped
			tm := &timer{id: next}
			if !tab.insert(next, tm) {
				t.Fatalf("step %d: insert(%d) refused a new id", step, next)
			}
			ref[next] = tm
			live = append(live, next)
		case op < 98 && len(live) > 0:
			k := 0
			if rng.Intn(10) == 0 {
				k = rng.Intn(len(live)) // out of order now and then
			}
			id := live[k]
			live = append(live[:k], live[k+1:]...)
			tab.del(id)
			delete(ref, id)
		default:
			id := uint64(rng.Int63n(int64(next + 100)))
			if got, want := tab.get(id), ref[id]; got != want {
				t.Fatalf("step %d: get(%d) = %p, want %p", step, id, got, want)
			}
			if id != 0 && tab.insert(id, &timer{}) != (ref[id] == nil) {
				t.Fatalf("step %d: insert(%d) disagrees with the map", step, id)
			}
			if ref[id] == nil && id != 0 {
				tab.del(id)
			}
		}
		if tab.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
		}
		if step%5000 == 0 {
			checkWindow(t, &tab)
			checkRobinHood(t, &tab.h)
			if len(tab.win) > 4*len(ref)+winMin {
				t.Fatalf("step %d: window of %d slots for %d live ids", step, len(tab.win), len(ref))
			}
		}
	}
	for id, want := range ref {
		if got := tab.get(id); got != want {
			t.Fatalf("get(%d) = %p, want %p", id, got, want)
		}
	}
	if tab.get(1) != forever {
		t.Fatal("the long-lived id 1 was lost")
	}
	if tab.wn < len(ref)/2 {
		t.Errorf("only %d of %d live ids in the window: the dense run is hashed", tab.wn, len(ref))
	}
}

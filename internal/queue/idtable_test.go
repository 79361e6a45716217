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
				checkRobinHood(t, &tab)
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
func checkRobinHood(t *testing.T, m *idTable) {
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

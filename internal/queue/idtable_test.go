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
		}
		for id, want := range ref {
			if got := tab.get(id); got != want {
				t.Fatalf("get(%d) = %p, want %p", id, got, want)
			}
		}
	}
}

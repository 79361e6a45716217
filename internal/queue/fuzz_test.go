package queue

import (
	"slices"
	"testing"
)

// FuzzLease drives a queue on a virtual clock with random operations and
// checks it against a model after each: the timers it holds (a map), what
// Lend hands out (exactly the held timers due by the bound, in (key, id)
// order), Pending, and the notifier.
//
//	go test -run '^$' -fuzz FuzzLease -fuzztime 60s ./internal/queue
func FuzzLease(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte{0, 0, 0, 4, 4, 1, 8, 8, 2, 3, 5, 5, 6, 7, 9, 1, 1})
	f.Add([]byte{0, 12, 4, 13, 1, 12, 9, 8, 3, 5, 6})
	f.Fuzz(func(t *testing.T, ops []byte) {
		q, c, n := newVirtual()
		defer q.Close()
		held := map[uint64]Entry{}
		lent := map[uint64]Entry{}
		var nextID uint64
		for i, op := range ops {
			arg := int64(0)
			if i+1 < len(ops) {
				arg = int64(ops[i+1])
			}
			now := c.read()
			switch op % 12 {
			case 0, 1, 2: // return a new timer, due around now
				nextID++
				e := oneoff(nextID, now+arg*3-100)
				if op%12 != 0 {
					e = interval(nextID, now+arg*3-100, 1+arg%50)
				}
				if op%12 == 2 {
					e.BlDue, e.BlLeft = now-arg, 1+arg%3
				}
				mustReturn(t, q, e)
				held[e.ID] = e
			case 3, 4: // lend the due ones
				upto := now - 50 + arg
				want := dueModel(held, upto)
				got := lendAll(q, upto)
				if !slices.Equal(ids(got), want) {
					t.Fatalf("op %d: Lend(%d) = %v, want %v", i, upto, ids(got), want)
				}
				for _, e := range got {
					if e != held[e.ID] {
						t.Fatalf("op %d: lent %+v, held %+v", i, e, held[e.ID])
					}
					lent[e.ID] = e
					delete(held, e.ID)
				}
			case 5: // the consumer runs an expiration of a lent timer and returns it
				for id, e := range lent {
					if e.BlLeft > 0 {
						e.BlLeft--
					} else if e.Left == 1 {
						delete(lent, id)
						break
					} else {
						e.Due += e.Period
					}
					mustReturn(t, q, e)
					held[id] = e
					delete(lent, id)
					break
				}
			case 6: // lend one by id
				for id := range held {
					e, ok := q.LendID(id)
					if !ok || e != held[id] {
						t.Fatalf("op %d: LendID(%d) = %+v %v, held %+v", i, id, e, ok, held[id])
					}
					lent[id] = e
					delete(held, id)
					break
				}
				if _, ok := q.LendID(nextID + 100); ok {
					t.Fatalf("op %d: LendID of an unknown id found one", i)
				}
			case 7: // return a held id again: refused, nothing changes
				for id := range held {
					if err := q.Return([]Entry{held[id]}); err == nil {
						t.Fatalf("op %d: a held id was taken twice", i)
					}
					break
				}
			case 8, 9: // time passes
				c.advance(q, arg*2)
			case 10: // a lent one is dropped for good (destroyed)
				for id := range lent {
					delete(lent, id)
					break
				}
			case 11: // everything lent comes back
				for id, e := range lent {
					mustReturn(t, q, e)
					held[id] = e
					delete(lent, id)
				}
			}
			var want int64
			for _, e := range held {
				want += e.DueCount(c.read())
			}
			if p := q.Pending(); p != want {
				t.Fatalf("op %d: Pending = %d, model %d", i, p, want)
			}
			if q.Timers() != len(held) {
				t.Fatalf("op %d: Timers = %d, model %d", i, q.Timers(), len(held))
			}
			checkNotifier(t, q, n)
		}
	})
}

// dueModel lists the held timers due by upto in (key, id) order.
func dueModel(held map[uint64]Entry, upto int64) []uint64 {
	var due []Entry
	for _, e := range held {
		if e.Key() <= upto {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b Entry) int {
		if a.Key() != b.Key() {
			if a.Key() < b.Key() {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		return 1
	})
	out := make([]uint64, 0, len(due))
	for _, e := range due {
		out = append(out, e.ID)
	}
	return out
}

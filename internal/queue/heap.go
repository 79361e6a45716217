package queue

// timer is an Entry the queue holds, with its place in the heap.
type timer struct {
	Entry
	hidx int
}

// timerHeap is a binary min-heap of timers ordered by Key, then by id, so
// that timers due at the same instant come in id order. Each timer records
// its index for O(log n) removal.
type timerHeap []*timer

func (h timerHeap) less(i, j int) bool {
	a, b := h[i].Key(), h[j].Key()
	return a < b || (a == b && h[i].ID < h[j].ID)
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}

func (h *timerHeap) push(t *timer) {
	t.hidx = len(*h)
	*h = append(*h, t)
	h.up(t.hidx)
}

// remove takes the timer at index i out of the heap.
func (h *timerHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	t := old[i]
	if i != last {
		old.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		h.fix(i)
	}
	t.hidx = -1
}

// fix restores the heap order after the key at index i changed.
func (h timerHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h timerHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h timerHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if r := j + 1; r < n && h.less(r, j) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

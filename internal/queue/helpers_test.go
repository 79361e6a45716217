package queue

import (
	"sync"
	"testing"
	"time"
)

// vclock is a manual clock for a queue under test: time moves only when
// the test says, and advance waits until the clock goroutine has seen it.
type vclock struct{ *ManualClock }

func (c vclock) read() int64 { return c.Now() }

// newVirtual returns a queue on a manual clock starting at 1000 ns, with
// a notifier that records its state.
func newVirtual() (*Queue, vclock, *flagNotifier) {
	n := &flagNotifier{}
	c := vclock{NewManualClock(1000)}
	q := NewClock(n, c)
	return q, c, n
}

// advance moves the clock by d and waits for the clock goroutine's look.
func (c vclock) advance(q *Queue, d int64) {
	c.Advance(time.Duration(d))
	q.Sync()
}

// flagNotifier records Set/Clear and fails on a repeated transition.
type flagNotifier struct {
	mu           sync.Mutex
	set          bool
	sets, clears int
	bad          int
}

func (n *flagNotifier) Set() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.set {
		n.bad++
	}
	n.set = true
	n.sets++
}

func (n *flagNotifier) Clear() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.set {
		n.bad++
	}
	n.set = false
	n.clears++
}

func (n *flagNotifier) state() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.set
}

// checkNotifier fails unless the notifier says exactly what is pending.
func checkNotifier(t testing.TB, q *Queue, n *flagNotifier) {
	t.Helper()
	q.mu.Lock()
	want := q.pendingNow(q.clk.Now())
	q.mu.Unlock()
	if got := n.state(); got != want {
		t.Fatalf("notifier set = %v, want %v (pending now)", got, want)
	}
	if n.bad != 0 {
		t.Fatalf("notifier got %d repeated transitions", n.bad)
	}
}

// newPassive makes a passive queue on a manual clock at start whose clock
// goroutine has made its first look and holds no poke: it looks again only
// when poked. Two Syncs: one made before the goroutine first slept leaves
// its poke unused, and the goroutine would then look once more at any time
// (after a test's Advance, say, and publish what fell due).
func newPassive(start int64) (*Queue, *ManualClock) {
	c := NewManualClock(start)
	q := NewClock(nil, c)
	q.SetPassive(true)
	q.Sync()
	q.Sync()
	return q, c
}

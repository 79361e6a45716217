package queue

import (
	"sync"
	"testing"
	"time"
)

// BenchmarkArm arms b.N timers (due in an hour) in one queue: the heap
// push, the map insert and the timer allocation.
func BenchmarkArm(b *testing.B) {
	b.ReportAllocs()
	q := New(nil)
	defer q.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := q.Arm(uint64(i+1), time.Hour, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTake drains a pre-filled queue in batches of 256; one op is one
// slot. The queue holds one expiration for each of 4096 timers, so every
// slot is its own record (the worst case for Take).
func BenchmarkTake(b *testing.B) {
	b.ReportAllocs()
	q := New(nil)
	defer q.Close()
	const nTimers = 4096
	timers := make([]*timer, nTimers)
	for i := range timers {
		q.Arm(uint64(i+1), time.Hour, time.Hour)
		timers[i] = q.timers.get(uint64(i + 1))
	}
	fill := func() {
		q.mu.Lock()
		for _, t := range timers {
			q.pushBack(t, 1)
		}
		q.mu.Unlock()
	}
	buf := make([]Slot, 256)
	fill()
	takeAll(q) // grow the ring once
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		fill()
		b.StartTimer()
		for done < b.N {
			n, _ := q.Take(buf[:min(len(buf), b.N-done)])
			if n == 0 {
				break
			}
			done += n
		}
	}
	b.StopTimer()
	takeAll(q)
}

// BenchmarkContention8: 8 goroutines queue expirations of their own timers
// (the critical section of a runtime timer's wake-up) into one queue while
// one consumer takes them; one op is one expiration queued and taken.
func BenchmarkContention8(b *testing.B) {
	b.ReportAllocs()
	const producers = 8
	q := New(nil)
	defer q.Close()
	timers := make([]*timer, producers)
	for i := range timers {
		q.Arm(uint64(i+1), time.Hour, time.Hour)
		timers[i] = q.timers.get(uint64(i + 1))
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		n := b.N / producers
		if p < b.N%producers {
			n++
		}
		wg.Add(1)
		go func(t *timer, n int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				q.mu.Lock()
				q.pushBack(t, 1)
				q.mu.Unlock()
			}
		}(timers[p], n)
	}
	buf := make([]Slot, 256)
	for got := 0; got < b.N; {
		n, _ := q.Take(buf)
		got += n
		if n == 0 {
			q.Wait(time.Millisecond)
		}
	}
	wg.Wait()
}

// BenchmarkArm100k arms 100 000 one-offs with consecutive ids in a fresh
// queue (what the module does for a burst of arms); one op is the burst.
func BenchmarkArm100k(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q := New(nil)
		for j := 0; j < 100000; j++ {
			if err := q.Arm(uint64(j+1), time.Minute, 0); err != nil {
				b.Fatal(err)
			}
		}
		q.Close()
	}
}

// BenchmarkTakeOneOffs100k takes 100 000 expired one-offs (consecutive
// ids) in batches of 256, releasing each timer as its only slot goes out:
// the Go half of the dispatch row of make bench. One op is the drain.
func BenchmarkTakeOneOffs100k(b *testing.B) {
	buf := make([]Slot, 256)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		q := New(nil)
		for j := 0; j < 100000; j++ {
			q.Arm(uint64(j+1), 0, 0)
		}
		q.mu.Lock()
		q.expire(q.now() + int64(time.Second))
		q.mu.Unlock()
		b.StartTimer()
		for {
			n, _ := q.Take(buf)
			if n == 0 {
				break
			}
		}
		b.StopTimer()
		if q.Timers() != 0 {
			b.Fatalf("%d timers left", q.Timers())
		}
		q.Close()
	}
}

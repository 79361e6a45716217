package queue

import (
	"sync"
	"testing"
	"time"
)

// BenchmarkLendReturn: a drain's round trip of 1000 due interval timers
// (Lend them, run one expiration each, Return them), per timer.
func BenchmarkLendReturn(b *testing.B) {
	q, _, _ := newVirtual()
	defer q.Close()
	const K = 1000
	for i := 1; i <= K; i++ {
		mustReturn(b, q, interval(uint64(i), int64(i), 1000))
	}
	buf := make([]Entry, 256)
	upto := int64(K)
	b.ResetTimer()
	for i := 0; i < b.N; i += K {
		for {
			n := q.Lend(upto, buf)
			for j := range buf[:n] {
				buf[j].Due += buf[j].Period
			}
			if err := q.Return(buf[:n]); err != nil {
				b.Fatal(err)
			}
			if n < len(buf) {
				break
			}
		}
		upto += 1000
	}
}

// BenchmarkDeliverTake: one item delivered and taken, on one goroutine.
func BenchmarkDeliverTake(b *testing.B) {
	q := New(nil)
	defer q.Close()
	pid, _ := q.Register(1)
	for i := 0; i < b.N; i++ {
		q.Deliver(pid, uintptr(i))
		if _, ok, _ := q.TakeItem(1<<62, 1<<62); !ok {
			b.Fatal("no item")
		}
	}
}

// BenchmarkContention8: 8 goroutines deliver into one consumer, per item.
func BenchmarkContention8(b *testing.B) {
	q := New(nil)
	defer q.Close()
	const G = 8
	pid, _ := q.Register(1)
	var wg sync.WaitGroup
	per := b.N/G + 1
	b.ResetTimer()
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				q.Deliver(pid, 1)
			}
		}()
	}
	for got := 0; got < per*G; {
		if _, ok, _ := q.TakeItem(1<<62, 1<<62); ok {
			got++
		} else {
			q.Wait(time.Millisecond)
		}
	}
	wg.Wait()
}

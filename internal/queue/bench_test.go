package queue

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkEngineArmExpire: 1e5 one-offs of one delay held; each op
// expires the earliest and arms a new one (a slot reused, the FIFO list's
// tail), per op.
func BenchmarkEngineArmExpire(b *testing.B) {
	e := newEngine()
	const K = 100000
	const delay = 1000000
	var now int64
	arm := func(id uint64) {
		s := e.alloc()
		t := e.t.at(s)
		t.due, t.period, t.left, t.id = now+delay, delay, 1, id
		e.insert(s)
	}
	for i := range K {
		now = int64(i)
		arm(uint64(i + 1))
	}
	b.ResetTimer()
	for i := range b.N {
		s := e.top()
		now = e.keyOf(s)
		if _, over := e.takeDue(s, now); !over {
			b.Fatal("a one-off not over")
		}
		e.release(s)
		arm(uint64(K + i + 1))
	}
}

// BenchmarkEngineRequeue: 1e5 interval timers of one period; each op
// takes the earliest's expiration and re-queues it (the list's tail).
func BenchmarkEngineRequeue(b *testing.B) {
	e := newEngine()
	const K = 100000
	for i := range K {
		s := e.alloc()
		t := e.t.at(s)
		t.due, t.period, t.left, t.id = int64(i), K, -1, uint64(i+1)
		e.insert(s)
	}
	b.ResetTimer()
	for range b.N {
		s := e.top()
		e.takeDue(s, e.keyOf(s))
	}
}

// ---- the queue (its lock, its clock goroutine, a consumer's Take) ----

// BenchmarkArm: arming one-offs of one delay on a queue, per timer.
func BenchmarkArm(b *testing.B) {
	q := NewClock(nil, NewManualClock(0))
	defer q.Close()
	b.ReportAllocs()
	for range b.N {
		if _, err := q.Arm(time.Second, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArmAheadMany: one-offs of one delay armed 128 per call, as the
// shim sends them, on a passive queue; per timer.
func BenchmarkArmAheadMany(b *testing.B) {
	c := NewManualClock(0)
	q := NewClock(nil, c)
	defer q.Close()
	q.SetPassive(true)
	arms := make([]Arming, 128)
	buf := make([]Expiration, 1024)
	b.ReportAllocs()
	for done := 0; done < b.N; done += len(arms) {
		for i := range arms {
			arms[i] = Arming{At: 0, Delay: time.Minute, Tag: uintptr(i)}
		}
		if _, err := q.ArmAheadMany(arms, 0, int64(128*time.Millisecond), buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpire: n one-offs due over 1 ms (1000 instants) are decided
// by the clock goroutine and taken by the consumer, per expiration.
func BenchmarkExpire(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			buf := make([]Expiration, 4096)
			done := 0
			for done < b.N {
				b.StopTimer()
				c := NewManualClock(0)
				q := NewClock(nil, c)
				for i := range n {
					q.Arm(time.Second+time.Duration(i%1000), 0, 0)
				}
				c.Advance(2 * time.Second)
				b.StartTimer()
				q.Sync()
				got := 0
				for got < n {
					got += q.Take(buf)
				}
				b.StopTimer()
				q.Close()
				done += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/expiration")
		})
	}
}

// BenchmarkRequeue: n interval timers of one period; each round one
// period passes, the clock goroutine decides and re-queues all of them,
// the consumer takes them; per expiration.
func BenchmarkRequeue(b *testing.B) {
	for _, n := range []int{1000, 100000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := NewManualClock(0)
			q := NewClock(nil, c)
			defer q.Close()
			for i := range n {
				q.Arm(time.Millisecond-time.Duration(i*1000/n), time.Millisecond, 0) // due over 1 us, one record a round
			}
			buf := make([]Expiration, 4096)
			c.Advance(time.Millisecond)
			q.Sync()
			for got := 0; got < n; { // each timer's first: one record each
				got += q.Take(buf)
			}
			b.ResetTimer()
			done := 0
			for done < b.N {
				c.Advance(time.Millisecond)
				q.Sync()
				for got := 0; got < n; {
					got += q.Take(buf)
				}
				done += n
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/expiration")
		})
	}
}

// BenchmarkBytesPerTimer: the Go heap a queue holds per armed timer
// (after a GC), for n one-offs of one delay, of n distinct delays, and n
// interval timers of 8 periods.
func BenchmarkBytesPerTimer(b *testing.B) {
	kinds := []struct {
		name string
		arm  func(q *Queue, i int)
	}{
		{"oneoff", func(q *Queue, i int) { q.Arm(time.Hour, 0, 0) }},
		{"oneoff-odd", func(q *Queue, i int) { q.Arm(time.Hour+time.Duration(i), 0, 0) }},
		{"interval", func(q *Queue, i int) { q.Arm(time.Hour, time.Hour+time.Duration(i%8), 0) }},
	}
	for _, k := range kinds {
		for _, n := range []int{100000, 1000000} {
			b.Run(fmt.Sprintf("%s/%d", k.name, n), func(b *testing.B) {
				var per float64
				for range b.N {
					var m0, m1 runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&m0)
					q := NewClock(nil, NewManualClock(0))
					for i := range n {
						k.arm(q, i)
					}
					runtime.GC()
					runtime.ReadMemStats(&m1)
					per = float64(m1.HeapAlloc-m0.HeapAlloc) / float64(n)
					q.Close()
				}
				b.ReportMetric(per, "B/timer")
			})
		}
	}
}

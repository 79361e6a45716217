package queue

import "testing"

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

package queue_test

import (
	"fmt"
	"time"

	"github.com/luamockit/luamockit/internal/queue"
)

// A consumer hands the queue two timers to keep time for, waits until
// something is due, borrows what is due, runs one expiration of each, and
// returns the timers that go on: the queue keeps time for them again.
func Example() {
	q := queue.New(nil) // or a Notifier, told when something is pending and when nothing is
	defer q.Close()

	ms := int64(time.Millisecond)
	now := q.Now()
	q.Return([]queue.Entry{
		{ID: 1, Due: now + 25*ms, Period: 25 * ms, Left: 1},  // a one-off
		{ID: 2, Due: now + 10*ms, Period: 10 * ms, Left: -1}, // every 10 ms
	})
	ticks := 0
	buf := make([]queue.Entry, 8)
	for q.Timers() > 0 {
		if !q.Wait(time.Second) {
			fmt.Println("timeout")
			return
		}
		n := q.Lend(q.Now(), buf)
		for _, e := range buf[:n] {
			if e.ID == 1 {
				fmt.Println("one-off ran") // over: not returned
				continue
			}
			ticks++
			e.Due += e.Period // the expiration ran
			if ticks < 4 {
				q.Return([]queue.Entry{e})
			} // else stopped: never returned
		}
	}
	fmt.Println("ticks:", ticks, "pending:", q.Pending(), "timers:", q.Timers())
	// Output:
	// one-off ran
	// ticks: 4 pending: 0 timers: 0
}

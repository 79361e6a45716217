package queue_test

import (
	"fmt"
	"time"

	"github.com/luamockit/luamockit/internal/queue"
)

// A consumer arms timers, waits for the queue to have something, and takes
// the expirations in batches: an interval timer's expirations that piled
// up come as consecutive slots of its id, and a one-off's single slot
// carries FlagLast, after which the queue has forgotten the timer.
func Example() {
	q := queue.New(nil) // or a Notifier, told when the queue turns non-empty and empty
	defer q.Close()

	q.Arm(1, 30*time.Millisecond, 0)                   // one-off, after 30 ms
	q.Arm(2, 10*time.Millisecond, 10*time.Millisecond) // every 10 ms

	buf := make([]queue.Slot, 64)
	for q.Timers() > 1 { // until the one-off has been taken
		if !q.Wait(time.Second) {
			fmt.Println("timeout")
			return
		}
		n, _ := q.Take(buf)
		for _, s := range buf[:n] {
			if s.ID == 1 {
				fmt.Println("one-off fired, last:", s.Flags&queue.FlagLast != 0)
			}
		}
	}
	q.Cancel(2) // drops its queued expirations too
	fmt.Println("pending:", q.Pending(), "timers:", q.Timers())
	// Output:
	// one-off fired, last: true
	// pending: 0 timers: 0
}

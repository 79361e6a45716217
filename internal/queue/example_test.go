package queue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/luamockit/luamockit/internal/queue"
)

// A Go consumer arms timers the queue runs and takes their expirations.
// On a ManualClock the run is exact: an interval timer taken late gives
// all of its due expirations at once, counted, before the later one-off;
// after Stop nothing of it comes.
func ExampleQueue_Arm() {
	clk := queue.NewManualClock(0)
	q := queue.NewClock(nil, clk)
	defer q.Close()

	ms := time.Millisecond
	every, _ := q.Arm(10*ms, 10*ms, 1) // tag 1
	q.Arm(25*ms, 0, 2)                 // a one-off, tag 2

	clk.Advance(35 * ms)
	q.Sync() // the clock goroutine has decided what is due at 35 ms
	buf := make([]queue.Expiration, 8)
	n := q.Take(buf)
	for _, x := range buf[:n] {
		fmt.Printf("tag %d: %d from %v\n", x.Tag, x.Count, time.Duration(x.Due))
	}
	q.Stop(every)
	clk.Advance(100 * ms)
	q.Sync()
	fmt.Println("after Stop:", q.Take(buf), "pending:", q.Pending())
	// Output:
	// tag 1: 3 from 10ms
	// tag 2: 1 from 25ms
	// after Stop: 0 pending: 0
}

// Next blocks until the clock goroutine publishes an expiration (here on
// Go's clock).
func ExampleQueue_Next() {
	q := queue.New(nil)
	defer q.Close()
	id, _ := q.Arm(5*time.Millisecond, 5*time.Millisecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]queue.Expiration, 8)
	var got int64
	for got < 3 {
		n, err := q.Next(ctx, buf)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, x := range buf[:n] {
			got += x.Count
		}
	}
	q.Destroy(id)
	fmt.Println("at least 3:", got >= 3)
	// Output:
	// at least 3: true
}

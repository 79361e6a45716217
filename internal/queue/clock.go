package queue

import (
	"math"
	"sync"
	"time"
)

// Clock is a queue's time source: monotonic nanoseconds. The queue reads
// it (Now) wherever it needs the time, and its clock goroutine sleeps on it
// (Sleep) until the next expiration is due. Every time in this package
// (Expiration, NextDue) is a reading of the queue's Clock.
type Clock interface {
	// Now returns the time in nanoseconds; it never goes back.
	Now() int64
	// Sleep returns once Now() >= until or a value arrives on wake
	// (until == math.MaxInt64: only on wake). Only the queue's clock
	// goroutine calls it, so an implementation may keep one timer.
	Sleep(until int64, wake <-chan struct{})
}

// realClock reads Go's monotonic clock from its epoch.
type realClock struct {
	epoch time.Time
	t     *time.Timer
}

func (c *realClock) Now() int64 { return int64(time.Since(c.epoch)) }

func (c *realClock) Sleep(until int64, wake <-chan struct{}) {
	if until == math.MaxInt64 {
		<-wake
		return
	}
	d := time.Duration(until - c.Now())
	if d <= 0 {
		return
	}
	if c.t == nil {
		c.t = time.NewTimer(d)
	} else {
		c.t.Reset(d)
	}
	select {
	case <-c.t.C:
	case <-wake:
		c.t.Stop()
	}
}

// ManualClock is a Clock that moves only when told (Advance): tests and
// examples drive a queue with it, and Queue.Sync waits until the clock
// goroutine has seen the new time. It is safe for concurrent use.
type ManualClock struct {
	mu      sync.Mutex
	now     int64
	waiters map[chan struct{}]int64
}

// NewManualClock returns a ManualClock reading start.
func NewManualClock(start int64) *ManualClock {
	return &ManualClock{now: start, waiters: make(map[chan struct{}]int64)}
}

// Now returns the clock's reading.
func (c *ManualClock) Now() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and wakes the sleepers it passes.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.now += int64(d)
	}
	for ch, until := range c.waiters {
		if until <= c.now {
			close(ch)
			delete(c.waiters, ch)
		}
	}
}

// Sleep implements Clock.
func (c *ManualClock) Sleep(until int64, wake <-chan struct{}) {
	c.mu.Lock()
	if c.now >= until {
		c.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	c.waiters[ch] = until
	c.mu.Unlock()
	select {
	case <-ch:
	case <-wake:
		c.mu.Lock()
		delete(c.waiters, ch)
		c.mu.Unlock()
	}
}

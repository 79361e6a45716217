package queue

import (
	"testing"
	"time"
)

// While the consumer waits (BeginWait .. EndWait) it keeps time itself: no
// runtime timer queues its timers, FireDue does, and EndWait hands time
// keeping back to the runtime timer.
func TestConsumerKeepsTimeWhileWaiting_Timing(t *testing.T) {
	q := New(nil)
	defer q.Close()
	if err := q.Arm(1, 20*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	next, pending := q.BeginWait()
	if pending || next <= 0 || next > 20*time.Millisecond {
		t.Fatalf("BeginWait = %v, %v; want about 20ms, false", next, pending)
	}
	time.Sleep(60 * time.Millisecond)
	if n := q.Pending(); n != 0 {
		t.Fatalf("a runtime timer queued %d event(s) while the consumer kept time", n)
	}
	next, pending = q.FireDue()
	if !pending || next != -1 {
		t.Fatalf("FireDue = %v, %v; want -1 (no timer left), true", next, pending)
	}
	q.EndWait()

	// Back to the runtime timer.
	if err := q.Arm(2, 10*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Pending() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := q.Pending(); n != 2 {
		t.Fatalf("after EndWait the runtime timer queued %d of 2 events", n)
	}
}

// A timer armed by someone else during the wait, due before the consumer
// wakes, is still queued on time by the runtime timer.
func TestArmDuringWaitDueEarlier_Timing(t *testing.T) {
	q := New(nil)
	defer q.Close()
	if err := q.Arm(1, time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	if next, _ := q.BeginWait(); next < 59*time.Minute {
		t.Fatalf("BeginWait next = %v, want about an hour", next)
	}
	if err := q.Arm(2, 5*time.Millisecond, 0); err != nil {
		t.Fatal(err)
	}
	if !q.Wait(5 * time.Second) {
		t.Fatal("the earlier timer armed during the wait never fired")
	}
	q.EndWait()
}

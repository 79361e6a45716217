// Package queue is the event queue and the timers of one Lua universe.
//
// A Queue holds the expirations of its timers in FIFO order until the Lua
// side takes them. It is pure Go and knows nothing of Lua: timers and
// events are named by integer ids that the caller assigns.
//
// Timers run on Go's runtime timers: a Queue keeps its timers in a binary
// heap ordered by due time and arms a single time.AfterFunc for the
// earliest one, so an idle timer costs a heap slot, not a goroutine or an
// OS thread. Interval timers keep to their absolute schedule (start +
// k*period); a late wake-up counts every period that has passed, so the
// callback still runs once per expiration, but the queue stores one record
// with a count per timer rather than one entry per expiration, so a stalled
// consumer does not grow memory per expiration. One-offs with consecutive
// ids that fire one after another (a burst armed in a row with one delay)
// share one record too, a run of ids, so taking thousands of them reads no
// memory per timer.
//
// Concurrency: every method is safe for concurrent use. One mutex guards the
// whole queue; a condition variable and the Notifier are signalled when the
// number of pending events goes from zero to non-zero, and the Notifier is
// cleared when it drops back to zero, all under that mutex, so the
// Notifier's state always matches Pending() > 0. Take and PutBack are meant
// for the single thread that consumes the queue.
//
// Costs: Arm, Cancel, Stop and Start are O(log n) in the number of armed
// timers; an expiration is O(log n) plus O(1) amortised in the ring; Take is
// O(1) per slot filled and allocates nothing once the ring has grown.
package queue

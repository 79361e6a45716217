// Package queue holds the timers of one Lua universe on the Go side, and
// tells the universe's Notifier when one of them has an expiration due. It is pure Go and knows nothing of Lua: timers are
// named by ids the caller assigns, and their schedules are Entries.
//
// # Who owns a timer's schedule
//
// Every schedule is in exactly one place. Either the queue holds it (in a
// heap ordered by the next due time, then id) and keeps time for it with
// one runtime timer, or the consumer (the Lua thread) holds it under a
// lease. There is no copy on the other side that could disagree: the
// queue hands a schedule over with Lend or LendID and forgets it, and takes
// one with Return, and nothing else moves a schedule. While the consumer
// holds a schedule it counts and runs the expirations itself, stops,
// restarts and drops it, with no call into the queue; while the queue
// holds it, the entry does not change (the queue only keeps time), so a
// copy the consumer kept when it returned the timer stays exact and can
// answer "when is it due" without a call.
//
// The binding uses two leases, one contract (see the README's Design):
// by default the Lua thread holds every schedule of its universe and never
// returns them, so its loop makes no call into Go; once an outside event
// loop watches the file descriptor (fd(), setport()), the queue holds
// them, and each process_events borrows the due ones for its drain and
// returns them with whatever its callbacks armed.
//
// # Pending and the Notifier
//
// Something is pending when a timer the queue holds has an expiration
// due. The Notifier is Set when that becomes true and
// Cleared when it becomes false, under the queue's mutex, so it always
// matches; the runtime timer wakes the queue when the earliest timer falls
// due, and goes unused while nothing is held.
//
// Producer items are not here: they live in C, in the universe's hub
// (cmd/luamockit/hub.c), so that a producer thread delivers without
// entering Go.
//
// # Concurrency and costs
//
// Every method is safe for concurrent use; one mutex guards the queue.
// Lend, LendID and Return cost O(log n) per timer in the number held;
// Pending visits only the timers that are due.
package queue

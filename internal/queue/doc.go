// Package queue is the timer engine of one Lua universe, and of any Go
// consumer: it holds timer schedules, decides when each expiration falls
// due and how many have, and hands them out in (due, id) order with exact
// counts. It is pure Go and knows nothing of Lua: timers are named by ids,
// their expirations carry a tag the consumer chose, and every time is a
// reading of the queue's Clock (monotonic nanoseconds).
//
// # The engine
//
// Schedules are ordered by an engine (engine.go), the algorithm of
// libevent's common timeouts: timers whose next expirations come in the
// order they were added sit in FIFO lists, one per kind (one-off or
// interval) and duration, and a heap orders the lists by their heads
// together with the timers that fit no list (a backlog, an expiration out
// of order). Arming, expiring and re-queueing a timer of a common duration
// cost O(1) plus O(log g) in the number of distinct durations, and O(log n)
// at worst. Each schedule is a fixed-size record in a slab (56 bytes),
// named by its slot and its arming (the low 32 bits of its arming order),
// so that a timer costs no map entry and a stale name finds nothing.
// Empty lists are kept for reuse until there are many of them.
//
// A schedule has a main part, whose expiration i is due at due + i*period
// (a one-off has one, due after its delay), and after a restart of a timer
// that had expirations due and not yet handed out, a backlog: that many
// expirations counted in one record at the first one's due time, before
// the main part's (rare, so kept in a side table, not in every schedule).
// A timer's key is its next expiration, the backlog's if
// it has one; timers are ordered by (key, id), and a timer's due
// expirations are handed out back to back, counted together.
//
// # Who decides what
//
// The queue's clock goroutine alone decides the expirations of the timers
// the queue runs (Arm): it wakes when the earliest one falls due or when a
// change pokes it, takes every due expiration from the engine (tick, the
// one function that decides what is due and how many), and publishes them
// as records: one per timer, counting all of its expirations published and
// not yet taken, so memory stays bounded by the number of timers however
// late the consumer is. Consumers take the records with Take, or wait for
// them with Next, which sleeps on the queue's condition variable. Stop and
// Destroy withdraw a timer's record and take it out of the engine under
// the queue's mutex: nothing of it is taken after they return. Start keeps
// what fell due and was not yet published as a backlog, so an expiration
// is never lost and never runs early.
//
// The Lua binding (cmd/luamockit) is such a consumer: it stops, restarts
// and destroys its timers here, one call each, and arms them with
// ArmAheadMany: all the arms it made since its last call in one call,
// each from its own instant, as ArmAhead would one. Its queue is
// passive (SetPassive) until an outside loop watches its fd: the clock
// goroutine then sleeps, and the binding takes with TakeAhead, which ticks
// on the caller's goroutine and hands over what is due and, one record per
// expiration, what falls due in a window ahead (at most AheadPerTimer per
// timer), so that the Lua thread calls Go once per window instead of once
// per expiration and no Go timer decides when it wakes; a DueNotifier tells
// it the earliest due time not handed out, so its thread sleeps until then
// (or until the first it holds) without a call. It holds what was handed
// out and runs each when it falls due; it keeps no schedule of its own.
// When the queue turns active it gives back what it held ahead (GiveBack).
//
// Producer items are not here: they live in C, in the universe's hub
// (cmd/luamockit/hub.c), so that a producer thread delivers without ever
// meeting the Go runtime.
//
// # Clocks
//
// New uses Go's monotonic clock; NewClock takes any Clock. A ManualClock
// moves only when told, and Sync returns once the clock goroutine has seen
// its reading, so tests of consumers are exact and need no sleeps.
//
// The queue's clock is the one "now" of everything it decides, and a
// consumer may switch it (SetVirtual, for mit.clock("virtual")): to a
// ManualClock that starts at the current reading and moves only by
// SetNow, and back to a real clock that goes on from the virtual reading,
// so no schedule jumps and the clock never runs backwards. The shim keeps
// no copy of the virtual time: Go writes each reading into the universe's
// hub, where the Lua thread reads it (cmd/luamockit/sched.c).
//
// # Concurrency and costs
//
// Every method of Queue is safe for concurrent use; one mutex guards the
// engines and the records, and the clock goroutine takes it once per
// wake-up, however many expirations fall due then. The engine itself has
// no lock: only the goroutine that holds the queue's mutex uses it. The
// Notifier is called with the mutex held. Arm, Stop, Start and Destroy cost
// O(1) to O(log n) and poke the clock goroutine only when the earliest due
// time moves before the one it sleeps toward; Take costs O(1) per record;
// Pending visits only the timers that are due. While nothing is armed, or
// the queue is passive, the clock goroutine sleeps on a channel and costs
// nothing; while timers are armed on an active queue it holds one runtime
// timer.
package queue

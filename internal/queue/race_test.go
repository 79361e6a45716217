//go:build race

package queue

// raceEnabled: the race detector slows the single-goroutine engine model
// twentyfold and finds nothing there; it runs fewer seeds.
const raceEnabled = true

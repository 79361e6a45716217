package main

/*
#include "lmk.h"
*/
import "C"

// notifier is the queue.Notifier of a Lua universe. The queue calls Set and
// Clear under its lock when it starts and stops holding a due timer (only
// after fd() or setport(): until then the Lua thread holds every schedule);
// the universe's hub (hub.c) makes its file descriptor readable, and sends
// the setport() datagram, for that as for producer items.
type notifier struct {
	hub *C.lmk_hub
}

func (n notifier) Set()   { C.lmk_hub_go_set(n.hub) }
func (n notifier) Clear() { C.lmk_hub_go_clear(n.hub) }

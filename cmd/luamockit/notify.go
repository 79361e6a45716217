package main

import (
	"encoding/binary"
	"syscall"
)

// eventfd is the queue.Notifier of a Lua universe: the eventfd that C's
// wait() polls. The queue calls Set and Clear under its lock on the
// pending count's 0 <-> non-zero transitions, so the fd is readable exactly
// while events are pending.
type eventfd int

func (fd eventfd) Set() {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	for {
		if _, err := syscall.Write(int(fd), b[:]); err != syscall.EINTR {
			return
		}
	}
}

func (fd eventfd) Clear() {
	var b [8]byte
	for {
		if _, err := syscall.Read(int(fd), b[:]); err != syscall.EINTR {
			return
		}
	}
}

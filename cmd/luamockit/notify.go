package main

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"syscall"
)

// notifier is the queue.Notifier of a Lua universe. The queue calls Set and
// Clear under its lock when its pending state changes (so they alternate):
// the descriptor rfd that wait() and mit.fd() users poll is readable
// exactly while something is pending, flag (an int in the universe's C
// struct) says the same to the Lua thread without a system call, and with
// a port set, one UDP datagram goes to 127.0.0.1:port on each empty ->
// non-empty transition. rfd and wfd are one eventfd (Linux) or the two ends
// of a pipe (the portable path, port.h); both are non-blocking.
type notifier struct {
	rfd  int
	wfd  int
	flag *int32       // C memory: lmk_state.go_pending
	mu   sync.RWMutex // Set reads udp under RLock, so setPort never closes an fd in use
	udp  *udpTarget
}

type udpTarget struct {
	fd   int
	port int
	addr syscall.SockaddrInet4
}

func (n *notifier) Set() {
	atomic.StoreInt32(n.flag, 1)
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	for {
		// An eventfd adds 1 to its counter; a pipe gets 8 bytes (a full
		// pipe is readable already).
		if _, err := syscall.Write(n.wfd, b[:]); err != syscall.EINTR {
			break
		}
	}
	n.mu.RLock()
	if u := n.udp; u != nil {
		// Best effort, like DarkSideSync: a full socket buffer means a
		// wake-up is already waiting to be read.
		_ = syscall.Sendto(u.fd, b[:1], syscall.MSG_DONTWAIT, &u.addr)
	}
	n.mu.RUnlock()
}

func (n *notifier) Clear() {
	atomic.StoreInt32(n.flag, 0)
	// One read resets an eventfd; a pipe is read until it is empty.
	var b [64]byte
	for {
		k, err := syscall.Read(n.rfd, b[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n.rfd == n.wfd || k < len(b) {
			return
		}
	}
}

// setPort points the wake-up datagrams at 127.0.0.1:port (0: none).
func (n *notifier) setPort(port int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var next *udpTarget
	if port != 0 {
		fd, err := udpSocket()
		if err != nil {
			return err
		}
		next = &udpTarget{fd: fd, port: port, addr: syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}}
	}
	if old := n.udp; old != nil {
		syscall.Close(old.fd)
	}
	n.udp = next
	return nil
}

func (n *notifier) getPort() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.udp != nil {
		return n.udp.port
	}
	return 0
}

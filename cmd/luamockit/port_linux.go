//go:build linux && !lmkportable

package main

import "syscall"

// udpSocket returns a UDP socket for setport's datagrams, non-blocking
// and close-on-exec from the start (Linux's socket flags).
func udpSocket() (int, error) {
	return syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK, 0)
}

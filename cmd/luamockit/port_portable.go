//go:build !linux || lmkportable

package main

// The portable path (port.h): every system but Linux, and Linux built with
// -tags lmkportable. The tag reaches the C files as LMK_PORTABLE. On macOS
// the Lua C API is left for the interpreter to provide at load time, as
// LuaRocks links Lua modules there (ELF linkers allow it by default).

/*
#cgo CFLAGS: -DLMK_PORTABLE
#cgo darwin LDFLAGS: -Wl,-undefined,dynamic_lookup
*/
import "C"

import "syscall"

// udpSocket returns a UDP socket for setport's datagrams, non-blocking and
// close-on-exec. Without SOCK_CLOEXEC (macOS) the flag is set right after
// creation, under syscall.ForkLock as Go's net package does, so that no
// fork+exec of the Go runtime slips in between (a C thread's could).
func udpSocket() (int, error) {
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

//go:build lmkhost && linux && !lmkportable

package main

// portablePath: this build is the portable path (port_portable.go): fd()
// makes Go's queue active, as setport() does.
const portablePath = false

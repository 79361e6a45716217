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

// Command luamockit is the Lua module, built with -buildmode=c-shared into
// luamockit.so and loaded by the stock interpreters with
// require("luamockit").
//
// The Lua face lives in C (module.c and the files it names): it checks
// arguments, raises errors, keeps the timers the Lua thread holds and runs
// callbacks, so no Lua error ever unwinds across a Go frame. The Go side
// (exports.go, notify.go) owns one internal/queue.Queue per Lua universe,
// named by an integer handle, and never sees a lua_State.
//
// The C files are compiled with hidden visibility: the .so exports
// luaopen_luamockit (LMK_EXPORT) and what Go's runtime exports, nothing of
// the shim (producers reach their API through the Lua registry,
// luamockit_api.h).
package main

// #cgo CFLAGS: -fvisibility=hidden
import "C"

func main() {}

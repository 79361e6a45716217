/*
 * messages.h: every message the C shim raises, returns or hands to a
 * producer, in one place (the specs and the docs match these texts: change
 * them here, and grep test/ for the old wording). String literals, so that
 * lua_pushliteral and luaL_error's format checking take them as they are.
 * The pure-Lua modules keep theirs in one local table each (MSG).
 */
#ifndef LMK_MESSAGES_H
#define LMK_MESSAGES_H

/* Run-time failures raised through lmk_error, which adds "luamockit: ".
 * The first eight are lmk_code_message's (guard.c) for the LMK_* codes:
 * one per error code (lmk.h), then the one for any other code. */
#define LMK_MSG_CLOSED "the Lua state's queue is closed"
#define LMK_MSG_EXISTS "timer id already in use"
#define LMK_MSG_RANGE "invalid timer schedule"
#define LMK_MSG_NOTFOUND "no such timer"
#define LMK_MSG_SYS "a system call failed"
#define LMK_MSG_NOMEM "not enough memory"
#define LMK_MSG_PANIC "internal error (recovered Go panic)"
#define LMK_MSG_UNKNOWN "unknown error"
#define LMK_MSG_FORKED "unusable in a forked child process (the Go runtime does not survive fork)"
#define LMK_MSG_FORKED_EXEC LMK_MSG_FORKED "; require luamockit in the child only after exec"
#define LMK_MSG_NO_HUB "cannot create the event hub"
#define LMK_MSG_NO_QUEUE "cannot create the event queue"
#define LMK_MSG_NESTED "process_events nested too deeply in callbacks"
#define LMK_MSG_DESTROYED "timer is destroyed"
#define LMK_MSG_CLOCK_IN_CALLBACK "clock() cannot switch clocks inside a callback"
#define LMK_MSG_NOT_VIRTUAL "advance and run_all need the virtual clock: call mit.clock(\"virtual\") first"
#define LMK_MSG_ADVANCE_IN_CALLBACK "advance and run_all cannot run inside a callback (they drain themselves)"
#define LMK_FMT_RUN_ALL_LIMIT "run_all stopped after %d callbacks with timers still armed (an interval timer never ends: destroy it, or use advance)"
#define LMK_MSG_ADVANCE_STUCK "advance: callbacks keep arming timers due at the same virtual instant (over a million drains)"
#define LMK_MSG_SIG_DESTROYED "signal handle is destroyed"

/* Raised (or pushed as a drain's error) as they are. */
#define LMK_MSG_NOSTACK_ARGS "luamockit: no stack for the callback's arguments (out of memory)"
#define LMK_MSG_NOSTACK_ITEM "luamockit: no stack to run a producer item"
#define LMK_MSG_NOSTACK_ITEM_OOM LMK_MSG_NOSTACK_ITEM " (out of memory)"
#define LMK_FMT_DECODE_COUNT "luamockit: producer '%s' decode pushed %d values for %d arguments"
#define LMK_FMT_DECODE_TYPE "luamockit: producer '%s' decode pushed a %s where the callback goes"

/* A callback (a timer's, or a producer item's) that called
 * coroutine.yield: it runs inside process_events, a C function, so Lua
 * raises one of LMK_YIELD_ERRORS (5.2-5.4 outside a coroutine, 5.2-5.4
 * inside one, 5.1, LuaJIT); the drain's message handler (dispatch.c) puts
 * it into LMK_FMT_YIELD, which says what to do instead. */
#define LMK_YIELD_ERRORS                                                          \
    "attempt to yield from outside a coroutine", "attempt to yield across a C-call boundary", \
        "attempt to yield across metamethod/C-call boundary", "attempt to yield across C-call boundary"
#define LMK_FMT_YIELD                                                             \
    "luamockit: a callback cannot yield (%s): run it as a luamockit.co task "    \
    "(co.spawn, co.sleep), or run callbacks in copas or cqueues with "           \
    "luamockit.copas or luamockit.cqueues"

/* Returned as nil, message. */
#define LMK_MSG_NO_UDP "cannot create the UDP socket"

/* Argument errors: the "(...)" of "bad argument #n to 'f' (...)". */
#define LMK_ARG_MS_FINITE "milliseconds must be a finite number"
#define LMK_ARG_MS_NEGATIVE "milliseconds must not be negative"
#define LMK_ARG_INTERVAL_ZERO "interval must be greater than 0"
#define LMK_ARG_INTERVAL_MIN "interval must be at least 0.001 ms"
#define LMK_ARG_MS_MAX "milliseconds too large (at most 366 days)"
#define LMK_ARG_NARGS "too many callback arguments (at most 1000)"
#define LMK_ARG_CATCHUP_ONEOFF "a one-off has one expiration per arming: its catch-up is \"all\""
#define LMK_ARG_MAX "max must be a positive number"
#define LMK_ARG_SPIN "microseconds must be in 0..1000000"
#define LMK_ARG_PORT "port must be an integer from 0 to 65535"

/* mit.signal's first argument (signal.c): the "(...)" of its argument
 * error, formatted. */
#define LMK_FMT_SIG_TYPE "signal name or number expected, got %s"
#define LMK_ARG_SIG_INTEGER "signal number must be an integer"
#define LMK_FMT_SIG_UNKNOWN "unknown signal '%s'"
#define LMK_FMT_SIG_NUMBER "no signal numbered %d"
#define LMK_FMT_SIG_UNCATCHABLE "%s cannot be caught"
#define LMK_FMT_SIG_FAULT "%s reports a fault of the thread that raises it: it cannot be taken as an event"
#define LMK_FMT_SIG_GO "%s is used by the Go runtime: it cannot be taken as an event"
#define LMK_FMT_SIG_RESERVED "signal %d is reserved by the C library (real-time signals are %d to %d)"

/* The producer C API's strerror: lmk_code_message's (guard.c) for the
 * LUAMOCKIT_* codes (luamockit_api.h), then the one for any other code. */
#define LMK_API_OK "ok"
#define LMK_API_ECLOSED "the Lua state is closed or the producer unregistered"
#define LMK_API_ETIMEDOUT "timed out before Lua took the item"
#define LMK_API_ECANCELLED "cancelled: the producer was unregistered or the Lua state closed"
#define LMK_API_ECALLBACK "the Lua callback raised an error"
#define LMK_API_EINVAL "invalid argument"
#define LMK_API_ENOMEM "out of memory: the item was not taken"
#define LMK_API_UNKNOWN "unknown status"

#endif

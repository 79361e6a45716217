/*
 * port.h: what differs between operating systems, behind one small
 * interface (port.c). The rest of the shim calls only these.
 *
 * Two paths, chosen at compile time:
 *   - the Linux path (Linux, by default): an eventfd, ppoll() with a
 *     nanosecond timeout, the thread's timer slack lowered with prctl()
 *     before a spin window, clock_nanosleep() on CLOCK_MONOTONIC;
 *   - the portable path (macOS, the BSDs, and Linux built with the Go tag
 *     lmkportable, which defines LMK_PORTABLE): a pipe (non-blocking,
 *     close-on-exec), poll() (milliseconds) with nanosleep() for the last
 *     sub-millisecond, no timer slack, nanosleep() to a deadline, the .so
 *     pinned with dlopen(RTLD_NODELETE).
 * Both read the monotonic clock Go's runtime reads on that system, so one
 * offset (lmk_state.clock_off) converts between the two.
 */
#ifndef LMK_PORT_H
#define LMK_PORT_H

#include <poll.h>
#include <stdint.h>

#if defined(__linux__) && !defined(LMK_PORTABLE)
#define LMK_PORT_LINUX 1
#define LMK_PORT_NAME "linux"
#else
#define LMK_PORT_NAME "portable"
#endif

/* The monotonic clock Go's runtime reads, in ns (timers, wait, sleep). */
int64_t lmk_mono_ns(void);

/* The wake-up descriptor of a universe (hub.c sets it while something is
 * pending): *rfd is polled and read, *wfd written (the same descriptor for
 * an eventfd). Both are close-on-exec and non-blocking. 0, or an errno. */
int lmk_port_notifier_open(int *rfd, int *wfd);
void lmk_port_notifier_close(int rfd, int wfd);

/* The descriptor fd() gives an outside loop, where the system has timer
 * descriptors (Linux): an epoll instance watching hubfd and a timerfd on
 * the monotonic clock (*tfd), so that it is readable while hubfd is, and
 * once the timer expires, with no thread woken to make it so. 0, or an
 * errno (ENOSYS on the portable path: Go's clock goroutine sets hubfd at
 * each due time instead). */
int lmk_port_watch_open(int hubfd, int *efd, int *tfd);
void lmk_port_watch_close(int efd, int tfd);
/* Arms tfd to expire at at (lmk_mono_ns time; past: at once; INT64_MAX:
 * never); an expiry not read is forgotten. */
void lmk_port_watch_arm(int tfd, int64_t at);

/* A UDP socket for setport()'s datagrams, close-on-exec and non-blocking;
 * -1 with errno set on failure. */
int lmk_port_udp_socket(void);

/* poll(pfd, 1) for at most ns nanoseconds (>= 0): > 0 when pfd is ready,
 * 0 at the timeout, -1 with errno set (EINTR: a signal was handled). It
 * may return 0 early (wait() loops until its deadline), never late by more
 * than the system's own timer latency. */
int lmk_port_poll(struct pollfd *pfd, int64_t ns);

/* Lowers the calling thread's timer slack to 1 ns; returns what
 * lmk_port_slack_restore needs (>= 0; 0 where there is no timer slack). */
int lmk_port_slack_lower(void);
void lmk_port_slack_restore(int saved);

/* Whether a signal sent to the process (Ctrl-C's SIGINT, kill) goes to
 * the calling thread, so that it interrupts its sleep (EINTR): on Linux,
 * on the main thread with no signal blocked, while it has no other signal
 * pending; else 0 (another thread may take it). */
int lmk_port_signals_reach(void);

/* Sleeps until deadline (lmk_mono_ns time): 0 once it has passed; EINTR
 * if a signal cut it short, unless resume, which sleeps on; else an errno. */
int lmk_port_sleep_until(int64_t deadline, int resume);

/* Keeps the .so mapped for good where the linker did not mark it
 * NODELETE (Go's linker does on ELF systems, not on macOS). Idempotent. */
void lmk_port_pin(void);

#endif

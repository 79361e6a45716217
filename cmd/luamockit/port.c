/*
 * port.c: the system-specific code of the shim, one function per need
 * (see port.h for the two paths and what each function promises). Only
 * this file tests the operating system.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "port.h"

#ifdef LMK_PORT_LINUX
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <signal.h>
#include <sys/syscall.h>
#else
#include <dlfcn.h>
#include <fcntl.h>
#endif
#ifdef __APPLE__
#include <mach/mach_time.h>
#endif

/* ---- the clock Go's runtime reads (runtime.nanotime) ---- */

#ifdef __APPLE__
/* Go reads mach_absolute_time() scaled by mach_timebase_info (the uptime
 * clock, CLOCK_UPTIME_RAW: it stops while the machine sleeps), not
 * CLOCK_MONOTONIC, which goes on counting. */
static mach_timebase_info_data_t timebase;
static pthread_once_t timebase_once = PTHREAD_ONCE_INIT;
static void timebase_init(void) { mach_timebase_info(&timebase); }

int64_t lmk_mono_ns(void) {
    uint64_t t = mach_absolute_time();
    pthread_once(&timebase_once, timebase_init);
    if (timebase.numer == timebase.denom) return (int64_t)t;
    return (int64_t)(t / timebase.denom * timebase.numer + t % timebase.denom * timebase.numer / timebase.denom);
}
#else
/* Linux and the BSDs: Go reads CLOCK_MONOTONIC. */
int64_t lmk_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif

#ifdef LMK_PORT_LINUX
/* ---- Linux ---- */

int lmk_port_notifier_open(int *rfd, int *wfd) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return errno;
    *rfd = *wfd = fd;
    return 0;
}

int lmk_port_poll(struct pollfd *pfd, int64_t ns) {
    struct timespec ts;
    if (ns < 0) ns = 0;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ppoll(pfd, 1, &ts, NULL);
}

int lmk_port_slack_lower(void) {
    int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (old > 1) prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    return old > 0 ? old : 0;
}

void lmk_port_slack_restore(int saved) {
    if (saved > 1) prctl(PR_SET_TIMERSLACK, (unsigned long)saved, 0, 0, 0);
}

int lmk_port_sleep_until(int64_t deadline, int resume) {
    struct timespec ts;
    int rc;
    ts.tv_sec = (time_t)(deadline / 1000000000);
    ts.tv_nsec = (long)(deadline % 1000000000);
    while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR && resume) {
    }
    return rc;
}

/* Go's linker marks the .so NODELETE (-z nodelete) on ELF systems. */
void lmk_port_pin(void) {}

/* Linux gives a signal sent to the process to its main thread first
 * (kernel/signal.c, complete_signal: the thread the pid names, if it
 * blocks the signal not and has none pending), and a pending signal ends
 * a ppoll() at once, or before it sleeps. */
int lmk_port_signals_reach(void) {
    sigset_t m;
    if ((pid_t)syscall(SYS_gettid) != getpid()) return 0;
    if (pthread_sigmask(SIG_BLOCK, NULL, &m) != 0) return 0;
    return sigisemptyset(&m);
}

int lmk_port_watch_open(int hubfd, int *efd, int *tfd) {
    struct epoll_event ev;
    int e = epoll_create1(EPOLL_CLOEXEC), t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK), rc = 0;
    if (e < 0 || t < 0) rc = errno;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    if (rc == 0 && (epoll_ctl(e, EPOLL_CTL_ADD, hubfd, &ev) != 0 || epoll_ctl(e, EPOLL_CTL_ADD, t, &ev) != 0)) rc = errno;
    if (rc != 0) {
        if (e >= 0) close(e);
        if (t >= 0) close(t);
        return rc;
    }
    *efd = e;
    *tfd = t;
    return 0;
}

void lmk_port_watch_close(int efd, int tfd) {
    if (efd >= 0) close(efd);
    if (tfd >= 0) close(tfd);
}

void lmk_port_watch_arm(int tfd, int64_t at) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    if (at != INT64_MAX) {
        if (at < 1) at = 1; /* {0, 0} would disarm it */
        its.it_value.tv_sec = (time_t)(at / 1000000000);
        its.it_value.tv_nsec = (long)(at % 1000000000);
    }
    (void)timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

#else
/* ---- portable (POSIX) ---- */

int lmk_port_watch_open(int hubfd, int *efd, int *tfd) {
    (void)hubfd;
    *efd = *tfd = -1;
    return ENOSYS;
}
void lmk_port_watch_close(int efd, int tfd) {
    (void)efd;
    (void)tfd;
}
void lmk_port_watch_arm(int tfd, int64_t at) {
    (void)tfd;
    (void)at;
}


static int cloexec_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) return errno;
    return 0;
}

/* A pipe: the hub writes to *wfd when something becomes pending and reads
 * *rfd dry when nothing is (hub.c). Without pipe2() the flags come a moment
 * after pipe(), so a fork+exec by another thread in between could leak the
 * two descriptors into that child (open, never read: harmless). */
int lmk_port_notifier_open(int *rfd, int *wfd) {
    int p[2], rc;
    if (pipe(p) != 0) return errno;
    if ((rc = cloexec_nonblock(p[0])) != 0 || (rc = cloexec_nonblock(p[1])) != 0) {
        close(p[0]);
        close(p[1]);
        return rc;
    }
    *rfd = p[0];
    *wfd = p[1];
    return 0;
}

/* poll() counts whole milliseconds: it sleeps the whole ones (rounded
 * down, so never late), and the last fraction of one in nanosleep()s of
 * at most LMK_PORT_SLICE_NS toward a deadline, looking at the descriptor
 * before each: an item delivered in that fraction waits at most a slice,
 * the price of having no ppoll(). A signal interrupts a nanosleep() as it
 * would poll(). */
#define LMK_PORT_SLICE_NS 100000

int lmk_port_poll(struct pollfd *pfd, int64_t ns) {
    int64_t deadline;
    int r;
    if (ns <= 0) return poll(pfd, 1, 0);
    if (ns >= 1000000) return poll(pfd, 1, ns / 1000000 > INT_MAX ? INT_MAX : (int)(ns / 1000000));
    deadline = lmk_mono_ns() + ns;
    for (;;) {
        struct timespec ts;
        if ((r = poll(pfd, 1, 0)) != 0) return r;
        if ((ns = deadline - lmk_mono_ns()) <= 0) return 0;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(ns < LMK_PORT_SLICE_NS ? ns : LMK_PORT_SLICE_NS);
        if (nanosleep(&ts, NULL) != 0) return -1;
    }
}

/* No portable timer slack (Linux's prctl, macOS's QoS timer leeway aside):
 * the spin window alone absorbs a late wake-up. */
int lmk_port_slack_lower(void) { return 0; }
void lmk_port_slack_restore(int saved) { (void)saved; }

/* Where a process-directed signal goes is not known: wait() looks once a
 * second. */
int lmk_port_signals_reach(void) { return 0; }

/* macOS has no clock_nanosleep(): relative sleeps, each one what is left
 * until the deadline on lmk_mono_ns's clock, so a signal never stretches
 * the sleep and the deadline is not missed if nanosleep's clock differs. */
int lmk_port_sleep_until(int64_t deadline, int resume) {
    for (;;) {
        int64_t left = deadline - lmk_mono_ns();
        struct timespec ts;
        if (left <= 0) return 0;
        ts.tv_sec = (time_t)(left / 1000000000);
        ts.tv_nsec = (long)(left % 1000000000);
        if (nanosleep(&ts, NULL) != 0) {
            if (errno != EINTR) return errno;
            if (!resume) return EINTR;
        }
    }
}

/* Go's linker does not mark a macOS dylib NODELETE; lua_close()
 * dlclose()s the modules it loaded, and unloading a running Go runtime
 * crashes. Taking a reference flagged RTLD_NODELETE (never released)
 * keeps the .so mapped; where the linker already set the flag (ELF) it
 * changes nothing. */
static void pin_self(void) {
    Dl_info info;
    if (dladdr((void *)(uintptr_t)lmk_port_pin, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

void lmk_port_pin(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pin_self);
}
#endif

int lmk_port_udp_socket(void) {
#ifdef SOCK_CLOEXEC
    return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
    /* the flags a moment after the socket: see lmk_port_notifier_open */
    int s = socket(AF_INET, SOCK_DGRAM, 0), rc;
    if (s >= 0 && (rc = cloexec_nonblock(s)) != 0) {
        close(s);
        errno = rc;
        return -1;
    }
    return s;
#endif
}

void lmk_port_notifier_close(int rfd, int wfd) {
    if (rfd >= 0) close(rfd);
    if (wfd >= 0 && wfd != rfd) close(wfd);
}

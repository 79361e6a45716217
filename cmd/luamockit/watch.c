/*
 * watch.c: fd()'s kernel timer, and the spin lead that both ways of
 * waiting share.
 *
 * On Linux fd() is an epoll descriptor over the hub's eventfd and a
 * timerfd (port.c) that expires at the universe's next wake time
 * (lmk_next_wake, sched.c), so that an outside loop wakes on time with no
 * thread woken to make it so. A sleeping thread wakes late by the timer
 * slack and the scheduler's (and a hypervisor's) delays: wait() (wait.c)
 * sleeps until a spin lead before the wake time and polls the clock for
 * the rest; fd()'s timer expires as early, and the outermost drain the
 * outside loop then starts polls the rest (lmk_watch_ontime). This file
 * and sched.c's arms (lmk_watch_arm, when an arm brings the next due time
 * forward) set the timer; nothing here calls into Go but lmk_watch_fd's
 * first call (sched.c's flush and, without a timerfd, lmk_sched_active)
 * and the take ahead lmk_next_wake may make (once per window, sched.c).
 */
#include "lmk.h"

/* How early a thread that is to wake at due (seen at now) stops sleeping
 * and polls the clock instead: a sleeping thread wakes late by the timer
 * slack and the scheduler's (and a hypervisor's) delays, a polling one as
 * soon as it looks. The lead is 1/LMK_SPIN_DIV of the sleep, at most
 * st->spin_ns (setspin(), default LMK_SPIN_DEFAULT_NS), and none below
 * LMK_SPIN_MIN_NS: a wait of 20 ms spins at most 200 us (1 % of a core
 * while it waits); timers under 2 ms away get none, nor does a wait with
 * no timer armed. wait() sleeps until then (wait.c); fd()'s timer expires
 * then, and the drain that follows polls the rest (lmk_watch_ontime).
 * Returns when to stop sleeping. */
#define LMK_SPIN_DIV 100
#define LMK_SPIN_MIN_NS 20000

int64_t lmk_spin_from(const lmk_state *st, int64_t now, int64_t due) {
    int64_t lead;
    if (due == INT64_MAX || st->spin_ns <= 0) return due;
    lead = (due - now) / LMK_SPIN_DIV;
    if (lead > st->spin_ns) lead = st->spin_ns;
    return lead >= LMK_SPIN_MIN_NS ? due - lead : due;
}

/* Arms fd()'s timer (if any) for the wake time at (never while the clock
 * is virtual: no kernel timer follows it): it expires a spin lead ahead
 * (lmk_spin_from), so that the outside loop's own wake-up delay is spent
 * before at, not after it. */
void lmk_watch_arm(lmk_state *st, int64_t at) {
    int64_t now, fire, was = st->tfd_fire;
    if (st->virtual) at = INT64_MAX;
    if (st->tfd < 0 || st->active || at == st->tfd_at) return;
    now = lmk_now(st);
    fire = at == INT64_MAX ? at : lmk_spin_from(st, now, at);
    st->tfd_at = at;
    st->tfd_fire = fire;
    /* expired, and to expire at once again: it stays readable as it is (a
     * timerfd set to a time already past costs 20-40 us on these VMs) */
    if (fire <= now && was != INT64_MIN && was <= now) return;
    lmk_port_watch_arm(st->tfd, fire);
}

/* The end of an outermost drain (upto: its bound): fd()'s timer is set
 * for the next wake-up (lmk_next_wake: what fell due while the drain ran
 * is coalesced with what follows it; the timer is readable at once if
 * that has come), and the hub's fd stays set only while taken expirations
 * due by the drain's bound are left (an error, or a max, ended it), or
 * while anything else is pending. */
void lmk_watch_settle(lmk_state *st, int64_t upto) {
    lmk_watch_rearm(st);
    if (st->hub == NULL) return;
    lmk_wake_hold(&st->hub->wk, lmk_took_due(st, upto) > 0);
    lmk_wake_quiesce(&st->hub->wk);
}

/* Before an outermost drain: if fd()'s timer has expired ahead of the wake
 * time it was armed for (lmk_watch_arm), the loop that watched it woke for
 * that time: poll the clock up to it (a spin lead at most, as wait()
 * does), so that the drain runs what falls due then instead of nothing.
 * Arms deferred since the loop went to sleep (the one it woke for, it may
 * be) cross first, inside the lead: the call into an idle Go runtime
 * (tens of microseconds) is spent before the wake time, not after it. */
void lmk_watch_ontime(lmk_state *st) {
    int64_t now;
    if (st->tfd < 0 || st->active || st->virtual || st->tfd_at == INT64_MAX) return;
    now = lmk_now(st);
    if (now < st->tfd_fire || now >= st->tfd_at) return;
    lmk_sched_sync(st);
    while (lmk_now(st) < st->tfd_at) lmk_cpu_relax();
}

/* After a drain: fd()'s timer expires when the universe's next expiration
 * is due (what the batch holds first, or what Go holds first), coalesced
 * as wait() wakes (lmk_next_wake). */
/* Whether fd()'s timer is C's to set now: there is one, Go is passive,
 * no drain runs (its end sets it), the universe is open and not forked. */
static int settable(const lmk_state *st) {
    return st->tfd >= 0 && !st->active && st->depth == 0 && lmk_go_ok(st);
}

void lmk_watch_rearm(lmk_state *st) {
    if (settable(st)) lmk_watch_arm(st, lmk_next_wake(st));
}

/* After a stop, destroy or again() outside a drain (a drain's end does it
 * for those inside): fd()'s timer is set for the next wake-up, as after a
 * drain but with no take and a bounded look at the batch
 * (lmk_next_wake_quick): destroying many timers costs one system call
 * each at most, whatever the batch holds. */
void lmk_watch_drop(lmk_state *st) {
    if (settable(st)) lmk_watch_arm(st, lmk_next_wake_quick(st));
}

/* fd(): the descriptor an outside loop polls. On Linux an epoll instance
 * over the hub's fd (producer items, what Go published) and a timerfd that
 * expires at the next due time, a spin lead early (lmk_watch_rearm after
 * each drain, stop and destroy; arms and starts bring it forward): Go
 * stays passive and no thread wakes to make it readable. Elsewhere, or
 * once setport() made Go active (sched.c's lmk_sched_active), the hub's
 * fd. */
int lmk_watch_fd(lmk_state *st) {
    lmk_sched_sync(st); /* from now on an outside loop may watch fd()'s timer */
    if (st->efd >= 0) return st->efd;
    if (!st->active && lmk_go_ok(st) && lmk_port_watch_open(st->hub->wk.fd, &st->efd, &st->tfd) == 0) {
        st->tfd_at = st->tfd_fire = INT64_MIN;
        lmk_watch_rearm(st);
        return st->efd;
    }
    lmk_sched_active(st);
    return st->hub->wk.fd;
}

/* The universe closes: fd()'s descriptors go. */
void lmk_watch_close(lmk_state *st) {
    lmk_port_watch_close(st->efd, st->tfd);
    st->efd = st->tfd = -1;
}

/*
 * lease.c: who holds a timer's schedule, and the only code that moves one.
 *
 * Go's queue (internal/queue) owns every schedule; the Lua thread holds
 * the ones Go lends it, in its engine (engine.c), and counts and runs their
 * expirations with no call into Go: a call from C into an idle Go runtime
 * wakes Go's monitor thread, which can cost more than a whole cycle of a
 * loop of short timers (the README's benchmarks measure it). The
 * contract:
 *
 * - Which timers: while Go keeps no time (the default, until fd() or
 *   setport()), the Lua thread holds every schedule of its universe: those
 *   it arms join its engine at once and Go never sees them. Once an outside
 *   loop waits on the file descriptor, Go holds them between drains, so
 *   that its runtime timer can wake that loop; each process_events borrows
 *   those due by the time it began (lmk_lend_due), and every timer armed,
 *   restarted or touched during the drain joins the engine too.
 * - Valid until: the default lease never ends; fd()/setport() hands it
 *   back (lmk_use_go_clock), and from then on the outermost drain hands
 *   back what it holds when it ends.
 * - What the Lua thread may do: anything: take expirations, stop,
 *   restart, destroy, arm. To act on a timer Go holds, it borrows that one
 *   first (lmk_unschedule) and places it again after (lmk_schedule).
 * - Hand-back: lmk_return_all, the one routine that gives schedules to Go
 *   (queue.Return), with the expirations taken so far: nothing that fell
 *   due is lost or run twice, and Go orders them by due time and id as the
 *   engine did.
 *
 * While Go holds a schedule it never changes it (it only keeps time), so
 * the copy in the timer's record (r->s) stays exact: state() and the like
 * need no call into Go.
 */
#include "lmk.h"
#include "_cgo_export.h"

/* Entries cross to Go this many at a time. */
#define XFER 64

static void to_entry(const lmk_state *st, const lmk_rec *t, lmk_entry *e) {
    e->id = t->s.id;
    e->ptr = (uintptr_t)t;
    e->due = t->s.due - st->clock_off;
    e->period = t->s.period;
    e->left = t->s.left;
    e->bl_due = t->s.bl_left != 0 ? t->s.bl_due - st->clock_off : 0;
    e->bl_left = t->s.bl_left;
}

static void from_entry(const lmk_state *st, lmk_rec *t, const lmk_entry *e) {
    t->s.due = e->due + st->clock_off;
    t->s.period = e->period;
    t->s.left = e->left;
    t->s.bl_due = e->bl_due + st->clock_off;
    t->s.bl_left = e->bl_left;
}

static int go_usable(const lmk_state *st) { return st->q != 0 && !lmk_forked; }

/* Places armed timer t's schedule with its holder: Go while it keeps time
 * between drains, else this thread's engine. Returns an LMK_* code. */
int lmk_schedule(lmk_state *st, lmk_rec *t) {
    if (st->go_clock && st->depth == 0) {
        lmk_entry e;
        int rc;
        if (!go_usable(st)) return LMK_ECLOSED;
        to_entry(st, t, &e);
        rc = lmk_return(st->q, &e, 1);
        if (rc == LMK_OK) t->where = LMK_AT_GO;
        return rc;
    }
    if (lmk_eng_insert(&st->eng, &t->s) != 0) return LMK_ENOMEM;
    t->where = LMK_AT_ENGINE;
    return LMK_OK;
}

/* Takes timer t's schedule from its holder into t->s, where this thread
 * may change it; it is then nobody's until lmk_schedule. */
void lmk_unschedule(lmk_state *st, lmk_rec *t) {
    if (t->where == LMK_AT_ENGINE) {
        lmk_eng_remove(&st->eng, &t->s);
    } else if (t->where == LMK_AT_GO && go_usable(st)) {
        lmk_entry e;
        int found = 0;
        if (lmk_lend_id(st->q, t->s.id, &e, &found) == LMK_OK && found) from_entry(st, t, &e);
    }
    t->where = LMK_AT_NONE;
}

/* Borrows from Go every schedule due by upto (CLOCK_MONOTONIC ns) for a
 * drain. Returns an LMK_* code: on LMK_ENOMEM (the engine could not grow)
 * the schedules it could not take went back to Go. */
int lmk_lend_due(lmk_state *st, int64_t upto) {
    lmk_entry buf[XFER];
    int n, i, rc = LMK_OK;
    if (!go_usable(st)) return LMK_ECLOSED;
    do {
        n = 0;
        if ((rc = lmk_lend(st->q, upto - st->clock_off, buf, XFER, &n)) != LMK_OK) return rc;
        for (i = 0; i < n; i++) {
            lmk_rec *t = (lmk_rec *)buf[i].ptr;
            from_entry(st, t, &buf[i]);
            if (lmk_eng_insert(&st->eng, &t->s) != 0) {
                (void)lmk_return(st->q, buf + i, n - i); /* Go's again, nothing lost */
                return LMK_ENOMEM;
            }
            t->where = LMK_AT_ENGINE;
        }
    } while (n == XFER);
    return rc;
}

/* Hands every schedule in the engine to Go (queue.Return). */
int lmk_return_all(lmk_state *st) {
    lmk_entry buf[XFER];
    lmk_sched *s;
    int n = 0, rc = LMK_OK, r;
    if (!go_usable(st)) return LMK_ECLOSED;
    while ((s = lmk_eng_pop_any(&st->eng)) != NULL) {
        lmk_rec *t = (lmk_rec *)s;
        to_entry(st, t, &buf[n++]);
        t->where = LMK_AT_GO;
        if (n == XFER) {
            if ((r = lmk_return(st->q, buf, n)) != LMK_OK && rc == LMK_OK) rc = r;
            n = 0;
        }
    }
    if (n > 0 && (r = lmk_return(st->q, buf, n)) != LMK_OK && rc == LMK_OK) rc = r;
    return rc;
}

/* An outside loop will wait on the file descriptor (fd(), setport()): Go
 * keeps time between drains from now on. Inside a drain, the schedules go
 * to Go when the outermost drain ends. */
int lmk_use_go_clock(lmk_state *st) {
    if (st->go_clock) return LMK_OK;
    st->go_clock = 1;
    lmk_hub_watch(st->hub);
    return st->depth == 0 ? lmk_return_all(st) : LMK_OK;
}

/* When the earliest armed timer of the universe is due (CLOCK_MONOTONIC;
 * INT64_MAX: none): the engine's, or Go's while it holds schedules. */
int64_t lmk_next_due(lmk_state *st) {
    int64_t due = lmk_eng_next_due(&st->eng), key = 0;
    int ok = 0;
    if (st->go_clock && go_usable(st) && lmk_next_key(st->q, &key, &ok) == LMK_OK && ok &&
        key + st->clock_off < due)
        due = key + st->clock_off;
    return due;
}

/* Go's part of pending(): its due expirations, with no call into Go when
 * it cannot have any (the Lua thread holds every schedule until fd() or
 * setport()). */
int64_t lmk_go_pending(lmk_state *st) {
    int64_t pending = 0;
    if (go_usable(st) && st->go_clock) lmk_counts(st->q, &pending);
    return pending;
}

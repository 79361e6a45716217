/*
 * sched.c: the shim's only crossing to the timers' schedules, which are
 * Go's. Go's queue (internal/queue) holds every timer's schedule and
 * decides every expiration: its tick, run by its clock goroutine or by
 * the call a drain makes (lmk_take), says which timer is due, when, and
 * how many times. C computes no due time from a period and no count; it
 * keeps handles and registry anchors (timer.c), runs callbacks
 * (dispatch.c), and holds what Go handed it, here.
 *
 * Go decides ahead. A call from C into an idle Go runtime wakes Go's
 * sysmon, and Go's runtime timers wake in whole milliseconds, so neither
 * may come once per expiration. Go's queue is passive (until setport(),
 * or fd() on the portable path): its clock goroutine sleeps, and a drain's take
 * (lmk_take) hands over what is due by the drain's start and, ahead of
 * their time, the expirations due in the next LMK_AHEAD_NS (at most
 * queue.AheadPerTimer per timer), one entry each, at their due times.
 * Go's schedules move past what they hand out, and Go writes the due time
 * of the first expiration it holds into the hub (go_due, on C's clock)
 * whenever it moves: the batch holds every expiration due before it, so a
 * drain calls Go only once its start reaches go_due (or Go has published
 * something itself, the hub's go flag), and C keeps no bound of its own
 * (lmk_take and lmk_arm_many answer with none).
 * Takes hand out what falls due from go_due on, so it arrives behind what
 * the batch holds but for what an arm or start brought forward; an arm
 * whose timer falls due behind every entry gets it handed out with it
 * (queue.ArmAhead). wait()
 * sleeps until the
 * earlier of the batch's first entry and the due time Go writes into the
 * hub (go_due, on C's clock: its earliest expiration not handed out), with
 * no call; fd() on Linux is an epoll descriptor over the hub's eventfd and
 * a timerfd armed to that same time after each drain, arm, stop and
 * destroy (watch.c), so an outside loop wakes for it with no thread woken
 * either; both wake a spin lead early and poll the clock for the rest.
 * setport(), and fd() on the portable path, need a thread to wake at due
 * times: Go's queue turns active, its clock
 * goroutine publishes each expiration when it falls due (and sets the fd,
 * sends the datagram), nothing is handed out ahead, and the batch gives
 * back what it held ahead (lmk_sched_active).
 *
 * Crossings into Go: one per stop, start and destroy of a timer Go knows;
 * arms are deferred (below) and cross together, one call for all made
 * since the last crossing (an arm crosses alone only while Go is active);
 * one per drain that reaches
 * go_due, or per wake-up that would end at go_due (take_ahead: that
 * drain's take, made earlier); one per pending() (lmk_counts) and
 * remaining() of a timer the batch holds nothing of (lmk_due).
 *
 * The contract of what a record caches (written only in this file):
 *
 * - qid: Go's id of the record's timer, from lmk_arm_many; 0 once Go holds
 *   none for it (a failed arm, a destroy). Go lets go of a one-off once it
 *   hands out its expiration (due, or ahead): start() then arms it again
 *   under a new id (lmk_restart answers "not found").
 * - due (one-offs only; an interval timer's record keeps its catch-up
 *   count in that word, lmk_rec.missed): when the expiration of the last
 *   arm or start falls due, as Go answered it (C's clock). Valid while the
 *   timer is armed; state() reads it: a one-off past it reports "due". remaining() reads the
 *   batch's first entry of the timer, or asks Go (lmk_due).
 * - slot: the newest entry of the taken batch (st->took) that holds r's
 *   expirations not yet run, or -1, which means no entry holds any (the
 *   batch runs from its head, so older entries of r empty first); oldest:
 *   while slot >= 0, none of r's entries lies before it (a bound, not
 *   always an entry of r: entries only move right, or leave).
 * - egen: the generation of r's live entries. Each entry is stamped with
 *   it when made; stop and destroy move it on, which makes every entry of
 *   r dead at once, O(1) (nothing of it runs after they return); start
 *   moves it on too and stamps again what is due by its start (what fell
 *   due still runs, then what the new schedule brings); so does freeing
 *   r. Entries hold no count of r: a live entry exists only while r is
 *   armed, and armed means alive (timer.c); a dead one reads r->egen only,
 *   which the slab keeps readable and moving (records.c), until a drain
 *   passes it.
 *
 * The taken batch (its entries are kept in took.c) is one FIFO in
 * (due, seq) order: seq is Go's arming
 * order, which orders a tie of due times as Go does. Each entry remembers
 * the bound of the drain that took it (Go cut its counted expirations
 * there, so all of them were due by it), or, handed out ahead, its due
 * time. A drain takes once, before its first callback, with its own bound,
 * then runs the FIFO from its head while the head entry's bound is <= its
 * own; so a drain resuming after one nested in its callbacks runs what is
 * left of entries due at or before its start, and stops at the first entry
 * the nested one took (those fell due after it began): they stay for the
 * next drain. An outermost drain first joins each timer's due entries into
 * its first due one (lmk_took_join: a timer's due expirations run back to
 * back, one record, even when a one-off was armed again after its
 * expiration was taken: what start() kept runs right before the new
 * arming's, and the entry then names the new Go timer); a nested drain's
 * take gives them entries of their own, as the drains around it must not
 * run them.
 *
 * The one hand-back routine is took_in: what Go handed out enters C there
 * (times converted to C's clock, records counted and linked to their
 * entries, entries put in order). What C gives back to Go goes through
 * lmk_sched_active alone. Room for an entry per record of the slab is
 * reserved when the slab grows (lmk_took_reserve): an outermost drain's
 * due expirations take one entry per timer. A take that needs more (what
 * is handed out ahead, a nested drain's) grows the batch, and if memory
 * runs out, what does not fit stays in Go for a later drain (go_due, or
 * the go flag, says so): nothing is lost.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lmk.h"
#include "_cgo_export.h"

#define go_ok lmk_go_ok

/* How far past a drain's bound its take asks Go to hand expirations out
 * ahead of their time (ns): with Go's cap per timer (queue.AheadPerTimer,
 * 128) and the batch's room (LMK_TOOK_MIN entries at least), a drain calls
 * Go about once per 128 ms, or per 129 expirations of its fastest timer,
 * whichever comes first. What the batch holds costs a stop
 * or destroy nothing more (its entries are found from oldest to slot),
 * and memory only for timers due within the window. */
#define LMK_AHEAD_NS (128 * 1000000LL)

static void took_in(lmk_state *st, int k, int merge, int64_t upto);

/* Deferred arms. An arm made while Go is passive (nothing needs Go to
 * know of it before the Lua thread next asks Go anything; fd()'s timer,
 * if an outside loop watches it, is set for the arm's earliest due time,
 * at + delay, when that comes first: see arm_cmd)
 * is kept in st->defer instead of crossing: flush sends all of them in
 * one call (lmk_arm_many), each armed from the instant it was asked for
 * and handed out as a call of its own would have been (queue.ArmAheadMany),
 * before anything else crosses: every crossing below flushes first, and
 * so does lmk_next_due, which wait(), next_due(), fd()'s timer and the
 * virtual clock read. So the order Go sees is the order of the calls,
 * and a loop that arms many timers, or a drain whose callbacks re-arm
 * (co tasks), crosses once instead of once per arm. A deferred record is
 * armed (LMK_F_DEFER, qid 0), and may hold batch entries of an earlier
 * arm that start() kept; stopping or destroying it drops those and takes
 * its arm out of st->defer with no call; its state() and remaining()
 * flush. */

/* Sends the deferred arms to Go (the contract above); an arm that must
 * cross at once is one sent alone. What each arm has due before go_due
 * (the batch holds all that falls due before it), within the window, is
 * handed out with it if it lands behind every entry (a burst of timers of
 * one delay, a task that sleeps again): then no take is needed for it,
 * and the batch moves nothing; else the next take brings it. While Go is
 * active nothing is handed out. Returns an LMK_* code: on an error the
 * arms from the failing one are not in Go (qid 0: they never run). */
static int flush(lmk_state *st) {
    lmk_took *t = &st->took;
    int i, n = st->ndefer, k = 0, rc;
    int64_t from = INT64_MIN;
    if (n == 0) return LMK_OK;
    st->ndefer = 0;
    for (i = 0; i < n; i++) ((lmk_rec *)st->defer[i].tag)->flags &= ~LMK_F_DEFER;
    if (!go_ok(st)) return LMK_ECLOSED; /* closed, or a forked child: as an arm there, nothing runs */
    if (t->n > t->head) from = t->v[t->n - 1].due - st->clock_off;
    for (i = 0; i < n; i++) st->defer[i].at -= st->clock_off;
    rc = lmk_arm_many(st->q, st->defer, n, from, st->active ? 0 : LMK_AHEAD_NS, t->v + t->n, t->cap - t->n, &k);
    /* in order: each arm's records follow the ones before it in the buffer */
    for (i = 0; i < n; i++) {
        lmk_armcmd *c = &st->defer[i];
        lmk_rec *r = (lmk_rec *)c->tag;
        int64_t due = c->due + st->clock_off;
        if (c->id == 0) continue; /* not armed: it never runs */
        r->qid = c->id;
        if (!r->periodic) r->due = due;
        if (c->n > 0) took_in(st, c->n, 0, c->at + st->clock_off);
        if (due < st->tfd_at) lmk_watch_arm(st, due); /* fd()'s timer */
    }
    return rc;
}

/* Takes r's arm out of st->defer, if it is there: nothing of it reached
 * Go; *drop receives the Go timer that arm was to destroy first (an
 * again() of a timer Go held), or 0. Returns whether it was there. */
static int undefer(lmk_state *st, lmk_rec *r, uint64_t *drop) {
    int i;
    *drop = 0;
    if (!(r->flags & LMK_F_DEFER)) return 0;
    r->flags &= ~LMK_F_DEFER;
    for (i = 0; i < st->ndefer; i++) {
        if ((lmk_rec *)st->defer[i].tag != r) continue;
        *drop = st->defer[i].drop;
        st->ndefer--;
        memmove(st->defer + i, st->defer + i + 1, (size_t)(st->ndefer - i) * sizeof *st->defer);
        break;
    }
    return 1;
}

/* Stopping or destroying r: takes its unsent arm back (undefer), and if it
 * was an again() of a timer Go held, destroys that one now. Returns
 * whether there was one (then Go holds nothing else of r). */
static int take_back(lmk_state *st, lmk_rec *r) {
    uint64_t drop;
    if (!undefer(st, r, &drop)) return 0;
    if (drop != 0 && go_ok(st)) (void)lmk_destroy(st->q, drop);
    return 1;
}

void lmk_sched_sync(lmk_state *st) { (void)flush(st); }

/* Whether the batch holds every expiration due by upto: Go has handed
 * out everything due before go_due (the due time of the first it holds,
 * which it writes into the hub whenever it moves), unless it published
 * some itself (the go flag: its clock goroutine, a pending() call). */
static int holds_due(lmk_state *st, int64_t upto) {
    return upto < lmk_hub_go_due(st->hub) && !lmk_hub_go(st->hub);
}

static int64_t ns_of(double ms) { return (int64_t)(ms * 1e6); }

/* Arms r in Go from at (CLOCK_MONOTONIC: when the Lua call began, so
 * that neither a collection step it ran nor a slow crossing shifts the
 * schedule): its first expiration one interval (a one-off: its delay)
 * away. Returns an LMK_* code. */
static int arm_cmd(lmk_state *st, lmk_rec *r, int64_t at, uint64_t drop) {
    lmk_armcmd *c;
    int rc;
    if (!go_ok(st)) return LMK_ECLOSED;
    if (st->ndefer == LMK_DEFER_MAX) (void)flush(st);
    c = &st->defer[st->ndefer++];
    c->at = at;
    c->delay = ns_of(r->ms);
    c->period = r->periodic ? c->delay : 0;
    c->tag = (uintptr_t)r;
    c->drop = drop;
    c->id = 0;
    r->qid = 0;
    r->flags |= LMK_F_DEFER;
    if (st->active) { /* Go's clock goroutine publishes: Go must know it now */
        rc = flush(st);
        return r->qid != 0 ? LMK_OK : rc != LMK_OK ? rc : LMK_ECLOSED;
    }
    /* An outside loop watching fd()'s timer (outside a drain, whose end
     * sets it) must wake no later than this arm's first expiration, which
     * Go, never running anything early, makes due at at + delay at the
     * earliest: the timer expires then (if that comes before its time);
     * the drain the loop then starts sends the arm (every crossing
     * flushes), and Go decides what is due. An arm costs no crossing in
     * either mode, and a burst of them one crossing per LMK_DEFER_MAX. */
    if (st->tfd >= 0 && st->depth == 0 && at + c->delay < st->tfd_at) lmk_watch_arm(st, at + c->delay);
    return LMK_OK;
}

int lmk_sched_arm(lmk_state *st, lmk_rec *r, int64_t at) { return arm_cmd(st, r, at, 0); }

/* Stops r: Go drops what it holds of it, and so does the batch. */
void lmk_sched_stop(lmk_state *st, lmk_rec *r) {
    lmk_took_drop(st, r); /* a deferred one-off may hold entries of its earlier arm (start) */
    if (!take_back(st, r) && r->qid != 0 && go_ok(st) && lmk_stop(st->q, r->qid) == LMK_ENOTFOUND) r->qid = 0;
    lmk_watch_drop(st); /* fd()'s timer may have been r's */
}

/* Forgets r's timer in Go, and its expirations not yet run. */
void lmk_sched_destroy(lmk_state *st, lmk_rec *r) {
    lmk_took_drop(st, r);
    if (!take_back(st, r) && r->qid != 0 && go_ok(st)) (void)lmk_destroy(st->q, r->qid);
    r->qid = 0;
    lmk_watch_drop(st); /* fd()'s timer may have been r's */
}

/* (Re)arms r from at (as lmk_sched_arm), with its interval (a one-off: delay) set to r->ms
 * when reset. What fell due and has not run stays, as one record at its
 * first due time: when the batch holds expirations of r, its entries join
 * the first one, and Go hands over what it had not handed out yet
 * (lmk_restart's handOver) to join it too; else Go keeps them, counted,
 * at their first due time. With drop (again() of an armed r), what fell
 * due goes instead, as after a stop.
 * Returns an LMK_* code. */
int lmk_sched_start(lmk_state *st, lmk_rec *r, int reset, int64_t at, int drop) {
    int64_t due = 0, taken = 0;
    uint64_t old;
    int rc;
    if (!go_ok(st)) return LMK_ECLOSED;
    if (drop) {
        /* again() of an armed r: what the batch holds of it dies, and it
         * is armed anew, deferred, as a new timer to Go, with the order to
         * destroy the one Go held for it first: the next crossing sends
         * both in one call (a stop and a start were two) */
        lmk_took_drop(st, r);
        if (!undefer(st, r, &old)) old = r->qid;
        rc = arm_cmd(st, r, at, old);
        lmk_watch_drop(st); /* fd()'s timer may have been its old due */
        return rc;
    }
    /* a timer Go holds none of and has not been sent (a one-off that ran,
     * a stopped one Go forgot) is a new arm, deferred behind the others:
     * no crossing */
    if (r->qid != 0 || (r->flags & LMK_F_DEFER))
        flush(st); /* Go gives a restarted timer a new place among ties: after what was armed before */
    lmk_took_drop_after(st, r, at); /* the old schedule's, handed out ahead */
    if (r->qid == 0) return lmk_sched_arm(st, r, at);
    rc = lmk_restart(st->q, r->qid, at - st->clock_off, reset ? ns_of(r->ms) : -1, r->slot >= 0, &due, &taken);
    if (rc == LMK_ENOTFOUND) return lmk_sched_arm(st, r, at); /* a one-off Go forgot once taken */
    if (rc != LMK_OK) return rc;
    if (r->slot >= 0 && taken > 0) st->took.v[r->slot].count += taken;
    due += st->clock_off;
    if (!r->periodic) r->due = due;
    if (due < st->tfd_at) lmk_watch_arm(st, due); /* fd()'s timer */
    return LMK_OK;
}

/* The hand-back routine: the k expirations Go wrote into the batch after
 * its entries, taken by a drain with bound upto. Those due by upto count
 * as taken at upto; those Go handed out ahead of their time count as
 * taken at their due time (no drain runs them before). With merge (an
 * outermost drain), due ones of a timer that has an entry already due
 * (left by a drain that ended early) join it, which then counts as taken
 * at upto: a timer's expirations run back to back. A nested drain's go
 * after the others, as the drains around it must not run them. The
 * entries then take their places in (due, seq) order. */
static void took_in(lmk_state *st, int k, int merge, int64_t upto) {
    lmk_took *t = &st->took;
    int i, j = t->n, first = t->n;
    for (i = t->n; i < t->n + k; i++) {
        lmk_exp e = t->v[i];
        lmk_rec *r = (lmk_rec *)e.tag;
        int64_t due = e.due + st->clock_off, bound = due > upto ? due : upto;
        /* the one-off's expiration as armed now: due by the bound, so Go included it */
        uint8_t last = !r->periodic && e.id == r->qid && r->due <= bound;
        if (merge && due <= upto && r->slot >= 0 && t->v[r->slot].due <= upto) {
            lmk_took_add(t, r->slot, e.id, e.count, last);
            t->bound[r->slot] = upto;
            continue;
        }
        e.due = due;
        if (r->slot < 0) r->oldest = j;
        else t->dups++; /* r's second entry (or more) */
        r->slot = j;
        t->bound[j] = bound;
        t->last[j] = last;
        t->egen[j] = r->egen;
        t->v[j++] = e;
    }
    t->n = j;
    lmk_took_sort(t, first);
}

/* Takes from Go everything due by upto (CLOCK_MONOTONIC), in (due, id)
 * order, into the batch after what is left of it (see the contract), and
 * what Go hands out ahead of its time with it. No call when the batch
 * holds everything due by upto already and Go has published nothing. */
static void take(lmk_state *st, int64_t upto, int ahead) {
    lmk_took *t = &st->took;
    int merge = st->depth <= 1;
    if (!go_ok(st)) return;
    flush(st);
    if (merge) lmk_took_join(t, upto);
    if (!ahead && holds_due(st, upto)) return;
    lmk_took_compact(t);
    for (;;) {
        int k = 0, room = t->cap - t->n;
        if (lmk_take(st->q, upto - st->clock_off, upto + LMK_AHEAD_NS - st->clock_off, t->v + t->n, room, &k) != LMK_OK)
            k = 0;
        took_in(st, k, merge, upto);
        /* full: what is due by upto did not all fit (Go still holds some:
         * the go flag, or go_due) and the batch grows for it, or the look
         * ahead filled it, which stops there (go_due, past upto, says
         * where): a take hands out ahead no more than the batch has room
         * for, about an entry per timer, so no drain takes all of a window
         * at once. If memory runs out, the rest stays in Go for the next
         * drain. */
        if (k < room || holds_due(st, upto) || lmk_took_reserve(st, t->cap < 16 ? 16 : 2 * t->cap) != 0) break;
    }
}

void lmk_sched_take(lmk_state *st, int64_t upto) { take(st, upto, 0); }

/* The next wake-up would run the expiration Go holds first (at go): what
 * else Go holds close behind it is Go's to know, and a wake-up that ends
 * at go would leave it to wake-ups of their own (a burst's timers, armed a
 * few microseconds apart, whose first expirations were handed out with
 * their arms, are held by Go from their second on). So the take the drain
 * at go would make is made now, once per go, outside a drain: what falls
 * due in the window comes into the batch, where lmk_next_wake coalesces
 * it. The same one crossing per window, earlier. Returns whether it took. */
static int take_ahead(lmk_state *st, int64_t go) {
    int64_t now;
    if (st->depth > 0 || st->active || st->virtual || go == st->ahead_go || !go_ok(st)) return 0;
    now = lmk_now(st);
    if (go <= now || go - now > LMK_AHEAD_NS) return 0;
    st->ahead_go = go;
    take(st, now, 1);
    return 1;
}

/* Whether one-off r is due at now: armed, and its expiration has fallen
 * due (its callback has not been taken to run). */
int lmk_sched_due(const lmk_rec *r, int64_t now) {
    return !r->periodic && r->state == LMK_T_ARMED && r->due <= now;
}

/* ns until armed r's next expiration not yet run (<= 0: one is due): the
 * batch's, if it holds one (handed out ahead, or due), else Go's. */
int64_t lmk_sched_remaining(lmk_state *st, lmk_rec *r, int64_t now) {
    int64_t due = 0;
    int ok = 0, i;
    if (r->flags & LMK_F_DEFER) flush(st);
    i = lmk_took_first_of(&st->took, r);
    if (i >= 0) return st->took.v[i].due - now;
    if (r->qid == 0 || !go_ok(st)) return 0;
    if (lmk_due(st->q, r->qid, &due, &ok) != LMK_OK || !ok) return 0;
    return due + st->clock_off - now;
}

/* When the earliest expiration of the universe is due (CLOCK_MONOTONIC;
 * INT64_MAX: none), with no call: 0 while Go has published some, else the
 * earlier of the batch's first and the due time Go last wrote (that of
 * the first it has not handed out). */
int64_t lmk_next_due(lmk_state *st) {
    int64_t first, go;
    flush(st);
    /* go_due before the go flag, as holds_due reads them: Go sets the flag
     * before it moves go_due past what it published, so a go_due read
     * first that has moved past it comes with the flag seen set. Read the
     * other way round, the flag could be seen unset and go_due moved: an
     * expiration Go published (its clock goroutine, while active) would
     * count as not due, and advance() stepped past it (a flake of
     * vclock_spec's "merges producer items at the virtual now"). */
    go = lmk_hub_go_due(st->hub);
    if (lmk_hub_go(st->hub)) return 0;
    first = lmk_took_first(&st->took);
    return first < go ? first : go;
}

/* How late an expiration of r may run so that it shares a wake-up with
 * others: 1% of its interval (a one-off: its delay), at least
 * LMK_COALESCE_NS and at most LMK_COALESCE_MAX_NS. */
static int64_t leeway(const lmk_rec *r) {
    int64_t l = ns_of(r->ms) / 100;
    return l < LMK_COALESCE_NS ? LMK_COALESCE_NS : l > LMK_COALESCE_MAX_NS ? LMK_COALESCE_MAX_NS : l;
}

/* When the thread waiting for the universe's next expiration wakes
 * (wait(), fd()'s timer): at the next due time, or later, at the due time
 * of the last of the expirations that follow it closely enough that none
 * of them runs later than its leeway allows (timers armed in a burst then
 * take one wake-up). Never earlier than the next due time: nothing runs
 * early. What Go holds is known by its first due time (go_due) alone: if
 * that falls within the wake-up, Go is asked for what follows it first
 * (take_ahead), else it gets the smallest leeway. */
static int64_t wake_of(lmk_state *st, int *go_in, int most) {
    const lmk_took *t = &st->took;
    int64_t due = lmk_next_due(st), end = INT64_MAX, go, wake;
    int i;
    *go_in = 0;
    if (due == 0 || due == INT64_MAX) return due;
    wake = due;
    go = lmk_hub_go_due(st->hub);
    if (go == due) end = go + LMK_COALESCE_NS;
    for (i = t->head; i < t->n && most > 0; i++) {
        int64_t d = t->v[i].due, e;
        if (!lmk_took_live(t, i)) continue;
        if (d > end) break; /* entries are in due order */
        if (d > wake) wake = d;
        e = d + leeway((const lmk_rec *)t->v[i].tag);
        if (e < end) end = e;
        most--;
    }
    if (go <= end) {
        *go_in = 1;
        if (go > wake) wake = go;
    }
    return wake;
}

int64_t lmk_next_wake(lmk_state *st) {
    int go_in;
    int64_t wake = wake_of(st, &go_in, INT_MAX);
    if (go_in && take_ahead(st, lmk_hub_go_due(st->hub))) wake = wake_of(st, &go_in, INT_MAX);
    return wake;
}

/* lmk_next_wake for a stop or destroy outside a drain, which may be one
 * of many (a teardown): no take, and at most LMK_QUICK_SCAN entries looked
 * at, so it costs the same whatever the batch holds (the wake-up it gives
 * may come earlier than lmk_next_wake's; the drain then sets the next). */
#define LMK_QUICK_SCAN 64
int64_t lmk_next_wake_quick(lmk_state *st) {
    int go_in;
    return wake_of(st, &go_in, LMK_QUICK_SCAN);
}

/* Expirations due and not run: Go's and the batch's. */
int64_t lmk_go_pending(lmk_state *st) {
    int64_t pending = 0;
    flush(st);
    if (go_ok(st)) lmk_counts(st->q, &pending);
    return pending + lmk_took_due(st, lmk_now(st));
}

/* setport(), or fd() where there is no timerfd: an outside loop waits on
 * the hub's fd (or its datagram), which must be set whenever something is
 * due, so Go's clock goroutine publishes each expiration when it falls due
 * from now on (it sets the fd) and hands none out ahead. What the batch
 * holds ahead of its time goes back: an interval timer's to its schedule
 * in Go (lmk_giveback), a one-off is armed again in Go for the same due
 * time (Go let go of it when it handed it out). */
void lmk_sched_active(lmk_state *st) {
    lmk_took *t = &st->took;
    int64_t now = lmk_now(st);
    int i;
    if (st->active || !go_ok(st)) return;
    flush(st);
    st->active = 1;
    for (i = t->head; i < t->n; i++) {
        lmk_rec *r = (lmk_rec *)t->v[i].tag;
        int64_t due = t->v[i].due; /* r's first not due: entries are in due order */
        if (!lmk_took_live(t, i) || due <= now) continue;
        lmk_took_drop_after(st, r, now);
        if (r->periodic && r->qid != 0)
            (void)lmk_giveback(st->q, r->qid, due - st->clock_off);
        else if (!r->periodic && r->state == LMK_T_ARMED)
            (void)lmk_sched_arm(st, r, due - ns_of(r->ms));
    }
    (void)lmk_watch(st->q);
    if (st->tfd >= 0) lmk_port_watch_arm(st->tfd, INT64_MAX);
}

/* What C holds on its clock moves by delta: the batch's due times and
 * bounds, the armed one-offs' due times (the contract above). */
static void shift_rec(lmk_rec *r, void *ctx) {
    if (!r->periodic && r->state == LMK_T_ARMED) r->due += *(int64_t *)ctx;
}

static void shift(lmk_state *st, int64_t delta) {
    lmk_took *t = &st->took;
    int i;
    for (i = t->head; i < t->n; i++) {
        t->v[i].due += delta;
        t->bound[i] += delta;
    }
    lmk_recs_each(st, shift_rec, &delta);
}

/* clock("virtual") / clock("real"): Go's queue switches clocks (its
 * reading goes on unchanged: lmk_clock), so C's clock is the reading
 * plus clock_off as before while the clock is virtual (its "now" is the
 * hub's vnow word, which Go writes), and plus a new clock_off once it is
 * real again: every time C holds on its clock moves by the difference
 * (what is due keeps its distance to now), fd()'s timer is set anew.
 * Returns an LMK_* code. */
int lmk_sched_clock(lmk_state *st, int virtual) {
    int64_t off = st->clock_off;
    int rc;
    if (!go_ok(st)) return LMK_ECLOSED;
    if (!virtual == !st->virtual) return LMK_OK;
    flush(st); /* their at is on the clock in effect */
    if ((rc = lmk_clock(st->q, virtual, &off)) != LMK_OK) return rc;
    if (off != st->clock_off) shift(st, off - st->clock_off);
    st->clock_off = off;
    st->virtual = virtual;
    st->tfd_at = st->tfd_fire = INT64_MIN;
    if (virtual) {
        /* The virtual clock starts at the next whole millisecond (as if
         * that fraction of a ms passed): now() is a whole number of ms
         * and stays exact under advance() by whole ms (a double holds
         * ns / 1e6 exactly only for whole ms). */
        int64_t now = lmk_now(st), up = now - now % 1000000 + (now % 1000000 != 0 ? 1000000 : 0);
        if (up != now) (void)lmk_setnow(st->q, up - st->clock_off); /* the switch stands if this fails */
    }
    lmk_watch_arm(st, virtual ? INT64_MAX : lmk_next_wake(st));
    return LMK_OK;
}

/* Moves the virtual clock forward to now (C's clock; never back). */
int lmk_sched_setnow(lmk_state *st, int64_t now) {
    if (!go_ok(st)) return LMK_ECLOSED;
    flush(st);
    return lmk_setnow(st->q, now - st->clock_off);
}

/* ---- signal records (signal.c) ----
 *
 * A signal record's schedule is Go's too: a signal schedule
 * (internal/queue/signal.go), which no clock makes due; each delivery of
 * its signal to the process publishes one expiration, due at its arrival,
 * which Go's notifier announces (the go flag, the fd) and the next take
 * hands over, in (due, seq) order with the timers'. It is never handed out
 * ahead, and has no due time (r->due stays INT64_MAX). Stop and destroy
 * are a timer's (lmk_sched_stop, lmk_sched_destroy: its batch entries die,
 * Go withdraws what it published and stops catching, before they return). */

/* Arms signal record r (signal r->ms) in Go. Returns an LMK_* code. */
int lmk_sched_signal_arm(lmk_state *st, lmk_rec *r) {
    uint64_t qid = 0;
    int rc;
    if (!go_ok(st)) return LMK_ECLOSED;
    flush(st);
    rc = lmk_arm_signal(st->q, (int)r->ms, (uintptr_t)r, &qid);
    if (rc != LMK_OK) return rc;
    r->qid = qid;
    r->due = INT64_MAX;
    return LMK_OK;
}

/* Stopped signal record r catches again (lmk_restart: Go's Start of a
 * signal schedule). Returns an LMK_* code. */
int lmk_sched_signal_start(lmk_state *st, lmk_rec *r) {
    int64_t due = 0, taken = 0;
    if (!go_ok(st)) return LMK_ECLOSED;
    flush(st);
    if (r->qid == 0) return lmk_sched_signal_arm(st, r);
    return lmk_restart(st->q, r->qid, -1, -1, 0, &due, &taken);
}

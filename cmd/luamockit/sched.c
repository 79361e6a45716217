/*
 * sched.c: the shim's only crossing to the timers' schedules, which are
 * Go's. Go's queue (internal/queue) holds every timer's schedule and
 * decides every expiration: its tick, run by its clock goroutine or by
 * the call a drain makes (lmk_take), says which timer is due, when, and
 * how many times. C computes no due time from a period and no count; it
 * keeps handles and registry anchors (timer.c), runs callbacks
 * (dispatch.c), and caches a little of what Go told it, here.
 *
 * Crossings into Go: one synchronous call per arm, stop, start and
 * destroy; one per drain that finds its batch empty (lmk_take: Go ticks
 * and hands over every expiration due by the drain's start at once); none to wait: Go
 * writes the due time of its earliest unpublished expiration into the
 * hub (go_due, on C's clock) whenever it moves, and its notifier sets the
 * hub's go flag (and the fd) when it publishes, so wait() sleeps until
 * go_due with no call, and pending() makes one (lmk_counts).
 *
 * The contract of what a record caches (written only in this file):
 *
 * - qid: Go's id of the record's timer, from lmk_arm; 0 once Go holds
 *   none for it (a one-off whose expiration ran, a failed arm, a destroy).
 *   Go names a new timer when a one-off is armed again after its
 *   expiration was taken (Go forgets a one-off then).
 * - due: when the first expiration of the last arm or start falls due,
 *   as Go answered it (C's clock). Valid while the timer is armed; state()
 *   reads it: a one-off past it reports "fired". remaining() asks Go
 *   instead (lmk_due), as an interval timer's next expiration moves.
 * - slot: the newest entry of the taken batch (st->took) that holds r's
 *   expirations not yet run, or -1, which means no entry holds any (the
 *   batch runs from its head, so older entries of r empty first). An entry holds a count of r (r->refs)
 *   until a drain passes it, so a record the batch names is never freed;
 *   stop and destroy zero its counts (nothing of it runs after they
 *   return), start leaves them (what fell due still runs, then what the
 *   new schedule brings).
 *
 * The taken batch is one FIFO in (due, id) order. Each entry remembers the
 * bound (upto) of the drain that took it: Go cut its counted expirations
 * there, so all of them were due by that bound. A drain takes once, before
 * its first callback, with its own bound (later than every earlier
 * taker's, so what Go hands it goes after everything in the FIFO), then
 * runs the FIFO from its head while the head entry's bound is <= its own;
 * so a drain resuming after one nested in its callbacks runs what is left
 * of entries taken at or before its start, and stops at the first entry
 * the nested one took (those fell due after it began): they stay for the
 * next drain. An outermost drain's take joins a timer's expirations to the
 * entry it has left (a timer's due expirations run back to back, one
 * record, even when a one-off was armed again after its expiration was
 * taken: what start() kept runs right before the new arming's, and the
 * entry then names the new Go timer); a nested drain's take appends them
 * as an entry of their own, as the drains around it must not run them.
 *
 * The one hand-back routine is took_in: what Go published enters C there
 * (times converted to C's clock, records counted and linked to their
 * entries). Room for two entries per record of the slab is reserved when
 * the slab grows (lmk_took_reserve), which covers every outermost take;
 * only nested takes can need more, and they grow the batch (if memory runs
 * out, what does not fit stays in Go for a later drain: nothing is lost).
 */
#include <stdlib.h>

#include "lmk.h"
#include "_cgo_export.h"

static int go_ok(const lmk_state *st) { return st->q != 0 && !lmk_forked; }

static int64_t ns_of(double ms) { return (int64_t)(ms * 1e6); }

/* Arms r in Go from at (CLOCK_MONOTONIC: when the Lua call began, so
 * that neither a collection step it ran nor a slow crossing shifts the
 * schedule): its first expiration one interval (a one-off: its delay)
 * away. Returns an LMK_* code. */
int lmk_sched_arm(lmk_state *st, lmk_rec *r, int64_t at) {
    uint64_t qid = 0;
    int64_t due = 0, ns = ns_of(r->ms);
    int rc;
    if (!go_ok(st)) return LMK_ECLOSED;
    rc = lmk_arm(st->q, at - st->clock_off, ns, r->periodic ? ns : 0, (uintptr_t)r, &qid, &due);
    if (rc != LMK_OK) return rc;
    r->qid = qid;
    r->due = due + st->clock_off;
    return LMK_OK;
}

/* Drops r's expirations in the taken batch (its entry stays, empty, until
 * the drain passes it). */
static void took_drop(lmk_state *st, lmk_rec *r) {
    lmk_took *t = &st->took;
    int i;
    if (r->slot < 0) return; /* no entry of r holds expirations (see slot) */
    for (i = t->head; i < t->n; i++) { /* a nested drain's take may have added one */
        if ((lmk_rec *)t->v[i].tag != r) continue;
        t->left -= t->v[i].count;
        t->v[i].count = 0;
    }
    r->slot = -1;
}

/* Stops r: Go drops what it holds of it, and so does the batch. */
void lmk_sched_stop(lmk_state *st, lmk_rec *r) {
    took_drop(st, r);
    if (r->qid != 0 && go_ok(st) && lmk_stop(st->q, r->qid) == LMK_ENOTFOUND) r->qid = 0;
}

/* Forgets r's timer in Go, and its expirations not yet run. */
void lmk_sched_destroy(lmk_state *st, lmk_rec *r) {
    took_drop(st, r);
    if (r->qid != 0 && go_ok(st)) (void)lmk_destroy(st->q, r->qid);
    r->qid = 0;
}

/* Adds count expirations of Go timer id (last: with its one-off's
 * expiration as armed) to entry k of the same record: an entry names its
 * record's newest Go timer (a one-off armed again after its expiration was
 * taken gets a new one). */
static void join(lmk_took *t, int k, uint64_t id, int64_t count, uint8_t last) {
    if (t->v[k].id != id) t->last[k] = 0;
    t->last[k] |= last;
    t->v[k].id = id;
    t->v[k].count += count;
}

/* Joins every entry of r in the batch into its first one (which then
 * names r's newest Go timer) and returns it: what start() keeps is one
 * record at its first due time, wherever nested drains' takes put parts
 * of it. */
static int took_gather(lmk_took *t, lmk_rec *r) {
    int i, first = -1;
    for (i = t->head; i < t->n; i++) {
        if ((lmk_rec *)t->v[i].tag != r || t->v[i].count == 0) continue;
        if (first < 0) {
            first = i;
            continue;
        }
        join(t, first, t->v[i].id, t->v[i].count, t->last[i]);
        t->v[i].count = 0; /* passed later: lmk_took_next lets go of r */
    }
    r->slot = first;
    return first;
}

/* (Re)arms r from at (as lmk_sched_arm), with its interval (a one-off: delay) set to r->ms
 * when reset. What fell due and has not run stays, as one record at its
 * first due time: when the batch holds expirations of r, its entries join
 * the first one, and Go hands over what it had not handed out yet
 * (lmk_restart's handOver) to join it too; else Go keeps them, counted,
 * at their first due time.
 * Returns an LMK_* code. */
int lmk_sched_start(lmk_state *st, lmk_rec *r, int reset, int64_t at) {
    int64_t due = 0, taken = 0;
    int rc;
    if (!go_ok(st)) return LMK_ECLOSED;
    if (r->qid == 0) return lmk_sched_arm(st, r, at);
    rc = lmk_restart(st->q, r->qid, at - st->clock_off, reset ? ns_of(r->ms) : -1, r->slot >= 0, &due, &taken);
    if (rc == LMK_ENOTFOUND) return lmk_sched_arm(st, r, at); /* a one-off Go forgot once taken */
    if (rc != LMK_OK) return rc;
    if (r->slot >= 0 && took_gather(&st->took, r) >= 0 && taken > 0) {
        st->took.v[r->slot].count += taken;
        st->took.left += taken;
    }
    r->due = due + st->clock_off;
    return LMK_OK;
}

/* Room for cap entries in the taken batch: 0, or -1 if memory ran out. */
int lmk_took_reserve(lmk_state *st, int cap) {
    lmk_exp *v;
    int64_t *bound;
    uint8_t *last;
    if (cap <= st->took.cap) return 0;
    last = (uint8_t *)realloc(st->took.last, (size_t)cap * sizeof *last);
    if (last == NULL) return -1;
    st->took.last = last;
    bound = (int64_t *)realloc(st->took.bound, (size_t)cap * sizeof *bound);
    if (bound == NULL) return -1;
    st->took.bound = bound;
    v = (lmk_exp *)realloc(st->took.v, (size_t)cap * sizeof *v);
    if (v == NULL) return -1;
    st->took.v = v;
    st->took.cap = cap;
    return 0;
}

/* The hand-back routine: the k expirations Go wrote into the batch after
 * its entries, taken by a drain with bound upto. With merge (an outermost
 * drain), those of a timer that has an entry already (left by a drain
 * that ended early) join it, which then counts as taken at upto: a
 * timer's expirations run back to back. A nested drain's go after the
 * others, as the drains around it must not run them. */
static void took_in(lmk_state *st, int k, int merge, int64_t upto) {
    lmk_took *t = &st->took;
    int i, j = t->n;
    for (i = t->n; i < t->n + k; i++) {
        lmk_exp e = t->v[i];
        lmk_rec *r = (lmk_rec *)e.tag;
        /* the one-off's expiration as armed now: due by upto, so Go included it */
        uint8_t last = !r->periodic && e.id == r->qid && r->due <= upto;
        t->left += e.count;
        if (merge && r->slot >= 0) {
            join(t, r->slot, e.id, e.count, last);
            t->bound[r->slot] = upto;
            continue;
        }
        e.due += st->clock_off;
        r->refs++;
        r->slot = j;
        t->bound[j] = upto;
        t->last[j] = last;
        t->v[j++] = e;
    }
    t->n = j;
}

/* Moves the entries left to the front of the batch. */
static void took_compact(lmk_took *t) {
    int i;
    if (t->head == 0) return;
    for (i = t->head; i < t->n; i++) {
        lmk_rec *r = (lmk_rec *)t->v[i].tag;
        if (r->slot == i) r->slot = i - t->head;
        t->v[i - t->head] = t->v[i];
        t->bound[i - t->head] = t->bound[i];
        t->last[i - t->head] = t->last[i];
    }
    t->n -= t->head;
    t->head = 0;
}

/* Before an outermost take: entries left by nested drains that ended
 * early may hold one timer's expirations in several entries; no drain
 * runs around this one, so each timer's join its first entry again (one
 * record, at its first due time) and slot names it. */
static void took_join(lmk_took *t) {
    int i;
    for (i = t->head; i < t->n; i++) ((lmk_rec *)t->v[i].tag)->slot = -1;
    for (i = t->head; i < t->n; i++) {
        lmk_rec *r = (lmk_rec *)t->v[i].tag;
        if (t->v[i].count == 0) continue;
        if (r->slot >= 0) {
            join(t, r->slot, t->v[i].id, t->v[i].count, t->last[i]);
            t->v[i].count = 0; /* passed later: lmk_took_next lets go of r */
        } else {
            r->slot = i;
        }
    }
}

/* Takes from Go everything due by upto (CLOCK_MONOTONIC), in (due, id)
 * order, into the batch after what is left of it (see the contract). */
void lmk_sched_take(lmk_state *st, int64_t upto) {
    lmk_took *t = &st->took;
    int merge = st->depth <= 1;
    if (!go_ok(st)) return;
    took_compact(t);
    if (merge) took_join(t);
    for (;;) {
        int k = 0, room = t->cap - t->n;
        if (lmk_take(st->q, upto - st->clock_off, t->v + t->n, room, &k) != LMK_OK) k = 0;
        took_in(st, k, merge, upto);
        /* full: only a nested take (entries of one timer from several
         * takes) can fill it; grow it, or leave the rest in Go */
        if (k < room || lmk_took_reserve(st, t->cap < 16 ? 16 : 2 * t->cap) != 0) break;
    }
}

/* The index of the batch's next entry with expirations left, or -1;
 * entries passed on the way let go of their records (cbs: CBS's index). */
int lmk_took_next(lua_State *L, lmk_state *st, int cbs) {
    lmk_took *t = &st->took;
    while (t->head < t->n && t->v[t->head].count == 0) {
        lmk_rec *r = (lmk_rec *)t->v[t->head].tag;
        if (r->slot == t->head) r->slot = -1;
        t->head++;
        lmk_rec_drop(L, st, r, cbs);
    }
    return t->head < t->n ? t->head : -1;
}

/* Uses one expiration of entry i (the head) and returns its record, with
 * one count of it (r->refs) for the caller; *fired: it was the
 * expiration of the one-off as armed now (the entry's last, if the entry
 * holds it: what start() kept of an earlier arming comes before it),
 * which is then "fired". */
lmk_rec *lmk_took_run(lmk_state *st, int i, int *fired) {
    lmk_exp *e = &st->took.v[i];
    lmk_rec *r = (lmk_rec *)e->tag;
    st->took.left--;
    *fired = 0;
    if (--e->count == 0) {
        st->took.head++; /* the entry's count of r goes to the caller */
        if (r->slot == i) r->slot = -1; /* (a newer entry of r may follow) */
        *fired = !r->periodic && e->id == r->qid && st->took.last[i];
    } else {
        r->refs++;
    }
    if (*fired) {
        r->qid = 0;
        r->state = LMK_T_FIRED;
    }
    return r;
}

/* Whether one-off r has expired (its callback has run, or is due). */
int lmk_sched_fired(const lmk_rec *r, int64_t now) {
    return !r->periodic && (r->state == LMK_T_FIRED || (r->state == LMK_T_ARMED && r->due <= now));
}

/* ns until armed r's next expiration not yet run (<= 0: one is due). */
int64_t lmk_sched_remaining(lmk_state *st, lmk_rec *r, int64_t now) {
    int64_t due = 0;
    int ok = 0;
    if (r->slot >= 0 || r->qid == 0 || !go_ok(st)) return 0;
    if (lmk_due(st->q, r->qid, &due, &ok) != LMK_OK || !ok) return 0;
    return due + st->clock_off - now;
}

/* When the earliest expiration of the universe is due (CLOCK_MONOTONIC;
 * INT64_MAX: none): 0 while some are taken or published and not run,
 * else what Go last wrote (no call). */
int64_t lmk_next_due(lmk_state *st) {
    if (st->took.left > 0 || lmk_hub_go(st->hub)) return 0;
    return lmk_hub_go_due(st->hub);
}

/* Expirations due and not run: Go's and the batch's. */
int64_t lmk_go_pending(lmk_state *st) {
    int64_t pending = 0;
    if (go_ok(st)) lmk_counts(st->q, &pending);
    return pending + st->took.left;
}

void lmk_took_free(lmk_state *st) {
    free(st->took.v);
    free(st->took.bound);
    free(st->took.last);
    st->took.v = NULL;
    st->took.bound = NULL;
    st->took.last = NULL;
    st->took.cap = st->took.head = st->took.n = 0;
    st->took.left = 0;
}

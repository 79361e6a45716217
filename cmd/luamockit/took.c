/*
 * took.c: the taken batch (st->took), the expirations Go handed the Lua
 * thread and it has not run yet: one FIFO of entries in (due, seq) order,
 * each with the bound of the drain that took it, whether it holds its
 * one-off's expiration as armed (last), and its record's generation when
 * it was made (egen). What an entry means, and who may change what, is
 * sched.c's contract; this file only keeps the entries: their order,
 * their liveness, and the slot and oldest indices of their records. It
 * calls nothing of the shim.
 */
#include <limits.h>
#include <stdlib.h>

#include "lmk.h"

/* Adds count expirations of Go timer id (last: with its one-off's
 * expiration as armed) to entry k of the same record: an entry names its
 * record's newest Go timer (a one-off armed again after its expiration was
 * taken gets a new one). */
void lmk_took_add(lmk_took *t, int k, uint64_t id, int64_t count, uint8_t last) {
    if (t->v[k].id != id) t->last[k] = 0;
    t->last[k] |= last;
    t->v[k].id = id;
    t->v[k].count += count;
}

/* Whether entry i holds expirations to run: its count, and its record's
 * entries were not dropped since it was made (r->egen: a stop, destroy or
 * start makes every entry of r dead at once; a freed record's egen moves
 * on too, and the slab never gives its memory back, so a dead entry may
 * name a record freed since). Only egen may be read of a dead entry's
 * record. */
int lmk_took_live(const lmk_took *t, int i) {
    return t->v[i].count > 0 && ((const lmk_rec *)t->v[i].tag)->egen == t->egen[i];
}

/* Where r's entries begin in the batch (see oldest). */
static int from_of(const lmk_took *t, const lmk_rec *r) { return r->oldest > t->head ? r->oldest : t->head; }

/* Drops r's expirations in the taken batch: O(1), its entries die. */
void lmk_took_drop(lmk_state *st, lmk_rec *r) {
    r->egen++;
    r->slot = -1;
    (void)st;
}

/* Drops what the batch holds of r that falls due after at (handed out
 * ahead of its time by the schedule a restart replaces) and joins what
 * is left, all due by at, into r's first entry (what start() keeps is one
 * record at its first due time, wherever nested drains' takes put parts
 * of it), which then names r's newest Go timer; slot names it, or is -1.
 * What is due by at lies at the front of the batch (it is in due order). */
void lmk_took_drop_after(lmk_state *st, lmk_rec *r, int64_t at) {
    lmk_took *t = &st->took;
    int i, first = -1;
    uint32_t old = r->egen;
    if (r->slot < 0) return;
    r->egen++;
    r->slot = -1;
    for (i = from_of(t, r); i < t->n && t->v[i].due <= at; i++) {
        if ((lmk_rec *)t->v[i].tag != r || t->egen[i] != old || t->v[i].count == 0) continue;
        if (first < 0) {
            first = i;
            t->egen[i] = r->egen; /* kept */
            continue;
        }
        lmk_took_add(t, first, t->v[i].id, t->v[i].count, t->last[i]);
        t->v[i].count = 0;
    }
    if (first >= 0) r->slot = r->oldest = first;
}

/* Room for cap entries in the taken batch: 0, or -1 if memory ran out. */
int lmk_took_reserve(lmk_state *st, int cap) {
    lmk_exp *v;
    int64_t *bound;
    uint8_t *last;
    uint32_t *egen;
    if (cap <= st->took.cap) return 0;
    /* at least doubled: the slab grows a chunk at a time, and a realloc per
     * chunk (an mremap each, and its TLB flush, once the arrays are large)
     * cost arming ~20 ns a timer; the room is never touched until used */
    if (st->took.cap > 0 && st->took.cap <= INT_MAX / 2 && cap < 2 * st->took.cap) cap = 2 * st->took.cap;
    last = (uint8_t *)realloc(st->took.last, (size_t)cap * sizeof *last);
    if (last == NULL) return -1;
    st->took.last = last;
    egen = (uint32_t *)realloc(st->took.egen, (size_t)cap * sizeof *egen);
    if (egen == NULL) return -1;
    st->took.egen = egen;
    bound = (int64_t *)realloc(st->took.bound, (size_t)cap * sizeof *bound);
    if (bound == NULL) return -1;
    st->took.bound = bound;
    v = (lmk_exp *)realloc(st->took.v, (size_t)cap * sizeof *v);
    if (v == NULL) return -1;
    st->took.v = v;
    st->took.cap = cap;
    return 0;
}

/* Whether entry a runs after an expiration due at due of the timer Go
 * armed seq-th: (due, seq) order. */
static int runs_after(const lmk_exp *a, int64_t due, uint64_t seq) {
    return a->due > due || (a->due == due && a->seq > seq);
}

/* One entry with what moves with it (took_sort's scratch). */
typedef struct took_ent {
    lmk_exp e;
    int64_t bound;
    uint32_t egen;
    uint8_t last, is_slot;
} took_ent;

static void ent_get(const lmk_took *t, int i, took_ent *x) {
    x->e = t->v[i];
    x->bound = t->bound[i];
    x->egen = t->egen[i];
    x->last = t->last[i];
}

static void ent_put(lmk_took *t, int i, const took_ent *x) {
    t->v[i] = x->e;
    t->bound[i] = x->bound;
    t->egen[i] = x->egen;
    t->last[i] = x->last;
}

/* Moves entry i to w (>= i), its record's slot with it. */
static void ent_move(lmk_took *t, int i, int w) {
    if (lmk_took_live(t, i)) {
        lmk_rec *m = (lmk_rec *)t->v[i].tag;
        if (m->slot == i) m->slot = w;
    }
    t->v[w] = t->v[i];
    t->bound[w] = t->bound[i];
    t->last[w] = t->last[i];
    t->egen[w] = t->egen[i];
}

/* Puts the entries from first on (in order among themselves: Go hands
 * them out in (due, id) order) in (due, seq) order among those left: what
 * Go handed out ahead of its time in an earlier take may fall due after
 * what this one brings. One backward merge, O(entries left + new); slots
 * move with their entries, and oldest bounds come down to new places.
 * Memory for the new entries' copy is asked for only when they must go
 * in between; without it, they go in one at a time. */
void lmk_took_sort(lmk_took *t, int first) {
    int k = t->n - first, i, j, w;
    took_ent *tmp;
    if (k <= 0 || first == t->head || !runs_after(&t->v[first - 1], t->v[first].due, t->v[first].seq)) return;
    tmp = (took_ent *)malloc((size_t)k * sizeof *tmp);
    if (tmp == NULL) { /* one at a time, in place */
        for (i = first; i < t->n; i++) {
            took_ent x;
            lmk_rec *r = (lmk_rec *)t->v[i].tag;
            ent_get(t, i, &x);
            for (j = i; j > t->head && runs_after(&t->v[j - 1], x.e.due, x.e.seq); j--) ent_move(t, j - 1, j);
            if (j == i) continue;
            if (r->slot == i) r->slot = j;
            if (r->oldest > j) r->oldest = j;
            ent_put(t, j, &x);
        }
        return;
    }
    for (j = 0; j < k; j++) {
        ent_get(t, first + j, &tmp[j]);
        tmp[j].is_slot = ((lmk_rec *)tmp[j].e.tag)->slot == first + j;
    }
    i = first - 1;
    w = t->n - 1;
    for (j = k - 1; j >= 0; w--) {
        if (i >= t->head && runs_after(&t->v[i], tmp[j].e.due, tmp[j].e.seq)) {
            ent_move(t, i--, w);
        } else {
            lmk_rec *r = (lmk_rec *)tmp[j].e.tag;
            if (tmp[j].is_slot) r->slot = w;
            if (r->oldest > w) r->oldest = w; /* (entries moved right keep their bounds) */
            ent_put(t, w, &tmp[j--]);
        }
    }
    free(tmp);
}

/* Moves the live entries to the front of the batch, in their order, and
 * forgets the dead ones (a stopped, destroyed or restarted timer's: they
 * would cost every later insertion a move); oldest then names each
 * record's first entry. Before a take, or an arm that finds no room. */
void lmk_took_compact(lmk_took *t) {
    int i, j = 0;
    t->dups = 0;
    for (i = t->head; i < t->n; i++) /* first: 1 until r's oldest is set */
        if (lmk_took_live(t, i)) ((lmk_rec *)t->v[i].tag)->first = 1;
    for (i = t->head; i < t->n; i++) {
        lmk_rec *r;
        if (!lmk_took_live(t, i)) continue;
        r = (lmk_rec *)t->v[i].tag;
        if (r->slot == i) r->slot = j;
        if (r->first) {
            r->oldest = j;
            r->first = 0;
        } else {
            t->dups++;
        }
        t->v[j] = t->v[i];
        t->bound[j] = t->bound[i];
        t->last[j] = t->last[i];
        t->egen[j] = t->egen[i];
        j++;
    }
    t->n = j;
    t->head = 0;
}

/* At the start of an outermost drain (bound upto): a timer's expirations
 * due by upto may sit in several entries (handed out ahead of their time
 * one by one, or left by nested drains that ended early); no drain runs
 * around this one, so they join the timer's first due entry (one record,
 * at its first due time: its due expirations run back to back). Entries
 * are in due order, so only the due ones are looked at; what is not due
 * stays where it is, and slot keeps naming each timer's newest entry. */
void lmk_took_join(lmk_took *t, int64_t upto) {
    int i, end = t->head;
    if (t->dups == 0) return; /* a record's entries are one at most: nothing to join */
    while (end < t->n && t->v[end].due <= upto) end++;
    for (i = t->head; i < end; i++)
        if (lmk_took_live(t, i)) ((lmk_rec *)t->v[i].tag)->first = -1;
    for (i = t->head; i < end; i++) {
        lmk_rec *r = (lmk_rec *)t->v[i].tag;
        if (!lmk_took_live(t, i)) continue;
        if (r->first < 0) {
            r->first = i;
            continue;
        }
        lmk_took_add(t, r->first, t->v[i].id, t->v[i].count, t->last[i]);
        t->v[i].count = 0;
        if (t->bound[i] > t->bound[r->first]) t->bound[r->first] = t->bound[i];
        if (r->slot == i) r->slot = r->first;
    }
    if (end == t->n) t->dups = 0; /* every record's entries are one now */
}

/* The index of the batch's next entry with expirations to run (its
 * head, once the dead entries before it are passed), or -1. */
int lmk_took_next(lmk_state *st) {
    lmk_took *t = &st->took;
    while (t->head < t->n && !lmk_took_live(t, t->head)) t->head++;
    return t->head < t->n ? t->head : -1;
}

/* Uses one expiration of entry i (the head) and returns its record, with
 * one count of it (r->refs) for the caller; *fired: it was the
 * expiration of the one-off as armed now (the entry's last, if the entry
 * holds it: what start() kept of an earlier arming comes before it),
 * which the caller then makes "fired" (lmk_rec_state). */
lmk_rec *lmk_took_run(lmk_state *st, int i, int *fired) {
    lmk_exp *e = &st->took.v[i];
    lmk_rec *r = (lmk_rec *)e->tag;
    *fired = 0;
    r->refs++; /* the caller's */
    if (r->periodic) { /* catch-up "once": one run for all the entry holds */
        r->missed = r->flags & LMK_F_ONCE ? e->count - 1 : 0;
        if (r->flags & LMK_F_ONCE) e->count = 1;
    }
    if (--e->count == 0) {
        st->took.head++;
        if (r->slot == i) r->slot = -1; /* (a newer entry of r may follow) */
        *fired = !r->periodic && e->id == r->qid && st->took.last[i];
    }
    if (*fired) r->qid = 0; /* Go let go of it; the caller makes it "fired" */
    return r;
}

/* The batch's entry of r that runs first, or -1. */
int lmk_took_first_of(const lmk_took *t, const lmk_rec *r) {
    int i;
    if (r->slot < 0) return -1;
    for (i = from_of(t, r); i <= r->slot; i++)
        if ((const lmk_rec *)t->v[i].tag == r && lmk_took_live(t, i)) return i;
    return -1;
}

/* When the batch's first expiration not yet run is due (INT64_MAX: none):
 * entries are in due order. */
int64_t lmk_took_first(lmk_took *t) {
    /* the dead entries before it are passed for good, as lmk_took_next
     * does (a stopped fast timer leaves up to a window of them, and wait()
     * asks at every turn) */
    while (t->head < t->n && !lmk_took_live(t, t->head)) t->head++;
    return t->head < t->n ? t->v[t->head].due : INT64_MAX;
}

/* Expirations in the batch due by now. */
int64_t lmk_took_due(lmk_state *st, int64_t now) {
    const lmk_took *t = &st->took;
    int64_t n = 0;
    int i;
    for (i = t->head; i < t->n && t->v[i].due <= now; i++)
        if (lmk_took_live(t, i)) n += t->v[i].count;
    return n;
}

void lmk_took_free(lmk_state *st) {
    free(st->took.v);
    free(st->took.bound);
    free(st->took.last);
    free(st->took.egen);
    st->took.v = NULL;
    st->took.bound = NULL;
    st->took.last = NULL;
    st->took.egen = NULL;
    st->took.cap = st->took.head = st->took.n = st->took.dups = 0;
}

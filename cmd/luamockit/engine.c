/*
 * engine.c: the Lua thread's timer engine (see engine.h). Only the thread
 * running the Lua state calls it. Nothing here allocates except
 * lmk_eng_insert, which reserves the heap room that every later re-queue
 * of the schedules it holds may need, so taking expirations never fails.
 */
#include <stdlib.h>
#include <stdint.h>

#include "engine.h"

enum { KIND_ONEOFF = 0, KIND_INTERVAL = 1 };

typedef struct lmk_group {
    int64_t dur;
    int kind;
    int32_t hidx; /* -1: empty, out of the heap */
    lmk_sched *head, *tail;
    struct lmk_group *hnext;
} lmk_group;

/* Empty groups are kept for reuse (a one-off re-armed in its own callback
 * empties and refills its group every cycle) until there are this many
 * and they are half of all groups. */
#define EMPTY_KEEP 64

static int kind_of(const lmk_sched *s) { return s->left < 0 ? KIND_INTERVAL : KIND_ONEOFF; }

/* Whether a goes strictly before b in (key, id) order. */
static int before(const lmk_sched *a, const lmk_sched *b) {
    int64_t ka = lmk_sched_key(a), kb = lmk_sched_key(b);
    return ka < kb || (ka == kb && a->id < b->id);
}

/* ---- the heap ---- */

static int is_group(const void *p) { return ((uintptr_t)p & 1) != 0; }
static lmk_group *group_of(const void *p) { return (lmk_group *)((uintptr_t)p & ~(uintptr_t)1); }
static void *tag_group(lmk_group *g) { return (void *)((uintptr_t)g | 1); }

static void set_hidx(lmk_hent *h, int32_t i) {
    if (is_group(h->p)) group_of(h->p)->hidx = i;
    else ((lmk_sched *)h->p)->hidx = i;
}

static int hless(const lmk_hent *a, const lmk_hent *b) {
    return a->key < b->key || (a->key == b->key && a->id < b->id);
}

static void hswap(lmk_engine *e, int32_t i, int32_t j) {
    lmk_hent t = e->heap[i];
    e->heap[i] = e->heap[j];
    e->heap[j] = t;
    set_hidx(&e->heap[i], i);
    set_hidx(&e->heap[j], j);
}

static void hup(lmk_engine *e, int32_t j) {
    while (j > 0) {
        int32_t i = (j - 1) / 2;
        if (!hless(&e->heap[j], &e->heap[i])) break;
        hswap(e, i, j);
        j = i;
    }
}

static int hdown(lmk_engine *e, int32_t i0) {
    int32_t i = i0, n = e->hn;
    for (;;) {
        int32_t j = 2 * i + 1;
        if (j >= n) break;
        if (j + 1 < n && hless(&e->heap[j + 1], &e->heap[j])) j++;
        if (!hless(&e->heap[j], &e->heap[i])) break;
        hswap(e, i, j);
        i = j;
    }
    return i > i0;
}

static void hfix(lmk_engine *e, int32_t i) {
    if (!hdown(e, i)) hup(e, i);
}

/* Pushes p with key/id; the room is reserved. */
static void hpush(lmk_engine *e, void *p, int64_t key, uint64_t id) {
    int32_t i = e->hn++;
    e->heap[i].key = key;
    e->heap[i].id = id;
    e->heap[i].p = p;
    set_hidx(&e->heap[i], i);
    hup(e, i);
}

static void hremove(lmk_engine *e, int32_t i) {
    int32_t last = --e->hn;
    set_hidx(&e->heap[i], -1);
    if (i != last) {
        e->heap[i] = e->heap[last];
        set_hidx(&e->heap[i], i);
        hfix(e, i);
    }
}

/* Makes room for need heap entries. */
static int reserve(lmk_engine *e, int64_t need) {
    lmk_hent *h;
    int64_t cap = e->hcap ? e->hcap : 16;
    if (need <= e->hcap) return 0;
    while (cap < need) cap *= 2;
    if (cap > INT32_MAX) return -1;
    h = (lmk_hent *)realloc(e->heap, (size_t)cap * sizeof *h);
    if (h == NULL) return -1;
    e->heap = h;
    e->hcap = (int32_t)cap;
    return 0;
}

/* ---- groups ---- */

static uint32_t slot_of(const lmk_engine *e, int kind, int64_t dur) {
    uint64_t x = ((uint64_t)dur << 1 | (uint64_t)kind) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(x >> 32) & (e->tcap - 1);
}

static lmk_group *find_group(lmk_engine *e, int kind, int64_t dur) {
    lmk_group *g = e->last;
    if (g && g->dur == dur && g->kind == kind) return g;
    if (e->tcap == 0) return NULL;
    for (g = e->tab[slot_of(e, kind, dur)]; g; g = g->hnext)
        if (g->dur == dur && g->kind == kind) return g;
    return NULL;
}

static void rehash(lmk_engine *e, uint32_t cap) {
    lmk_group **tab = (lmk_group **)calloc(cap, sizeof *tab), *g, *next;
    uint32_t i, old = e->tcap;
    if (tab == NULL) return; /* longer chains, still correct */
    e->tcap = cap;
    for (i = 0; i < old; i++) {
        for (g = e->tab[i]; g; g = next) {
            uint32_t k = slot_of(e, g->kind, g->dur);
            next = g->hnext;
            g->hnext = tab[k];
            tab[k] = g;
        }
    }
    free(e->tab);
    e->tab = tab;
}

/* A new, empty group; NULL if memory ran out. */
static lmk_group *new_group(lmk_engine *e, int kind, int64_t dur) {
    lmk_group *g;
    uint32_t k;
    if (e->ngroups + 1 > e->tcap) rehash(e, e->tcap ? e->tcap * 2 : 16);
    if (e->tcap == 0) return NULL;
    g = (lmk_group *)calloc(1, sizeof *g);
    if (g == NULL) return NULL;
    g->dur = dur;
    g->kind = kind;
    g->hidx = -1;
    k = slot_of(e, kind, dur);
    g->hnext = e->tab[k];
    e->tab[k] = g;
    e->ngroups++;
    e->nempty++;
    return g;
}

/* Frees the empty groups once they are many. */
static void sweep(lmk_engine *e) {
    uint32_t i;
    if (e->nempty <= EMPTY_KEEP || 2 * e->nempty <= e->ngroups) return;
    for (i = 0; i < e->tcap; i++) {
        lmk_group **pg = &e->tab[i];
        while (*pg) {
            lmk_group *g = *pg;
            if (g->head == NULL) {
                *pg = g->hnext;
                if (e->last == g) e->last = NULL;
                free(g);
                e->ngroups--;
                e->nempty--;
            } else {
                pg = &g->hnext;
            }
        }
    }
}

/* ---- placing and unlinking ---- */

/* Puts held s in group g if it goes after g's tail (or g is empty), else
 * on its own in the heap. The heap room is reserved. */
static void place(lmk_engine *e, lmk_sched *s, lmk_group *g) {
    if (g != NULL && (g->head == NULL || before(g->tail, s))) {
        s->prev = g->tail;
        s->next = NULL;
        s->grp = g;
        s->hidx = -1;
        if (g->head == NULL) {
            g->head = g->tail = s;
            e->nempty--;
            hpush(e, tag_group(g), lmk_sched_key(s), s->id);
        } else {
            g->tail->next = s;
            g->tail = s;
        }
        return;
    }
    s->grp = NULL;
    s->prev = s->next = NULL;
    hpush(e, s, lmk_sched_key(s), s->id);
}

/* Takes held s out of its list or the heap (it stays counted as held). */
static void unlink_sched(lmk_engine *e, lmk_sched *s) {
    lmk_group *g = s->grp;
    if (g == NULL) {
        hremove(e, s->hidx);
        return;
    }
    if (s->prev) s->prev->next = s->next;
    else g->head = s->next;
    if (s->next) s->next->prev = s->prev;
    else g->tail = s->prev;
    if (g->head == NULL) {
        hremove(e, g->hidx);
        e->nempty++;
    } else if (s->prev == NULL) { /* it was the head: the group's key grew */
        lmk_hent *h = &e->heap[g->hidx];
        h->key = lmk_sched_key(g->head);
        h->id = g->head->id;
        hdown(e, g->hidx);
    }
    s->prev = s->next = NULL;
    s->grp = NULL;
}

/* ---- the interface ---- */

void lmk_eng_init(lmk_engine *e) {
    e->heap = NULL;
    e->hn = e->hcap = 0;
    e->tab = NULL;
    e->tcap = e->ngroups = e->nempty = 0;
    e->last = NULL;
    e->cursor = NULL;
    e->n = 0;
}

void lmk_eng_free(lmk_engine *e) {
    uint32_t i;
    for (i = 0; i < e->tcap; i++) {
        lmk_group *g = e->tab[i], *next;
        for (; g; g = next) {
            next = g->hnext;
            free(g);
        }
    }
    free(e->tab);
    free(e->heap);
    lmk_eng_init(e);
}

int lmk_eng_insert(lmk_engine *e, lmk_sched *s) {
    lmk_group *g = NULL;
    sweep(e);
    if (reserve(e, e->n + e->ngroups + 2) != 0) return -1;
    if (s->bl_left == 0) {
        int kind = kind_of(s);
        g = find_group(e, kind, s->period);
        if (g == NULL) g = new_group(e, kind, s->period); /* NULL: on its own */
        if (g != NULL) e->last = g;
    }
    s->in = 1;
    e->n++;
    place(e, s, g);
    return 0;
}

void lmk_eng_remove(lmk_engine *e, lmk_sched *s) {
    if (!s->in) return;
    unlink_sched(e, s);
    s->in = 0;
    s->hidx = -1;
    e->n--;
    if (e->cursor == s) e->cursor = NULL;
}

lmk_sched *lmk_eng_top(const lmk_engine *e) {
    void *p;
    if (e->hn == 0) return NULL;
    p = e->heap[0].p;
    return is_group(p) ? group_of(p)->head : (lmk_sched *)p;
}

int64_t lmk_eng_next_due(const lmk_engine *e) {
    return e->hn == 0 ? INT64_MAX : e->heap[0].key;
}

void lmk_eng_begin(lmk_engine *e) { e->cursor = NULL; }

lmk_sched *lmk_eng_next(lmk_engine *e, int64_t upto) {
    lmk_sched *s = e->cursor;
    if (s != NULL && s->in && lmk_sched_key(s) <= upto) return s;
    e->cursor = NULL;
    s = lmk_eng_top(e);
    if (s == NULL || lmk_sched_key(s) > upto) return NULL;
    e->cursor = s;
    return s;
}

int lmk_eng_take(lmk_engine *e, lmk_sched *s) {
    lmk_group *g;
    if (s->bl_left != 0) {
        s->bl_left--;
    } else {
        if (s->left > 0) s->left--;
        s->due += s->period;
    }
    if (s->left == 0 && s->bl_left == 0) {
        lmk_eng_remove(e, s);
        return 1;
    }
    g = s->grp;
    if (g != NULL && g->head == s && s->bl_left == 0 && (s->next == NULL || before(s, s->next))) {
        lmk_hent *h = &e->heap[g->hidx]; /* still first in its list */
        h->key = lmk_sched_key(s);
        hdown(e, g->hidx);
        return 0;
    }
    unlink_sched(e, s);
    if (s->bl_left == 0 && g == NULL) g = find_group(e, kind_of(s), s->period);
    place(e, s, s->bl_left == 0 ? g : NULL);
    return 0;
}

/* a + b, saturating at INT64_MAX (both >= 0). */
static int64_t add_sat(int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; }

int64_t lmk_sched_due_count(const lmk_sched *s, int64_t now) {
    int64_t n = 0;
    if (s->left != 0 && s->due <= now) {
        if (s->left == 1) n = 1;
        else if ((n = (now - s->due) / s->period + 1) > s->left && s->left > 0) n = s->left;
    }
    return s->bl_left != 0 && s->bl_due <= now ? add_sat(n, s->bl_left) : n;
}

static int64_t pending_from(const lmk_engine *e, int32_t i, int64_t now) {
    int64_t n = 0;
    const lmk_sched *s;
    if (i >= e->hn || e->heap[i].key > now) return 0;
    if (is_group(e->heap[i].p)) {
        for (s = group_of(e->heap[i].p)->head; s && lmk_sched_key(s) <= now; s = s->next)
            n = add_sat(n, lmk_sched_due_count(s, now));
    } else {
        n = lmk_sched_due_count((const lmk_sched *)e->heap[i].p, now);
    }
    n = add_sat(n, pending_from(e, 2 * i + 1, now));
    return add_sat(n, pending_from(e, 2 * i + 2, now));
}

int64_t lmk_eng_pending(const lmk_engine *e, int64_t now) { return pending_from(e, 0, now); }

lmk_sched *lmk_eng_pop_any(lmk_engine *e) {
    lmk_sched *s;
    void *p;
    if (e->hn == 0) return NULL;
    p = e->heap[e->hn - 1].p;
    s = is_group(p) ? group_of(p)->tail : (lmk_sched *)p;
    lmk_eng_remove(e, s);
    return s;
}

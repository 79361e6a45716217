/*
 * engine.h: the Lua thread's timer engine (engine.c). Pure C, no Lua API:
 * it orders the schedules the Lua thread holds and hands out their
 * expirations, and test/engine_test.c checks it against a model.
 *
 * A schedule has a main part: expiration i is due at due + i*period, and
 * left of them remain (-1: no end; a one-off has 1, and its period is its
 * delay). After a restart that left expirations due and not run, it also
 * has a backlog: bl_left expirations, one counted record queued at bl_due,
 * before any of the main part's. A schedule's key is its next expiration
 * (the backlog's, if any); the engine hands out schedules in (key, id)
 * order.
 *
 * Layout: schedules whose next expirations come in the order they were
 * added sit in FIFO lists, one per (kind, duration), as libevent's common
 * timeouts do: one-offs armed with one delay, and interval timers of one
 * period, which go back to the tail after each expiration. A heap orders
 * the lists by their heads and holds the schedules that fit no list
 * (a backlog, an expiration out of order). So arming, expiring and
 * re-queueing cost O(1) plus O(log g) in the number of distinct
 * durations, and O(log n) at worst.
 */
#ifndef LMK_ENGINE_H
#define LMK_ENGINE_H

#include <stdint.h>

struct lmk_group;

typedef struct lmk_sched {
    int64_t due;       /* the main part's next expiration, CLOCK_MONOTONIC ns */
    int64_t period;    /* ns between its expirations; a one-off's delay */
    int64_t left;      /* expirations left: -1 unbounded, 0 over */
    int64_t bl_due;    /* the backlog's due time */
    int64_t bl_left;   /* expirations in the backlog; 0: none */
    uint64_t id;
    struct lmk_sched *prev, *next; /* in its group's list */
    struct lmk_group *grp;         /* its list; NULL: on its own in the heap */
    int32_t hidx;                  /* its heap entry when on its own; -1 */
    int32_t in;                    /* held by the engine */
} lmk_sched;

typedef struct lmk_hent {
    int64_t key;
    uint64_t id;
    void *p; /* lmk_sched *, or lmk_group * | 1 */
} lmk_hent;

typedef struct lmk_engine {
    lmk_hent *heap;
    int32_t hn, hcap;
    struct lmk_group **tab; /* groups by (kind, duration), chained */
    uint32_t tcap;
    uint32_t ngroups, nempty;
    struct lmk_group *last; /* the group of the last insert */
    lmk_sched *cursor;      /* the schedule whose expirations are being run */
    int64_t n;              /* schedules held */
} lmk_engine;

static inline int64_t lmk_sched_key(const lmk_sched *s) {
    return s->bl_left != 0 ? s->bl_due : s->due;
}

void lmk_eng_init(lmk_engine *e);
void lmk_eng_free(lmk_engine *e);
/* Adds s (not held): 0, or -1 if memory ran out (s is not added). */
int lmk_eng_insert(lmk_engine *e, lmk_sched *s);
/* Takes s out of the engine; never fails. */
void lmk_eng_remove(lmk_engine *e, lmk_sched *s);
/* The schedule with the smallest (key, id), or NULL. */
lmk_sched *lmk_eng_top(const lmk_engine *e);
/* The next key (INT64_MAX: nothing held). */
int64_t lmk_eng_next_due(const lmk_engine *e);
/* A drain begins: forget the schedule being run. */
void lmk_eng_begin(lmk_engine *e);
/* The schedule whose expiration runs next in a drain bounded by upto:
 * the one being run while it has one due by upto (a timer's due
 * expirations run back to back), else the top if due by upto; NULL when
 * nothing is due by upto. */
lmk_sched *lmk_eng_next(lmk_engine *e, int64_t upto);
/* Consumes s's next expiration (s is held) and re-queues it; returns 1 if
 * s has no expiration left (it is then out of the engine). Never fails. */
int lmk_eng_take(lmk_engine *e, lmk_sched *s);
/* Expirations due at now (a one-off: 1; an interval: all of them). */
int64_t lmk_sched_due_count(const lmk_sched *s, int64_t now);
int64_t lmk_eng_pending(const lmk_engine *e, int64_t now);
/* Takes some schedule out of the engine and returns it; NULL when empty. */
lmk_sched *lmk_eng_pop_any(lmk_engine *e);

#endif

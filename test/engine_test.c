/*
 * engine_test.c: the timer engine (cmd/luamockit/engine.c) against a naive
 * model, by random operations: arm one-offs and interval timers (a few
 * durations, so the FIFO lists fill, and odd ones), drop them, restart
 * them with a backlog, drains that take expirations one at a time (with
 * timers dropped, restarted and armed between two expirations, as
 * callbacks do), pending counts, and emptying the engine and refilling it
 * (a lease handed back and lent again). The model keeps a plain array and
 * finds the next expiration by a linear scan in (key, id) order, with the
 * engine's rule that a timer's due expirations run back to back.
 *
 *   cc -O2 -Icmd/luamockit -o engine_test test/engine_test.c cmd/luamockit/engine.c
 *   ./engine_test [seeds [first_seed [ops]]]
 *
 * A failure prints the seed and the last operations, and exits 1.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define MAXT 400
#define LOG 32

typedef struct model {
    int64_t due, period, left, bl_due, bl_left;
    uint64_t id;
    int in;
} model;

static lmk_engine E;
static lmk_sched S[MAXT];
static model M[MAXT];
static int nt;
static int64_t now;
static uint64_t next_id;
static int mcursor = -1;
static uint64_t rng;
static char oplog[LOG][96];
static int nlog;
static unsigned long seed_now;

static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int64_t rint_(int64_t n) { return n <= 0 ? 0 : (int64_t)(rnd() % (uint64_t)n); }

static void logop(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(oplog[nlog % LOG], sizeof oplog[0], fmt, ap);
    va_end(ap);
    nlog++;
}

static void fail(const char *what, int64_t a, int64_t b) {
    int i, from = nlog > LOG ? nlog - LOG : 0;
    fprintf(stderr, "engine_test: seed %lu: %s (%" PRId64 ", %" PRId64 ") at op %d, now %" PRId64 "\n",
            seed_now, what, a, b, nlog, now);
    for (i = from; i < nlog; i++) fprintf(stderr, "  %d: %s\n", i, oplog[i % LOG]);
    exit(1);
}

static int64_t mkey(const model *m) { return m->bl_left ? m->bl_due : m->due; }

static int mbefore(const model *a, const model *b) {
    int64_t ka = mkey(a), kb = mkey(b);
    return ka < kb || (ka == kb && a->id < b->id);
}

/* The model's next in a drain bounded by upto (index or -1). */
static int mnext(int64_t upto) {
    int i, best = -1;
    if (mcursor >= 0 && M[mcursor].in && mkey(&M[mcursor]) <= upto) return mcursor;
    mcursor = -1;
    for (i = 0; i < nt; i++)
        if (M[i].in && (best < 0 || mbefore(&M[i], &M[best]))) best = i;
    if (best < 0 || mkey(&M[best]) > upto) return -1;
    return mcursor = best;
}

static int mtake(model *m) {
    if (m->bl_left) {
        m->bl_left--;
    } else {
        if (m->left > 0) m->left--;
        m->due += m->period;
    }
    if (m->left == 0 && m->bl_left == 0) {
        m->in = 0;
        return 1;
    }
    return 0;
}

static void load(lmk_sched *s, const model *m) {
    memset(s, 0, sizeof *s);
    s->due = m->due;
    s->period = m->period;
    s->left = m->left;
    s->bl_due = m->bl_due;
    s->bl_left = m->bl_left;
    s->id = m->id;
    s->hidx = -1;
}

static void check_same(int i) {
    const lmk_sched *s = &S[i];
    const model *m = &M[i];
    if (s->in != m->in) fail("held differs", (int64_t)m->id, m->in);
    if (!m->in) return;
    if (s->due != m->due || s->left != m->left || s->bl_left != m->bl_left || s->bl_due != m->bl_due)
        fail("schedule differs", (int64_t)m->id, s->due - m->due);
}

static int64_t pick_period(void) {
    static const int64_t common[] = {10, 25, 100, 1000};
    return rint_(4) ? common[rint_(4)] : 5 * (1 + rint_(100));
}

static void arm(void) {
    model *m;
    if (nt == MAXT) return;
    m = &M[nt];
    memset(m, 0, sizeof *m);
    m->id = ++next_id;
    m->period = pick_period();
    m->left = rint_(2) ? -1 : 1;
    m->due = now + (m->left == 1 ? m->period : m->period);
    if (rint_(8) == 0) m->due = now + 5 * rint_(10); /* out of its list's order */
    m->in = 1;
    load(&S[nt], m);
    logop("arm id %" PRId64 " due %" PRId64 " period/left %" PRId64, (int64_t)m->id, m->due, m->period * m->left);
    if (lmk_eng_insert(&E, &S[nt]) != 0) fail("insert failed", (int64_t)m->id, 0);
    nt++;
}

static int pick_held(void) {
    int i, tries;
    for (tries = 0; tries < 8; tries++) {
        i = (int)rint_(nt);
        if (nt > 0 && M[i].in) return i;
    }
    return -1;
}

static void drop(void) {
    int i = pick_held();
    if (i < 0) return;
    logop("drop id %" PRId64, (int64_t)M[i].id);
    lmk_eng_remove(&E, &S[i]);
    M[i].in = 0;
    if (mcursor == i) mcursor = -1;
}

/* A restart: what is due now becomes the backlog, the main part starts
 * over from now (the engine's caller does this, in timer.c). */
static void restart(void) {
    int i = pick_held();
    model *m;
    int64_t due_main;
    if (i < 0) return;
    m = &M[i];
    lmk_eng_remove(&E, &S[i]);
    if (mcursor == i) mcursor = -1;
    due_main = 0;
    if (m->due <= now) {
        due_main = m->left == 1 ? 1 : (now - m->due) / m->period + 1;
        if (m->left > 0 && due_main > m->left) due_main = m->left;
    }
    if (due_main > 0) {
        if (m->bl_left == 0) m->bl_due = m->due;
        m->bl_left += due_main; /* one record, queued at its first due time */
    }
    if (m->left == 0) m->left = 1;
    m->due = now + m->period;
    m->in = 1;
    logop("restart id %" PRId64 " backlog %" PRId64 " due %" PRId64, (int64_t)m->id, m->bl_left, m->due);
    load(&S[i], m);
    if (lmk_eng_insert(&E, &S[i]) != 0) fail("insert failed", (int64_t)m->id, 0);
}

static void drain(int64_t upto, int max) {
    int steps = 0;
    lmk_eng_begin(&E);
    mcursor = -1;
    logop("drain upto %" PRId64 " max %d", upto, max);
    for (;;) {
        int mi = mnext(upto);
        lmk_sched *s = lmk_eng_next(&E, upto);
        if ((mi < 0) != (s == NULL)) fail("next: one is done", mi < 0 ? -1 : (int64_t)M[mi].id, s ? (int64_t)s->id : -1);
        if (s == NULL || steps++ == max) break;
        if (s != &S[mi]) fail("next: order", (int64_t)M[mi].id, (int64_t)s->id);
        if (lmk_eng_take(&E, s) != mtake(&M[mi])) fail("take: over differs", (int64_t)s->id, 0);
        check_same(mi);
        switch (rint_(12)) { /* what a callback might do */
        case 0: drop(); break;
        case 1: restart(); break;
        case 2: arm(); break;
        default: break;
        }
    }
}

static void check_pending(void) {
    int64_t want = 0;
    int i;
    for (i = 0; i < nt; i++) {
        lmk_sched s;
        if (!M[i].in) continue;
        load(&s, &M[i]);
        want += lmk_sched_due_count(&s, now);
    }
    if (lmk_eng_pending(&E, now) != want) fail("pending", lmk_eng_pending(&E, now), want);
    if (E.n != (int64_t)0) {
        lmk_sched *t = lmk_eng_top(&E);
        int mi = -1;
        for (i = 0; i < nt; i++)
            if (M[i].in && (mi < 0 || mbefore(&M[i], &M[mi]))) mi = i;
        if (t != &S[mi]) fail("top", (int64_t)M[mi].id, (int64_t)t->id);
        if (lmk_eng_next_due(&E) != mkey(&M[mi])) fail("next_due", lmk_eng_next_due(&E), mkey(&M[mi]));
    } else if (lmk_eng_next_due(&E) != INT64_MAX) {
        fail("next_due of an empty engine", lmk_eng_next_due(&E), 0);
    }
}

/* Empty the engine (every held timer comes out exactly once), then put
 * everything back. */
static void cycle(void) {
    int i, held = 0, out = 0;
    lmk_sched *s;
    logop("cycle");
    for (i = 0; i < nt; i++) held += M[i].in;
    while ((s = lmk_eng_pop_any(&E)) != NULL) {
        if (!s->in && M[s - S].in) {
            out++;
        } else {
            fail("pop_any: not a held timer", (int64_t)s->id, 0);
        }
    }
    if (out != held || E.n != 0) fail("pop_any: count", out, held);
    mcursor = -1;
    for (i = 0; i < nt; i++)
        if (M[i].in && lmk_eng_insert(&E, &S[i]) != 0) fail("insert failed", (int64_t)M[i].id, 0);
}

static void compact(void) {
    int i, k = 0;
    for (i = 0; i < nt; i++) {
        if (M[i].in) lmk_eng_remove(&E, &S[i]);
    }
    for (i = 0; i < nt; i++) {
        if (!M[i].in) continue;
        M[k] = M[i];
        load(&S[k], &M[k]);
        k++;
    }
    nt = k;
    mcursor = -1;
    for (i = 0; i < nt; i++)
        if (lmk_eng_insert(&E, &S[i]) != 0) fail("insert failed", (int64_t)M[i].id, 0);
}

static void run(unsigned long seed, int ops) {
    int op;
    seed_now = seed;
    rng = seed * 0x9E3779B97F4A7C15ull + 1;
    nt = 0;
    now = 1000;
    next_id = 0;
    nlog = 0;
    lmk_eng_init(&E);
    for (op = 0; op < ops; op++) {
        switch (rint_(10)) {
        case 0: case 1: case 2: arm(); break;
        case 3: drop(); break;
        case 4: restart(); break;
        case 5: case 6: drain(now, rint_(4) == 0 ? (int)rint_(5) : -1); break;
        case 7: now += 5 * rint_(40); break;
        case 8: check_pending(); break;
        default: if (rint_(10) == 0) cycle(); else now += 5 * rint_(4); break;
        }
        if (nt > MAXT - 20) compact();
    }
    check_pending();
    lmk_eng_free(&E);
}

int main(int argc, char **argv) {
    unsigned long seeds = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
    unsigned long first = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
    int ops = argc > 3 ? atoi(argv[3]) : 2000;
    unsigned long s;
    for (s = first; s < first + seeds; s++) run(s, ops);
    printf("engine_test: %lu seeds x %d operations: ok\n", seeds, ops);
    return 0;
}

/*
 * records.c: the slab of timer records of a universe. Records are
 * allocated in chunks that never move, so the engine and Go's queue may
 * keep pointers to them; a freed record goes on a free list. Timers armed
 * in a row get records in a row, so a drain of many one-offs walks memory
 * in order. The chunks are freed with the universe.
 */
#include <stdlib.h>
#include <string.h>

#include "lmk.h"

#define REC_CHUNK 256

lmk_rec *lmk_rec_new(lmk_state *st) {
    lmk_slab *sl = &st->recs;
    lmk_rec *r;
    if (sl->free == NULL) {
        lmk_rec *chunk;
        int i;
        if (sl->nchunks == sl->cap) {
            int cap = sl->cap ? 2 * sl->cap : 16;
            lmk_rec **c = (lmk_rec **)realloc(sl->chunks, (size_t)cap * sizeof *c);
            if (c == NULL) return NULL;
            sl->chunks = c;
            sl->cap = cap;
        }
        chunk = (lmk_rec *)malloc(REC_CHUNK * sizeof *chunk);
        if (chunk == NULL) return NULL;
        sl->chunks[sl->nchunks++] = chunk;
        for (i = REC_CHUNK - 1; i >= 0; i--) { /* the first record comes out first */
            chunk[i].state = LMK_T_DESTROYED;
            chunk[i].s.next = (lmk_sched *)sl->free;
            sl->free = &chunk[i];
        }
    }
    r = sl->free;
    sl->free = (lmk_rec *)r->s.next;
    memset(r, 0, sizeof *r);
    r->s.hidx = -1;
    return r;
}

void lmk_rec_free(lmk_state *st, lmk_rec *r) {
    r->s.in = 0;
    r->state = LMK_T_DESTROYED; /* marks it free (lmk_recs_each skips it) */
    r->s.next = (lmk_sched *)st->recs.free;
    st->recs.free = r;
}

/* Calls f for every record in use, in no particular order; f must not
 * allocate or free records. */
void lmk_recs_each(lmk_state *st, lmk_rec_visit f, void *ctx) {
    int i, j;
    for (i = 0; i < st->recs.nchunks; i++) {
        lmk_rec *chunk = st->recs.chunks[i];
        for (j = 0; j < REC_CHUNK; j++)
            if (chunk[j].state != LMK_T_DESTROYED) f(&chunk[j], ctx);
    }
}

void lmk_recs_free_all(lmk_state *st) {
    int i;
    for (i = 0; i < st->recs.nchunks; i++) free(st->recs.chunks[i]);
    free(st->recs.chunks);
    memset(&st->recs, 0, sizeof st->recs);
}

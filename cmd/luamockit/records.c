/*
 * records.c: the slab of timer records of a universe. Records are
 * allocated in chunks that never move, so Go's queue (as a timer's tag)
 * and the taken batch may keep pointers to them; a freed record goes on a free list. Timers armed
 * in a row get records in a row, so a drain of many one-offs walks memory
 * in order. The chunks are freed with the universe.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lmk.h"

#define REC_CHUNK 256

/* 56 bytes: what a timer costs in C (a free record's list link shares
 * the word of Go's id, which only a record in use has). */
typedef char lmk_rec_size_check[sizeof(lmk_rec) == 56 ? 1 : -1];

/* Under AddressSanitizer (make test-asan) a free record is poisoned but
 * for the fields the slab and the batch read: next_free (the free list),
 * state (LMK_T_DESTROYED: lmk_recs_each skips it) and what follows it,
 * egen (a dead batch entry reads it, sched.c). A free record is slab
 * memory, not malloc's: without this, a handle or a schedule left
 * pointing at a freed record would read and write it unseen. Nothing in
 * other builds. */
#if defined(__SANITIZE_ADDRESS__)
#define LMK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LMK_ASAN 1
#endif
#endif
#ifdef LMK_ASAN
#include <sanitizer/asan_interface.h>
#define NEXT_AT offsetof(lmk_rec, next_free)
#define NEXT_END (NEXT_AT + sizeof(lmk_rec *))
#define STATE_AT offsetof(lmk_rec, state)
static void poison_free(lmk_rec *r) {
    char *b = (char *)r;
    ASAN_POISON_MEMORY_REGION(b, NEXT_AT);
    ASAN_POISON_MEMORY_REGION(b + NEXT_END, STATE_AT - NEXT_END);
}
#define POISON_FREE(r) poison_free(r)
#define UNPOISON(r) ASAN_UNPOISON_MEMORY_REGION((r), sizeof(lmk_rec))
#define UNPOISON_CHUNK(c) ASAN_UNPOISON_MEMORY_REGION((c), REC_CHUNK * sizeof(lmk_rec))
#else
#define POISON_FREE(r) ((void)0)
#define UNPOISON(r) ((void)0)
#define UNPOISON_CHUNK(c) ((void)0)
#endif

/* Adds a chunk of free records, and room in the taken batch for an entry
 * per record (sched.c), and for LMK_TOOK_MIN entries at least. Returns 0,
 * or -1 if memory ran out. */
static int grow(lmk_state *st) {
    lmk_slab *sl = &st->recs;
    lmk_rec *chunk;
    int i, room = (sl->nchunks + 1) * REC_CHUNK;
    if (lmk_took_reserve(st, room < LMK_TOOK_MIN ? LMK_TOOK_MIN : room) != 0) return -1;
    if (sl->nchunks == sl->cap) {
        int cap = sl->cap ? 2 * sl->cap : 16;
        lmk_rec **c = (lmk_rec **)realloc(sl->chunks, (size_t)cap * sizeof *c);
        if (c == NULL) return -1;
        sl->chunks = c;
        sl->cap = cap;
    }
    chunk = (lmk_rec *)malloc(REC_CHUNK * sizeof *chunk);
    if (chunk == NULL) return -1;
    sl->chunks[sl->nchunks++] = chunk;
    for (i = REC_CHUNK - 1; i >= 0; i--) { /* the first record comes out first */
        chunk[i].state = LMK_T_DESTROYED;
        chunk[i].egen = 0;
        chunk[i].next_free = sl->free;
        sl->free = &chunk[i];
        POISON_FREE(&chunk[i]);
    }
    return 0;
}

/* The universe is new: its first chunk now (best effort: else the first
 * arm makes it), so that the first timer armed costs what the others do,
 * not the ~50 us of a chunk's and the batch's first page faults (and a
 * burst armed together is due together). */
void lmk_recs_prepare(lmk_state *st) {
    if (st->recs.free == NULL) (void)grow(st);
}

lmk_rec *lmk_rec_new(lmk_state *st) {
    lmk_slab *sl = &st->recs;
    lmk_rec *r;
    uint32_t egen;
    if (sl->free == NULL && grow(st) != 0) return NULL;
    r = sl->free;
    sl->free = r->next_free;
    UNPOISON(r);
    egen = r->egen; /* the batch may still name it: its entries stay dead */
    memset(r, 0, sizeof *r);
    r->egen = egen;
    r->slot = -1;
    return r;
}

void lmk_rec_free(lmk_state *st, lmk_rec *r) {
    r->state = LMK_T_DESTROYED; /* marks it free (lmk_recs_each skips it) */
    r->egen++;                  /* what the batch holds of it is dead */
    r->next_free = st->recs.free;
    st->recs.free = r;
    POISON_FREE(r);
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
    for (i = 0; i < st->recs.nchunks; i++) {
        UNPOISON_CHUNK(st->recs.chunks[i]);
        free(st->recs.chunks[i]);
    }
    free(st->recs.chunks);
    memset(&st->recs, 0, sizeof st->recs);
}

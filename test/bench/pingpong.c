/*
 * pingpong.c: the floor of a blocking round trip between threads, for the
 * producer rows of `make bench` (test/producer/bench.lua runs it).
 *
 *   pingpong 1 <round trips>   two pthreads, one futex word each way: the
 *                              producer posts, the consumer answers, both
 *                              sleep in FUTEX_WAIT between
 *   pingpong N <round trips>   luamockit's shape in C: N producer threads
 *                              each queue a request (a mutex and a list)
 *                              and sleep on a futex word of their own; one
 *                              consumer sleeps on a futex while the list is
 *                              empty, takes one request at a time, answers
 *                              it and wakes its producer
 *
 * Nothing spins: this is what two threads that sleep and wake each other
 * cost on this machine (system calls, the scheduler, the hypervisor).
 * Prints "key value" lines: rate (round trips/s), cpu_us (process CPU per
 * round trip), csw (context switches per round trip).
 */
#define _GNU_SOURCE
#ifndef __linux__
#include <stdio.h>
int main(void) {
    fprintf(stderr, "pingpong: futexes are Linux's; no floor here\n");
    return 0;
}
#else
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void fwait(int32_t *w, int32_t v) { syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void fwake(int32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- 1: two threads ---- */

static int32_t ping, pong; /* sequence numbers */
static long rounds;

static void *answerer(void *arg) {
    long i;
    (void)arg;
    for (i = 1; i <= rounds; i++) {
        while (__atomic_load_n(&ping, __ATOMIC_ACQUIRE) != (int32_t)i) fwait(&ping, (int32_t)(i - 1));
        __atomic_store_n(&pong, (int32_t)i, __ATOMIC_RELEASE);
        fwake(&pong);
    }
    return NULL;
}

static void two_threads(void) {
    pthread_t t;
    long i;
    pthread_create(&t, NULL, answerer, NULL);
    for (i = 1; i <= rounds; i++) {
        __atomic_store_n(&ping, (int32_t)i, __ATOMIC_RELEASE);
        fwake(&ping);
        while (__atomic_load_n(&pong, __ATOMIC_ACQUIRE) != (int32_t)i) fwait(&pong, (int32_t)(i - 1));
    }
    pthread_join(t, NULL);
}

/* ---- N: producers and one consumer ---- */

typedef struct req {
    int32_t done;
    struct req *next;
} req;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static req *head, *tail;
static int32_t nqueued;  /* futex: requests queued */
static int32_t sleeping; /* the consumer sleeps on nqueued */
static long per_thread;

static void *producer(void *arg) {
    long i;
    (void)arg;
    for (i = 0; i < per_thread; i++) {
        req r = {0, NULL};
        pthread_mutex_lock(&mu);
        if (tail) tail->next = &r;
        else head = &r;
        tail = &r;
        __atomic_add_fetch(&nqueued, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&sleeping, __ATOMIC_SEQ_CST)) fwake(&nqueued);
        pthread_mutex_unlock(&mu);
        while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) fwait(&r.done, 0);
    }
    return NULL;
}

static void consumer(long total) {
    long n;
    for (n = 0; n < total; n++) {
        req *r;
        for (;;) {
            __atomic_store_n(&sleeping, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&nqueued, __ATOMIC_SEQ_CST) > 0) break;
            fwait(&nqueued, 0);
        }
        __atomic_store_n(&sleeping, 0, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&mu);
        r = head;
        head = r->next;
        if (!head) tail = NULL;
        __atomic_sub_fetch(&nqueued, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&mu);
        __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
        fwake(&r->done);
    }
}

static void n_threads(int n) {
    pthread_t t[64];
    int i;
    per_thread = rounds / n;
    rounds = per_thread * n;
    for (i = 0; i < n; i++) pthread_create(&t[i], NULL, producer, NULL);
    consumer(rounds);
    for (i = 0; i < n; i++) pthread_join(t[i], NULL);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    struct rusage a, b;
    double t0, dt, cpu;
    rounds = argc > 2 ? atol(argv[2]) : 20000;
    if (n < 1 || n > 64 || rounds < 1) {
        fprintf(stderr, "usage: pingpong <threads 1..64> <round trips>\n");
        return 2;
    }
    getrusage(RUSAGE_SELF, &a);
    t0 = now_s();
    if (n == 1) two_threads();
    else n_threads(n);
    dt = now_s() - t0;
    getrusage(RUSAGE_SELF, &b);
    cpu = (double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec + b.ru_stime.tv_sec - a.ru_stime.tv_sec) +
          (double)(b.ru_utime.tv_usec - a.ru_utime.tv_usec + b.ru_stime.tv_usec - a.ru_stime.tv_usec) / 1e6;
    printf("rate %.0f\n", (double)rounds / dt);
    printf("cpu_us %.2f\n", cpu * 1e6 / (double)rounds);
    printf("csw %.2f\n", (double)(b.ru_nvcsw - a.ru_nvcsw + b.ru_nivcsw - a.ru_nivcsw) / (double)rounds);
    return 0;
}
#endif

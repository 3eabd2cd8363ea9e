/* A thread pool in C for the kernels' own drivers (direct.c): a pass of a layer runs as tasks (blocks
   of samples) taken one at a time by the calling thread and the pool's workers, with no Python
   between them.

   Why not the Python pool (conv/spectral.cpu_thread_pool) here: on this project's 2-core VM a
   pass of 2-3 ms lost 0.3-0.8 ms to it: ~0.15 ms of submit, BLAS-limit and wake-up before the
   second thread starts, ~0.08 ms to wake the caller at the end, and blocks too coarse to even out
   (each Python-level block costs ~15 us of calls, so blocks were ~1 ms). Here a task costs an
   atomic increment, the caller waits for the last task by spinning, and a worker spins a little
   (spin_ns) after its last task before it sleeps, so back-to-back passes find it awake.

       pool_run(fn, ctx, tasks)   fn(ctx, task, slot) for every task < tasks; returns when all are
                                  done. slot: 0 for the caller, 1.. for workers (index per-thread
                                  scratch with it; at most POOL_MOST_WORKERS + 1 slots).

   One pool per library that includes this header (static state). A second thread calling pool_run
   while a run is under way runs its own tasks alone, in slot 0 of its own scratch. After fork()
   the child starts its own workers on first use. Workers never touch Python objects or the GIL.

   A worker joins a run only while it is open: the caller closes the run once no task is left, then
   waits until no worker is inside it; a worker checks that the run is open after announcing itself
   (both sequentially consistent), so it never reads a run that has ended. A worker still asleep
   when the last task is taken is not waited for. */
#ifndef MINIFFT_POOL_H
#define MINIFFT_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

typedef void (*pool_task)(void *ctx, ptrdiff_t task, int slot);

#define POOL_MOST_WORKERS 63

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_int started, busy, open, inside, sleepers;
    atomic_long generation, next;
    long born;                /* the generation when the workers were started: runs after it are theirs */
    int threads;              /* asked for by pool_start: the caller and its workers */
    int workers;              /* threads besides the caller */
    long spin_ns;
    pool_task fn;
    void *ctx;
    ptrdiff_t tasks;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

static inline void pool_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long pool_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

static void pool_take_tasks(int slot) {
    for (ptrdiff_t t; (t = atomic_fetch_add(&pool.next, 1)) < pool.tasks;)
        pool.fn(pool.ctx, t, slot);
}

static void *pool_worker(void *arg) {
    int slot = (int)(ptrdiff_t)arg;
    long seen = pool.born;   /* not the generation now: a run published since must find this worker */
    for (;;) {
        long t0 = pool_now_ns();
        for (int k = 1; atomic_load(&pool.generation) == seen; ++k) {
            pool_relax();
            if (k % 64 == 0 && pool_now_ns() - t0 > pool.spin_ns) {
                pthread_mutex_lock(&pool.lock);
                atomic_fetch_add(&pool.sleepers, 1);
                while (atomic_load(&pool.generation) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
                atomic_fetch_sub(&pool.sleepers, 1);
                pthread_mutex_unlock(&pool.lock);
                break;
            }
        }
        seen = atomic_load(&pool.generation);
        atomic_fetch_add(&pool.inside, 1);
        if (atomic_load(&pool.open)) pool_take_tasks(slot);
        atomic_fetch_sub(&pool.inside, 1);
    }
    return NULL;
}

static void pool_after_fork(void) {   /* the child has no workers: start afresh on first use */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_store(&pool.started, 0);
    atomic_store(&pool.busy, 0);
    atomic_store(&pool.open, 0);
    atomic_store(&pool.inside, 0);
    atomic_store(&pool.sleepers, 0);
    pool.workers = 0;
}

/* Threads: the caller and workers - 1 others (started on first call; later calls change only the
   spin). Returns the workers running. */
int pool_start(int threads, long spin_ns) {
    pthread_mutex_lock(&pool.lock);
    pool.threads = threads;
    pool.spin_ns = spin_ns;
    if (!atomic_load(&pool.started)) {
        static int hooked;
        if (!hooked) hooked = !pthread_atfork(NULL, NULL, pool_after_fork);
        int want = threads - 1 < POOL_MOST_WORKERS ? threads - 1 : POOL_MOST_WORKERS;
        pool.workers = 0;
        pool.born = atomic_load(&pool.generation);
        for (int i = 0; i < want; ++i) {
            pthread_t t;
            if (pthread_create(&t, NULL, pool_worker, (void *)(ptrdiff_t)(i + 1))) break;
            pthread_detach(t);
            ++pool.workers;
        }
        atomic_store(&pool.started, 1);
    }
    int workers = pool.workers;
    pthread_mutex_unlock(&pool.lock);
    return workers;
}

static void pool_run(pool_task fn, void *ctx, ptrdiff_t tasks) {
    int idle = 0;
    if (!atomic_load(&pool.started) && pool.threads > 1) pool_start(pool.threads, pool.spin_ns);   /* forked */
    if (pool.workers == 0 || tasks < 2 || !atomic_compare_exchange_strong(&pool.busy, &idle, 1)) {
        for (ptrdiff_t t = 0; t < tasks; ++t) fn(ctx, t, 0);   /* alone: no pool, or it is in use */
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    pool.tasks = tasks;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.open, 1);
    atomic_fetch_add(&pool.generation, 1);
    if (atomic_load(&pool.sleepers)) {
        pthread_mutex_lock(&pool.lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.lock);
    }
    pool_take_tasks(0);
    atomic_store(&pool.open, 0);
    while (atomic_load(&pool.inside)) pool_relax();
    atomic_store(&pool.busy, 0);
}

#endif

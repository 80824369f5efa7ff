/* The demo `make demo` runs: an ordinary C program under hyperjit.
 *
 * It uses what a C runtime provides — a static constructor, thread-local
 * storage with threads, an atexit handler, exit() — and shows that the
 * JIT'd program behaves as the native build would. `make demo` also loads
 * examples/plugin/demo_plugin.c (`hyperjit run --plugin`), whose host
 * callbacks the program calls: `report_best`, typed, called directly, and
 * `Tally` through the proposal's PerformCustomCallback. Both are declared
 * weak, so that the program also runs natively and without the plugin.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Host callbacks, from the plugin when it is loaded (NULL otherwise). */
__attribute__((weak)) void report_best(unsigned long start, unsigned long steps);
__attribute__((weak)) long PerformCustomCallback(const char *name, void *args);
__attribute__((weak)) void *hj_lookup(const char *symbol);

static __thread unsigned long work_done;
static unsigned long total_work;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void greet(void) {
    printf("[constructor] hyperjit demo starting\n");
}

static void goodbye(void) { printf("[atexit] total work %lu, goodbye\n", total_work); }

static unsigned long collatz_length(unsigned long n) {
    unsigned long steps = 1;
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        steps++;
    }
    return steps;
}

struct job { unsigned long from, to, best, best_start; };

static void *worker(void *arg) {
    struct job *job = arg;
    for (unsigned long n = job->from; n < job->to; n++) {
        unsigned long length = collatz_length(n);
        work_done += length; /* thread-local: no lock needed */
        if (length > job->best) {
            job->best = length;
            job->best_start = n;
        }
    }
    pthread_mutex_lock(&total_lock);
    total_work += work_done;
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

int main(int argc, char **argv) {
    unsigned long limit = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    atexit(goodbye);
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].from = 1 + limit * i / THREADS;
        jobs[i].to = 1 + limit * (i + 1) / THREADS;
        pthread_create(&threads[i], NULL, worker, &jobs[i]);
    }
    struct job best = {0};
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        printf("[thread %d] %lu..%lu: longest chain starts at %lu (%lu steps)\n", i, jobs[i].from,
               jobs[i].to - 1, jobs[i].best_start, jobs[i].best);
        if (jobs[i].best > best.best) best = jobs[i];
    }
    printf("[main] below %lu the longest Collatz chain starts at %lu\n", limit + 1, best.best_start);
    printf("[main] main's own thread-local work counter: %lu\n", work_done);
    if (report_best) report_best(best.best_start, best.best);
    /* Only under hyperjit, and only if a plugin registered "Tally". */
    if (hj_lookup && PerformCustomCallback && hj_lookup("report_best")) {
        long tallied = PerformCustomCallback("Tally", &total_work);
        printf("[main] the host tallied %ld steps\n", tallied);
    }
    exit(EXIT_SUCCESS);
}

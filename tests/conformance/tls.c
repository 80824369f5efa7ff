/* Thread-local storage: every thread sees its own copy, initialized from
   the template, while plain globals are shared. */
#include <pthread.h>
#include <stdio.h>

static __thread int counter = 100;
__thread long per_thread_sum;
static __thread char name[16] = "unset";
int shared_total;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    long id = (long)arg;
    snprintf(name, sizeof name, "worker-%ld", id);
    for (int i = 0; i < 1000; i++) {
        counter++;
        per_thread_sum += i * id;
    }
    pthread_mutex_lock(&lock);
    shared_total += counter;
    pthread_mutex_unlock(&lock);
    return (void *)(per_thread_sum + counter);
}

int main(void) {
    pthread_t threads[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&threads[i], NULL, worker, (void *)(i + 1));
    long results[4];
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(threads[i], &r);
        results[i] = (long)r;
    }
    for (int i = 0; i < 4; i++)
        printf("thread %d returned %ld\n", i + 1, results[i]);
    printf("main: counter=%d sum=%ld name=%s shared_total=%d\n", counter, per_thread_sum, name, shared_total);
    int *p = &counter;
    *p += 5;
    printf("through pointer: %d\n", counter);
    return 0;
}

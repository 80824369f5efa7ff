/* Guest of examples/host_swap.rs: loops calling compute() until the host,
 * from another thread, has redefined it; prints each change it sees. */
#include <stdio.h>

long compute(long x) { return x + 1; }

int main(void) {
    long last = compute(0);
    printf("compute(0) = %ld\n", last);
    for (long i = 0;; i++) {
        long now = compute(0);
        if (now != last) {
            printf("compute(0) = %ld after the host's redefinition\n", now);
            return 0;
        }
    }
}

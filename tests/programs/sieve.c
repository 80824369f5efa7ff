/* The Shootout sieve (llvm-test-suite SingleSource/Benchmarks/Shootout):
   all the work is in main's hot loop, whose layout decides its speed
   (see BENCHMARKS.md on the patchable entry). argv[1]: repetitions. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char *argv[]) {
    int NUM = ((argc == 2) ? atoi(argv[1]) : 170000);
    static char flags[8192 + 1];
    long i, k;
    int count = 0;

    while (NUM--) {
        count = 0;
        for (i = 2; i <= 8192; i++) flags[i] = 1;
        for (i = 2; i <= 8192; i++) {
            if (flags[i]) {
                /* remove all multiples of prime: i */
                for (k = i + i; k <= 8192; k += i) flags[k] = 0;
                count++;
            }
        }
    }
    printf("Count: %d\n", count);
    return 0;
}

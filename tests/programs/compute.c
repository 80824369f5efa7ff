/* A compute-bound workload: matrix multiplication, a sieve and an integer
   hash loop. Used to check that unoptimized (-O0) bitcode runs at optimized
   speed under `hyperjit run -O 2`. argv[1] scales the matrix size. */
#include <stdio.h>
#include <stdlib.h>

static void multiply(int n, const double *a, const double *b, double *c) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double sum = 0;
            for (int k = 0; k < n; k++) sum += a[i * n + k] * b[k * n + j];
            c[i * n + j] = sum;
        }
}

static int sieve(int limit) {
    char *composite = calloc((size_t)limit + 1, 1);
    int count = 0;
    for (int i = 2; i <= limit; i++) {
        if (composite[i]) continue;
        count++;
        for (long j = (long)i * i; j <= limit; j += i) composite[j] = 1;
    }
    free(composite);
    return count;
}

static unsigned hash_loop(unsigned rounds) {
    unsigned h = 2166136261u;
    for (unsigned i = 0; i < rounds; i++) {
        h ^= i & 0xff;
        h *= 16777619u;
        h = (h << 5) | (h >> 27);
    }
    return h;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 220;
    double *a = malloc(sizeof(double) * n * n), *b = malloc(sizeof(double) * n * n), *c = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n * n; i++) {
        a[i] = (i % 17) * 0.25 - 1;
        b[i] = (i % 13) * 0.5 + 0.125;
    }
    multiply(n, a, b, c);
    double trace = 0;
    for (int i = 0; i < n; i++) trace += c[i * n + i];
    printf("trace %.6f\n", trace);
    printf("primes %d\n", sieve(n * 20000));
    printf("hash %08x\n", hash_loop((unsigned)n * 200000u));
    free(a); free(b); free(c);
    return 0;
}

/* spectral-norm (the Computer Language Benchmarks Game, plain C version):
   small functions called often. argv[1]: n. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double eval_a(int i, int j) { return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1); }

__attribute__((noinline)) static void times_u(int n, const double *u, double *au) {
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += eval_a(i, j) * u[j];
        au[i] = sum;
    }
}

__attribute__((noinline)) static void times_transposed_u(int n, const double *u, double *au) {
    for (int i = 0; i < n; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += eval_a(j, i) * u[j];
        au[i] = sum;
    }
}

static void times_at_times_u(int n, const double *u, double *out, double *tmp) {
    times_u(n, u, tmp);
    times_transposed_u(n, tmp, out);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    double *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *tmp = malloc(n * sizeof *tmp);
    for (int i = 0; i < n; i++) u[i] = 1;
    for (int i = 0; i < 10; i++) {
        times_at_times_u(n, u, v, tmp);
        times_at_times_u(n, v, u, tmp);
    }
    double vbv = 0, vv = 0;
    for (int i = 0; i < n; i++) {
        vbv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    printf("%0.9f\n", sqrt(vbv / vv));
    free(u);
    free(v);
    free(tmp);
    return 0;
}

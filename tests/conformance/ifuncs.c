/* ifuncs: functions the dynamic loader resolves natively — clang's
   target_clones (one version per CPU feature set, chosen by a resolver
   that reads the CPU model) and a hand-written ifunc — plus libc data a
   program reaches through the GOT (stdout), all called and compared. */
#include <stdio.h>
#include <string.h>

__attribute__((target_clones("avx2", "sse4.2", "default")))
long dot(const int *a, const int *b, int n) {
    long sum = 0;
    for (int i = 0; i < n; i++) sum += (long)a[i] * b[i];
    return sum;
}

static int twice_impl(int x) { return 2 * x; }
static int (*resolve_twice(void))(int) { return twice_impl; }
int twice(int x) __attribute__((ifunc("resolve_twice")));

int main(int argc, char **argv) {
    int a[64], b[64];
    for (int i = 0; i < 64; i++) {
        a[i] = i + argc;
        b[i] = 3 * i - (argc > 1 ? (int)strlen(argv[1]) : 0);
    }
    printf("dot = %ld\n", dot(a, b, 64));
    printf("twice(21) = %d\n", twice(21));
    int (*through_pointer)(int) = twice;
    printf("through a pointer: %d\n", through_pointer(50));
    fputs("stdout reached\n", stdout);
    return twice(argc) + 1;
}

/* An indirect call through a known set of functions: clang -O2 marks it
   `!callees` (CalledValuePropagation), metadata naming the functions, which
   a lazy body must take along (issue 23). Built with -g too, for debug
   records naming globals. */
#include <stdio.h>

static int doubled(int x) { return 2 * x; }
static int squared(int x) { return x * x; }
static int negated(int x) { return -x; }

static int (*handler)(int);
static int total;

__attribute__((noinline)) static void choose(int which) {
    handler = which == 0 ? doubled : which == 1 ? squared : negated;
}

__attribute__((noinline)) static int apply(int x) {
    int r = handler(x);
    total += r;
    return r;
}

int main(int argc, char **argv) {
    (void)argv;
    for (int i = 0; i < 6; i++) {
        choose((i + argc) % 3);
        printf("%d: %d\n", i, apply(i + 3));
    }
    printf("total %d\n", total);
    return total & 0x7f;
}

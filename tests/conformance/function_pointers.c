/* Function pointers: JIT'd functions called back by libc (qsort, bsearch),
   dispatch tables, functions returning functions, pointers compared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*binop)(int, int);
static int add(int a, int b) { return a + b; }
static int sub(int a, int b) { return a - b; }
static int mul(int a, int b) { return a * b; }
static binop pick(char c) { return c == '+' ? add : c == '-' ? sub : mul; }

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}
static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int apply_all(int seed, binop *ops, int n) {
    for (int i = 0; i < n; i++) seed = ops[i](seed, i + 2);
    return seed;
}

int main(void) {
    printf("%d %d %d\n", pick('+')(6, 7), pick('-')(6, 7), pick('*')(6, 7));
    binop chain[] = {add, mul, sub, mul, add};
    printf("chain %d\n", apply_all(1, chain, 5));
    int values[] = {42, -3, 17, 0, 99, 5, -20, 8};
    qsort(values, 8, sizeof values[0], compare_ints);
    for (int i = 0; i < 8; i++) printf("%d ", values[i]);
    int key = 17;
    int *found = bsearch(&key, values, 8, sizeof values[0], compare_ints);
    printf("\nfound 17 at %ld\n", found ? (long)(found - values) : -1L);
    const char *words[] = {"pear", "apple", "fig", "banana", "cherry"};
    qsort(words, 5, sizeof words[0], compare_strings);
    for (int i = 0; i < 5; i++) printf("%s ", words[i]);
    printf("\nsame function, same address: %d\n", pick('+') == add);
    void (*volatile indirect)(const char *) = (void (*)(const char *))puts;
    indirect("called libc through a pointer");
    return 0;
}

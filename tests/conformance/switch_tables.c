/* Switches: dense (jump tables), sparse (binary search), with fallthrough,
   over chars, and GNU computed goto. */
#include <stdio.h>

static const char *dense(int x) {
    switch (x) {
    case 0: return "zero"; case 1: return "one"; case 2: return "two";
    case 3: return "three"; case 4: return "four"; case 5: return "five";
    case 6: return "six"; case 7: return "seven"; case 8: return "eight";
    case 9: return "nine"; default: return "many";
    }
}
static int sparse(long x) {
    switch (x) {
    case -1000000: return 1; case 7: return 2; case 4096: return 3;
    case 65537: return 4; case 1L << 40: return 5; default: return 0;
    }
}
static int fallthrough(int x) {
    int acc = 0;
    switch (x) {
    case 4: acc += 1000; /* fall through */
    case 3: acc += 100; /* fall through */
    case 2: acc += 10; /* fall through */
    case 1: acc += 1; break;
    default: acc = -1;
    }
    return acc;
}
static int classify(char c) {
    switch (c) {
    case 'a': case 'e': case 'i': case 'o': case 'u': return 'v';
    case '0' ... '9': return 'd';
    case ' ': case '\t': case '\n': return 's';
    default: return 'c';
    }
}
static int interpret(const unsigned char *code) {
    static void *dispatch[] = {&&op_halt, &&op_inc, &&op_dbl, &&op_neg};
    int acc = 1, pc = 0;
    goto *dispatch[code[pc++]];
op_inc: acc += 1; goto *dispatch[code[pc++]];
op_dbl: acc *= 2; goto *dispatch[code[pc++]];
op_neg: acc = -acc; goto *dispatch[code[pc++]];
op_halt: return acc;
}

int main(void) {
    for (int i = -1; i <= 11; i += 2) printf("%s ", dense(i));
    printf("\n%d %d %d %d %d %d\n", sparse(-1000000), sparse(7), sparse(4096), sparse(65537), sparse(1L << 40), sparse(8));
    for (int i = 0; i <= 5; i++) printf("%d ", fallthrough(i));
    const char *text = "hello 42 world\n";
    for (const char *p = text; *p; p++) putchar(classify(*p));
    putchar('\n');
    const unsigned char program[] = {1, 2, 2, 3, 1, 2, 0};
    printf("interpret=%d\n", interpret(program));
    return 0;
}

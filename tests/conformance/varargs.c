/* Variadic functions: va_arg over ints, doubles, pointers and longs, va_copy,
   and forwarding a va_list to vsnprintf/vprintf. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static double sum_mixed(const char *kinds, ...) {
    va_list ap;
    va_start(ap, kinds);
    double total = 0;
    for (const char *k = kinds; *k; k++) {
        switch (*k) {
        case 'i': total += va_arg(ap, int); break;
        case 'l': total += (double)va_arg(ap, long long); break;
        case 'd': total += va_arg(ap, double); break;
        case 's': total += (double)strlen(va_arg(ap, const char *)); break;
        }
    }
    va_end(ap);
    return total;
}

static int count_twice(int n, ...) {
    va_list ap, copy;
    va_start(ap, n);
    va_copy(copy, ap);
    int a = 0, b = 0;
    for (int i = 0; i < n; i++) a += va_arg(ap, int);
    for (int i = 0; i < n; i++) b += 2 * va_arg(copy, int);
    va_end(copy);
    va_end(ap);
    return a * 1000 + b;
}

static void log_line(const char *fmt, ...) {
    char buffer[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buffer, sizeof buffer, fmt, ap);
    va_end(ap);
    printf("[%d] %s\n", n, buffer);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

int main(void) {
    printf("%.3f\n", sum_mixed("idlsd", 7, 2.5, 1LL << 40, "hello", -0.125));
    printf("%d\n", count_twice(5, 1, 2, 3, 4, 5));
    printf("%d\n", count_twice(20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20));
    log_line("%s=%d, %5.2f%%, %c%c, %lx", "answer", 42, 99.5, 'o', 'k', 0xdeadbeefUL);
    return 0;
}

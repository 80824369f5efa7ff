/* Recursion: deep, mutual, and exponential. */
#include <stdio.h>

static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
static int ackermann(int m, int n) {
    if (m == 0) return n + 1;
    if (n == 0) return ackermann(m - 1, 1);
    return ackermann(m - 1, ackermann(m, n - 1));
}
static int is_odd(unsigned n);
static int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
static int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }
static long depth_sum(volatile long depth) { return depth == 0 ? 0 : depth + depth_sum(depth - 1); }
static void hanoi(int n, char from, char to, char via, long *moves) {
    if (n == 0) return;
    hanoi(n - 1, from, via, to, moves);
    ++*moves;
    hanoi(n - 1, via, to, from, moves);
}

int main(void) {
    printf("fib(30)=%ld\n", fib(30));
    printf("ackermann(2,300)=%d ackermann(3,6)=%d\n", ackermann(2, 300), ackermann(3, 6));
    printf("is_even(10001)=%d\n", is_even(10001));
    printf("depth_sum(100000)=%ld\n", depth_sum(100000));
    long moves = 0;
    hanoi(20, 'a', 'c', 'b', &moves);
    printf("hanoi(20) moves=%ld\n", moves);
    return 0;
}

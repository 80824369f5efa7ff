/* Guest of benches/swap.rs. */
#include <hyperjit.h>

/* Per-call cost of swappable functions: the same callee, never swapped and
 * swapped (redefined to the same body). External, so not inlined. */
long plain_target(long x) { return x + 1; }
long swapped_target(long x) { return x + 1; }

long loop_plain(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += plain_target(i);
    return sum;
}

long loop_swapped(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += swapped_target(i);
    return sum;
}

/* hj_lookup in a module of 10,000 functions (benches/swap.rs adds them). */
long loop_lookup(long n, const char *name) {
    long found = 0;
    for (long i = 0; i < n; i++) found += hj_lookup(name) != 0;
    return found;
}

/* A function of about 50 lines, for recompile and redefine latency. */
long fifty(long n, const long *data, long len) {
    long sum = 0, product = 1, maximum = 0, minimum = 0;
    long histogram[8] = {0};
    for (long i = 0; i < len; i++) {
        long v = data[i] ^ n;
        sum += v;
        product = (product * (v | 1)) % 1000003;
        if (i == 0 || v > maximum) maximum = v;
        if (i == 0 || v < minimum) minimum = v;
        histogram[v & 7]++;
        switch (v % 5) {
        case 0: sum -= 3; break;
        case 1: sum += product % 17; break;
        case 2: product ^= sum; break;
        case 3: maximum += 1; break;
        default: minimum -= 1; break;
        }
    }
    long spread = maximum - minimum;
    long mode = 0;
    for (int b = 1; b < 8; b++)
        if (histogram[b] > histogram[mode]) mode = b;
    long result = sum;
    for (long k = 0; k < 4; k++) {
        result = result * 31 + spread;
        result ^= product >> (k + 1);
        if (result < 0) result = -result;
        result += histogram[k] * mode;
    }
    while (result > 1000000000L) result /= 3;
    if (mode == 3) result += 7;
    else if (mode == 5) result -= 7;
    return result + len;
}

/* A 50-line function without loops (branches and arithmetic only), beside
 * fifty(), whose loops clang vectorizes: how much of a swap's latency is
 * the code generator's work on vector code. */
long fifty_scalar(long a, long b, long c) {
    long r = a * 3 + b;
    if (r > c) r -= c;
    else r += c * 2;
    long s = (a ^ b) + (b ^ c);
    if (s & 1) s = s * 5 + 1;
    else s = s / 2;
    long t = r + s;
    switch (t & 7) {
    case 0: t += a; break;
    case 1: t -= b; break;
    case 2: t ^= c; break;
    case 3: t *= 3; break;
    case 4: t /= 2; break;
    case 5: t |= 1; break;
    case 6: t &= ~1L; break;
    default: t = -t; break;
    }
    long u = t > 0 ? t : -t;
    if (u > 1000) u %= 1000;
    long v = a > b ? a - b : b - a;
    long w = b > c ? b - c : c - b;
    long x = v > w ? v : w;
    if (x == 0) x = 1;
    long y = (u * 7 + x * 11) % 97;
    if (y < 10) y += a & 15;
    else if (y < 50) y -= b & 15;
    else y ^= c & 15;
    long z = y + u - x;
    if (z < 0) z = -z;
    long q = z / x;
    long m = z % x;
    long k = q * 13 + m * 17;
    if (k & 2) k += r;
    if (k & 4) k -= s;
    if (k & 8) k ^= t;
    long out = k + (a << 2) - (b >> 1) + (c & 255);
    if (out > 1000000) out -= 1000000;
    if (out < -1000000) out += 1000000;
    return out;
}

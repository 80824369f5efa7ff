/* The native baseline: a loop calling an extern function defined in another
 * translation unit (native_target.c), both compiled by clang-19 -O2. */
long native_target(long);

__attribute__((visibility("default"))) long loop_native(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += native_target(i);
    return sum;
}

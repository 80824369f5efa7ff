/* Guest loops for benches/callbacks.rs: each calls one kind of callback
 * n times. The callee adds 1 to its argument. */
#include <hyperjit.h>

long typed_target(long);
long symbol_target(long);
long dynamic_target(long);

long loop_typed(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += typed_target(i);
    return sum;
}

long loop_symbol(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += symbol_target(i);
    return sum;
}

long loop_multiplexed_constant(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += PerformCustomCallback("multiplexed_target", (void *)i);
    return sum;
}

long loop_multiplexed_runtime(long n, const char *name) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += PerformCustomCallback(name, (void *)i);
    return sum;
}

long loop_dynamic(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += dynamic_target(i);
    return sum;
}

/* A second typed callback, its own closure type and so its own trampoline:
 * shows how much of the typed cost is where a trampoline sits. */
long typed_target_again(long);
long loop_typed_again(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += typed_target_again(i);
    return sum;
}

/* Guest loops for benches/callbacks.rs of the C API: each calls a callback
 * registered through include/hyperjit_host.h n times. The callee adds 1 to
 * its argument. */
#include <hyperjit.h>

long c_function(long); /* hj_define_function */
long c_symbol(long);   /* hj_define_symbol */

long loop_function(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += c_function(i);
    return sum;
}

long loop_symbol(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += c_symbol(i);
    return sum;
}

/* hj_register_callback: the seed's registerCustomCallback. */
long loop_callback_constant(long n) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += PerformCustomCallback("c_callback", (void *)i);
    return sum;
}

long loop_callback_runtime(long n, const char *name) {
    long sum = 0;
    for (long i = 0; i < n; i++) sum += PerformCustomCallback(name, (void *)i);
    return sum;
}

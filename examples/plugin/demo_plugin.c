/* The plugin `make demo` loads into `hyperjit run` for examples/demo.c:
 * a typed callback the guest calls by its own name, and a multiplexed one
 * it reaches through PerformCustomCallback, with host state as user data.
 *
 *   cc -shared -fPIC -Iinclude examples/plugin/demo_plugin.c -o libdemo_plugin.so
 *   hyperjit run --plugin ./libdemo_plugin.so examples/demo.c -- 1000000
 */
#include <hyperjit_host.h>
#include <stdio.h>

static void report_best(unsigned long start, unsigned long steps) {
    printf("[plugin] host callback report_best: the chain from %lu takes %lu steps\n", start,
           steps);
}

struct tally {
    const char *unit;
};

static intptr_t Tally(void *args, void *user_data) {
    const unsigned long *total = args;
    const struct tally *tally = user_data;
    printf("[plugin] host callback Tally: %lu %s\n", *total, tally->unit);
    return (intptr_t)*total;
}

int hyperjit_plugin_init(hj_engine *engine) {
    static struct tally tally = {"steps"};
    const hj_type params[] = {HJ_I64, HJ_I64};
    if (hj_define_function(engine, "report_best", (void *)report_best, HJ_VOID, params, 2) != 0)
        return 1;
    return hj_register_callback(engine, "Tally", Tally, &tally);
}

/* A plugin for `hyperjit run --plugin`: the proposal's scenario, where the
 * runner registers callbacks and the program it runs calls them. It
 * defines what examples/c_host/test.c calls: Callback1 through
 * PerformCustomCallback (with user data: a call counter) and Callback2 by
 * its own typed name. From the repository's root:
 *
 *   cc -shared -fPIC -Iinclude examples/plugin/callbacks.c -o libcallbacks.so
 *   hyperjit run --plugin ./libcallbacks.so examples/c_host/test.c
 *
 * The hj_* functions resolve against the hyperjit binary, which exports
 * them; the plugin links nothing. */
#include <hyperjit_host.h>
#include <stdio.h>

struct arg {
    int arg1;
    int arg2;
};

static int calls;

static intptr_t Callback1(void *args, void *user_data) {
    const struct arg *arg = args;
    int *count = user_data;
    ++*count;
    if (arg == NULL) {
        hj_trap("Callback1 needs its arguments");
        return 0;
    }
    printf("plugin: Callback1(%d, %d), call %d\n", arg->arg1, arg->arg2, *count);
    return arg->arg1 + arg->arg2;
}

static int Callback2(int a, int b) { return a * 100 + b; }

int hyperjit_plugin_init(hj_engine *engine) {
    const hj_type params[] = {HJ_I32, HJ_I32};
    if (hj_register_callback(engine, "Callback1", Callback1, &calls) != 0) return 1;
    if (hj_define_function(engine, "Callback2", (void *)Callback2, HJ_I32, params, 2) != 0)
        return 1;
    return 0;
}

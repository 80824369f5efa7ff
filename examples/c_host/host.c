/* A C host embedding hyperjit: it registers the proposal's Callback1 (the
 * seed's registerCustomCallback, with user data) and a typed Callback2,
 * then runs the guest (test.c by default). Build and run from the
 * repository's root:
 *
 *   cargo build --release -p hyperjit-capi
 *   cc examples/c_host/host.c -Iinclude -Ltarget/release -lhyperjit_capi \
 *      -Wl,-rpath,"$PWD/target/release" -o c_host
 *   ./c_host examples/c_host/test.c
 */
#include <hyperjit_host.h>
#include <stdio.h>

struct arg {
    int arg1;
    int arg2;
};

/* PerformCustomCallback("Callback1", &arg) lands here, with the host's
 * user data (a call counter). */
static intptr_t Callback1(void *args, void *user_data) {
    const struct arg *arg = args;
    int *calls = user_data;
    ++*calls;
    if (arg == NULL) {
        hj_trap("Callback1 needs its arguments");
        return 0;
    }
    printf("host: Callback1(%d, %d)\n", arg->arg1, arg->arg2);
    return arg->arg1 + arg->arg2;
}

/* Called directly by the guest's Callback2(3, 4): a native call. */
static int Callback2(int a, int b) { return a * 100 + b; }

static int fail(hj_engine *engine, const char *what) {
    fprintf(stderr, "host: %s: %s\n", what, hj_engine_last_error(engine));
    hj_engine_free(engine);
    return 125;
}

int main(int argc, char **argv) {
    const char *guest = argc > 1 ? argv[1] : "examples/c_host/test.c";
    hj_engine *engine = hj_engine_new();
    int calls = 0;
    const hj_type params[] = {HJ_I32, HJ_I32};

    if (hj_engine_set_opt_level(engine, 2) != 0) return fail(engine, "settings");
    if (hj_register_callback(engine, "Callback1", Callback1, &calls) != 0)
        return fail(engine, "registering Callback1");
    if (hj_define_function(engine, "Callback2", (void *)Callback2, HJ_I32, params, 2) != 0)
        return fail(engine, "defining Callback2");
    if (hj_engine_add_file(engine, guest) != 0) return fail(engine, "adding the guest");

    const char *guest_argv[] = {guest};
    int status = 0;
    if (hj_engine_run_main(engine, 1, guest_argv, &status) != 0)
        return fail(engine, "running the guest");
    printf("host: the guest exited with %d after %d call(s) of Callback1\n", status, calls);
    hj_engine_free(engine);
    return status;
}

/* A C host calling guest code safely: hj_engine_call returns a trap, the
 * guest's exit() and a fault as status codes, and the host goes on. A
 * pointer from hj_engine_lookup is called directly: nothing can stop the
 * guest there, so hj_trap refuses (-1) and the callback must fail by its
 * result. Build and run from the repository's root:
 *
 *   cargo build --release -p hyperjit-capi
 *   cc examples/c_host/safe_call.c -Iinclude -Ltarget/release -lhyperjit_capi \
 *      -Wl,-rpath,"$PWD/target/release" -o safe_call
 *   ./safe_call
 */
#include <hyperjit_host.h>
#include <stdio.h>

static const char guest[] =
    "declare i64 @PerformCustomCallback(ptr, ptr)\n"
    "declare void @exit(i32)\n"
    "@check = private constant [6 x i8] c\"Check\\00\"\n"
    "define i32 @checked(i32 %n) {\n"
    "  %r = call i64 @PerformCustomCallback(ptr @check, ptr null)\n"
    "  %t = trunc i64 %r to i32\n"
    "  %s = add i32 %t, %n\n"
    "  ret i32 %s\n"
    "}\n"
    "define i32 @leave(i32 %status) {\n"
    "  call void @exit(i32 %status)\n"
    "  ret i32 0\n"
    "}\n"
    "define i32 @crash(ptr %p) noinline {\n"
    "  store volatile i32 1, ptr %p\n"
    "  ret i32 0\n"
    "}\n"
    "define double @scale(double %x, i8 %by) {\n"
    "  %b = sitofp i8 %by to double\n"
    "  %r = fmul double %x, %b\n"
    "  ret double %r\n"
    "}\n";

/* Refuses: asks for a trap, and says by its result whether it was heard. */
static intptr_t Check(void *args, void *user_data) {
    (void)args;
    int *refused = user_data;
    *refused = hj_trap("checked refuses");
    return 1000;
}

static const char *status_name(int status) {
    switch (status) {
    case HJ_OK: return "HJ_OK";
    case HJ_ERROR: return "HJ_ERROR";
    case HJ_TRAP: return "HJ_TRAP";
    case HJ_GUEST_EXIT: return "HJ_GUEST_EXIT";
    case HJ_GUEST_FAULT: return "HJ_GUEST_FAULT";
    default: return "another status";
    }
}

static void report(hj_engine *engine, const char *call, int status, hj_value result) {
    printf("%s: %s", call, status_name(status));
    if (status == HJ_OK || status == HJ_GUEST_EXIT)
        printf(" %lld", (long long)result.i);
    if (status != HJ_OK)
        printf(" (%s)", hj_engine_last_error(engine));
    printf("\n");
}

int main(void) {
    hj_engine *engine = hj_engine_new();
    int refused = 0;
    if (hj_engine_set_fault_reports(engine, 1) != 0 ||
        hj_register_callback(engine, "Check", Check, &refused) != 0 ||
        hj_engine_add_ir(engine, "guest.ll", guest) != 0) {
        fprintf(stderr, "host: %s\n", hj_engine_last_error(engine));
        return 125;
    }
    hj_value args[2] = {{.i = 2}}, result = {.i = -1};

    report(engine, "checked", hj_engine_call(engine, "checked", args, 1, &result), result);
    args[0].i = 7;
    report(engine, "leave", hj_engine_call(engine, "leave", args, 1, &result), result);
    args[0].p = NULL;
    report(engine, "crash", hj_engine_call(engine, "crash", args, 1, &result), result);
    args[0].f = 1.5;
    args[1].i = -4;
    int status = hj_engine_call(engine, "scale", args, 2, &result);
    printf("scale: %s %g\n", status_name(status), result.f);
    report(engine, "arity", hj_engine_call(engine, "scale", args, 1, &result), result);
    report(engine, "unknown", hj_engine_call(engine, "nothing", args, 0, &result), result);
    printf("last error after a success: %s\n",
           hj_engine_lookup(engine, "checked") && !hj_engine_last_error(engine) ? "none" : "kept");

    /* Typed lookup: checked against the signature the host expects. */
    const hj_type int_param[] = {HJ_I32};
    int (*checked)(int) =
        (int (*)(int))hj_engine_lookup_function(engine, "checked", HJ_I32, int_param, 1);
    const hj_type wrong[] = {HJ_I64};
    if (!hj_engine_lookup_function(engine, "checked", HJ_I32, wrong, 1))
        printf("wrong type: %s\n", hj_engine_last_error(engine));
    if (checked) {
        int direct = checked(2);
        printf("direct: %d, hj_trap returned %d\n", direct, refused);
    }
    hj_engine_free(engine);
    printf("host: still here\n");
    return 3;
}

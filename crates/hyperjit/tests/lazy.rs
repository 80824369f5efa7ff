//! Lazy compilation (`EngineBuilder::lazy`): each function is compiled on
//! its first call, and only then; everything a program may do with a
//! function before that call works as with eager compilation.

mod support;

use hyperjit::{Engine, Error};
use support::*;

fn lazy_engine() -> Engine {
    Engine::builder().lazy(true).build().expect("a lazy engine")
}

fn compiled(engine: &Engine) -> (usize, usize) {
    let stats = engine.stats();
    (
        stats.functions_compiled_lazily,
        stats.functions_not_compiled,
    )
}

/// Functions compile on their first call, once, and never if not called;
/// a pointer taken before the first call (in a global table and by the
/// host) is the function's address for good; recursion and static
/// constructors work.
#[test]
fn functions_compile_on_their_first_call_only() {
    let engine = lazy_engine();
    let _dir = add_source(
        &engine,
        "lazy.c",
        r#"
static int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
int square(int x) { return x * x; }
int never_called(int x) { return x - 1; }
int (*table[])(int) = { fib, square };
static volatile int ready; // volatile: clang would fold the constructor away
__attribute__((constructor)) static void init(void) { ready = 7; }
__attribute__((noinline)) int via_table(int i, int x) { return table[i](x); }
int main(int argc, char **argv) {
    (void)argv;
    return via_table(0, 10) + via_table(1, argc + 1) + ready;
}
"#,
    );
    let before_run = engine.lookup("square").unwrap();
    let (none, waiting) = compiled(&engine);
    assert_eq!(none, 0, "nothing runs before the first call");
    // fib(10) = 55, square(3) = 9, ready = 7
    assert_eq!(engine.run_main(&["lazy", "x"]).unwrap(), 71);
    let (after_run, still_waiting) = compiled(&engine);
    // init, main, via_table, fib, square
    assert_eq!(after_run, 5);
    assert_eq!(waiting - still_waiting, 5);
    // Bodies are read from the bitcode when compiled: never_called's was
    // never read (the others waiting are the engine's glue, built in
    // memory).
    assert_eq!(engine.stats().functions_not_read, 1);
    assert_eq!(engine.lookup("square").unwrap(), before_run);
    // The stub (the function's address) now jumps to the body, which has
    // no patchable entry of its own: it is laid out as compiled.
    let body = engine.lookup("square.hj.first").unwrap();
    // SAFETY: both are JIT'd code of at least five bytes, alive with the
    // engine.
    let (stub_code, body_code) = unsafe {
        (
            std::slice::from_raw_parts(before_run as *const u8, 5),
            std::slice::from_raw_parts(body as *const u8, 5),
        )
    };
    assert_eq!(stub_code[0], 0xe9, "a jmp rel32: {stub_code:02x?}");
    let patchable_nop = [0x0f, 0x1f, 0x44, 0x00, 0x00];
    assert_ne!(body_code, patchable_nop);

    // A second run compiles nothing more.
    assert_eq!(engine.run_main(&["lazy", "x"]).unwrap(), 71);
    assert_eq!(compiled(&engine), (5, still_waiting));

    // The host calls one that was never called: compiled now, once.
    let never = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("never_called")
        .unwrap();
    assert_eq!(never.call(10).unwrap(), 9);
    assert_eq!(never.call(1).unwrap(), 0);
    assert_eq!(engine.stats().functions_not_read, 0);
    assert_eq!(compiled(&engine), (6, still_waiting - 1));
}

/// Computed goto works when bodies are read from the bitcode on their
/// first call: a label table in a global, and label addresses kept in
/// locals.
#[test]
fn computed_goto_works_with_bodies_read_on_first_call() {
    let engine = lazy_engine();
    let _dir = add_source(
        &engine,
        "goto.c",
        r#"
__attribute__((noinline)) int dispatch(const unsigned char *code) {
    static void *ops[] = { &&inc, &&dbl, &&end };
    int acc = 1;
    goto *ops[*code++];
inc: acc += 1; goto *ops[*code++];
dbl: acc += acc; goto *ops[*code++];
end: return acc;
}
__attribute__((noinline)) int local_labels(int n) {
    void *next = n > 2 ? &&big : &&small;
    goto *next;
big: return n * 10;
small: return n;
}
int never_called(int x) { return x + 1; }
int main(void) {
    static const unsigned char program[] = { 0, 1, 1, 0, 2 };
    return dispatch(program) * 100 + local_labels(5) + local_labels(1);
}
"#,
    );
    assert_eq!(engine.run_main(&["goto"]).unwrap(), 900 + 50 + 1);
    assert_eq!(compiled(&engine).0, 3);
    assert_eq!(engine.stats().functions_not_read, 1, "never_called");
}

/// Typed callbacks, computed goto and variadic functions behave as when
/// compiled eagerly.
#[test]
fn callbacks_computed_goto_and_varargs_work_lazily() {
    let engine = lazy_engine();
    engine
        .define("host_add", |a: i32, b: i32| -> i32 { a + b })
        .unwrap();
    let _dir = add_source(
        &engine,
        "kinds.c",
        r#"
#include <stdarg.h>
int host_add(int, int);
__attribute__((noinline)) int dispatch(const unsigned char *code) {
    static void *ops[] = { &&inc, &&dbl, &&end };
    int acc = 1;
    goto *ops[*code++];
inc: acc = host_add(acc, 1); goto *ops[*code++];
dbl: acc = host_add(acc, acc); goto *ops[*code++];
end: return acc;
}
__attribute__((noinline)) int sum(int n, ...) {
    va_list ap;
    va_start(ap, n);
    int total = 0;
    for (int i = 0; i < n; i++) total += va_arg(ap, int);
    va_end(ap);
    return total;
}
__attribute__((noinline)) double mix(int n, ...) {
    va_list ap;
    va_start(ap, n);
    double total = 0;
    for (int i = 0; i < n; i++) total += va_arg(ap, double);
    va_end(ap);
    return total;
}
int main(void) {
    static const unsigned char program[] = { 0, 1, 1, 0, 2 };
    int goto_result = dispatch(program);            /* ((1+1)*2*2)+1 = 9 */
    int va = sum(4, 1, 2, 3, 4);                    /* 10 */
    double d = mix(3, 0.5, 0.25, 1.25);             /* 2.0 */
    return goto_result * 100 + va + (int)(d * 1000);
}
"#,
    );
    assert_eq!(engine.run_main(&["kinds"]).unwrap(), 900 + 10 + 2000);
    // main, dispatch (its label table moved with it), sum, mix
    assert_eq!(compiled(&engine).0, 4);
}

/// Hypercalls and the host's swaps reach functions that were never called:
/// hj_lookup gives the address calls go through, hj_recompile and
/// hj_redefine work on them, and the first call after a redefinition runs
/// the new body.
#[test]
fn swaps_and_lookups_of_functions_not_compiled_yet() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = write(
        dir.path(),
        "v2.c",
        "int target(int x) { return x * 1000; }\n",
    );
    let engine = lazy_engine();
    let source = format!(
        r#"
#include <hyperjit.h>
__attribute__((noinline)) int target(int x) {{ return x + 1; }}
__attribute__((noinline)) int other(int x) {{ return x + 2; }}
int main(void) {{
    int (*f)(int) = (int (*)(int))hj_lookup("target");
    if (!f || f != target) return 1;
    if (hj_recompile("other", 3) != 0) return 2;
    if (other(1) != 3) return 3;
    if (hj_redefine("target", "{}") != 0) return 4;
    if (target(2) != 2000 || f(3) != 3000) return 5;
    return 0;
}}
"#,
        v2.display()
    );
    let _guest = add_source(&engine, "swaps.c", &source);
    assert_eq!(engine.run_main(&["swaps"]).unwrap(), 0);

    // The host recompiles a function no one called.
    let engine = lazy_engine();
    let _guest = add_source(
        &engine,
        "host.c",
        "int cube(int x) { return x * x * x; }\nint main(void) { return 0; }\n",
    );
    engine.recompile("cube", 1).unwrap();
    let cube = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("cube")
        .unwrap();
    assert_eq!(cube.call(3).unwrap(), 27);
    match engine.recompile("no_such_function", 1) {
        Err(Error::UnknownSymbol { name }) => assert_eq!(name, "no_such_function"),
        other => panic!("expected an unknown symbol, got {other:?}"),
    }
}

/// Eight threads call the same uncompiled function at once: it is compiled
/// once, and every thread gets the right result.
#[test]
fn threads_calling_an_uncompiled_function_at_once_compile_it_once() {
    let engine = lazy_engine();
    let _dir = add_source(
        &engine,
        "threads.c",
        r#"
#include <pthread.h>
#define THREADS 8
static pthread_barrier_t start;
static long results[THREADS];
__attribute__((noinline)) long work(long seed) {
    long acc = seed;
    for (int i = 0; i < 1000; i++) acc = acc * 31 + i;
    return acc;
}
static void *run(void *arg) {
    long i = (long)arg;
    pthread_barrier_wait(&start);
    results[i] = work(i);
    return 0;
}
int main(void) {
    pthread_t threads[THREADS];
    pthread_barrier_init(&start, 0, THREADS);
    for (long i = 0; i < THREADS; i++) pthread_create(&threads[i], 0, run, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], 0);
    for (long i = 0; i < THREADS; i++) {
        long acc = i;
        for (int k = 0; k < 1000; k++) acc = acc * 31 + k;
        if (results[i] != acc) return 1 + (int)i;
    }
    return 0;
}
"#,
    );
    assert_eq!(engine.run_main(&["threads"]).unwrap(), 0);
    // main, run, work: each once, however many threads raced.
    assert_eq!(compiled(&engine).0, 3);
}

/// With tiering, a hot function is recompiled in the background and
/// swapped in while the program runs; results stay right throughout.
#[test]
fn tiering_swaps_hot_functions_in_while_the_program_runs() {
    let engine = Engine::builder()
        .tier_threshold(50)
        .build()
        .expect("a tiered engine");
    let _dir = add_source(
        &engine,
        "hot.c",
        r#"
__attribute__((noinline)) long hot(long x) { return x * 3 + 1; }
__attribute__((noinline)) long cold(long x) { return x - 1; }
static int cold_calls;
long check(long rounds) {
    long acc = 0;
    for (long i = 0; i < rounds; i++) {
        long expected = i * 3 + 1;
        if (hot(i) != expected) return -1;
        acc += expected;
    }
    /* Called the first few times only: it stays below the threshold. */
    return cold_calls++ < 10 ? acc + cold(1) : acc;
}
"#,
    );
    let check = engine
        .lookup_fn::<extern "C" fn(i64) -> i64>("check")
        .unwrap();
    let expected = |rounds: i64| (0..rounds).map(|i| i * 3 + 1).sum::<i64>();
    // The background thread swaps `hot` in at some point; keep calling
    // (every result checked) until it has.
    work_until_tiered_up(&engine, "hot", 1, || {
        assert_eq!(check.call(1000).unwrap(), expected(1000));
    });
    let tiered = engine.stats().tier_ups;
    let hot = tiered
        .iter()
        .find(|t| t.function == "hot")
        .expect("hot was tiered up");
    let count = hot.count.expect("a tier-up the counter found");
    assert!(count >= 50, "tiered up after {count} calls");
    assert!(tiered.iter().all(|t| t.function != "cold"), "{tiered:?}");
    // Small and looping: compiled at the engine's level at once, so there
    // is nothing to tier up.
    assert!(tiered.iter().all(|t| t.function != "check"), "{tiered:?}");
    assert_eq!(check.call(1000).unwrap(), expected(1000));
}

/// With tiering, a redefinition or recompilation goes live at once (at the
/// baseline) and its optimized body follows from the background.
#[test]
fn tiered_swaps_go_live_at_once_and_are_optimized_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = write(
        dir.path(),
        "v2.ll",
        "define i64 @scale(i64 %x) {\n  %r = mul i64 %x, 1000\n  ret i64 %r\n}\n",
    );
    let engine = Engine::builder()
        .tier_threshold(1_000_000_000)
        .build()
        .expect("a tiered engine");
    let _source = add_source(
        &engine,
        "swapped.c",
        "__attribute__((noinline)) long scale(long x) { return x * 10; }\n",
    );
    let scale = engine
        .lookup_fn::<extern "C" fn(i64) -> i64>("scale")
        .unwrap();
    assert_eq!(scale.call(2).unwrap(), 20);
    engine.redefine("scale", &v2).unwrap();
    assert_eq!(scale.call(2).unwrap(), 2000, "live at once");
    // No call count comes near the threshold: the background compiles it
    // because it was swapped.
    work_until_tiered_up(&engine, "scale", 1, || {
        assert_eq!(scale.call(3).unwrap(), 3000);
    });
    assert_eq!(tier_ups_of(&engine, "scale"), 1);
    // Asked for, not counted: no count (it showed as u64::MAX).
    let stats = engine.stats();
    assert_eq!(stats.tier_ups[0].count, None);
    let table = stats.to_string();
    let row = table
        .lines()
        .find(|line| line.starts_with("scale "))
        .unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("requested"), "{table}");
    engine.recompile("scale", 3).unwrap();
    assert_eq!(scale.call(4).unwrap(), 4000);
    work_until_tiered_up(&engine, "scale", 2, || {
        assert_eq!(scale.call(5).unwrap(), 5000);
    });
    assert_eq!(tier_ups_of(&engine, "scale"), 2);
    // Two swaps in a row, the second from the body the first kept in
    // memory: the optimized body follows the last.
    engine.recompile("scale", 1).unwrap();
    engine.recompile("scale", 2).unwrap();
    assert_eq!(scale.call(6).unwrap(), 6000);
    let tier_ups = work_until_tiered_up(&engine, "scale", 3, || {
        assert_eq!(scale.call(7).unwrap(), 7000);
    });
    assert!(tier_ups >= 3, "{tier_ups} tier-ups");
}

//! Recompiling and redefining functions while the program runs: every later
//! call runs the new code — direct calls, function pointers taken earlier,
//! the host — and failures name what they are about.

mod support;

use support::*;

use hyperjit::{Caller, Engine, Error, Trap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

const PROGRAM: &str = r#"
static int helper_calls;
static int helper(int x) { helper_calls++; return x + 1000; }
int step(int x) { return helper(x) * 2; }
int (*saved_step)(int) = step;
int call_direct(int x) { return step(x); }
int call_saved(int x) { return saved_step(x); }
int helper_count(void) { return helper_calls; }
int main(void) { return 0; }
"#;

fn engine_with_program(dir: &Path) -> Engine {
    let engine = engine();
    engine.add_file(write(dir, "program.c", PROGRAM)).unwrap();
    engine.run_main(&["program"]).unwrap();
    engine
}

fn call(engine: &Engine, name: &str, x: i32) -> i32 {
    let function = engine.lookup_fn::<extern "C" fn(i32) -> i32>(name);
    function.unwrap().call(x).unwrap()
}

#[test]
fn redefine_changes_every_later_call() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_program(dir.path());
    let step_before = engine.lookup("step").unwrap();
    assert_eq!(call(&engine, "call_direct", 1), 2002);
    assert_eq!(call(&engine, "call_saved", 1), 2002);

    let v2 = write(
        dir.path(),
        "step_v2.c",
        "int step(int x) { return x * 3; }\n",
    );
    engine.redefine("step", &v2).unwrap();
    assert_eq!(
        call(&engine, "call_direct", 5),
        15,
        "a direct call from JIT'd code"
    );
    assert_eq!(
        call(&engine, "call_saved", 5),
        15,
        "a function pointer taken before"
    );
    assert_eq!(call(&engine, "step", 5), 15, "a call from the host");
    assert_eq!(
        engine.lookup("step").unwrap(),
        step_before,
        "step keeps its address"
    );

    // A new body can itself be redefined, from IR this time.
    let v3 = write(
        dir.path(),
        "step_v3.ll",
        "define i32 @step(i32 %x) {\n  %r = sub i32 %x, 1\n  ret i32 %r\n}\n",
    );
    engine.redefine("step", &v3).unwrap();
    assert_eq!(call(&engine, "call_saved", 5), 4);
}

#[test]
fn recompile_keeps_behaviour_and_static_helpers() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_program(dir.path());
    assert_eq!(call(&engine, "call_direct", 1), 2002);
    for level in [0, 3, 1, 2] {
        engine.recompile("step", level).unwrap();
        assert_eq!(call(&engine, "call_saved", 7), 2014, "at -O{level}");
    }
    // The recompiled step still calls the program's one static helper.
    let helper_count = engine.lookup_fn::<extern "C" fn() -> i32>("helper_count");
    assert_eq!(helper_count.unwrap().call(()).unwrap(), 5);
    // Recompiling a redefined function recompiles the new body.
    let v2 = write(
        dir.path(),
        "step_v2.c",
        "int step(int x) { return x - 7; }\n",
    );
    engine.redefine("step", &v2).unwrap();
    engine.recompile("step", 3).unwrap();
    assert_eq!(call(&engine, "call_direct", 10), 3);
}

#[test]
fn failures_name_the_function_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_program(dir.path());
    let error = engine.recompile("no_such_function", 2).unwrap_err();
    assert_eq!(error.to_string(), "unknown symbol 'no_such_function'");
    let error = engine.recompile("step", 9).unwrap_err();
    assert!(error.to_string().contains("opt level 9"), "{error}");

    let wrong = write(
        dir.path(),
        "wrong.c",
        "long step(long x, long y) { return x + y; }\n",
    );
    let error = engine.redefine("step", &wrong).unwrap_err();
    assert!(
        matches!(error, Error::RedefineSignature { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{}: 'step' has type i64 (i64, i64) there, but the running program's 'step' has type i32 (i32)",
            wrong.display()
        )
    );
    let broken = write(
        dir.path(),
        "broken.ll",
        "define i32 @step(i32 %x) {\n  ret i32 %y\n}\n",
    );
    let error = engine.redefine("step", &broken).unwrap_err();
    assert!(error.to_string().contains("broken.ll:2:"), "{error}");
    let other = write(dir.path(), "other.c", "int not_step(int x) { return x; }\n");
    let error = engine.redefine("step", &other).unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("other.c: does not define 'step'"),
        "{error}"
    );
    let error = engine
        .redefine("step", dir.path().join("missing.c"))
        .unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    // Nothing of that changed the running program.
    assert_eq!(call(&engine, "call_saved", 1), 2002);
}

/// The guest redefines its own step() mid-run and recompiles it, through
/// the hypercalls of include/hyperjit.h.
#[test]
fn the_guest_redefines_its_own_function() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = write(
        dir.path(),
        "step_v2.c",
        "int step(int x) { return x + 100; }\n",
    );
    let guest = write(
        dir.path(),
        "guest.c",
        format!(
            r#"#include <hyperjit.h>
#include <string.h>
int step(int x) {{ return x + 1; }}
int main(void) {{
    int total = 0;
    for (int i = 0; i < 6; i++) {{
        if (i == 3 && hj_redefine("step", "{v2}") != 0) return 1;
        total += step(0);
    }}
    if (hj_recompile("step", 3) != 0) return 2;
    if (step(1) != 101) return 3;
    if (hj_recompile("nope", 2) != -1 || !strstr(hj_last_error(), "unknown symbol 'nope'")) return 4;
    if (hj_redefine("step", "{missing}") != -1 || !strstr(hj_last_error(), "missing.c")) return 5;
    return total; /* 3 * 1 + 3 * 100 */
}}
"#,
            v2 = v2.display(),
            missing = dir.path().join("missing.c").display()
        ),
    );
    let engine = engine();
    engine.add_file(&guest).unwrap();
    assert_eq!(engine.run_main(&["guest"]).unwrap(), 303);
}

/// A callback recompiles and redefines the very function that called it;
/// the new code applies from the next call on.
#[test]
fn a_callback_swaps_the_function_that_called_it() {
    let dir = tempfile::tempdir().unwrap();
    let v2 = write(
        dir.path(),
        "tick_v2.ll",
        "define i32 @tick(i32 %x) {\n  %r = mul i32 %x, 10\n  ret i32 %r\n}\n",
    );
    let engine = engine();
    engine
        .define(
            "swap_me",
            move |caller: &Caller<'_>, round: i32| -> Result<(), Trap> {
                let result = if round == 0 {
                    caller.recompile("tick", 3)
                } else {
                    caller.redefine("tick", &v2)
                };
                result.map_err(|e| Trap::new(e.to_string()))
            },
        )
        .unwrap();
    engine
        .add_ir(
            "ticks.ll",
            r#"declare void @swap_me(i32)
define i32 @tick(i32 %x) {
  call void @swap_me(i32 %x)
  %r = add i32 %x, 1
  ret i32 %r
}
define i32 @main() {
  %a = call i32 @tick(i32 0)   ; recompiles itself: 1
  %b = call i32 @tick(i32 1)   ; the recompiled body redefines itself: 2
  %c = call i32 @tick(i32 4)   ; the new body: 40
  %ab = add i32 %a, %b
  %r = add i32 %ab, %c
  ret i32 %r
}
"#,
        )
        .unwrap();
    assert_eq!(engine.run_main(&["ticks"]).unwrap(), 43);
}

/// Two threads call a function in a loop while the host redefines it 1,000
/// times: every call returns the old or the new version's value.
#[test]
fn swaps_are_atomic_for_other_threads() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Arc::new(engine());
    engine
        .add_ir("value.ll", "define i64 @value() {\n  ret i64 1\n}\n")
        .unwrap();
    let versions: Vec<PathBuf> = (0..2)
        .map(|v| {
            write(
                dir.path(),
                &format!("value_{v}.ll"),
                format!("define i64 @value() {{\n  ret i64 {}\n}}\n", v + 1),
            )
        })
        .collect();
    let value = engine.lookup_fn::<extern "C" fn() -> i64>("value").unwrap();
    // SAFETY: called only while the engine lives, and `value` cannot trap.
    let value = unsafe { value.as_raw() };
    let stop = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, calls) = (Arc::clone(&stop), Arc::clone(&calls));
            std::thread::spawn(move || {
                let mut seen = [0u64; 3];
                while !stop.load(Ordering::Relaxed) {
                    let v = value();
                    assert!(v == 1 || v == 2, "a call returned {v}");
                    seen[v as usize] += 1;
                }
                calls.fetch_add(seen[1] + seen[2], Ordering::Relaxed);
                seen
            })
        })
        .collect();
    for i in 0..1000 {
        engine.redefine("value", &versions[i % 2]).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for caller in callers {
        let seen = caller.join().expect("caller thread");
        total += seen[1] + seen[2];
    }
    assert_eq!(total, calls.load(Ordering::Relaxed));
    assert!(total > 0);
}

#[test]
fn typed_lookup_checks_the_type() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_program(dir.path());
    let step = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("step")
        .unwrap();
    assert_eq!(step.call(1).unwrap(), 2002);
    let error = engine
        .lookup_fn::<extern "C" fn(i64) -> i64>("step")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "'step' has type i32 (i32), not the requested i64 (i64)"
    );
    let error = engine
        .lookup_fn::<extern "C" fn() -> i32>("saved_step")
        .unwrap_err();
    assert!(matches!(error, Error::LookupSignature { .. }), "{error:?}");
    engine.define("host_twice", |x: i64| x * 2).unwrap();
    let twice = engine
        .lookup_fn::<extern "C" fn(i64) -> i64>("host_twice")
        .unwrap();
    assert_eq!(twice.call(21).unwrap(), 42);
    // Redefined later, the same handle runs the new body.
    let v2 = write(dir.path(), "step_v2.c", "int step(int x) { return -x; }\n");
    engine.redefine("step", &v2).unwrap();
    assert_eq!(step.call(5).unwrap(), -5);
}

/// `reclaim` frees the bodies a function no longer runs — those a swap
/// compiled alone — and gives their memory back; the current body, every
/// pointer to the function and definitions that came with a redefining file
/// stay.
#[test]
fn reclaim_frees_the_bodies_a_function_no_longer_runs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_program(dir.path());
    let step = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("step")
        .unwrap();
    for i in 0..40 {
        let body = write(
            dir.path(),
            &format!("step_{i}.ll"),
            format!("define i32 @step(i32 %x) {{\n  %r = add i32 %x, {i}\n  ret i32 %r\n}}\n"),
        );
        engine.redefine("step", &body).unwrap();
    }
    for _ in 0..10 {
        engine.recompile("step", 2).unwrap();
    }
    assert_eq!(step.call(1).unwrap(), 40);
    let with_helper = write(
        dir.path(),
        "step_helper.c",
        "static int twice(int x) { return 2 * x; }\n\
         int step(int x) { return twice(x); }\n\
         int extra(int x) { return twice(x) + 1; }\n",
    );
    engine.redefine("step", &with_helper).unwrap();
    let last = write(
        dir.path(),
        "step_last.c",
        "int step(int x) { return x - 100; }\n",
    );
    engine.redefine("step", &last).unwrap();

    // SAFETY (for each reclaim below): this thread is the only one, and it
    // is not inside any body of step.
    let reclaim = |function: &str| unsafe { engine.reclaim(function) };
    let before = engine.stats().jit_memory;
    // 40 redefinitions and 10 recompilations were replaced; the program's
    // own body and the one that came with `extra` stay.
    assert_eq!(reclaim("step").unwrap(), 50);
    let after = engine.stats().jit_memory;
    assert!(
        before - after >= 50 * 4096,
        "at least a page each: {before} -> {after} bytes"
    );
    assert_eq!(step.call(1).unwrap(), -99);
    assert_eq!(call(&engine, "call_direct", 1), -99);
    assert_eq!(call(&engine, "call_saved", 1), -99);
    assert_eq!(call(&engine, "extra", 4), 9);
    assert_eq!(reclaim("step").unwrap(), 0);
    // The current body is still there to recompile and swap.
    engine.recompile("step", 1).unwrap();
    assert_eq!(step.call(2).unwrap(), -98);
    assert_eq!(reclaim("step").unwrap(), 1);
    assert_eq!(step.call(3).unwrap(), -97);
    assert!(matches!(
        reclaim("no_such_function"),
        Err(Error::UnknownSymbol { .. })
    ));
}

/// A function with an alias, and one calling through an alias, recompile
/// and redefine like any other; calls through the alias reach the new body.
#[test]
fn aliased_functions_recompile_and_redefine() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let program = write(
        dir.path(),
        "aliased.c",
        "int real_f(int x) { return x + 1; }\n\
         int alias_f(int) __attribute__((alias(\"real_f\")));\n\
         int g(int x) { return alias_f(x) * 2; }\n",
    );
    engine.add_file(&program).unwrap();
    engine.recompile("g", 3).unwrap();
    engine.recompile("real_f", 1).unwrap();
    assert_eq!(call(&engine, "g", 1), 4);
    let v2 = write(
        dir.path(),
        "real_f_v2.c",
        "int real_f(int x) { return x + 10; }\n",
    );
    engine.redefine("real_f", &v2).unwrap();
    assert_eq!(call(&engine, "alias_f", 1), 11);
    assert_eq!(call(&engine, "g", 1), 22);
    engine.recompile("real_f", 2).unwrap();
    assert_eq!(call(&engine, "real_f", 1), 11);
}

/// Computed goto: a function whose labels sit in a constant table (its own
/// static) recompiles with a table of its new labels; one that stores its
/// labels' addresses in memory is refused, since the old addresses would
/// outlive the old body there.
#[test]
fn computed_goto_recompiles_or_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let program = write(
        dir.path(),
        "goto.c",
        r#"int interpret(const unsigned char *code) {
    static void *const dispatch[] = {&&op_halt, &&op_inc, &&op_dbl};
    int acc = 1, pc = 0;
    goto *dispatch[code[pc++]];
op_inc: acc += 1; goto *dispatch[code[pc++]];
op_dbl: acc *= 2; goto *dispatch[code[pc++]];
op_halt: return acc;
}
int run(int n) {
    unsigned char code[16];
    int i = 0;
    for (; i < n && i < 15; i++) code[i] = 1 + (i & 1);
    code[i] = 0;
    return interpret(code);
}
void *labels[2];
int remember(int n) {
    if (!labels[0]) { labels[0] = &&small; labels[1] = &&big; }
    goto *labels[n > 10];
small: return n;
big: return -n;
}
"#,
    );
    engine.add_file(&program).unwrap();
    assert_eq!(call(&engine, "run", 5), 11);
    engine.recompile("interpret", 3).unwrap();
    engine.recompile("run", 1).unwrap();
    assert_eq!(call(&engine, "run", 5), 11);
    assert_eq!(call(&engine, "run", 6), 22);

    assert_eq!(call(&engine, "remember", 20), -20);
    let error = engine.recompile("remember", 2).unwrap_err();
    assert!(
        error.to_string().contains(
            "'remember' cannot be recompiled: the addresses of its labels are stored to memory"
        ),
        "{error}"
    );
    assert_eq!(call(&engine, "remember", 3), 3, "the old body still runs");
}

/// `ir` (IR text) as bitcode, by llvm-as-19.
fn bitcode_of(ir: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "module.ll", ir);
    let output = std::process::Command::new("llvm-as-19")
        .arg(&text)
        .arg("-o")
        .arg("-")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A runtime that generates code adds, loads and swaps it from memory, as
/// IR text or bitcode, on the engine and from inside a callback; messages
/// name what it called the code.
#[test]
fn code_in_memory_is_added_loaded_and_swapped_without_files() {
    let square = "define i32 @square(i32 %x) {\n  %y = mul i32 %x, %x\n  ret i32 %y\n}\n";
    let cube = "define i32 @square(i32 %x) {\n  %y = mul i32 %x, %x\n  %z = mul i32 %y, %x\n  ret i32 %z\n}\n";
    let plus = |n: i32| {
        format!("define i32 @square(i32 %x) {{\n  %y = add i32 %x, {n}\n  ret i32 %y\n}}\n")
    };
    let engine = engine();
    engine.add_ir("square.bc", bitcode_of(square)).unwrap();
    let f = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("square")
        .unwrap();
    assert_eq!(f.call(3).unwrap(), 9);
    engine.redefine_ir("square", "cube.ll", cube).unwrap();
    assert_eq!(f.call(3).unwrap(), 27);
    engine
        .redefine_ir("square", "plus.bc", bitcode_of(&plus(100)))
        .unwrap();
    assert_eq!(f.call(3).unwrap(), 103);
    engine
        .load_ir(
            "extra.bc",
            bitcode_of("define i32 @extra() {\n  ret i32 77\n}\n"),
        )
        .unwrap();
    let extra = engine.lookup_fn::<extern "C" fn() -> i32>("extra").unwrap();
    assert_eq!(extra.call(()).unwrap(), 77);

    // From a callback, while the guest runs.
    let next = plus(1000);
    engine
        .define(
            "swap_now",
            move |caller: &Caller<'_>| -> Result<i32, Trap> {
                caller.redefine_ir("square", "from_callback.ll", &next)?;
                caller.load_ir("more.ll", "define i32 @more() {\n  ret i32 5\n}\n")?;
                let more = caller.lookup_fn::<extern "C" fn() -> i32>("more")?;
                Ok(more.call(())?)
            },
        )
        .unwrap();
    engine
        .load_ir(
            "driver.ll",
            "declare i32 @swap_now()\ndeclare i32 @square(i32)\n\
             define i32 @driver() {\n  %m = call i32 @swap_now()\n  %s = call i32 @square(i32 %m)\n  ret i32 %s\n}\n",
        )
        .unwrap();
    let driver = engine
        .lookup_fn::<extern "C" fn() -> i32>("driver")
        .unwrap();
    assert_eq!(driver.call(()).unwrap(), 1005);

    // Errors name the in-memory name.
    let error = engine
        .redefine_ir("square", "broken.ll", "define i32 @square(")
        .unwrap_err();
    assert!(error.to_string().starts_with("broken.ll:1:"), "{error}");
    let error = engine
        .redefine_ir(
            "square",
            "wide.ll",
            "define i64 @square(i64 %x) {\n  ret i64 %x\n}\n",
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "wide.ll: 'square' has type i64 (i64) there, but the running program's 'square' has type i32 (i32)"
    );
    let error = engine
        .load_ir("junk.bc", b"BC\xC0\xDE\x00\x01")
        .unwrap_err();
    assert!(error.to_string().starts_with("junk.bc"), "{error}");
    assert_eq!(f.call(2).unwrap(), 1002);
}

/// `sq` is called by `user` directly and through a static helper the
/// optimizer inlines and deletes; `user` also counts its calls in a static
/// counter that `count` reads.
const INLINED: &str = "define i32 @sq(i32 %x) {
  %r = mul i32 %x, %x
  ret i32 %r
}
define internal i32 @helper(i32 %x) {
  %s = call i32 @sq(i32 %x)
  %t = add i32 %s, 1
  ret i32 %t
}
@calls = internal global i32 0
define i32 @user(i32 %x) {
  %a = call i32 @sq(i32 %x)
  %b = call i32 @helper(i32 %x)
  %n = load i32, ptr @calls
  %m = add i32 %n, 1
  store i32 %m, ptr @calls
  %r = add i32 %a, %b
  ret i32 %r
}
define i32 @count() {
  %n = load i32, ptr @calls
  ret i32 %n
}
";

/// A redefinition reaches callers the engine's optimizer inlined the old
/// body into: they are compiled again without it, at every level and in
/// every mode, whether the pipeline ran because it was told to or because
/// the IR was `optnone` (clang -O0); their statics stay theirs.
#[test]
fn a_redefinition_reaches_callers_that_inlined_the_old_body() {
    use hyperjit::IrOptimization;
    let optnone = INLINED.replace(") {", ") noinline optnone {");
    for level in 0..=3u8 {
        for mode in ["eager", "lazy", "tier"] {
            for (ir, policy) in [
                (INLINED, IrOptimization::Always),
                (optnone.as_str(), IrOptimization::Auto),
            ] {
                let what = format!("-O{level} {mode} {policy:?}");
                let builder = Engine::builder()
                    .opt_level(level)
                    .ir_optimization(policy)
                    .lazy(mode == "lazy")
                    .tier(mode == "tier");
                let engine = builder.build().unwrap();
                engine.add_ir("inlined.ll", ir).unwrap();
                let user = engine
                    .lookup_fn::<extern "C" fn(i32) -> i32>("user")
                    .unwrap();
                let count = engine.lookup_fn::<extern "C" fn() -> i32>("count").unwrap();
                assert_eq!(user.call(3).unwrap(), 9 + 10, "{what}");
                engine
                    .redefine_ir(
                        "sq",
                        "sq_v2.ll",
                        "define i32 @sq(i32 %x) {\n  %r = add i32 %x, 1000\n  ret i32 %r\n}\n",
                    )
                    .unwrap();
                assert_eq!(user.call(3).unwrap(), 1003 + 1004, "{what}");
                assert_eq!(count.call(()).unwrap(), 2, "{what}: the static counter");
                let recompiled = engine.stats().recompiled_for_inlining;
                if level == 0 {
                    assert_eq!(recompiled, 0, "{what}: nothing was optimized");
                } else {
                    assert_eq!(recompiled, 1, "{what}: user, compiled again");
                }
                // Again: the new body of user calls sq, so it is no longer
                // recompiled.
                engine
                    .redefine_ir(
                        "sq",
                        "sq_v3.ll",
                        "define i32 @sq(i32 %x) {\n  %r = add i32 %x, 2000\n  ret i32 %r\n}\n",
                    )
                    .unwrap();
                assert_eq!(user.call(3).unwrap(), 2003 + 2004, "{what}");
                assert_eq!(engine.stats().recompiled_for_inlining, recompiled, "{what}");
            }
        }
    }
}

/// The same before the caller's first call, when lazy compilation has not
/// compiled it yet: its first body is already without the old code.
#[test]
fn a_redefinition_reaches_inlining_callers_not_compiled_yet() {
    for mode in ["lazy", "tier"] {
        let engine = Engine::builder()
            .ir_optimization(hyperjit::IrOptimization::Always)
            .lazy(mode == "lazy")
            .tier(mode == "tier")
            .build()
            .unwrap();
        engine.add_ir("inlined.ll", INLINED).unwrap();
        engine
            .redefine_ir(
                "sq",
                "sq_v2.ll",
                "define i32 @sq(i32 %x) {\n  %r = add i32 %x, 1000\n  ret i32 %r\n}\n",
            )
            .unwrap();
        let user = engine
            .lookup_fn::<extern "C" fn(i32) -> i32>("user")
            .unwrap();
        assert_eq!(user.call(3).unwrap(), 1003 + 1004, "{mode}");
        assert_eq!(engine.stats().recompiled_for_inlining, 1, "{mode}");
    }
}

//! The library API: in-memory IR, repeated runs, exit handling, and errors
//! that leave the engine (and the host process) usable.

mod support;

use support::*;

use hyperjit::{Engine, Error, IrOptimization};

const COUNTER_IR: &str = r#"
@runs = global i32 0
@ctor_calls = global i32 0

@llvm.global_ctors = appending global [1 x { i32, ptr, ptr }] [{ i32, ptr, ptr } { i32 65535, ptr @init, ptr null }]

define internal void @init() {
  %c = load i32, ptr @ctor_calls
  %c1 = add i32 %c, 1
  store i32 %c1, ptr @ctor_calls
  ret void
}

define i32 @main(i32 %argc, ptr %argv) {
  %r = load i32, ptr @runs
  %r1 = add i32 %r, 1
  store i32 %r1, ptr @runs
  %c = load i32, ptr @ctor_calls
  %scaled = mul i32 %r1, 100
  %sum = add i32 %scaled, %c
  %withargs = mul i32 %argc, 1000
  %result = add i32 %sum, %withargs
  ret i32 %result
}
"#;

#[test]
fn in_memory_ir_runs_and_globals_persist_across_runs() {
    let engine = engine();
    engine.add_ir("counter.ll", COUNTER_IR).unwrap();
    // run 1: runs=1, one constructor call, argc=1
    assert_eq!(engine.run_main(&["counter"]).unwrap(), 1000 + 100 + 1);
    // run 2: constructors run again for the new run; globals kept
    assert_eq!(engine.run_main(&["counter", "x"]).unwrap(), 2000 + 200 + 2);
}

const EXIT_IR: &str = r#"
declare void @exit(i32)
declare i32 @atexit(ptr)
@handler_ran = global i32 0

define internal void @handler() {
  store i32 1, ptr @handler_ran
  ret void
}

define i32 @main(i32 %argc, ptr %argv) {
  %ran = load i32, ptr @handler_ran
  %reg = call i32 @atexit(ptr @handler)
  %status = add i32 %ran, 40
  call void @exit(i32 %status)
  unreachable
}
"#;

#[test]
fn guest_exit_returns_to_the_host_and_runs_handlers() {
    let engine = engine();
    engine.add_ir("exit.ll", EXIT_IR).unwrap();
    // First run: the handler has not run yet; exit(40).
    assert_eq!(engine.run_main(&["exit"]).unwrap(), 40);
    // The handler ran at the end of run 1, so run 2 exits with 41: the host
    // survived the guest's exit() and the engine still works.
    assert_eq!(engine.run_main(&["exit"]).unwrap(), 41);
}

#[test]
fn errors_leave_the_engine_usable() {
    let engine = engine();
    let parse = engine
        .add_ir("broken.ll", "define i32 @main( {")
        .unwrap_err();
    match &parse {
        Error::Parse { file, message } => {
            assert_eq!(file, "broken.ll");
            assert!(message.starts_with("broken.ll:1:"), "{message}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    let missing = engine.add_file("/no/such/file.ll").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }), "{missing:?}");
    assert!(
        missing.to_string().starts_with("/no/such/file.ll: "),
        "{missing}"
    );

    engine
        .add_ir("good.ll", "define i32 @main() {\n  ret i32 9\n}\n")
        .unwrap();
    assert_eq!(engine.run_main::<&str>(&[]).unwrap(), 9);
}

#[test]
fn running_nothing_is_an_error() {
    let engine = engine();
    assert!(matches!(engine.run_main(&["x"]), Err(Error::NoProgram)));
}

#[test]
fn unresolved_symbols_are_reported_with_their_users() {
    let engine = engine();
    engine
        .add_ir(
            "one.ll",
            "declare i32 @nowhere()\n@gone = external global i32\ndefine i32 @main() {\n  %a = call i32 @nowhere()\n  %b = load i32, ptr @gone\n  %c = add i32 %a, %b\n  ret i32 %c\n}\n",
        )
        .unwrap();
    let error = engine.run_main(&["one"]).unwrap_err();
    let Error::UnresolvedSymbols { symbols } = &error else {
        panic!("expected unresolved symbols, got {error:?}");
    };
    let names: Vec<&str> = symbols.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gone", "nowhere"]);
    assert!(symbols.iter().all(|s| s.referenced_by == ["one.ll"]));

    // The inputs are still pending: adding what was missing makes it run.
    engine
        .add_ir(
            "two.ll",
            "@gone = global i32 30\ndefine i32 @nowhere() {\n  ret i32 12\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_main(&["one"]).unwrap(), 42);
}

#[test]
fn weak_undefined_symbols_resolve_to_null() {
    let engine = engine();
    engine
        .add_ir(
            "weak.ll",
            "declare extern_weak i32 @maybe()\ndefine i32 @main() {\n  %is_null = icmp eq ptr @maybe, null\n  %r = zext i1 %is_null to i32\n  ret i32 %r\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_main(&["weak"]).unwrap(), 1);
}

/// clang -O0 output (every function optnone) is optimized under Auto,
/// not under Never, and already-optimized IR is never optimized under Auto.
#[test]
fn the_ir_optimization_rule() {
    let unoptimized = r#"
define i32 @main() #0 {
  %x = alloca i32
  store i32 5, ptr %x
  %v = load i32, ptr %x
  ret i32 %v
}
attributes #0 = { noinline nounwind optnone }
"#;
    // What a language front end emits: every local spilled, no optnone
    // (clang -O0 -Xclang -disable-O0-optnone too). A spill of an address
    // taken elsewhere, volatile or of an aggregate would stay: not counted.
    let front_end = r#"
define i32 @main() {
  %x = alloca i32
  store i32 5, ptr %x
  %v = load i32, ptr %x
  ret i32 %v
}
define void @kept() {
  %escapes = alloca i32
  call void @keep(ptr %escapes)
  %volatile = alloca i32
  store volatile i32 1, ptr %volatile
  %array = alloca [4 x i32]
  store i32 1, ptr %array
  ret void
}
define void @keep(ptr %p) {
  ret void
}
"#;
    let optimized = "define i32 @main() {\n  ret i32 5\n}\n";
    let cases = [
        (
            IrOptimization::Auto,
            2,
            unoptimized,
            1,
            "1 optnone functions (clang -O0)",
        ),
        (
            IrOptimization::Auto,
            0,
            unoptimized,
            0,
            "the opt level is 0",
        ),
        (
            IrOptimization::Never,
            2,
            unoptimized,
            0,
            "IR optimization: never",
        ),
        (
            IrOptimization::Auto,
            2,
            front_end,
            1,
            "1 of 3 functions examined spill locals that mem2reg would promote",
        ),
        (
            IrOptimization::Auto,
            2,
            optimized,
            0,
            "no optnone function, no spilled locals in 1 functions examined: taken as optimized",
        ),
        (
            IrOptimization::Always,
            2,
            optimized,
            1,
            "IR optimization: always",
        ),
    ];
    for lazy in [false, true] {
        for (policy, level, ir, expected, reason) in cases {
            let engine = Engine::builder()
                .opt_level(level)
                .ir_optimization(policy)
                .lazy(lazy)
                .build()
                .unwrap();
            engine.add_ir("m.ll", ir).unwrap();
            assert_eq!(engine.run_main(&["m"]).unwrap(), 5);
            let stats = engine.stats();
            let what = format!("{policy:?} at -O{level}, lazy: {lazy}");
            assert_eq!(stats.modules_optimized, expected, "{what}");
            let decision = &stats.optimization_decisions[0];
            assert_eq!(decision.optimized, expected == 1, "{what}");
            assert_eq!(decision.reason, reason, "{what}");
            let verdict = if expected == 1 {
                "optimized"
            } else {
                "not optimized"
            };
            assert!(
                stats
                    .to_string()
                    .contains(&format!("\n  m.ll: {verdict}: {reason}\n")),
                "{what}: {stats}"
            );
        }
    }
}

/// Lazily read bitcode is judged by a sample of its bodies, read now: a
/// front end's bitcode is optimized, bodies beyond the sample stay unread.
#[test]
fn lazily_read_bitcode_is_judged_by_a_sample_of_its_bodies() {
    let functions: String = (0..20)
        .map(|i| {
            format!(
                "define i32 @f{i}(i32 %a) {{\n  %s = alloca i32\n  store i32 %a, ptr %s\n\
                 \x20 %v = load i32, ptr %s\n  ret i32 %v\n}}\n"
            )
        })
        .collect();
    let ir =
        format!("{functions}define i32 @main() {{\n  %r = call i32 @f3(i32 6)\n  ret i32 %r\n}}\n");
    let dir = tempfile::tempdir().unwrap();
    let text = write(dir.path(), "front.ll", &ir);
    let bitcode = dir.path().join("front.bc");
    let status = std::process::Command::new("llvm-as-19")
        .arg(&text)
        .arg("-o")
        .arg(&bitcode)
        .status()
        .unwrap();
    assert!(status.success());
    let engine = Engine::builder().lazy(true).build().unwrap();
    engine.add_file(&bitcode).unwrap();
    let decision = engine.stats().optimization_decisions[0].clone();
    assert!(decision.optimized);
    assert_eq!(
        decision.reason,
        "8 of 8 functions examined spill locals that mem2reg would promote"
    );
    assert_eq!(engine.run_main(&["front"]).unwrap(), 6);
}

#[test]
fn out_of_range_opt_level_is_refused() {
    let error = Engine::builder()
        .opt_level(4)
        .build()
        .expect_err("must fail");
    assert!(error.to_string().contains("opt level 4"), "{error}");
}

#[test]
fn void_entry_functions_exit_zero() {
    let engine = engine();
    engine
        .add_ir(
            "v.ll",
            "define void @start() {\n  ret void\n}\ndefine i32 @main() {\n  ret i32 3\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_entry("start", &["v"]).unwrap(), 0);
    assert_eq!(engine.run_main(&["v"]).unwrap(), 3);
}

#[test]
fn modules_added_after_a_run_link_against_earlier_ones() {
    let engine = engine();
    engine
        .add_ir(
            "base.ll",
            "define i32 @base() {\n  ret i32 20\n}\ndefine i32 @main() {\n  ret i32 1\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_main(&["x"]).unwrap(), 1);
    engine
        .add_ir(
            "more.ll",
            "declare i32 @base()\ndefine i32 @more() {\n  %b = call i32 @base()\n  %r = add i32 %b, 22\n  ret i32 %r\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_entry("more", &["x"]).unwrap(), 42);
}

#[test]
fn engines_in_one_process_keep_separate_exit_handlers() {
    let first = engine();
    let second = engine();
    first.add_ir("exit.ll", EXIT_IR).unwrap();
    second.add_ir("exit.ll", EXIT_IR).unwrap();
    assert_eq!(first.run_main(&["a"]).unwrap(), 40);
    assert_eq!(second.run_main(&["b"]).unwrap(), 40);
    assert_eq!(first.run_main(&["a"]).unwrap(), 41);
}

/// `_exit` and `_Exit` both end the run at once, without exit handlers;
/// a program may declare both (they bind to one runtime function).
#[test]
fn underscore_exit_skips_handlers() {
    let ir = r#"
declare void @_exit(i32)
declare void @_Exit(i32)
declare i32 @atexit(ptr)
@handler_ran = global i32 0
define internal void @handler() {
  store i32 1, ptr @handler_ran
  ret void
}
define i32 @main(i32 %argc, ptr %argv) {
  %ran = load i32, ptr @handler_ran
  %reg = call i32 @atexit(ptr @handler)
  %status = add i32 %ran, 50
  %two = icmp eq i32 %argc, 2
  br i1 %two, label %big, label %small
big:
  call void @_Exit(i32 %status)
  unreachable
small:
  call void @_exit(i32 %status)
  unreachable
}
"#;
    let engine = engine();
    engine.add_ir("underscore.ll", ir).unwrap();
    assert_eq!(engine.run_main(&["a"]).unwrap(), 50);
    assert_eq!(
        engine.run_main(&["a", "b"]).unwrap(),
        50,
        "the handler must not have run"
    );
}

#[test]
fn engines_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

/// A load that fails (it redefines a linked function) leaves the engine as
/// it was: lookups, recompiles, other loads and runs still work.
#[test]
fn a_failed_load_leaves_the_engine_as_it_was() {
    let engine = engine();
    engine
        .add_ir(
            "prog.ll",
            "define i32 @f() {\n  ret i32 4\n}\ndefine i32 @main() {\n  %r = call i32 @f()\n  ret i32 %r\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_main(&["prog"]).unwrap(), 4);
    let dir = tempfile::tempdir().unwrap();
    let again = write(
        dir.path(),
        "again.ll",
        "define i32 @f() {\n  ret i32 5\n}\n",
    );
    let error = engine.load(&again).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "'f' is already defined by the program (again in {})",
            again.display()
        )
    );
    assert!(!engine.lookup("f").unwrap().is_null());
    engine.recompile("f", 1).unwrap();
    let other = write(
        dir.path(),
        "other.ll",
        "define i32 @g() {\n  ret i32 6\n}\n",
    );
    engine.load(&other).unwrap();
    assert!(!engine.lookup("g").unwrap().is_null());
    assert_eq!(engine.run_main(&["prog"]).unwrap(), 4);
}

/// An input defining what a pending input defines is refused when it is
/// added, naming both; the inputs added before stay and run. (It was
/// added, then failed every run, lookup and swap until the host discarded
/// every pending input, good ones too.)
#[test]
fn a_symbol_defined_twice_is_refused_when_added_and_the_rest_runs() {
    let engine = engine();
    engine
        .add_ir("a.ll", "define i32 @main() {\n  ret i32 1\n}\n")
        .unwrap();
    assert_eq!(
        engine
            .add_ir("b.ll", "define i32 @main() {\n  ret i32 2\n}\n")
            .unwrap_err()
            .to_string(),
        "b.ll: link error: 'main' is defined in a.ll and again here"
    );
    assert_eq!(engine.run_main(&["x"]).unwrap(), 1);
    assert_eq!(engine.discard_pending(), 0);
}

/// What pending inputs lack never stops code that is linked: lookups,
/// typed lookups, recompiles and redefinitions of it work while an input
/// waits for a symbol, and a run says what is missing until it comes.
/// A callback whose registered type a pending input's declaration
/// contradicts is refused when it is registered.
#[test]
fn pending_inputs_do_not_block_linked_code() {
    let engine = engine();
    engine
        .add_ir(
            "prog.ll",
            "define i32 @square(i32 %x) {\n  %y = mul i32 %x, %x\n  ret i32 %y\n}\n\
             define i32 @main() {\n  %r = call i32 @square(i32 3)\n  ret i32 %r\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_main(&["prog"]).unwrap(), 9);
    engine
        .add_ir(
            "more.ll",
            "declare i64 @scale(i64)\ndeclare i32 @missing(i32)\n\
             define i32 @more(i32 %x) {\n  %r = call i32 @missing(i32 %x)\n\
             \x20 %w = sext i32 %r to i64\n  %s = call i64 @scale(i64 %w)\n\
             \x20 %t = trunc i64 %s to i32\n  ret i32 %t\n}\n",
        )
        .unwrap();
    let error = engine.define("scale", |x: i32| x).unwrap_err();
    assert_eq!(
        error.to_string(),
        "more.ll: callback 'scale' is declared as i64 (i64), but the host registered it as i32 (i32)"
    );
    engine.define("scale", |x: i64| x * 2).unwrap();
    assert!(!engine.lookup("square").unwrap().is_null());
    let square = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("square")
        .unwrap();
    assert_eq!(square.call(5).unwrap(), 25);
    engine.recompile("square", 1).unwrap();
    assert_eq!(square.call(6).unwrap(), 36);
    let dir = tempfile::tempdir().unwrap();
    let cube = write(
        dir.path(),
        "cube.ll",
        "define i32 @square(i32 %x) {\n  %y = mul i32 %x, %x\n  %z = mul i32 %y, %x\n  ret i32 %z\n}\n",
    );
    engine.redefine("square", &cube).unwrap();
    assert_eq!(square.call(2).unwrap(), 8);
    for _ in 0..2 {
        match engine.run_main(&["prog"]) {
            Err(Error::UnresolvedSymbols { symbols }) => {
                assert_eq!(symbols.len(), 1);
                assert_eq!(symbols[0].name, "missing");
                assert_eq!(symbols[0].referenced_by, ["more.ll"]);
            }
            other => panic!("expected the missing symbol, got {other:?}"),
        }
    }
    // A lookup of what the pending input defines links it, and says why not.
    assert!(matches!(
        engine.lookup("more"),
        Err(Error::UnresolvedSymbols { .. })
    ));
    engine
        .add_ir(
            "missing.ll",
            "define i32 @missing(i32 %x) {\n  ret i32 %x\n}\n",
        )
        .unwrap();
    let more = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("more")
        .unwrap();
    assert_eq!(more.call(7).unwrap(), 14);
    assert_eq!(engine.run_main(&["prog"]).unwrap(), 27);
}

/// An input that cannot be completed (what defines its callee failed to
/// parse) can be discarded; a link error LLVM finds only while linking
/// says the inputs were dropped, and so does the next run.
#[test]
fn incomplete_and_unlinkable_inputs_say_what_became_of_them() {
    let engine = engine();
    engine
        .add_ir(
            "a.ll",
            "declare i32 @helper()\ndefine i32 @main() {\n  %r = call i32 @helper()\n  ret i32 %r\n}\n",
        )
        .unwrap();
    assert!(engine.add_ir("b.ll", "define i32 @helper( {\n").is_err());
    assert!(matches!(
        engine.run_main(&["x"]),
        Err(Error::UnresolvedSymbols { .. })
    ));
    assert_eq!(engine.discard_pending(), 1);
    // COMDAT selection kinds that disagree: only the IR linker knows.
    engine
        .add_ir(
            "c.ll",
            "$c = comdat exactmatch\n@x = global i32 1, comdat($c)\ndefine i32 @main() {\n  ret i32 1\n}\n",
        )
        .unwrap();
    engine
        .add_ir(
            "d.ll",
            "$c = comdat largest\n@y = global i32 2, comdat($c)\n",
        )
        .unwrap();
    assert_eq!(
        engine.run_main(&["x"]).unwrap_err().to_string(),
        "d.ll: link error: error: Linking COMDATs named 'c': invalid selection kinds! \
         (the inputs c.ll, d.ll were dropped: add them again)"
    );
    assert_eq!(
        engine.run_main(&["x"]).unwrap_err().to_string(),
        "no program to run: c.ll, d.ll failed to link and were dropped; add them again"
    );
}

/// `main` may be an ifunc (it was "not defined by the program"): the
/// program's entry is what its resolver returns, in every mode.
#[test]
fn an_ifunc_entry_runs_what_its_resolver_returns() {
    for lazy in [false, true] {
        let engine = Engine::builder().lazy(lazy).build().unwrap();
        engine
            .add_ir(
                "ifunc.ll",
                "define i32 @real_main() {\n  ret i32 8\n}\n\
                 define ptr @resolve_main() {\n  ret ptr @real_main\n}\n\
                 @main = ifunc i32 (), ptr @resolve_main\n",
            )
            .unwrap();
        assert_eq!(engine.run_main(&["ifunc"]).unwrap(), 8, "lazy: {lazy}");
    }
}

/// Code compiled without -fPIC marks external declarations `dso_local`
/// and addresses them directly, which cannot reach libc's data from JIT'd
/// memory (the program read a wild address): they are reached through the
/// GOT instead.
#[test]
fn dso_local_declarations_of_library_data_are_reached() {
    for lazy in [false, true] {
        let engine = Engine::builder().lazy(lazy).build().unwrap();
        engine
            .add_ir(
                "stdout.ll",
                "@stdout = external dso_local global ptr\n\
                 define i32 @main() {\n  %s = load ptr, ptr @stdout\n\
                 \x20 %null = icmp eq ptr %s, null\n  %r = select i1 %null, i32 1, i32 7\n\
                 \x20 ret i32 %r\n}\n",
            )
            .unwrap();
        assert_eq!(engine.run_main(&["stdout"]).unwrap(), 7, "lazy: {lazy}");
    }
}

/// Two hundred engines live in one process at once, each calling its own
/// host callback: the address space near the host holds about ninety
/// engines' code, and the next ones place theirs anywhere (the 11th failed
/// with "cannot reserve address space for JIT'd code").
#[test]
fn two_hundred_engines_live_at_once() {
    const IR: &str = "declare i64 @scale(i64)\n@runs = global i64 0\n\
        define i32 @main() {\n  %n = load i64, ptr @runs\n  %m = add i64 %n, 1\n\
        \x20 store i64 %m, ptr @runs\n  %s = call i64 @scale(i64 %m)\n\
        \x20 %r = trunc i64 %s to i32\n  ret i32 %r\n}\n";
    let engines: Vec<Engine> = (0..200i64)
        .map(|index| {
            let engine = Engine::new().unwrap_or_else(|e| panic!("engine {index}: {e}"));
            engine
                .define("scale", move |x: i64| x * 1000 + index)
                .unwrap();
            engine.add_ir("scaled.ll", IR).unwrap();
            assert_eq!(engine.run_main(&["scaled"]).unwrap(), 1000 + index as i32);
            engine
        })
        .collect();
    for (index, engine) in engines.iter().enumerate() {
        assert_eq!(engine.run_main(&["scaled"]).unwrap(), 2000 + index as i32);
    }
}

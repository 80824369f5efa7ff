//! The conformance corpus (tests/conformance/*.c): each program's stdout and
//! exit status under hyperjit must equal the natively compiled program's
//! (clang-19 -O2), as C source, as unoptimized bitcode (optimized by
//! hyperjit), and as optimized IR text at -O 0; lli-19 is compared too,
//! except where lli-19 itself departs from the native program.

mod support;

use std::process::Command;
use support::*;

const ARGS: &[&str] = &["first", "two words", ""];

/// What lli-19 does with a program.
enum Lli {
    Same,
    /// lli-19 departs from the native program; the reason is the evidence.
    Departs(&'static str),
}

const LLI_SKIPS_ATEXIT: &str = "lli-19 does not run atexit handlers when the program calls exit()";

fn check(name: &str, lli: Lli) {
    check_source(&conformance_source(name), lli);
}

/// A C++ program of the corpus (`tests/conformance/NAME.cc`).
fn check_cpp(name: &str, lli: Lli) {
    let source = conformance_source(name).with_extension("cc");
    check_source(&source, lli);
}

fn check_source(source: &std::path::Path, lli: Lli) {
    let name = source
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("source name");
    let source = source.to_path_buf();
    let dir = tempfile::tempdir().expect("temp dir");
    let native_binary = dir.path().join(name);
    build_native(&source, &native_binary);
    let native = run(Command::new(&native_binary).args(ARGS));

    for mode in MODES {
        let from_c = run(hyperjit_run(mode).arg(&source).arg("--").args(ARGS));
        let what = format!("hyperjit run {} {}", mode.join(" "), source.display());
        assert_same_run(&native, &from_c, &what);
    }

    let unoptimized = dir.path().join(format!("{name}.O0.bc"));
    must(
        clang()
            .args(["-O0", "-c", "-emit-llvm", "-o"])
            .arg(&unoptimized)
            .arg(&source),
    );
    let from_o0 = run(hyperjit()
        .args(["run", "--stats", "-O", "2"])
        .arg(&unoptimized)
        .arg("--")
        .args(ARGS));
    assert_same_run(
        &native,
        &from_o0,
        &format!("hyperjit run -O 2 {name}.O0.bc"),
    );
    assert!(
        from_o0.stderr.contains("(1 of 1 modules)"),
        "{name}: -O0 bitcode was not optimized:\n{}",
        from_o0.stderr
    );

    let optimized_text = dir.path().join(format!("{name}.O2.ll"));
    must(
        clang()
            .args(["-O2", "-S", "-emit-llvm", "-o"])
            .arg(&optimized_text)
            .arg(&source),
    );
    let from_ll = run(hyperjit()
        .args(["run", "-O", "0"])
        .arg(&optimized_text)
        .arg("--")
        .args(ARGS));
    assert_same_run(
        &native,
        &from_ll,
        &format!("hyperjit run -O 0 {name}.O2.ll"),
    );

    let optimized_bitcode = dir.path().join(format!("{name}.O2.bc"));
    must(
        clang()
            .args(["-O2", "-c", "-emit-llvm", "-o"])
            .arg(&optimized_bitcode)
            .arg(&source),
    );
    let under_lli = run(Command::new(llvm_tool("lli"))
        .arg(&optimized_bitcode)
        .args(ARGS));
    match lli {
        Lli::Same => assert_same_run(&native, &under_lli, &format!("lli-19 {name}.O2.bc")),
        Lli::Departs(reason) => {
            let departs = under_lli.stdout != native.stdout || under_lli.status != native.status;
            assert!(
                departs,
                "{name}: lli-19 now matches the native program; was: {reason}"
            );
        }
    }
}

#[test]
fn ctors_dtors() {
    check(
        "ctors_dtors",
        Lli::Departs("lli-19 runs static destructors in constructor order, not in reverse"),
    );
}

#[test]
fn argv_envp() {
    check(
        "argv_envp",
        Lli::Departs("lli-19 passes main an empty envp"),
    );
}

#[test]
fn exit_atexit() {
    check("exit_atexit", Lli::Departs(LLI_SKIPS_ATEXIT));
}

#[test]
fn ifuncs() {
    check(
        "ifuncs",
        Lli::Departs("lli-19 leaves ifuncs undefined (\"Missing definitions\")"),
    );
}

#[test]
fn varargs() {
    check("varargs", Lli::Same);
}

#[test]
fn structs_by_value() {
    check("structs_by_value", Lli::Same);
}

#[test]
fn float_printf() {
    check("float_printf", Lli::Same);
}

#[test]
fn globals_relocs() {
    check("globals_relocs", Lli::Same);
}

#[test]
fn function_pointers() {
    check("function_pointers", Lli::Same);
}

#[test]
fn recursion() {
    check("recursion", Lli::Same);
}

#[test]
fn switch_tables() {
    check("switch_tables", Lli::Same);
}

#[test]
fn tls() {
    check("tls", Lli::Same);
}

/// C++: exceptions, static initializers, iostreams, thread_local objects.
#[test]
fn cpp_features() {
    check_cpp(
        "cpp_features",
        Lli::Departs("lli-19 crashes at exit, running the main thread's thread_local destructors"),
    );
}

/// The README's demo (`make demo`) behaves as its native build.
#[test]
fn demo() {
    check_source(
        &repo_root().join("examples/demo.c"),
        Lli::Departs(LLI_SKIPS_ATEXIT),
    );
}

/// argv[0] is the first input's path, as the README says.
#[test]
fn argv0_is_the_first_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = dir.path().join("argv0.c");
    std::fs::write(
        &source,
        "#include <stdio.h>\nint main(int c, char **v) { puts(v[0]); return c; }\n",
    )
    .expect("write");
    let outcome = run(hyperjit().arg("run").arg(&source).args(["--", "x", "y"]));
    assert_eq!(outcome.status, Some(3), "{}", outcome.stderr);
    assert_eq!(outcome.stdout_text(), format!("{}\n", source.display()));
}

/// With no mode flag, `hyperjit run` compiles lazily with tiering (the
/// fast start); `--eager` compiles everything first.
#[test]
fn the_default_mode_is_lazy_and_tiered() {
    let source = conformance_source("recursion");
    let default = run(hyperjit().args(["run", "--stats"]).arg(&source));
    assert_eq!(default.status, Some(0), "{}", default.stderr);
    assert!(
        default.stderr.contains("functions compiled on first call"),
        "{}",
        default.stderr
    );
    let eager = run(hyperjit().args(["run", "--stats", "--eager"]).arg(&source));
    assert_eq!(eager.stdout, default.stdout);
    assert!(
        !eager.stderr.contains("compiled on first call"),
        "{}",
        eager.stderr
    );
}

/// `--eager --cache` leaves the program's image: the next run, in the
/// default mode too, starts from it (parsing nothing) and prints the same.
#[test]
fn a_cached_eager_run_leaves_an_image_the_next_runs_start_from() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = dir.path().join("cache");
    let source = conformance_source("recursion");
    let cold = run(hyperjit()
        .args(["run", "--stats", "--eager", "--cache"])
        .arg(&cache)
        .arg(&source));
    assert_eq!(cold.status, Some(0), "{}", cold.stderr);
    assert!(!cold.stderr.contains("from its image"), "{}", cold.stderr);
    for mode in [&["--eager"][..], &[]] {
        let warm = run(hyperjit()
            .args(["run", "--stats", "--cache"])
            .arg(&cache)
            .args(mode)
            .arg(&source));
        assert_eq!(warm.stdout, cold.stdout, "{mode:?}");
        assert!(
            warm.stderr
                .contains("the program from its image: nothing parsed"),
            "{mode:?}: {}",
            warm.stderr
        );
    }
}

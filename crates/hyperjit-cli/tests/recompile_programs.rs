//! Recompiling the functions of whole programs in place, then running them:
//! every function of each conformance program, and every eighth function of
//! the sqlite3 amalgamation (a real program nobody here wrote; static
//! functions included, at levels 0 to 3 in turn). Each must then print what
//! its native build prints and exit with the same status.
//!
//! A recompile reads its function back from the bitcode kept for the batch
//! and compiles it alone against the running program, so this checks that
//! extraction keeps every attribute, global, static, alias, thread-local
//! and calling convention C programs depend on. One test in its own binary:
//! it redirects the process's standard output while a program runs.

mod support;

use std::os::fd::AsRawFd;
use std::process::Command;
use support::*;

/// The functions `bitcode` defines, as the engine names them: static ones
/// carry the suffix the engine gives them when it links the first batch.
fn defined_functions(bitcode: &std::path::Path) -> Vec<String> {
    let nm = run(Command::new(llvm_tool("llvm-nm"))
        .arg("--defined-only")
        .arg(bitcode));
    assert_eq!(nm.status, Some(0), "{}", nm.stderr);
    nm.stdout_text()
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [_, "T", name] => Some(name.to_string()),
                [_, "t", name] => Some(format!("{name}.hj0")),
                _ => None,
            },
        )
        .collect()
}

/// Runs the program's main with `args` and the process's standard output
/// sent to a file, and returns its status and what it printed.
fn run_main_capturing_stdout(
    engine: &hyperjit::Engine,
    args: &[&str],
    dir: &std::path::Path,
) -> (i32, Vec<u8>) {
    let path = dir.join("stdout");
    let file = std::fs::File::create(&path).expect("stdout file");
    // SAFETY: plain descriptor juggling on descriptors we own (1 is saved
    // and restored); nothing else in this test binary writes to fd 1 while
    // the program runs.
    let saved = unsafe { libc::dup(1) };
    assert!(saved >= 0, "dup(1)");
    // SAFETY: as above.
    assert!(unsafe { libc::dup2(file.as_raw_fd(), 1) } >= 0, "dup2");
    let status = engine.run_main(args);
    // SAFETY: as above; the run flushed the guest's stdio before returning.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    let status = status.unwrap_or_else(|error| panic!("running {}: {error}", args[0]));
    (status, std::fs::read(&path).expect("read stdout"))
}

/// Recompiles `functions` of the program in `engine` (every `step`-th, at
/// levels 0 to 3 in turn, or all at `level`), runs it with `args`, and
/// compares with `native`.
fn recompile_and_compare(
    engine: &hyperjit::Engine,
    functions: &[String],
    levels: &dyn Fn(usize) -> u8,
    args: &[&str],
    native: &Outcome,
) -> usize {
    let mut recompiled = 0;
    for (i, function) in functions.iter().enumerate() {
        let level = levels(i);
        engine.recompile(function, level).unwrap_or_else(|error| {
            panic!("{}: recompiling {function} at -O{level}: {error}", args[0])
        });
        recompiled += 1;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (status, stdout) = run_main_capturing_stdout(engine, args, dir.path());
    assert_eq!(Some(status), native.status, "{}: exit status", args[0]);
    assert!(
        stdout == native.stdout,
        "{}: output differs from the native build's after recompiling {recompiled} functions:\n{}",
        args[0],
        String::from_utf8_lossy(&stdout)
    );
    recompiled
}

#[test]
fn programs_run_unchanged_after_recompiling_their_functions() {
    // What the conformance programs expect of their environment.
    std::env::set_var(CONFORMANCE_VAR.0, CONFORMANCE_VAR.1);
    let args = ["program", "first", "two words", ""];
    let corpus = std::fs::read_dir(repo_root().join("tests/conformance")).expect("corpus");
    let mut programs = 0;
    for entry in corpus {
        let source = entry.expect("corpus entry").path();
        if source.extension().is_none_or(|e| e != "c") {
            continue;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let (bitcode, native_binary) = (dir.path().join("p.bc"), dir.path().join("p"));
        must(
            clang()
                .args(["-O2", "-c", "-emit-llvm", "-o"])
                .arg(&bitcode)
                .arg(&source),
        );
        build_native(&source, &native_binary);
        let native = run(Command::new(&native_binary).args(&args[1..]));
        eprintln!("{}", source.display());
        let engine = hyperjit::Engine::new().expect("engine");
        engine.add_file(&bitcode).expect("add program");
        let functions = defined_functions(&bitcode);
        let mut named = args;
        let name = source.display().to_string();
        named[0] = &name;
        recompile_and_compare(&engine, &functions, &|_| 2, &named, &native);
        programs += 1;
    }
    assert!(programs >= 11, "{programs} conformance programs");

    let bitcode = sqlite_bitcode();
    let native = run(&mut Command::new(sqlite_native()));
    assert_eq!(native.status, Some(0), "{}", native.stderr);
    let functions: Vec<String> = defined_functions(&bitcode).into_iter().step_by(8).collect();
    assert!(functions.len() > 150, "{} functions", functions.len());
    let engine = hyperjit::Engine::builder()
        .opt_level(2)
        .build()
        .expect("engine");
    engine.add_file(&bitcode).expect("add sqlite");
    recompile_and_compare(
        &engine,
        &functions,
        &|i| (i % 4) as u8,
        &["sqlite"],
        &native,
    );
}

//! Recompiling functions of a real program nobody here wrote: every eighth
//! function of the sqlite3 amalgamation (static ones included) is recompiled
//! in place, at levels 0 to 3 in turn, and the program must then print what
//! the native build prints.
//!
//! A recompile reads its function back from the bitcode kept for the batch
//! and compiles it alone against the running program, so this checks that
//! extraction keeps every attribute, global, static and calling convention a
//! large C program depends on. Its own test binary: it redirects the
//! process's standard output while the program runs.

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

/// Runs the program's main with the process's standard output sent to a
/// file, and returns what it printed.
fn run_main_capturing_stdout(engine: &hyperjit::Engine, dir: &std::path::Path) -> (i32, Vec<u8>) {
    let path = dir.join("stdout");
    let file = std::fs::File::create(&path).expect("stdout file");
    // SAFETY: plain descriptor juggling on descriptors we own (1 is saved
    // and restored); nothing else in this test binary writes to fd 1 while
    // the program runs.
    let saved = unsafe { libc::dup(1) };
    assert!(saved >= 0, "dup(1)");
    // SAFETY: as above.
    assert!(unsafe { libc::dup2(file.as_raw_fd(), 1) } >= 0, "dup2");
    let status = engine.run_main(&["sqlite"]);
    // SAFETY: as above; the run flushed the guest's stdio before returning.
    unsafe {
        libc::dup2(saved, 1);
        libc::close(saved);
    }
    let status = status.expect("sqlite run");
    (status, std::fs::read(&path).expect("read stdout"))
}

#[test]
fn sqlite_runs_unchanged_after_recompiling_its_functions() {
    let bitcode = sqlite_bitcode();
    let native = run(&mut Command::new(sqlite_native()));
    assert_eq!(native.status, Some(0), "{}", native.stderr);

    let functions = defined_functions(&bitcode);
    assert!(functions.len() > 1000, "{} functions", functions.len());
    let engine = hyperjit::Engine::builder()
        .opt_level(2)
        .build()
        .expect("engine");
    engine.add_file(&bitcode).expect("add sqlite");
    let mut recompiled = 0;
    for (i, function) in functions.iter().enumerate().step_by(8) {
        let level = (i / 8 % 4) as u8;
        engine
            .recompile(function, level)
            .unwrap_or_else(|error| panic!("recompiling {function} at -O{level}: {error}"));
        recompiled += 1;
    }
    assert!(recompiled > 150, "{recompiled} functions recompiled");

    let dir = tempfile::tempdir().expect("temp dir");
    let (status, stdout) = run_main_capturing_stdout(&engine, dir.path());
    assert_eq!(status, 0);
    assert!(
        stdout == native.stdout,
        "output differs from the native build's after recompiling {recompiled} functions:\n{}",
        String::from_utf8_lossy(&stdout)
    );
}

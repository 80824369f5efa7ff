//! Metadata that names globals (`!callees`, attachments of a front end's,
//! distinct and self-referencing nodes, debug information) survives a lazy
//! body's move to a module of its own, in every mode: LLVM's bitcode writer
//! crashed on a `!callees` that still named the source module's functions
//! (issue 23: lua, sqlite3, ClamAV and JM/lencod of llvm-test-suite).

mod support;

use std::process::Command;
use support::*;

/// Every mode of [`MODES`] and the default (no mode flag).
fn every_mode() -> impl Iterator<Item = &'static [&'static str]> {
    MODES.iter().copied().chain([&[][..]])
}

fn runs_as(expected: &Outcome, input: &std::path::Path) {
    for mode in every_mode() {
        let outcome = run(hyperjit_run(mode).arg(input));
        let what = format!("hyperjit run {} {}", mode.join(" "), input.display());
        assert_eq!(outcome.stderr, "", "{what}");
        assert_same_run(expected, &outcome, &what);
    }
}

#[test]
fn an_indirect_call_marked_callees_runs_in_every_mode() {
    let source = repo_root().join("tests/programs/callees.c");
    let dir = tempfile::tempdir().unwrap();
    let native_binary = dir.path().join("callees");
    build_native(&source, &native_binary);
    let native = run(&mut Command::new(&native_binary));
    assert_eq!(native.status, Some(60));
    // With debug information too: its records and globals' expressions
    // name globals as well.
    let with_debug_info = dir.path().join("callees.ll");
    must(
        clang()
            .args(["-O2", "-g", "-S", "-emit-llvm", "-o"])
            .arg(&with_debug_info)
            .arg(&source),
    );
    let ir = std::fs::read_to_string(&with_debug_info).unwrap();
    assert!(
        ir.contains("!callees !"),
        "the premise: clang marks the call\n{ir}"
    );
    runs_as(&native, &source);
    runs_as(&native, &with_debug_info);
    let debugged = run(hyperjit_run(&["--lazy", "--debug"]).arg(&with_debug_info));
    assert_same_run(&native, &debugged, "hyperjit run --lazy --debug");
}

#[test]
fn metadata_naming_globals_on_moved_bodies_runs_in_every_mode() {
    let input = repo_root().join("tests/programs/metadata_globals.ll");
    let under_lli = run(Command::new(llvm_tool("lli")).arg(&input));
    assert_eq!(under_lli.stdout_text(), "metadata 2 1 100 30\n");
    assert_eq!(under_lli.status, Some(100));
    runs_as(&under_lli, &input);
}

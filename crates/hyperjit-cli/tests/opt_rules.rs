//! Both sides of the IR optimization rule (see `hyperjit::IrOptimization`),
//! shown by what the engine did, as `--stats` reports it: unoptimized IR is
//! optimized at `-O 2` (and its instruction count drops), not at `-O 0`;
//! optimized IR — the sqlite amalgamation from clang -O2 — is not optimized
//! again. The IR itself is checked by the unit tests of `compile/prepare.rs`;
//! how much faster the code runs is a benchmark (`bench/opt_rule.sh`).

mod support;

use std::process::Command;
use support::*;

/// The optimize line of `--stats`: modules optimized, of how many, and the
/// instruction counts before and after, if any module was optimized.
fn optimize_line(stderr: &str) -> (usize, usize, Option<(usize, usize)>) {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("optimize "))
        .unwrap_or_else(|| panic!("no optimize line in --stats output:\n{stderr}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|word| !word.is_empty())
        .filter_map(|word| word.parse().ok())
        .collect();
    // "optimize  TIME.FRACTION  (N of M modules)[ BEFORE -> AFTER IR instructions]"
    match numbers[..] {
        [_, _, optimized, modules] => (optimized, modules, None),
        [_, _, optimized, modules, before, after] => (optimized, modules, Some((before, after))),
        _ => panic!("unexpected optimize line: {line}"),
    }
}

#[test]
fn unoptimized_bitcode_is_optimized_at_o2_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bitcode = dir.path().join("compute.O0.bc");
    must(
        clang()
            .args(["-O0", "-c", "-emit-llvm", "-o"])
            .arg(&bitcode)
            .arg(repo_root().join("tests/programs/compute.c")),
    );

    let at = |level: &str| {
        let outcome = run(hyperjit()
            .args(["run", "--stats", "-O", level])
            .arg(&bitcode));
        assert_eq!(outcome.status, Some(0), "{}", outcome.stderr);
        outcome
    };
    let o0 = at("0");
    let o2 = at("2");
    assert_eq!(o0.stdout, o2.stdout, "both levels must compute the same");
    assert_eq!(optimize_line(&o0.stderr), (0, 1, None), "{}", o0.stderr);
    let (optimized, modules, counts) = optimize_line(&o2.stderr);
    assert_eq!((optimized, modules), (1, 1), "{}", o2.stderr);
    let (before, after) = counts.expect("instruction counts of the optimized module");
    assert!(
        after < before,
        "optimizing must shrink -O0 IR: {before} -> {after} instructions"
    );
}

#[test]
fn optimized_sqlite_is_not_optimized_again() {
    let bitcode = sqlite_bitcode();
    let jit = run(hyperjit().args(["run", "--stats", "-O", "2"]).arg(&bitcode));
    assert_eq!(jit.status, Some(0), "{}", jit.stderr);
    assert_eq!(
        optimize_line(&jit.stderr),
        (0, 1, None),
        "optimized bitcode must not be optimized again:\n{}",
        jit.stderr
    );
    let lli = run(Command::new(llvm_tool("lli")).arg("-O2").arg(&bitcode));
    assert_same_run(&lli, &jit, "hyperjit vs lli-19 on sqlite");
}

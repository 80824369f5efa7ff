//! Inputs the fuzzer found (`tests/regressions/`, see its README), run in
//! every mode: each ends as hyperjit's own error, never a crash or a hang;
//! and valid programs that once failed in some mode, which must run in all.

mod support;

use support::*;

fn regression(name: &str) -> std::path::PathBuf {
    repo_root().join("tests/regressions").join(name)
}

/// Runs `input` in every mode: each ends with status 125 and `stderr`.
fn fails_in_every_mode(input: &std::path::Path, stderr: &str) {
    for mode in [&["--eager"][..], &["--lazy"], &["--tier"]] {
        let outcome = run(hyperjit_run(mode).arg(input));
        assert_eq!(outcome.status, Some(125), "{mode:?}: {}", outcome.stderr);
        assert_eq!(outcome.stderr, stderr, "{mode:?}");
    }
}

#[test]
fn a_bitcode_file_llvm_crashes_reading_is_an_error() {
    let input = regression("reader_crash.bc");
    let expected = format!(
        "hyperjit: error: LLVM crashed while reading {} (SIGSEGV)\n",
        input.display()
    );
    fails_in_every_mode(&input, &expected);
}

#[test]
fn a_bitcode_file_llvm_reads_for_minutes_is_refused_before_reading() {
    let input = regression("huge_attribute_index.bc");
    let expected = format!(
        "hyperjit: error: {}: attribute group 19 is for parameter 134217725, beyond the 65535 \
         parameters a function may have (corrupt bitcode?)\n",
        input.display()
    );
    fails_in_every_mode(&input, &expected);
}

#[test]
fn a_lazily_read_body_the_verifier_rejects_is_an_error() {
    let input = regression("self_referencing_call.bc");
    for mode in [&["--eager"][..], &["--lazy"], &["--tier"]] {
        let outcome = run(hyperjit_run(mode).arg(&input));
        assert_eq!(outcome.status, Some(125), "{mode:?}: {}", outcome.stderr);
        assert!(
            outcome.stderr.starts_with(&format!(
                "hyperjit: error: {}: invalid IR rejected by the verifier:\nOnly PHI nodes may \
                 reference their own value!",
                input.display()
            )),
            "{mode:?}: {}",
            outcome.stderr
        );
    }
}

/// A library host that isolates its inputs survives the input LLVM's
/// reader crashes on: `add_file` fails with the crash, named; a good
/// input still runs in the same engine.
#[test]
fn an_isolated_engine_survives_what_crashes_llvm() {
    let engine = hyperjit::Engine::builder()
        .isolate_inputs(env!("CARGO_BIN_EXE_hyperjit"))
        .build()
        .unwrap();
    let crasher = regression("reader_crash.bc");
    let error = engine.add_file(&crasher).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{0}: LLVM crashed while reading {0} (SIGSEGV) (checked in a child process)",
            crasher.display()
        )
    );
    let naked = tempfile::tempdir().unwrap();
    let naked = write(
        naked.path(),
        "naked.ll",
        "define i32 @f(i32 %x) naked noinline {\n  %y = add i32 %x, 1\n  ret i32 %y\n}\n",
    );
    let error = engine.add_file(&naked).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{0}: LLVM crashed while compiling {0} (SIGSEGV) (checked in a child process)",
            naked.display()
        )
    );
    engine.add_file(conformance_source("recursion")).unwrap();
    assert_eq!(engine.run_main(&["recursion"]).unwrap(), 0);
}

/// `.LC0`, promoted with the `.L` it had, was an assembler temporary that
/// a body compiled on its first call could not reach.
#[test]
fn a_static_named_like_an_assembler_label_runs_in_every_mode() {
    let input = repo_root().join("tests/programs/local_label_name.ll");
    for mode in MODES.iter().copied().chain([&[][..]]) {
        let outcome = run(hyperjit_run(mode).arg(&input));
        assert_eq!(outcome.stderr, "", "{mode:?}");
        assert_eq!(outcome.stdout_text(), "Hello World\n", "{mode:?}");
        assert_eq!(outcome.status, Some(0), "{mode:?}");
    }
}

/// The checker's report is read while it runs: one longer than a pipe
/// holds (here 3,000 functions the verifier rejects, over 200 KB) blocked
/// the child until the time limit, and came back as a hang.
#[test]
fn an_isolated_check_with_a_long_report_returns_the_report() {
    let engine = hyperjit::Engine::builder()
        .isolate_inputs(env!("CARGO_BIN_EXE_hyperjit"))
        .build()
        .unwrap();
    let functions: String = (0..3000)
        .map(|i| {
            format!(
                "define i32 @f{i}(i32 %x) {{\nentry:\n  ret i32 %y\nnext:\n  \
                 %y = add i32 %x, 1\n  ret i32 %y\n}}\n"
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "undominated.ll", functions);
    let error = engine.add_file(&input).unwrap_err().to_string();
    let expected_start = format!(
        "{0}: {0}: invalid IR rejected by the verifier:\nInstruction does not dominate all uses!",
        input.display()
    );
    assert!(
        error.starts_with(&expected_start),
        "{}",
        &error[..error.len().min(300)]
    );
    assert_eq!(
        error
            .matches("Instruction does not dominate all uses!")
            .count(),
        3000
    );
    assert!(
        error.ends_with("(checked in a child process)"),
        "{}",
        &error[error.len() - 200..]
    );
}

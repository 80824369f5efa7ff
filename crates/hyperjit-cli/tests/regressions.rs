//! Inputs the fuzzer found (`tests/regressions/`, see its README), run in
//! every mode: each ends as hyperjit's own error, never a crash or a hang.

mod support;

use support::*;

fn regression(name: &str) -> std::path::PathBuf {
    repo_root().join("tests/regressions").join(name)
}

#[test]
fn a_bitcode_file_llvm_crashes_reading_is_an_error() {
    let input = regression("reader_crash.bc");
    for mode in [&["--eager"][..], &["--lazy"], &["--tier"]] {
        let outcome = run(hyperjit_run(mode).arg(&input));
        assert_eq!(outcome.status, Some(125), "{mode:?}: {}", outcome.stderr);
        assert_eq!(
            outcome.stderr,
            format!(
                "hyperjit: error: LLVM crashed while reading {} (SIGSEGV)\n",
                input.display()
            ),
            "{mode:?}"
        );
    }
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

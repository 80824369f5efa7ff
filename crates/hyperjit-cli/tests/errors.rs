//! Bad input is a test case: each error prints `hyperjit: error: ...` naming
//! the file, symbol or function, exits with 125, and runs no guest code.

mod support;

use support::*;

const ERROR_STATUS: Option<i32> = Some(125);

/// Runs `hyperjit run ARGS` and checks it failed as hyperjit's own error.
fn run_failing(args: &[&std::ffi::OsStr]) -> Outcome {
    let outcome = run(hyperjit().arg("run").args(args));
    assert_eq!(outcome.status, ERROR_STATUS, "stderr: {}", outcome.stderr);
    assert!(
        outcome.stderr.starts_with("hyperjit: error: "),
        "stderr: {}",
        outcome.stderr
    );
    assert!(
        outcome.stdout.is_empty(),
        "guest code ran: {}",
        outcome.stdout_text()
    );
    outcome
}

#[test]
fn missing_file() {
    let outcome = run_failing(&["/nonexistent/prog.ll".as_ref()]);
    assert!(
        outcome
            .stderr
            .contains("/nonexistent/prog.ll: No such file or directory"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn unsupported_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "prog.txt", b"int main(void) { return 0; }");
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome.stderr.contains("prog.txt: unsupported input"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn malformed_ir_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.ll",
        b"define i32 @main() {\nentry:\n  %x = add i32 1,\n  ret i32 %x\n}\n",
    );
    let outcome = run_failing(&[path.as_os_str()]);
    let location = format!("{}:4:3: error:", path.display());
    assert!(
        outcome.stderr.contains(&location),
        "expected {location} in:\n{}",
        outcome.stderr
    );
}

#[test]
fn bitcode_that_is_not_bitcode() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "prog.bc", b"define i32 @main() { ret i32 0 }\n");
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome.stderr.contains("prog.bc: not LLVM bitcode"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn truncated_bitcode() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "prog.c", b"int main(void) { return 7; }\n");
    let full = dir.path().join("full.bc");
    must(
        clang()
            .args(["-O2", "-c", "-emit-llvm", "-o"])
            .arg(&full)
            .arg(&source),
    );
    let bytes = std::fs::read(&full).unwrap();
    let path = write(dir.path(), "truncated.bc", &bytes[..bytes.len() / 2]);
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome.stderr.contains("truncated.bc"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn ir_rejected_by_the_verifier() {
    let dir = tempfile::tempdir().unwrap();
    // Parses, but %x is used where its definition does not dominate.
    let path = write(
        dir.path(),
        "undominated.ll",
        b"define i32 @main() {\nentry:\n  br label %next\nnext:\n  ret i32 %x\nother:\n  %x = add i32 1, 2\n  br label %next\n}\n",
    );
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome
            .stderr
            .contains("undominated.ll: invalid IR rejected by the verifier")
            && outcome
                .stderr
                .contains("Instruction does not dominate all uses!"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn c_that_does_not_compile_shows_clangs_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "broken.c",
        b"int main(void) {\n  return undeclared_thing;\n}\n",
    );
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome.stderr.contains("broken.c: clang failed"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("broken.c:2:10: error: use of undeclared identifier 'undeclared_thing'"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn missing_entry_function() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "prog.c", b"int main(void) { return 0; }\n");
    let outcome = run_failing(&["--entry".as_ref(), "start_here".as_ref(), path.as_os_str()]);
    assert!(
        outcome
            .stderr
            .contains("entry function 'start_here' is not defined by the program"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn entry_function_of_the_wrong_type() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "prog.c",
        b"double half(double x) { return x / 2; }\nint main(void) { return 0; }\n",
    );
    let outcome = run_failing(&["--entry".as_ref(), "half".as_ref(), path.as_os_str()]);
    assert!(
        outcome
            .stderr
            .contains("entry function 'half' has type double (double)"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn another_entry_function_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "prog.c",
        b"#include <stdio.h>\nint main(void) { return 1; }\nvoid other(void) { puts(\"other ran\"); }\n",
    );
    let outcome = run(hyperjit().args(["run", "--entry", "other"]).arg(&path));
    assert_eq!(outcome.status, Some(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout_text(), "other ran\n");
}

#[test]
fn all_unresolved_symbols_are_listed_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.c",
        b"#include <stdio.h>\nint missing_function(int);\nextern int missing_variable;\nint helper(void);\n\
          __attribute__((constructor)) static void early(void) { puts(\"constructor ran\"); }\n\
          int main(void) { puts(\"main ran\"); return missing_function(missing_variable) + helper(); }\n",
    );
    let b = write(
        dir.path(),
        "b.c",
        b"int missing_function(int);\nvoid also_missing(void);\nint helper(void) { also_missing(); return missing_function(1); }\n",
    );
    let outcome = run_failing(&[a.as_os_str(), b.as_os_str()]);
    let stderr = &outcome.stderr;
    assert!(stderr.contains("unresolved external symbols:"), "{stderr}");
    let a_name = a.display().to_string();
    let b_name = b.display().to_string();
    assert!(
        stderr.contains(&format!(
            "'missing_function' (referenced by {a_name}, {b_name})"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("'missing_variable' (referenced by {a_name})")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("'also_missing' (referenced by {b_name})")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("'helper'"),
        "helper is defined by b.c: {stderr}"
    );
}

#[test]
fn a_symbol_defined_twice_is_a_link_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(
        dir.path(),
        "a.c",
        b"int twice(void) { return 1; }\nint main(void) { return twice(); }\n",
    );
    let b = write(dir.path(), "b.c", b"int twice(void) { return 2; }\n");
    let outcome = run_failing(&[a.as_os_str(), b.as_os_str()]);
    assert_eq!(
        outcome.stderr,
        format!(
            "hyperjit: error: {}: link error: 'twice' is defined in {} and again here\n",
            b.display(),
            a.display()
        )
    );
}

#[test]
fn ir_for_another_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "arm.ll",
        b"target triple = \"aarch64-unknown-linux-gnu\"\ndefine i32 @main() {\n  ret i32 0\n}\n",
    );
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome
            .stderr
            .contains("arm.ll: built for target 'aarch64-unknown-linux-gnu'"),
        "{}",
        outcome.stderr
    );
}

/// A module laid out for other alignments hard-codes offsets that would
/// mean something else on this host (natively, this one returns 5).
#[test]
fn a_data_layout_that_is_not_the_hosts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "packed.ll",
        br#"target datalayout = "e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:32-i128:128-f80:128-n8:16:32:64-S128"
%pair = type { i32, i64 }
@p = global %pair { i32 1, i64 5 }
define i32 @main() {
  %q = getelementptr i8, ptr @p, i64 4
  %v = load i64, ptr %q
  %t = trunc i64 %v to i32
  ret i32 %t
}
"#,
    );
    let outcome = run_failing(&[path.as_os_str()]);
    assert!(
        outcome.stderr.contains(&format!(
            "{}: data layout 'e-m:e-p270:32:32-p271:32:32-p272:64:64-i64:32-i128:128-f80:128-n8:16:32:64-S128' \
             is not the host's: i64 is aligned to 4 bytes, not the host's 8",
            path.display()
        )),
        "{}",
        outcome.stderr
    );
}

/// Bitcode assembled from `ir` (by llvm-as-19) with each `from` name's
/// bytes replaced by `to`'s, as a corrupt or crafted file may hold them
/// (the text form cannot spell a NUL in a name).
fn bitcode_with_names(
    dir: &std::path::Path,
    name: &str,
    ir: &str,
    names: &[(&str, &[u8])],
) -> std::path::PathBuf {
    let source = write(dir, &format!("{name}.ll"), ir);
    let assembled = dir.join(format!("{name}.assembled.bc"));
    must(
        std::process::Command::new(llvm_tool("llvm-as"))
            .arg(&source)
            .arg("-o")
            .arg(&assembled),
    );
    let mut bytes = std::fs::read(&assembled).unwrap();
    for (from, to) in names {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|window| window == from.as_bytes())
            .expect("the name is in the string table");
        bytes[at..at + to.len()].copy_from_slice(to);
    }
    write(dir, &format!("{name}.bc"), bytes)
}

/// Two local functions whose names differ only after a NUL byte stay two
/// functions in every mode (an object file's symbol table would cut both
/// names at the NUL: the JIT'd main called one of them twice); an
/// external name with a NUL byte is refused, naming it.
#[test]
fn names_with_a_nul_byte_never_link_to_another_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let two = bitcode_with_names(
        dir.path(),
        "two",
        "define internal i32 @hAa() noinline {\n  ret i32 3\n}\n\
         define internal i32 @hAb() noinline {\n  ret i32 4\n}\n\
         define i32 @main() {\n  %a = call i32 @hAa()\n  %b = call i32 @hAb()\n\
         \x20 %m = mul i32 %a, 10\n  %r = add i32 %m, %b\n  ret i32 %r\n}\n",
        &[("hAa", b"h\0a"), ("hAb", b"h\0b")],
    );
    for mode in MODES {
        let outcome = run(hyperjit_run(mode).arg(&two));
        assert_eq!(outcome.status, Some(34), "{mode:?}: {}", outcome.stderr);
    }
    let external = bitcode_with_names(
        dir.path(),
        "external",
        "declare i32 @putsAx(ptr)\n\
         define i32 @main() {\n  %r = call i32 @putsAx(ptr null)\n  ret i32 %r\n}\n",
        &[("putsAx", b"puts\0x")],
    );
    let outcome = run_failing(&[external.as_os_str()]);
    assert!(
        outcome.stderr.contains(&format!(
            "{}: symbol names an object file cannot hold (a NUL byte, or not UTF-8): 'puts\\x00x'",
            external.display()
        )),
        "{}",
        outcome.stderr
    );
}

/// Runs `path` compiled up front and lazily: each time the one line on
/// stderr is hyperjit's error naming it with `expected` (LLVM printed
/// nothing of its own before it).
fn refused_compiled_up_front_and_lazily(path: &std::path::Path, expected: &str) {
    for mode in ["--eager", "--lazy"] {
        let outcome = run_failing(&[mode.as_ref(), path.as_os_str()]);
        assert_eq!(
            outcome.stderr,
            format!("hyperjit: error: {}: {expected}\n", path.display()),
            "{mode}"
        );
    }
}

/// Globals no process can hold are refused before LLVM lays them out
/// (`align 4294967296` made it write 7 GB of padding; a 32 GiB array is
/// memory the JIT would commit and clear).
#[test]
fn absurd_alignments_and_sizes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, ir, expected) in [
        (
            "aligned.ll",
            "@big = global i32 5, align 4294967296\n",
            "'big' asks for alignment 4294967296 bytes, more than the 16777216 hyperjit allows",
        ),
        (
            "huge.ll",
            "@huge = global [4294967296 x i64] zeroinitializer\n",
            "'huge' takes 34359738368 bytes, more than the 4294967296 hyperjit allows for one \
             global",
        ),
        (
            "function.ll",
            "define void @f() align 1073741824 {\n  ret void\n}\n",
            "function 'f' asks for alignment 1073741824 bytes, more than the 16777216 hyperjit \
             allows",
        ),
    ] {
        let ir = format!("{ir}define i32 @main() {{\n  ret i32 0\n}}\n");
        let path = write(dir.path(), name, ir);
        refused_compiled_up_front_and_lazily(&path, expected);
    }
}

/// IR the verifier accepts but LLVM's code generator would end the
/// process over ("LLVM ERROR: ...", exit 134) is refused naming the
/// function or global.
#[test]
fn what_code_generation_refuses_is_refused_first() {
    let dir = tempfile::tempdir().unwrap();
    let main = "define i32 @main() #0 {\n  ret i32 0\n}\n";
    for (name, ir, expected) in [
        (
            "cpu.ll",
            format!("{main}attributes #0 = {{ \"target-cpu\"=\"no-such-cpu\" }}\n"),
            "function 'main' is for target-cpu 'no-such-cpu', which LLVM does not know",
        ),
        (
            "i386.ll",
            format!("{main}attributes #0 = {{ \"target-cpu\"=\"i386\" }}\n"),
            "function 'main' is for target-cpu 'i386' with target-features '', which cannot \
             generate 64-bit code",
        ),
        (
            "feature.ll",
            format!("{main}attributes #0 = {{ \"target-features\"=\"+sse2,+x84\" }}\n"),
            "function 'main' has target-feature '+x84', which LLVM does not know",
        ),
        (
            "tune.ll",
            format!("{main}attributes #0 = {{ \"tune-cpu\"=\"nothing-like-it\" }}\n"),
            "function 'main' is tuned for 'nothing-like-it', which LLVM does not know",
        ),
        (
            "not64.ll",
            format!("{main}attributes #0 = {{ \"target-features\"=\"-64bit\" }}\n"),
            "function 'main' has target-features '-64bit', which cannot generate 64-bit code",
        ),
        (
            "appending.ll",
            format!("@things = appending global [1 x i32] [i32 1]\n{main}attributes #0 = {{ nounwind }}\n"),
            "'things' has appending linkage, which only LLVM's own arrays (llvm.*) have",
        ),
        (
            "scalable.ll",
            format!(
                "define <vscale x 4 x i32> @f() {{\n  ret <vscale x 4 x i32> zeroinitializer\n}}\n\
                 {main}attributes #0 = {{ nounwind }}\n"
            ),
            "function 'f' passes a scalable vector, which x86-64 code cannot hold",
        ),
    ] {
        let path = write(dir.path(), name, ir);
        refused_compiled_up_front_and_lazily(&path, expected);
    }
}

/// What still reaches one of LLVM's fatal errors, or runs it out of
/// memory, ends the process as hyperjit's own error, not with an abort.
#[test]
fn llvm_fatal_errors_and_allocation_failures_are_hyperjits_errors() {
    let dir = tempfile::tempdir().unwrap();
    let in_body = write(
        dir.path(),
        "scalable_body.ll",
        "define i32 @main() {\n  %p = alloca <vscale x 4 x i32>\n\
         \x20 store <vscale x 4 x i32> zeroinitializer, ptr %p\n  ret i32 0\n}\n",
    );
    for mode in [&["--eager"][..], &["--lazy"]] {
        let mut args: Vec<&std::ffi::OsStr> = mode.iter().map(|arg| arg.as_ref()).collect();
        args.push(in_body.as_os_str());
        let outcome = run_failing(&args);
        assert_eq!(
            outcome.stderr,
            "hyperjit: error: LLVM: Invalid size request on a scalable vector.\n"
        );
    }
    // 3 GB of initialized data, under a 2 GB address-space limit.
    let big = write(
        dir.path(),
        "big_data.ll",
        "@big = global <{ i8, [3000000000 x i8] }> <{ i8 1, [3000000000 x i8] zeroinitializer }>\n\
         define i32 @main() {\n  ret i32 0\n}\n",
    );
    let hyperjit = hyperjit();
    let outcome = run(std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 2000000 && exec \"$0\" run --eager \"$1\"")
        .arg(hyperjit.get_program())
        .arg(&big));
    assert_eq!(outcome.status, ERROR_STATUS, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .starts_with("hyperjit: error: LLVM ran out of memory: "),
        "{}",
        outcome.stderr
    );
}

/// Inline assembly the assembler rejects is an error, as clang makes it
/// natively, whether compiled up front or on the function's first call
/// (it was dropped, and the program ran).
#[test]
fn invalid_inline_assembly_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let c = write(
        dir.path(),
        "asm.c",
        "int main(void) {\n    int x = 1;\n\
         \x20   __asm__ volatile(\"movl $5, %0\\n\\tbogusinstr %0\" : \"=r\"(x));\n\
         \x20   return x;\n}\n",
    );
    let ll = write(
        dir.path(),
        "asm.ll",
        "define i32 @main() {\n  %r = call i32 asm \"movl $$7, $0\\0A\\09nosuchop\", \"=r\"()\n\
         \x20 ret i32 %r\n}\n",
    );
    for (path, mnemonic) in [(&c, "bogusinstr"), (&ll, "nosuchop")] {
        for (mode, place) in [
            ("--eager", format!("{}: generating code", path.display())),
            (
                "--lazy",
                "trap: function 'main' (compiled on its first call): generating code".to_string(),
            ),
        ] {
            let outcome = run_failing(&[mode.as_ref(), path.as_os_str()]);
            let expected = format!(
                "hyperjit: error: {place}: error: <inline asm>:2:2: invalid instruction mnemonic \
                 '{mnemonic}'"
            );
            assert!(
                outcome.stderr.starts_with(&expected),
                "{mode}: {}",
                outcome.stderr
            );
        }
    }
}

#[test]
fn out_of_range_opt_level_is_a_usage_error() {
    let outcome = run_failing(&["-O".as_ref(), "7".as_ref(), "prog.c".as_ref()]);
    assert!(
        outcome
            .stderr
            .starts_with("hyperjit: error: invalid value '7' for '-O <LEVEL>': 7 is not in 0..=3"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn no_input_is_a_usage_error() {
    let outcome = run_failing(&[]);
    assert!(outcome.stderr.contains("<INPUT>"), "{}", outcome.stderr);
}

#[test]
fn stats_report_every_phase() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "prog.c", b"int main(void) { return 4; }\n");
    let outcome = run(hyperjit().args(["run", "--stats"]).arg(&path));
    assert_eq!(outcome.status, Some(4), "{}", outcome.stderr);
    for phase in ["clang", "parse", "optimize", "codegen+link", "run", "total"] {
        assert!(
            outcome.stderr.lines().any(|line| line.starts_with(phase)),
            "no {phase} line in:\n{}",
            outcome.stderr
        );
    }
}

#[test]
fn include_dirs_and_defines_reach_clang() {
    let dir = tempfile::tempdir().unwrap();
    let include = dir.path().join("inc");
    std::fs::create_dir(&include).unwrap();
    write(&include, "answer.h", b"#define ANSWER (BASE + 2)\n");
    let path = write(
        dir.path(),
        "prog.c",
        b"#include \"answer.h\"\n#include <hyperjit.h>\nint main(void) { return ANSWER; }\n",
    );
    let outcome = run(hyperjit()
        .arg("run")
        .arg("-I")
        .arg(&include)
        .args(["-D", "BASE=40"])
        .arg(&path));
    assert_eq!(outcome.status, Some(42), "{}", outcome.stderr);
}

#[test]
fn a_trap_is_hyperjits_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "trap.c",
        b"#include <hyperjit.h>\n#include <stdio.h>\nint main(int argc, char **argv) {\n  \
          PerformCustomCallback(argv[0], 0);\n  puts(\"not reached\");\n  return 0;\n}\n",
    );
    let outcome = run_failing(&[path.as_os_str()]);
    assert_eq!(
        outcome.stderr.trim_end(),
        format!(
            "hyperjit: error: trap: unknown callback '{}'",
            path.display()
        )
    );
}

/// `hyperjit run` gives guests the hypercalls with no extra flags: the
/// stepper example redefines its own step() mid-run.
#[test]
fn hypercalls_work_under_the_cli() {
    let examples = repo_root().join("crates/hyperjit/examples");
    let outcome = run(hyperjit()
        .arg("run")
        .arg(examples.join("stepper.c"))
        .arg("--")
        .arg(examples.join("step_v2.c")));
    assert_eq!(outcome.status, Some(0), "{}", outcome.stderr);
    let text = outcome.stdout_text();
    assert!(text.contains("round 3: value 3\n"), "{text}");
    assert!(text.contains("round 4: value 30\n"), "{text}");
    assert!(text.contains("round 6: value 3000\n"), "{text}");
}

/// A cache "directory" that is a file is refused, by name, before anything
/// runs; contradictory mode flags are usage errors.
#[test]
fn bad_compilation_settings() {
    let dir = tempfile::tempdir().unwrap();
    let program = write(dir.path(), "prog.c", b"int main(void) { return 0; }");
    let file = write(dir.path(), "not-a-dir", b"");
    let outcome = run_failing(&["--cache".as_ref(), file.as_os_str(), program.as_os_str()]);
    let expected = format!("cache {}: not a directory", file.display());
    assert!(outcome.stderr.contains(&expected), "{}", outcome.stderr);
    for flags in [
        ["--lazy", "--eager"],
        ["--tier", "--eager"],
        ["--lazy", "--tier"],
    ] {
        let outcome = run(hyperjit().arg("run").args(flags).arg(&program));
        assert_eq!(
            outcome.status, ERROR_STATUS,
            "{flags:?}: {}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains("cannot be used with"),
            "{}",
            outcome.stderr
        );
    }
    // The threshold tunes the default mode too.
    let tuned = run(hyperjit()
        .args(["run", "--tier-threshold", "5"])
        .arg(&program));
    assert_eq!(tuned.status, Some(0), "{}", tuned.stderr);
}

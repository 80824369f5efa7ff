//! The symbol policy under the CLI: `--sandbox` links only what hyperjit
//! itself defines (its runtime, hypercalls, callbacks) and what `--allow`
//! and `--allow-file` name; every denied symbol is listed at once with the
//! input that uses it, and inline assembly is refused, naming the function.

mod support;

use support::*;

const PROGRAM: &str = r#"#include <hyperjit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    char text[64];
    snprintf(text, sizeof text, "hello %d", argc);
    puts(text);
    if (argc > 5) system("echo escaped");
    /* hyperjit wraps pthread_create (for fault reports), but the policy
       decides on it as on libc's. */
    pthread_t thread;
    if (argc > 6) pthread_create(&thread, 0, 0, 0);
    /* 128-bit division: code generation calls __divti3, which no list
       names, and a hypercall: both are hyperjit's to allow. */
    volatile __int128 big = (__int128)1 << 100, divisor = (__int128)1 << 98;
    printf("%d %s\n", (int)(big / divisor), hj_lookup("main") ? "main" : "-");
    return (int)strlen(text);
}
"#;

#[test]
fn denied_symbols_are_listed_at_once_with_their_users() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "prog.c", PROGRAM);
    let outcome = run(hyperjit_run(&["--sandbox", "--allow", "puts"]).arg(&source));
    // hj_lookup (a hypercall) and __divti3 (code generation's) are not
    // listed: hyperjit allows its own.
    assert_eq!(outcome.status, Some(125), "{}", outcome.stderr);
    let users = format!("(referenced by {})", source.display());
    assert_eq!(
        outcome.stderr,
        format!(
            "hyperjit: error: symbols the symbol policy does not allow:\n  'printf' {users}\n  \
             'pthread_create' {users}\n  'snprintf' {users}\n  'strlen' {users}\n  'system' {users}\n"
        )
    );
    assert!(outcome.stdout.is_empty());
}

#[test]
fn allowed_symbols_link_and_nothing_else_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "prog.c", PROGRAM);
    let list = write(
        dir.path(),
        "allowed.txt",
        "# what prog.c may use\nsnprintf\n\nputs\n  strlen\nprintf\nsystem\npthread_create\n",
    );
    for mode in [&["--eager"][..], &["--lazy"], &["--tier"]] {
        let outcome = run(hyperjit_run(mode)
            .arg("--sandbox")
            .arg("--allow-file")
            .arg(&list)
            .arg(&source));
        assert_eq!(outcome.status, Some(7), "{mode:?}: {}", outcome.stderr);
        assert_eq!(outcome.stdout_text(), "hello 1\n4 main\n", "{mode:?}");
    }
}

#[test]
fn a_weak_reference_to_a_denied_symbol_is_null() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "weak.ll",
        "declare extern_weak i32 @system(ptr)\n\
         define i32 @main() {\n  %null = icmp eq ptr @system, null\n\
         \x20 %r = select i1 %null, i32 3, i32 4\n  ret i32 %r\n}\n",
    );
    let sandboxed = run(hyperjit_run(&["--sandbox"]).arg(&source));
    assert_eq!(sandboxed.status, Some(3), "{}", sandboxed.stderr);
    let open = run(hyperjit_run(&[]).arg(&source));
    assert_eq!(open.status, Some(4), "{}", open.stderr);
}

#[test]
fn inline_assembly_is_refused_naming_the_function() {
    let dir = tempfile::tempdir().unwrap();
    let c = write(
        dir.path(),
        "asm.c",
        "__attribute__((noinline)) static int seven(void) { int x; __asm__(\"movl $7, %0\" : \"=r\"(x)); return x; }\n\
         int main(void) { return seven(); }\n",
    );
    let module_asm = write(
        dir.path(),
        "module_asm.ll",
        "module asm \".globl hidden_entry\"\ndefine i32 @main() {\n  ret i32 0\n}\n",
    );
    for (path, place) in [
        (&c, "function 'seven'"),
        (&module_asm, "module-level assembly"),
    ] {
        for mode in ["--eager", "--lazy"] {
            let outcome = run(hyperjit_run(&[mode, "--sandbox"]).arg(path));
            assert_eq!(outcome.status, Some(125), "{}", outcome.stderr);
            assert_eq!(
                outcome.stderr,
                format!(
                    "hyperjit: error: {}: inline assembly (in {place}) is not allowed by the \
                     symbol policy\n",
                    path.display()
                ),
                "{mode}"
            );
        }
    }
    // Outside the sandbox it runs, as natively.
    let outcome = run(hyperjit_run(&["-O", "0"]).arg(&c));
    assert_eq!(outcome.status, Some(7), "{}", outcome.stderr);
}

#[test]
fn allow_options_need_the_sandbox_and_a_readable_file() {
    let outcome = run(&mut hyperjit_run(&["--allow", "puts", "prog.c"]));
    assert_eq!(outcome.status, Some(125));
    assert!(
        outcome.stderr.starts_with(
            "hyperjit: error: the following required arguments were not provided:\n  --sandbox"
        ),
        "{}",
        outcome.stderr
    );
    let outcome = run(&mut hyperjit_run(&[
        "--sandbox",
        "--allow-file",
        "/nonexistent/list",
        "prog.c",
    ]));
    assert_eq!(outcome.status, Some(125));
    assert!(
        outcome
            .stderr
            .starts_with("hyperjit: error: --allow-file /nonexistent/list: No such file"),
        "{}",
        outcome.stderr
    );
}

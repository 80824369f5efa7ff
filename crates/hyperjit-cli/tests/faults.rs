//! Fault reports: a guest killed by a signal is reported with the signal,
//! the address and the JIT'd function + offset, and dies by the signal the
//! native build dies by; a crash inside LLVM is hyperjit's own error.

mod support;

use support::*;

/// One program, seven ways to die, chosen by its first argument.
const FAULTS: &str = r#"#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int zero = 0;
__attribute__((noinline)) int crash_here(int *p) { return *p + 1; }
__attribute__((noinline)) int divide(int a, int b) { return a / b; }
__attribute__((noinline)) int recurse(int n) {
    volatile char pad[256];
    pad[0] = n;
    return recurse(n + 1) + pad[0];
}
__attribute__((noinline)) void give_up(void) { abort(); }
void *overflow(void *unused) { return (void *)(long)recurse(unused != 0); }
__attribute__((noinline)) int overflow_on_a_thread(void) {
    pthread_t thread;
    if (pthread_create(&thread, 0, overflow, 0) != 0) return 99;
    return pthread_join(thread, 0);
}
/* Overwrites the whole heap, the host's data in it too, then aborts. */
__attribute__((noinline)) void trash_heap(void) {
    unsigned long low = 0, high = 0;
    char line[512];
    FILE *maps = fopen("/proc/self/maps", "r");
    while (maps && fgets(line, sizeof line, maps))
        if (strstr(line, "[heap]")) sscanf(line, "%lx-%lx", &low, &high);
    if (maps) fclose(maps);
    if (low) memset((void *)low, 0x41, high - low);
    abort();
}
__attribute__((noinline)) size_t measure(const char *s) { return strlen(s) + 1; }
typedef int (*function)(void);
__attribute__((noinline)) int jump(long where) { return ((function)where)(); }
int main(int argc, char **argv) {
    puts("before");
    fflush(stdout);
    switch (argc > 1 ? argv[1][0] : 0) {
    case 's': return crash_here(0);
    case 'd': return divide(7, zero);
    case 'r': return recurse(0);
    case 't': return overflow_on_a_thread();
    case 'a': give_up(); return 0;
    case 'h': trash_heap(); return 0;
    case 'l': return (int)measure((const char *)(long)zero);
    case 'j': return jump(0x200000001L + zero);
    }
    return 0;
}
"#;

#[test]
fn a_guest_killed_by_a_signal_is_reported_and_dies_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "faults.c", FAULTS);
    let native = dir.path().join("faults");
    build_native(&source, &native);
    for (how, report) in [
        (
            "s",
            &["killed by SIGSEGV at address 0x0\n  in crash_here+0x"][..],
        ),
        (
            "d",
            &[
                "killed by SIGFPE (arithmetic error) at 0x",
                "\n  in divide+0x",
            ],
        ),
        (
            "r",
            &[
                "killed by SIGSEGV (stack overflow) at address 0x",
                "\n  in recurse+0x",
            ],
        ),
        // On a thread the guest created, which gets an alternate stack too.
        (
            "t",
            &[
                "killed by SIGSEGV (stack overflow) at address 0x",
                "\n  in recurse+0x",
            ],
        ),
        (
            "a",
            &[
                "killed by SIGABRT\n  in ",
                "libc.so.6",
                "\n  called from give_up+0x",
            ],
        ),
        // The report reads nothing from the heap the guest shares, or
        // stops where it would fault: the process still dies by SIGABRT.
        ("h", &["killed by SIGABRT\n  in ", "libc.so.6"]),
        (
            "l",
            &[
                "killed by SIGSEGV at address 0x0\n  in ",
                "libc.so.6",
                "\n  called from ",
            ],
        ),
    ] {
        let expected = run(std::process::Command::new(&native).arg(how));
        assert!(
            expected.signal.is_some(),
            "the native build dies by a signal"
        );
        for mode in [&["--eager"][..], &["--lazy"], &["--tier"]] {
            let outcome = run(hyperjit_run(mode).arg(&source).arg("--").arg(how));
            let what = format!("{how} {mode:?}: {}", outcome.stderr);
            assert_eq!(outcome.signal, expected.signal, "{what}");
            assert_eq!(outcome.stdout_text(), "before\n", "{what}");
            assert!(
                outcome
                    .stderr
                    .starts_with("hyperjit: the program was killed by "),
                "{what}"
            );
            for part in report {
                assert!(outcome.stderr.contains(part), "{part:?} in {what}");
            }
        }
    }
}

/// A function LLVM's instruction selector crashes on (a `naked` function
/// that uses its argument, compiled at -O1 and above): the CLI reports the
/// crash as its own error, naming what it was compiling: the file up
/// front, the function on its first call, or on the tier thread, when the
/// loop calling it made it hot.
#[test]
fn a_crash_inside_llvm_is_hyperjits_error() {
    let dir = tempfile::tempdir().unwrap();
    let naked = "define i32 @f(i32 %x) naked noinline {\n  %y = add i32 %x, 1\n  ret i32 %y\n}\n";
    let path = write(
        dir.path(),
        "naked.ll",
        format!("{naked}define i32 @main() {{\n  %r = call i32 @f(i32 2)\n  ret i32 %r\n}}\n"),
    );
    let looping = write(
        dir.path(),
        "naked_loop.ll",
        format!(
            "{naked}define i32 @main() {{\nentry:\n  br label %loop\nloop:\n  \
             %i = phi i32 [ 0, %entry ], [ %n, %loop ]\n  %n = call i32 @f(i32 %i)\n  \
             %done = icmp sgt i32 %n, 2000000000\n  br i1 %done, label %exit, label %loop\n\
             exit:\n  ret i32 0\n}}\n"
        ),
    );
    let file = path.display().to_string();
    for (mode, input, compiling) in [
        (&["--eager"][..], &path, file.as_str()),
        (&["--lazy"], &path, "f on its first call"),
        (&[], &looping, "tiering up f"),
        (
            &["--tier", "--tier-threshold", "100"],
            &looping,
            "tiering up f",
        ),
    ] {
        let outcome = run(hyperjit_run(mode).arg(input));
        assert_eq!(outcome.status, Some(125), "{mode:?}: {}", outcome.stderr);
        let expected = if compiling.starts_with("tiering") {
            format!("hyperjit: error: LLVM crashed while {compiling} (SIGSEGV)\n")
        } else {
            format!("hyperjit: error: LLVM crashed while compiling {compiling} (SIGSEGV)\n")
        };
        assert_eq!(outcome.stderr, expected, "{mode:?}");
    }
}

//! `hyperjit run --debug` under Debian's gdb, in batch mode: a breakpoint
//! on a guest function by name, backtraces through guest frames with their
//! names and source lines, and a recompiled body registered too.

mod support;

use std::process::Command;
use support::*;

/// Runs `hyperjit run --debug SOURCE` under gdb with `commands`; gdb's
/// output.
fn gdb(source: &std::path::Path, commands: &[&str]) -> String {
    let mut gdb = Command::new("gdb");
    gdb.args(["-q", "-batch", "-nx", "-ex", "set breakpoint pending on"]);
    for command in commands {
        gdb.args(["-ex", command]);
    }
    gdb.arg("--args")
        .arg(env!("CARGO_BIN_EXE_hyperjit"))
        .args(["run", "--debug"])
        .arg(source);
    let outcome = run(&mut gdb);
    assert_eq!(outcome.status, Some(0), "gdb failed: {}", outcome.stderr);
    outcome.stdout_text()
}

/// The frames of the first backtrace after each stop, as `NAME (..) at
/// FILE:LINE` or `NAME ()` without their addresses.
fn frames(output: &str) -> Vec<String> {
    output
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| match line.split_once(" in ") {
            Some((_, frame)) => frame.to_string(),
            None => line
                .split_once("  ")
                .map_or(line, |(_, rest)| rest)
                .to_string(),
        })
        .collect()
}

#[test]
fn gdb_breaks_on_a_guest_function_and_backtraces_with_names_and_lines() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "nested.c",
        "#include <stdio.h>\n\
         int leaf(int x) {\n\
         \x20   volatile int y = x * 2;\n\
         \x20   return y + 1;\n\
         }\n\
         int middle(int x) { return leaf(x + 1) * 3; }\n\
         int main(void) {\n\
         \x20   printf(\"%d\\n\", middle(4));\n\
         \x20   return 0;\n\
         }\n",
    );
    let output = gdb(&source, &["break leaf", "run", "bt 3"]);
    let frames = frames(&output);
    let file = source.display().to_string();
    assert!(frames.len() >= 3, "{output}");
    assert!(frames[0].starts_with("leaf "), "{output}");
    assert!(
        frames[1].starts_with("middle (") && frames[1].ends_with(&format!("at {file}:6")),
        "{output}"
    );
    assert!(
        frames[2].starts_with("main () at ") && frames[2].ends_with(&format!("{file}:8")),
        "{output}"
    );
}

#[test]
fn a_recompiled_body_is_registered_too() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "swap.c",
        "#include <hyperjit.h>\n\
         #include <stdio.h>\n\
         int leaf(int x) {\n\
         \x20   printf(\"leaf %d\\n\", x);\n\
         \x20   return x + 1;\n\
         }\n\
         int main(void) {\n\
         \x20   leaf(1);\n\
         \x20   if (hj_recompile(\"leaf\", 1) != 0) return 2;\n\
         \x20   leaf(2);\n\
         \x20   return 0;\n\
         }\n",
    );
    let output = gdb(
        &source,
        &[
            "break printf",
            "run",
            "bt 3",
            "continue",
            "bt 3",
            "continue",
        ],
    );
    let file = source.display().to_string();
    let leaf_frames: Vec<String> = frames(&output)
        .into_iter()
        .filter(|frame| frame.starts_with("leaf "))
        .collect();
    assert_eq!(
        leaf_frames,
        [
            format!("leaf (x=1) at {file}:4"),
            format!("leaf (x=2) at {file}:4")
        ],
        "{output}"
    );
    // The two calls ran different bodies: the original and the recompiled.
    let addresses: Vec<&str> = output
        .lines()
        .filter(|line| line.starts_with("#1 ") && line.contains(" in leaf "))
        .filter_map(|line| line.split_whitespace().nth(1))
        .collect();
    assert_eq!(addresses.len(), 2, "{output}");
    assert_ne!(addresses[0], addresses[1], "{output}");
}

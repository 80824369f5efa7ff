//! `hyperjit run --perf-map`: `/tmp/perf-PID.map` lists every function the
//! engine emitted — each function's entry stub at the address the program
//! sees, its bodies (first, recompiled) — with plausible sizes.

mod support;

use std::process::{Command, Stdio};
use support::*;

/// A map line: start, size, name.
struct Entry {
    start: u64,
    size: u64,
    name: String,
}

/// Runs `hyperjit run --perf-map MODE... SOURCE`; its stdout and the map.
fn run_with_map(mode: &[&str], source: &std::path::Path) -> (String, Vec<Entry>) {
    let child = Command::new(env!("CARGO_BIN_EXE_hyperjit"))
        .args(["run", "--perf-map"])
        .args(mode)
        .arg(source)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hyperjit runs");
    let map_path = format!("/tmp/perf-{}.map", child.id());
    let output = child.wait_with_output().expect("hyperjit ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let map = std::fs::read_to_string(&map_path).unwrap_or_else(|e| panic!("{map_path}: {e}"));
    let _ = std::fs::remove_file(&map_path);
    let entries = map
        .lines()
        .map(|line| {
            let mut fields = line.splitn(3, ' ');
            let mut hex = || u64::from_str_radix(fields.next().unwrap_or(""), 16);
            let (start, size) = (hex(), hex());
            let name = fields.next().unwrap_or("").to_string();
            match (start, size) {
                (Ok(start), Ok(size)) if !name.is_empty() => Entry { start, size, name },
                _ => panic!("malformed perf map line {line:?} in {map_path}"),
            }
        })
        .collect();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        entries,
    )
}

const PROGRAM: &str = "#include <hyperjit.h>\n\
#include <stdio.h>\n\
int leaf(int x) { return x * 3 + 1; }\n\
int main(void) {\n\
    int before = leaf(2);\n\
    if (hj_recompile(\"leaf\", 2) != 0) return 1;\n\
    printf(\"%lx %lx %d\\n\", (unsigned long)leaf, (unsigned long)main, before + leaf(3));\n\
    return 0;\n\
}\n";

#[test]
fn the_perf_map_names_stubs_and_every_body_with_plausible_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "profiled.c", PROGRAM);
    // Eager and lazy: exactly the first body and the recompiled one. In
    // the default (tiered) mode a recompile goes live at the baseline and
    // its optimized version follows from the background, if the run lasts.
    for (mode, exact) in [(&["--eager"][..], true), (&["--lazy"], true), (&[], false)] {
        let (stdout, entries) = run_with_map(mode, &source);
        let printed: Vec<&str> = stdout.split_whitespace().collect();
        assert_eq!(printed.get(2), Some(&"17"), "{mode:?}: {stdout}");
        let address = |text: &str| u64::from_str_radix(text, 16).expect("an address");
        let (leaf, main) = (address(printed[0]), address(printed[1]));

        // The functions' addresses, as the program sees them, are listed
        // under their names.
        for (name, at) in [("leaf", leaf), ("main", main)] {
            assert!(
                entries.iter().any(|e| e.name == name && e.start == at),
                "{mode:?}: no '{name}' at {at:x}"
            );
        }
        // leaf's first body and its recompiled one (at least): distinct
        // code, each of a plausible size, near the rest of the JIT's code.
        let bodies: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.name.starts_with("leaf.") || e.name.starts_with("leaf["))
            .collect();
        let listed = format!("{mode:?}: leaf's bodies: {:?}", names(&entries));
        if exact {
            assert_eq!(bodies.len(), 2, "{listed}");
        } else {
            assert!(bodies.len() >= 2, "{listed}");
        }
        let mut starts: Vec<u64> = bodies.iter().map(|body| body.start).collect();
        starts.sort_unstable();
        starts.dedup();
        assert_eq!(starts.len(), bodies.len(), "{listed}: two at one address");
        for body in bodies
            .iter()
            .copied()
            .chain(entries.iter().filter(|e| e.name == "main"))
        {
            assert!(
                (1..4096).contains(&body.size),
                "{mode:?}: {} has size {}",
                body.name,
                body.size
            );
            assert!(
                body.start.abs_diff(main) < 1 << 31,
                "{mode:?}: {} at {:x} is far from main at {main:x}",
                body.name,
                body.start
            );
        }
    }
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

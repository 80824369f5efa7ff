//! The examples under examples/ run and print what they should. `cargo
//! test` builds them next to this test's binary.

use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let dir: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile directory")
        .join("examples");
    let output = Command::new(dir.join(name))
        .output()
        .unwrap_or_else(|e| panic!("cannot run example {name} from {}: {e}", dir.display()));
    assert!(
        output.status.success(),
        "example {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn seed_example() {
    let output = example("seed");
    assert!(
        output.contains("Callback1(10, 20) called with host context"),
        "{output}"
    );
    assert!(output.contains("Callback1 returned 30"), "{output}");
    assert!(output.contains("guest exited with 0"), "{output}");
}

#[test]
fn typed_state_example() {
    let output = example("typed_state");
    for line in [
        "[host, from log_line] withdraw -50 -> total 150",
        "guest: average amount 43.75",
        "host: guest exited with 0 after 4 events",
        "host: record called 4 times",
        "host: log_line called 4 times",
    ] {
        assert!(output.contains(line), "missing {line:?} in:\n{output}");
    }
}

#[test]
fn find_function_example() {
    let output = example("find_function");
    for line in [
        "generated_0(1) = 0",
        "generated_4242(1) = 4242",
        "generated_9999(1) = 9999",
        "generated_10000: unknown symbol 'generated_10000'",
        "guest exited with 0",
    ] {
        assert!(output.contains(line), "missing {line:?} in:\n{output}");
    }
}

#[test]
fn self_update_example() {
    let output = example("self_update");
    let rounds: Vec<&str> = output.lines().filter(|l| l.starts_with("round")).collect();
    assert_eq!(
        rounds,
        [
            "round 1: value 1",
            "round 2: value 2",
            "round 3: value 3",
            "round 4: value 30",
            "round 5: value 300",
            "round 6: value 3000"
        ],
        "{output}"
    );
}

#[test]
fn host_swap_example() {
    let output = example("host_swap");
    assert!(output.contains("compute(0) = 1\n"), "{output}");
    assert!(
        output.contains("compute(0) = 42 after the host's redefinition"),
        "{output}"
    );
    assert!(output.contains("host: guest exited with 0"), "{output}");
}

//! Stress: many threads calling callbacks while a hot function is redefined
//! over and over, and many engines created, used and dropped in one
//! process. The sizes are reduced by default (CI); the full sizes
//! run with
//!
//!     HYPERJIT_STRESS=full cargo test --release -p hyperjit --test stress -- --nocapture
//!
//! and print what they measured.

mod support;

use support::*;

use hyperjit::Engine;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Held by each test while it runs: the memory test measures the whole
/// process's resident memory, which a test running beside it would grow
/// (the thread test's redefinitions added 12.5 MB to a 0.0 MB figure).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `reduced` normally, `full` with `HYPERJIT_STRESS=full`.
fn size(reduced: u64, full: u64) -> u64 {
    match std::env::var("HYPERJIT_STRESS").as_deref() {
        Ok("full") => full,
        _ => reduced,
    }
}

/// The hot function's body number `version`: it calls the callback once
/// and returns its argument plus the version, so each result says which
/// body ran.
fn hot_body(version: u64) -> String {
    format!("long tick(void);\nlong hot(long x) {{ tick(); return x * 1000 + {version}; }}\n")
}

/// 8 threads call the hot function (each call calling a typed callback
/// once) while another thread redefines it: every call returns what one of
/// the bodies returns, and the callback counts every call, exactly.
#[test]
fn threads_call_callbacks_while_a_hot_function_is_redefined() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let threads = 8;
    let calls = size(20_000, 1_000_000);
    let redefinitions = size(50, 1_000);
    let engine = engine();
    let ticks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&ticks);
    engine
        .define("tick", move || -> i64 {
            counter.fetch_add(1, Ordering::Relaxed);
            0
        })
        .unwrap();
    let dir = add_source(&engine, "hot.c", &hot_body(0));
    engine
        .add_ir("main.ll", "define i32 @main() {\n  ret i32 0\n}\n")
        .unwrap();
    let hot = engine
        .lookup_fn::<extern "C" fn(i64) -> i64>("hot")
        .unwrap();
    let bodies: Vec<_> = (1..=2)
        .map(|version| write(dir.path(), &format!("hot{version}.c"), hot_body(version)))
        .collect();
    let redefining = AtomicBool::new(true);
    let made: u64 = std::thread::scope(|scope| {
        // Each caller makes at least `calls` calls, and goes on while the
        // redefinitions last, so that all of them happen under calls.
        let callers: Vec<_> = (0..threads)
            .map(|thread| {
                let redefining = &redefining;
                scope.spawn(move || {
                    let mut made = 0u64;
                    while made < calls || redefining.load(Ordering::Relaxed) {
                        let x = (thread * 1_000_000_000 + made) as i64;
                        let result = hot.call(x).unwrap();
                        let version = result - x * 1000;
                        assert!((0..=2).contains(&version), "{x} -> {result}");
                        made += 1;
                    }
                    made
                })
            })
            .collect();
        for count in 0..redefinitions {
            engine
                .redefine("hot", &bodies[(count % 2) as usize])
                .unwrap();
        }
        redefining.store(false, Ordering::Relaxed);
        callers
            .into_iter()
            .map(|caller| caller.join().unwrap())
            .sum()
    });
    assert!(made >= threads * calls);
    assert_eq!(ticks.load(Ordering::Relaxed), made);
    println!(
        "{threads} threads, {made} calls (at least {calls} each; every callback call counted) \
         with {redefinitions} redefinitions under them"
    );
}

/// Resident memory, in bytes.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// Engines created, used to run a program and dropped, one after another:
/// resident memory grows by less than 50 MB from the first few to the last.
#[test]
fn engines_created_and_dropped_do_not_accumulate_memory() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let engines = std::env::var("HYPERJIT_STRESS_ENGINES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| size(100, 1_000));
    let warm_up = 20.min(engines);
    let program = "#include <stdio.h>\nlong twice(long);\n\
                   int main(void) { char b[32]; snprintf(b, 32, \"%ld\", twice(21)); return b[0] - '0'; }\n";
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "prog.c", program);
    let mut after_warm_up = 0;
    for index in 0..engines {
        let engine = Engine::builder().lazy(index % 2 == 0).build().unwrap();
        engine.define("twice", |x: i64| 2 * x).unwrap();
        engine.add_file(&source).unwrap();
        assert_eq!(engine.run_main(&["prog"]).unwrap(), 4);
        drop(engine);
        if index + 1 == warm_up {
            after_warm_up = resident_bytes();
        }
    }
    let growth = resident_bytes().saturating_sub(after_warm_up);
    println!(
        "{engines} engines: resident memory grew {:.1} MB after the first {warm_up}",
        growth as f64 / 1e6
    );
    assert!(
        growth < 50_000_000,
        "resident memory grew {growth} bytes over {engines} engines"
    );
}

/// The engines test, shortened, under valgrind's leak checker: no block
/// is definitely lost (LLVM's own process-wide caches are still reachable,
/// which is not a leak).
#[test]
fn engines_leak_nothing_under_valgrind() {
    let _alone = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Ok(status) = std::process::Command::new("valgrind")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
    else {
        panic!("valgrind is not installed (.ci/run installs it)");
    };
    assert!(status.success());
    let this_test = std::env::current_exe().unwrap();
    let output = std::process::Command::new("valgrind")
        .args([
            "--leak-check=full",
            "--show-leak-kinds=definite",
            "--errors-for-leak-kinds=definite",
            "--error-exitcode=99",
        ])
        .arg(&this_test)
        .args([
            "--exact",
            "engines_created_and_dropped_do_not_accumulate_memory",
        ])
        .env("HYPERJIT_STRESS_ENGINES", "5")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && report.contains("definitely lost: 0 bytes in 0 blocks"),
        "valgrind found leaks:\n{report}"
    );
}

//! Swappable functions: the per-call cost of a function that can be
//! redefined (never swapped, and swapped) beside a native direct call, the
//! latency of recompiling and redefining a 50-line function at -O2, and
//! `hj_lookup` in a module of 10,000 functions.
//!
//! `cargo bench -p hyperjit --bench swap`

#[path = "support/mod.rs"]
mod support;

use hyperjit::Engine;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;
use support::{benches_dir, clang, llc, native_baseline, Loop};

type LookupLoop = extern "C" fn(i64, *const std::ffi::c_char) -> i64;

const CALLS: i64 = 10_000_000;
const ROUNDS: usize = 9;

fn ns_per_call(run: &dyn Fn(i64) -> i64, calls: i64) -> f64 {
    let started = Instant::now();
    black_box(run(black_box(calls)));
    started.elapsed().as_secs_f64() * 1e9 / calls as f64
}

/// Compiles the C file `c` with clang-19 -O2 to IR: text for `.ll`, bitcode
/// for `.bc` (the extension of `output`).
fn clang_ir(c: &Path, output: &Path) {
    let form = if output.extension().is_some_and(|e| e == "bc") {
        "-c"
    } else {
        "-S"
    };
    let status = clang()
        .args(["-O2", "-emit-llvm", form, "-o"])
        .arg(output)
        .arg(c)
        .status()
        .expect("clang");
    assert!(status.success(), "clang-19 failed on {}", c.display());
}

/// A swap's median latency (ms) over `count` calls of `swap` on
/// `engine`, and the medians of hyperjit's own share of each — its latency
/// less the time the engine spent in LLVM's code generation passes and in
/// LLVM's parser and verifier reading the new body's file (both of which
/// llc-19's figure includes) — and of that reading.
fn latency(engine: &Engine, count: usize, swap: &dyn Fn()) -> Latency {
    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let ms = |duration: std::time::Duration| duration.as_secs_f64() * 1e3;
    let swaps: Vec<(f64, f64, f64)> = (0..count)
        .map(|_| {
            let before = engine.stats();
            let started = Instant::now();
            swap();
            let total = ms(started.elapsed());
            let after = engine.stats();
            let generating = ms(after.code_generation - before.code_generation);
            let reading = ms(after.parse - before.parse);
            (total, total - generating - reading, reading)
        })
        .collect();
    Latency {
        total: median(swaps.iter().map(|swap| swap.0).collect()),
        own: median(swaps.iter().map(|swap| swap.1).collect()),
        reading: median(swaps.iter().map(|swap| swap.2).collect()),
    }
}

struct Latency {
    total: f64,
    own: f64,
    reading: f64,
}

/// LLVM's own time to generate code for one copy of the function `name`
/// (the C text `source`) at -O2, in a warm process: `llc-19 -O2` on
/// `copies` renamed copies minus `llc-19 -O2` on one, per extra copy; best
/// of 3 each.
fn llc_per_function(dir: &Path, source: &str, name: &str, copies: usize) -> f64 {
    let compile = |copies: usize| -> PathBuf {
        let text: String = (0..copies)
            .map(|i| source.replace(&format!("long {name}("), &format!("long {name}_{i}(")))
            .collect();
        let c = dir.join(format!("{name}_{copies}.c"));
        let ll = dir.join(format!("{name}_{copies}.ll"));
        std::fs::write(&c, text).expect("write");
        clang_ir(&c, &ll);
        ll
    };
    let best_llc = |ll: &Path| -> f64 {
        (0..3)
            .map(|_| {
                let started = Instant::now();
                let status = llc()
                    .args(["-O2", "-filetype=obj", "-o", "/dev/null"])
                    .arg(ll)
                    .status()
                    .expect("llc");
                assert!(status.success());
                started.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min)
    };
    let (one, many) = (compile(1), compile(copies));
    (best_llc(&many) - best_llc(&one)) / (copies - 1) as f64
}

fn main() {
    let here = benches_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_native, native_loop) = native_baseline(dir.path());

    let engine = Engine::builder().opt_level(2).build().expect("engine");
    let mut generated = String::new();
    for i in 0..10_000 {
        writeln!(
            generated,
            "define i64 @generated_{i}(i64 %x) {{\n  %r = add i64 %x, {i}\n  ret i64 %r\n}}"
        )
        .expect("write");
    }
    engine
        .add_ir("generated.ll", &generated)
        .expect("generated");
    engine.add_file(here.join("swap_guest.c")).expect("guest");
    // SAFETY (for the three): the engine outlives the measurements, and the
    // loops neither trap nor exit.
    let raw = |name: &str| unsafe { engine.lookup_fn::<Loop>(name).expect(name).as_raw() };
    let loop_plain = raw("loop_plain");
    let loop_swapped = raw("loop_swapped");
    let loop_lookup = engine.lookup_fn::<LookupLoop>("loop_lookup");
    // SAFETY: as above.
    let loop_lookup = unsafe { loop_lookup.expect("loop_lookup").as_raw() };

    // Redefine swapped_target to the same body, from IR (no clang).
    let same_body = dir.path().join("swapped.ll");
    std::fs::write(
        &same_body,
        "define i64 @swapped_target(i64 %x) {\n  %r = add i64 %x, 1\n  ret i64 %r\n}\n",
    )
    .expect("write");
    engine
        .redefine("swapped_target", &same_body)
        .expect("redefine");

    // The 50-line function as optimized IR and bitcode, for redefine.
    let fifty_c = dir.path().join("fifty.c");
    let source = std::fs::read_to_string(here.join("swap_guest.c")).expect("read");
    let start = source.find("long fifty(").expect("fifty");
    let end = source
        .find("/* A 50-line function without loops")
        .expect("end of fifty");
    std::fs::write(&fifty_c, &source[start..end]).expect("write");
    let fifty_ll = dir.path().join("fifty.ll");
    let fifty_bc = dir.path().join("fifty.bc");
    clang_ir(&fifty_c, &fifty_ll);
    clang_ir(&fifty_c, &fifty_bc);

    let mut native_ns = Vec::new();
    let mut plain_ns = Vec::new();
    let mut swapped_ns = Vec::new();
    let mut lookup_ns = Vec::new();
    let name = c"generated_7777";
    for _ in 0..ROUNDS {
        native_ns.push(ns_per_call(&|n| native_loop(n), CALLS));
        plain_ns.push(ns_per_call(&|n| loop_plain(n), CALLS));
        swapped_ns.push(ns_per_call(&|n| loop_swapped(n), CALLS));
        lookup_ns.push(ns_per_call(&|n| loop_lookup(n, name.as_ptr()), 200_000));
    }
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (native, plain, swapped) = (best(&native_ns), best(&plain_ns), best(&swapped_ns));

    let recompile = latency(&engine, 20, &|| {
        engine.recompile("fifty", 2).expect("recompile")
    });
    let redefine = |path: &Path| engine.redefine("fifty", path).expect("redefine");
    let redefine_ll = latency(&engine, 20, &|| redefine(&fifty_ll));
    let redefine_bc = latency(&engine, 20, &|| redefine(&fifty_bc));
    let redefine_c = latency(&engine, 5, &|| redefine(&fifty_c));
    // The loop-free 50-line function, as optimized IR.
    let scalar_c = dir.path().join("fifty_scalar.c");
    let scalar_start = source.find("long fifty_scalar(").expect("fifty_scalar");
    std::fs::write(&scalar_c, &source[scalar_start..]).expect("write");
    let scalar_ll = dir.path().join("fifty_scalar.ll");
    clang_ir(&scalar_c, &scalar_ll);
    let recompile_scalar = latency(&engine, 20, &|| {
        engine.recompile("fifty_scalar", 2).expect("recompile")
    });
    let redefine_scalar = latency(&engine, 20, &|| {
        engine
            .redefine("fifty_scalar", &scalar_ll)
            .expect("redefine")
    });
    let recompile_small = latency(&engine, 20, &|| {
        engine.recompile("swapped_target", 2).expect("recompile")
    });

    // With tiering, a swap goes live at the baseline (-O0 code generation)
    // and the -O2 body follows from the background thread.
    let tiered = Engine::builder()
        .opt_level(2)
        .tier_threshold(u64::MAX)
        .build()
        .expect("tiered engine");
    tiered.add_file(here.join("swap_guest.c")).expect("guest");
    tiered.lookup("fifty").expect("fifty");
    let tiered_recompile = latency(&tiered, 20, &|| {
        tiered.recompile("fifty", 2).expect("recompile")
    });
    let tiered_redefine = latency(&tiered, 20, &|| {
        tiered.redefine("fifty", &fifty_ll).expect("redefine")
    });

    println!(
        "swappable functions, measured in this run (best of {ROUNDS} rounds of {CALLS} calls)"
    );
    println!(
        "{:<44} {:>10} {:>14} {:>12}",
        "case", "ns/call", "extra vs native", "target"
    );
    println!(
        "{:<44} {native:>10.3} {:>14} {:>12}",
        "native direct call", "-", "-"
    );
    println!(
        "{:<44} {plain:>10.3} {:>14.3} {:>12}",
        "swappable function, never swapped",
        plain - native,
        "< 1 ns extra"
    );
    println!(
        "{:<44} {swapped:>10.3} {:>14.3} {:>12}",
        "swappable function, swapped",
        swapped - native,
        "< 1 ns extra"
    );
    println!(
        "{:<44} {:>10.1} {:>14} {:>12}",
        "hj_lookup in 10,000 functions",
        best(&lookup_ns),
        "-",
        "< 200 ns"
    );
    // LLVM's own code generation time for the same functions, this run.
    let llc_fifty = llc_per_function(dir.path(), &source[start..end], "fifty", 41);
    let llc_scalar = llc_per_function(dir.path(), &source[scalar_start..], "fifty_scalar", 41);
    let llc_small = llc_per_function(
        dir.path(),
        "long swapped_target(long x) { return x + 1; }\n",
        "swapped_target",
        1001,
    );

    println!("\nlatency of a swap at -O2, median (ms), beside llc-19 -O2's code generation");
    println!("of the same function alone (warm: N copies minus 1 copy, per extra copy);");
    println!("own: hyperjit's share (target < 0.3 ms), ours minus the engine's own time in");
    println!("LLVM's code generation passes and in LLVM's parser and verifier reading the");
    println!("new body's file (read: that time); medians of each swap's. ms-llc: ours");
    println!("minus llc-19's, which includes parsing and verifying its input too");
    println!(
        "{:<44} {:>8} {:>10} {:>8} {:>8} {:>10} {:>8}",
        "case", "ms", "llc-19 ms", "own", "read", "ms-llc", "target"
    );
    let row = |label: &str, ours: Latency, llc: f64, target: &str| {
        println!(
            "{label:<44} {:>8.3} {llc:>10.3} {:>8.3} {:>8.3} {:>10.3} {target:>8}",
            ours.total,
            ours.own,
            ours.reading,
            ours.total - llc
        );
    };
    row(
        "hj_recompile, 50 lines with loops",
        recompile,
        llc_fifty,
        "< 5 ms",
    );
    row(
        "hj_redefine from .ll, with loops",
        redefine_ll,
        llc_fifty,
        "< 5 ms",
    );
    row(
        "hj_redefine from .bc, with loops",
        redefine_bc,
        llc_fifty,
        "< 5 ms",
    );
    row(
        "hj_redefine from .c (runs clang), with loops",
        redefine_c,
        llc_fifty,
        "-",
    );
    row(
        "hj_recompile, 50 lines without loops",
        recompile_scalar,
        llc_scalar,
        "< 5 ms",
    );
    row(
        "hj_redefine from .ll, without loops",
        redefine_scalar,
        llc_scalar,
        "< 5 ms",
    );
    row(
        "hj_recompile, a one-line function",
        recompile_small,
        llc_small,
        "< 5 ms",
    );
    println!("\nwith tiering: live at the baseline, -O2 from the background (median ms)");
    for (label, tiered) in [
        ("hj_recompile, 50 lines with loops", tiered_recompile),
        ("hj_redefine from .ll, with loops", tiered_redefine),
    ] {
        println!(
            "{label:<44} {:>8.3} {:>10} {:>8.3} {:>8.3} {:>10} {:>8}",
            tiered.total, "-", tiered.own, tiered.reading, "-", "< 2 ms"
        );
    }
}

//! Per-call cost tables: each case is a loop of `n` calls, measured beside
//! the native loop (the first case) in several code layouts, and printed as
//! a ratio to it.
//!
//! A loop's cost depends on where its code happens to sit: on one CPU the
//! same machine code measured 1.0x at one offset and 1.2x at another (see
//! BENCHMARKS.md). So every case is measured in [`LAYOUTS`] layouts (the
//! guest's loops shifted 16 bytes a step by [`padding`]) and the median over
//! layouts is reported. Within a layout, rounds over all cases keep each
//! case's best, so a busy moment hurts every case alike.

use criterion::Criterion;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Code layouts each case is measured in.
pub const LAYOUTS: u32 = 4;
const CALLS_PER_SAMPLE: i64 = 10_000_000;
const ROUNDS: usize = 9;

/// One benchmark: a loop of `n` calls returning the sum of `i + 1` for
/// `i < n`, and the target it is held to.
pub struct Case<'a> {
    name: &'static str,
    target: &'static str,
    run: Box<dyn Fn(i64) -> i64 + 'a>,
}

impl<'a> Case<'a> {
    pub fn new(
        name: &'static str,
        target: &'static str,
        run: impl Fn(i64) -> i64 + 'a,
    ) -> Case<'a> {
        Case {
            name,
            target,
            run: Box::new(run),
        }
    }
}

/// A C file defining `pad` unused functions, 16 bytes of code each: added
/// to an engine before the guest, it shifts the guest's code by `pad` x 16
/// bytes.
pub fn padding(dir: &Path, pad: u32) -> PathBuf {
    let path = dir.join(format!("pad{pad}.c"));
    let source: String = (0..pad)
        .map(|i| format!("long hj_pad{i}(long x) {{ return x + {i}; }}\n"))
        .collect();
    std::fs::write(&path, source).expect("write the padding");
    path
}

/// One run of the loop, in ns per call.
fn ns_per_call(run: &dyn Fn(i64) -> i64) -> f64 {
    let expected = CALLS_PER_SAMPLE * (CALLS_PER_SAMPLE + 1) / 2;
    let started = Instant::now();
    let sum = run(black_box(CALLS_PER_SAMPLE));
    let elapsed = started.elapsed();
    assert_eq!(sum, expected, "the loop computed a wrong sum");
    elapsed.as_secs_f64() * 1e9 / CALLS_PER_SAMPLE as f64
}

/// The benchmark's run: Criterion measures each case of the first layout
/// in `group`, then the table measures every layout.
pub fn run(group: &str, layouts: &[Vec<Case<'_>>]) {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_group(&mut criterion, group, &layouts[0]);
    criterion.final_summary();
    print_table(layouts);
}

/// Criterion's measurement of each case, in `group`.
fn criterion_group(criterion: &mut Criterion, group: &str, cases: &[Case<'_>]) {
    let mut group = criterion.benchmark_group(group);
    for case in cases {
        group.bench_function(case.name, |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                black_box((case.run)(black_box(iters as i64)));
                started.elapsed()
            })
        });
    }
    group.finish();
}

/// Measures the cases of every layout (the same cases in each, the native
/// loop first) and prints the table: the median over layouts of each
/// case's best round, as a ratio to the native loop's.
fn print_table(layouts: &[Vec<Case<'_>>]) {
    let mut per_layout: Vec<Vec<f64>> = Vec::new();
    for cases in layouts {
        let mut best = vec![f64::INFINITY; cases.len()];
        for _ in 0..ROUNDS {
            for (case, best) in cases.iter().zip(&mut best) {
                *best = best.min(ns_per_call(&*case.run));
            }
        }
        per_layout.push(best);
    }
    let median = |case: usize| {
        let mut values: Vec<f64> = per_layout.iter().map(|layout| layout[case]).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = if values.len() % 2 == 0 {
            (values[middle - 1] + values[middle]) / 2.0
        } else {
            values[middle]
        };
        (median, values[0], values[values.len() - 1])
    };
    let (native, _, _) = median(0);
    println!(
        "\nper-call cost: median over {} code layouts of the best of {ROUNDS} rounds of \
         {CALLS_PER_SAMPLE} calls, measured in this run",
        layouts.len()
    );
    println!(
        "{:<44} {:>9} {:>10} {:>17} {:>10}",
        "callback", "ns/call", "x native", "layouts (min-max)", "target"
    );
    for (i, case) in layouts[0].iter().enumerate() {
        let (ns, low, high) = median(i);
        println!(
            "{:<44} {ns:>9.3} {:>10.2} {:>8.3}-{:<8.3} {:>10}",
            case.name,
            ns / native,
            low,
            high,
            case.target
        );
    }
}

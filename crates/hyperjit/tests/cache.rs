//! The object cache (`EngineBuilder::cache`): a second engine, or run,
//! loads what the first compiled; damaged entries are recompiled; engines
//! share a directory safely; a function tiered up once starts optimized.

mod support;

use hyperjit::Engine;
use std::path::Path;
use support::*;

const PROGRAM: &str = r#"
__attribute__((noinline)) long twice(long x) { return 2 * x; }
__attribute__((noinline)) long add(long a, long b) { return a + b; }
int main(int argc, char **argv) {
    (void)argv;
    return (int)add(twice(20), argc);
}
"#;

fn run_with_cache(dir: &Path, lazy: bool) -> (i32, u64, u64) {
    let engine = Engine::builder()
        .lazy(lazy)
        .cache(dir)
        .build()
        .expect("an engine with a cache");
    let _source = add_source(&engine, "cached.c", PROGRAM);
    let status = engine.run_main(&["cached", "x"]).unwrap();
    let stats = engine.stats();
    (status, stats.objects_from_cache, stats.objects_cached)
}

/// The second engine loads every object the first stored, compiling
/// nothing, eagerly and lazily.
#[test]
fn a_second_run_loads_what_the_first_compiled() {
    for lazy in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (status, loaded, stored) = run_with_cache(dir.path(), lazy);
        assert_eq!((status, loaded), (42, 0), "lazy: {lazy}");
        assert!(stored > 0, "lazy: {lazy}");
        let (status, loaded_again, stored_again) = run_with_cache(dir.path(), lazy);
        assert_eq!(status, 42);
        assert_eq!((loaded_again, stored_again), (stored, 0), "lazy: {lazy}");
    }
}

/// Every entry damaged (truncated, flipped, emptied): the next run is
/// still right, and compiles and stores everything again.
#[test]
fn damaged_entries_are_recompiled_not_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, stored) = run_with_cache(dir.path(), true);
    let mut damaged = 0;
    for shard in std::fs::read_dir(dir.path()).unwrap().flatten() {
        for (index, entry) in std::fs::read_dir(shard.path())
            .unwrap()
            .flatten()
            .enumerate()
        {
            let mut bytes = std::fs::read(entry.path()).unwrap();
            match index % 3 {
                0 => bytes.truncate(bytes.len() / 2),
                1 => *bytes.last_mut().unwrap() ^= 0x55,
                _ => bytes.clear(),
            }
            std::fs::write(entry.path(), bytes).unwrap();
            damaged += 1;
        }
    }
    assert_eq!(damaged, stored);
    let (status, loaded, stored_again) = run_with_cache(dir.path(), true);
    assert_eq!((status, loaded, stored_again), (42, 0, stored));
}

/// Four engines on four threads share one directory at once: every run is
/// right, and afterwards every entry is whole.
#[test]
fn engines_sharing_a_directory_at_once_stay_right() {
    let dir = tempfile::tempdir().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| assert_eq!(run_with_cache(dir.path(), true).0, 42));
        }
    });
    let (status, _, stored) = run_with_cache(dir.path(), true);
    assert_eq!((status, stored), (42, 0), "every entry was whole");
}

/// A function tiered up in one run is compiled optimized from its first
/// call in the next (and then loaded from the cache).
#[test]
fn a_function_tiered_up_once_starts_optimized_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let source = r#"
__attribute__((noinline)) long hot(long x) { return x * 3 + 1; }
long check(long rounds) {
    long acc = 0;
    for (long i = 0; i < rounds; i++) acc += hot(i);
    return acc;
}
"#;
    let tiered_engine = || {
        Engine::builder()
            .tier_threshold(50)
            .cache(dir.path())
            .build()
            .expect("a tiered engine with a cache")
    };
    let expected: i64 = (0..1000).map(|i| i * 3 + 1).sum();
    let first = tiered_engine();
    let _first_source = add_source(&first, "hot.c", source);
    let check = first
        .lookup_fn::<extern "C" fn(i64) -> i64>("check")
        .unwrap();
    let tiered = work_until_tiered_up(&first, "hot", 1, || {
        assert_eq!(check.call(1000).unwrap(), expected);
    });
    assert!(tiered >= 1, "hot was tiered up");
    drop(first);

    // Its baseline body is in the cache, but the second engine compiles it
    // optimized instead: the one object not loaded. A third loads it too.
    for compiled in [1, 0] {
        let engine = tiered_engine();
        let _source = add_source(&engine, "hot.c", source);
        let check = engine
            .lookup_fn::<extern "C" fn(i64) -> i64>("check")
            .unwrap();
        assert_eq!(check.call(1000).unwrap(), expected);
        let stats = engine.stats();
        assert_eq!(stats.objects_cached, compiled, "{stats}");
        assert!(stats.objects_from_cache > 0, "{stats}");
    }
}

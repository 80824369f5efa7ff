//! The object cache (`EngineBuilder::cache`): a second engine, or run,
//! loads what the first compiled; damaged entries are recompiled; engines
//! share a directory safely; a function tiered up once starts optimized; a
//! program an eager run compiled starts from its image, unparsed, unless
//! its bytes or the callbacks it would bind to changed.

mod support;

use hyperjit::Engine;
use std::path::{Path, PathBuf};
use std::time::Duration;
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

/// An engine with a cache in `dir`: eager, lazy, or lazy and tiered.
fn engine_in_mode(dir: &Path, mode: &str) -> Engine {
    let builder = Engine::builder().cache(dir);
    match mode {
        "eager" => builder,
        "lazy" => builder.lazy(true),
        _ => builder.tier(true),
    }
    .build()
    .expect("an engine with a cache")
}

/// Runs `program` (its `main` with one argument) on `engine`.
fn run_program(engine: &Engine, program: &Path) -> i32 {
    engine.add_file(program).unwrap();
    engine.run_main(&["program", "x"]).unwrap()
}

/// Asserts that `engine` parsed its inputs and loaded no image.
fn assert_linked_afresh(engine: &Engine) {
    let stats = engine.stats();
    assert_eq!(stats.images_from_cache, 0, "{stats}");
    assert!(stats.parse > Duration::ZERO, "{stats}");
}

/// Every entry in the cache directory `cache`, sorted.
fn cache_entries(cache: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .flat_map(|shard| std::fs::read_dir(shard.path()).unwrap().flatten())
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    entries
}

/// `PROGRAM` in a fresh directory, run once eagerly with a cache there,
/// which it leaves holding its image: the directory, the cache, the program.
fn imaged_program() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let program = program_in(dir.path());
    assert_eq!(run_program(&engine_in_mode(&cache, "eager"), &program), 42);
    (dir, cache, program)
}

/// `PROGRAM` at a path that stays the same from run to run.
fn program_in(dir: &Path) -> PathBuf {
    write(dir, "image.c", PROGRAM)
}

/// An eager run stores the program's image; the next engine given the same
/// file, in any mode, loads it whole: nothing parsed, compiled, or compiled
/// lazily. It runs right, and its functions can still be recompiled (from
/// the IR the image keeps).
#[test]
fn the_next_run_starts_from_the_image_an_eager_run_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let program = program_in(dir.path());
    let first = engine_in_mode(&cache, "eager");
    assert_eq!(run_program(&first, &program), 42);
    let stats = first.stats();
    assert_eq!((stats.images_from_cache, stats.objects_cached), (0, 1));
    drop(first);
    for mode in ["eager", "lazy", "tier"] {
        let engine = engine_in_mode(&cache, mode);
        assert_eq!(run_program(&engine, &program), 42, "{mode}");
        let stats = engine.stats();
        assert_eq!(stats.images_from_cache, 1, "{mode}: {stats}");
        assert_eq!(stats.parse, Duration::ZERO, "{mode}: {stats}");
        assert_eq!(stats.objects_cached, 0, "{mode}: {stats}");
        assert_eq!(stats.functions_compiled_lazily, 0, "{mode}: {stats}");
        assert_eq!(stats.modules, 1, "{mode}: {stats}");
        engine.recompile("twice", 1).unwrap();
        let twice = engine
            .lookup_fn::<extern "C" fn(i64) -> i64>("twice")
            .unwrap();
        assert_eq!(twice.call(21).unwrap(), 42, "{mode}");
        assert_eq!(engine.run_main(&["program", "x", "y"]).unwrap(), 43);
    }
}

/// The image's key covers the file's bytes: the same path with another
/// program runs that program, parsed and compiled.
#[test]
fn a_changed_program_is_not_run_from_the_old_image() {
    let (dir, cache, program) = imaged_program();
    write(dir.path(), "image.c", PROGRAM.replace("2 * x", "3 * x"));
    let engine = engine_in_mode(&cache, "eager");
    assert_eq!(run_program(&engine, &program), 62);
    assert_linked_afresh(&engine);
}

/// A weak reference nothing defined was null in the image's run. When the
/// host now defines a callback of that name, the program must call it: the
/// image is refused and the program linked afresh.
#[test]
fn an_image_is_refused_when_a_callback_now_binds_a_name_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let program = write(
        dir.path(),
        "weak.c",
        r#"
extern long hook(long) __attribute__((weak));
int main(void) { return hook ? (int)hook(20) : 7; }
"#,
    );
    assert_eq!(run_program(&engine_in_mode(&cache, "eager"), &program), 7);
    let unchanged = engine_in_mode(&cache, "eager");
    assert_eq!(run_program(&unchanged, &program), 7);
    assert_eq!(unchanged.stats().images_from_cache, 1);
    let hooked = engine_in_mode(&cache, "eager");
    hooked
        .define("hook", |x: i64| -> i64 { x * 2 + 2 })
        .unwrap();
    assert_eq!(run_program(&hooked, &program), 42);
    assert_eq!(hooked.stats().images_from_cache, 0);
}

/// Code bound to host callbacks holds the host's addresses, which the next
/// run's differ from: it is never stored as an image.
#[test]
fn programs_bound_to_callbacks_leave_no_image() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let program = write(
        dir.path(),
        "bound.c",
        "long host_add(long, long);\nint main(void) { return (int)host_add(40, 2); }\n",
    );
    for _ in 0..2 {
        let engine = engine_in_mode(&cache, "eager");
        engine.define("host_add", |a: i64, b: i64| a + b).unwrap();
        assert_eq!(run_program(&engine, &program), 42);
        assert_eq!(engine.stats().images_from_cache, 0);
    }
}

/// A damaged image and object (every entry damaged) are not loaded: the
/// inputs are parsed and compiled after all, and the run is right.
#[test]
fn a_damaged_image_is_recompiled_not_loaded() {
    let (_dir, cache, program) = imaged_program();
    let entries = cache_entries(&cache);
    assert_eq!(entries.len(), 2, "the image and its object");
    for entry in entries {
        let mut bytes = std::fs::read(&entry).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&entry, bytes).unwrap();
    }
    let engine = engine_in_mode(&cache, "lazy");
    assert_eq!(run_program(&engine, &program), 42);
    assert_linked_afresh(&engine);
}

/// With either the image or its object gone (evicted, say), the program is
/// parsed and linked as usual, and runs right.
#[test]
fn an_image_without_its_object_is_not_used() {
    for removed in 0..2 {
        let (_dir, cache, program) = imaged_program();
        let entries = cache_entries(&cache);
        assert_eq!(entries.len(), 2, "the image and its object");
        std::fs::remove_file(&entries[removed]).unwrap();
        let engine = engine_in_mode(&cache, "eager");
        assert_eq!(run_program(&engine, &program), 42);
        assert_linked_afresh(&engine);
    }
}

/// The size limit holds whichever of `cache` and `cache_limit` comes
/// first: under a limit of one byte nothing stays once the engine is gone
/// (the limit was ignored when set before the directory).
#[test]
fn the_cache_limit_holds_in_either_order() {
    for limit_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let builder = Engine::builder();
        let builder = if limit_first {
            builder.cache_limit(1).cache(dir.path())
        } else {
            builder.cache(dir.path()).cache_limit(1)
        };
        let engine = builder.build().unwrap();
        let _source = add_source(&engine, "limited.c", PROGRAM);
        assert_eq!(engine.run_main(&["limited", "x"]).unwrap(), 42);
        assert!(
            engine.stats().objects_cached > 0,
            "limit first: {limit_first}"
        );
        // Eviction runs on the cache's maintenance threads, which the
        // engine's drop waits for.
        drop(engine);
        assert_eq!(
            cache_entries(dir.path()),
            Vec::<PathBuf>::new(),
            "limit first: {limit_first}"
        );
    }
}

//! What the library's integration tests share: an engine, and files written
//! for it to read.
#![allow(dead_code)] // each test binary uses a different subset

use hyperjit::Engine;
use std::path::{Path, PathBuf};

/// An engine with the default settings.
pub fn engine() -> Engine {
    Engine::new().expect("an engine with the default settings builds")
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write a test input");
    path
}

/// Writes `source` to a fresh directory as `name` and adds it to `engine`;
/// the directory lives as long as the value returned.
pub fn add_source(engine: &Engine, name: &str, source: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    engine
        .add_file(write(dir.path(), name, source))
        .unwrap_or_else(|e| panic!("adding {name}: {e}"));
    dir
}

/// Writes `source` to a fresh directory as `name` and adds it to `engine`,
/// which must refuse it: returns the directory and the error.
pub fn refused_source(
    engine: &Engine,
    name: &str,
    source: &str,
) -> (tempfile::TempDir, hyperjit::Error) {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = engine
        .add_file(write(dir.path(), name, source))
        .err()
        .unwrap_or_else(|| panic!("adding {name} succeeded"));
    (dir, error)
}

/// How many times `engine` has tiered `function` up so far.
pub fn tier_ups_of(engine: &Engine, function: &str) -> usize {
    engine
        .stats()
        .tier_ups
        .iter()
        .filter(|tier_up| tier_up.function == function)
        .count()
}

/// Keeps calling `work` (which checks its results) until `engine` has
/// tiered `function` up `times` times, which a background thread does at
/// some point; gives up after 100,000 calls. Returns the count reached.
pub fn work_until_tiered_up(
    engine: &Engine,
    function: &str,
    times: usize,
    mut work: impl FnMut(),
) -> usize {
    for _ in 0..100_000 {
        work();
        let count = tier_ups_of(engine, function);
        if count >= times {
            return count;
        }
        std::thread::yield_now();
    }
    tier_ups_of(engine, function)
}

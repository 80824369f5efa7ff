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

//! What the benchmarks share: clang-19 and the native baseline, a loop
//! calling an extern function in another translation unit (clang-19 -O2),
//! and per-call cost tables. The C API's benchmark includes it too.
#![allow(dead_code)] // each benchmark uses a different subset

pub mod per_call;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `long loop_native(long n)`: n calls of `native_target`.
pub type Loop = extern "C" fn(i64) -> i64;

/// hyperjit's benchmark directory (its guests and the native baseline's
/// sources), from any crate of the workspace.
pub fn benches_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../hyperjit/benches")
}

/// An LLVM 19 tool: `NAME-19` on the PATH, or Debian's LLVM 19 directory.
fn llvm_tool(name: &str) -> Command {
    let versioned = format!("{name}-19");
    let in_llvm_dir = format!("/usr/lib/llvm-19/bin/{name}");
    let program = [versioned.clone(), in_llvm_dir]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .unwrap_or_else(|| panic!("{versioned} not found"));
    Command::new(program)
}

pub fn clang() -> Command {
    llvm_tool("clang")
}

pub fn llc() -> Command {
    llvm_tool("llc")
}

/// Builds the native baseline into `dir`, loads it, and returns the library
/// (keep it alive) and its loop.
pub fn native_baseline(dir: &Path) -> (libloading::Library, Loop) {
    let library = dir.join("libnative.so");
    let status = clang()
        .args(["-O2", "-fPIC", "-shared", "-o"])
        .arg(&library)
        .arg(benches_dir().join("native_loop.c"))
        .arg(benches_dir().join("native_target.c"))
        .status()
        .expect("run clang");
    assert!(status.success(), "building the native baseline failed");
    // SAFETY: our own library, with no initializers.
    let native = unsafe { libloading::Library::new(&library) }.expect("load native baseline");
    // SAFETY: loop_native has type Loop.
    let native_loop: Loop = unsafe { *native.get::<Loop>(b"loop_native").expect("loop_native") };
    (native, native_loop)
}

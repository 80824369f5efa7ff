//! Compilation: from an input file to object code. `source` turns a file
//! into bytes LLVM parses (running clang for C), `prepare` parses, verifies
//! and retargets a module and applies the IR optimization rule, `inlining`
//! records which bodies the pipeline inlined into which (for swaps),
//! `codegen` owns the target machines and emits objects, `cache` keeps
//! objects on disk, and `tier` is the background compiler of tiered mode.
//! When a body is compiled (eagerly, on its first call, tiered up) is the
//! engine's decision (`engine/lazy.rs`, `engine/tier.rs`); this layer only
//! compiles.

mod cache;
mod codegen;
mod inlining;
mod prepare;
mod source;
mod tier;

pub(crate) use cache::{Key, ObjectCache, ObjectSource, DEFAULT_LIMIT};
pub(crate) use codegen::Codegen;
pub(crate) use inlining::Inlining;
pub use prepare::IrOptimization;
pub(crate) use prepare::{optimize_for, prepare, PrepareOptions, Prepared};
pub(crate) use source::{ClangOptions, Source};
pub(crate) use tier::{starts_at_baseline, BackgroundCompiler, BodySource, CompiledBody};

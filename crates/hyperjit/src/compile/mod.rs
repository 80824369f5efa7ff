//! Compilation: from an input file to object code. `source` turns a file
//! into bytes LLVM parses (running clang for C), `prepare` parses, verifies
//! and retargets a module and applies the IR optimization rule, `codegen`
//! owns the target machines and emits objects.
//!
//! This is where lazy, tiered and cached compilation belong: each decides
//! what to compile when, at which level, and whether an object can be
//! reused, between a prepared module and the object the linker adds.

mod cache;
mod codegen;
mod inlining;
mod prepare;
mod source;
mod tier;

pub(crate) use cache::{Key, ObjectCache, DEFAULT_LIMIT};
pub(crate) use codegen::Codegen;
pub(crate) use inlining::Inlining;
pub use prepare::IrOptimization;
pub(crate) use prepare::{optimize_for, prepare, PrepareOptions, Prepared};
pub(crate) use source::{ClangOptions, Source};
pub(crate) use tier::{starts_at_baseline, BackgroundCompiler, CompiledBody};

//! hyperjit: an LLVM JIT execution engine whose JIT-compiled programs can
//! call back into their host.
//!
//! It runs what clang produces — C files, LLVM IR text, bitcode — on LLVM
//! 19's ORC JIT, like `lli`, with the C runtime a program expects (static
//! constructors and destructors, `exit`/`atexit`, thread-locals) and without
//! letting the program end its host's process.
//!
//! ```no_run
//! let engine = hyperjit::Engine::builder().opt_level(2).build()?;
//! engine.add_file("prog.c")?;
//! let status = engine.run_main(&["prog.c"])?;
//! # Ok::<(), hyperjit::Error>(())
//! ```
//!
//! # When LLVM cannot go on
//!
//! Inputs that LLVM's code generator would refuse by ending the process
//! are refused with an [`Error`] naming the file and the function or global
//! (README: "Using the CLI"). What still reaches one of LLVM's fatal errors
//! ends the process with status 125 after printing `hyperjit: error: LLVM:
//! REASON`: LLVM's state is unusable after one, and hyperjit installs
//! LLVM's fatal-error handlers (replacing any the host installed) when the
//! first engine is built.
//!
//! The modules are layers, each depending only on those below it (checked
//! by `tests/layers.rs`): `engine` → `link` → `compile` → `callback` →
//! `runtime` → `llvm`, with `error`, `trap` and `stats` beneath them all.
//! `ARCHITECTURE.md` in the repository tells the story.
#![deny(missing_docs, unreachable_pub)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod callback;
mod compile;
mod engine;
mod error;
mod link;
mod llvm;
mod runtime;
mod stats;
mod trap;

pub use callback::{
    request_trap, CallbackFn, Caller, FunctionArgs, FunctionPointer, HostReturn, HostType,
    IntoHostFunction, Signature, Ty, TypedFn, Value, WithCaller,
};
pub use compile::IrOptimization;
pub use engine::{Engine, EngineBuilder};
pub use error::{Error, Result, UnresolvedSymbol};
pub use link::SymbolPolicy;
pub use stats::{CallbackStats, OptimizationDecision, Stats, TierUp};
pub use trap::Trap;

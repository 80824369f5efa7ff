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
#![deny(missing_docs, unreachable_pub)]

mod callback;
mod engine;
mod error;
mod hypercall;
mod link;
mod llvm;
mod runtime;
mod source;
mod stats;

pub use callback::{
    CallbackStats, Caller, FunctionPointer, HostReturn, HostType, IntoHostFunction, Signature,
    Trap, Ty, Value, WithCaller,
};
pub use engine::{Engine, EngineBuilder, IrOptimization};
pub use error::{Error, Result, UnresolvedSymbol};
pub use stats::Stats;

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
//! engine.add_file("prog.c")?; // .c, .cc, .ll or .bc
//! let status = engine.run_main(&["prog.c"])?;
//! # Ok::<(), hyperjit::Error>(())
//! ```
//!
//! # Host callbacks, three ways
//!
//! A guest reaches its host by calling a function the host defined. A
//! typed closure ([`Engine::define`]) is bound where the guest declares it
//! by its own name and C type (checked when linking); a handler whose
//! signature is data ([`Engine::define_dynamic`]) gets [`Value`]s; and the
//! proposal's multiplexed callback ([`Engine::register_callback`]) is what
//! the guest's `PerformCustomCallback(name, args)` calls, with the guest's
//! `void *args`. In IR, the guest declares them as any external function:
//!
//! ```
//! use hyperjit::{Engine, Signature, Trap, Ty, Value};
//!
//! let engine = Engine::new()?;
//! engine.define("scale", |x: i32| x * 100)?;
//! engine.define_dynamic("twice", Signature::new([Ty::I64], Ty::I64), |_, args| match args {
//!     [Value::I64(x)] => Ok(Value::I64(x * 2)),
//!     _ => Err(Trap::new("twice takes one long")),
//! })?;
//! engine.register_callback("Sum", |_caller, args| {
//!     if args.is_null() {
//!         return Err(Trap::new("Sum needs its arguments")); // stops the guest
//!     }
//!     // SAFETY: the guest passes two ints.
//!     let pair = unsafe { *(args as *const [i32; 2]) };
//!     Ok((pair[0] + pair[1]) as isize)
//! })?;
//! engine.add_ir("guest.ll", r#"
//!     declare i32 @scale(i32)
//!     declare i64 @twice(i64)
//!     declare i64 @PerformCustomCallback(ptr, ptr)
//!     @sum = private constant [4 x i8] c"Sum\00"
//!     define i32 @main() {
//!       %pair = alloca [2 x i32]
//!       store i32 3, ptr %pair
//!       %second = getelementptr i32, ptr %pair, i64 1
//!       store i32 4, ptr %second
//!       %s = call i64 @PerformCustomCallback(ptr @sum, ptr %pair)   ; 7
//!       %t = call i64 @twice(i64 %s)                                ; 14
//!       %n = trunc i64 %t to i32
//!       %r = call i32 @scale(i32 %n)                                ; 1400
//!       ret i32 %r
//!     }
//! "#)?;
//! assert_eq!(engine.run_main(&["guest"])?, 1400);
//! # Ok::<(), hyperjit::Error>(())
//! ```
//!
//! A callback that returns `Err(Trap)` (or panics) stops the guest: the
//! run, or the host's call, fails with [`Error::Trap`] naming the
//! callback, and the engine goes on. `?` works in callbacks: an [`Error`],
//! a `&str` or a `String` becomes a [`Trap`]. C callbacks, which return no
//! `Result`, call [`request_trap`] (C's `hj_trap`).
//!
//! # Calling the guest, and swapping its code
//!
//! [`Engine::lookup_fn`] gives a function as a typed handle, checked
//! against its IR type; [`TypedFn::call`] calls it so that a trap, the
//! guest's `exit` (and, with fault reports on, a fault) come back as an
//! error. [`Engine::redefine_ir`] replaces a function's body with one from
//! memory (text or bitcode), and every later call runs it — from JIT'd
//! code, through pointers taken earlier, from the host; the earlier body's
//! code stays mapped for calls still in it until [`Engine::reclaim`]:
//!
//! ```
//! use hyperjit::{Engine, Error};
//!
//! let engine = Engine::new()?;
//! engine.define("check", |x: i32| -> Result<i32, hyperjit::Trap> {
//!     if x < 0 { Err("negative".into()) } else { Ok(x) }
//! })?;
//! engine.add_ir("step.ll", "declare i32 @check(i32)
//!     define i32 @step(i32 %x) {
//!       %c = call i32 @check(i32 %x)
//!       %r = add i32 %c, 1
//!       ret i32 %r
//!     }")?;
//! let step = engine.lookup_fn::<extern "C" fn(i32) -> i32>("step")?;
//! assert_eq!(step.call(41)?, 42);
//! assert!(matches!(step.call(-1), Err(Error::Trap(trap)) if trap.to_string().contains("negative")));
//!
//! engine.redefine_ir("step", "step_v2.ll", "define i32 @step(i32 %x) {
//!       %r = mul i32 %x, 2
//!       ret i32 %r
//!     }")?;
//! assert_eq!(step.call(21)?, 42); // the same handle runs the new body
//! engine.recompile("step", 3)?;   // the current body again, at -O3
//! // Frees the body the recompile superseded (the first one came with
//! // its file, and stays).
//! // SAFETY: no thread runs an earlier body of `step` any more.
//! assert_eq!(unsafe { engine.reclaim("step")? }, 1);
//! assert_eq!(step.call(21)?, 42);
//! # Ok::<(), hyperjit::Error>(())
//! ```
//!
//! A guest does the same through the hypercalls of its header
//! `include/hyperjit.h` (`hj_lookup`, `hj_redefine`, `hj_recompile`,
//! `hj_load`), and a callback through [`Caller`].
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

//! The engine: inputs in, a running program out.
//!
//! [`Engine`] is the public face; its state lives in a boxed `Core` at a
//! fixed address, because JIT'd code and callbacks hold that address (the
//! glue passes it to the `PerformCustomCallback` dispatcher, callbacks reach
//! the core through [`EngineServices`]). Methods take `&self`: callbacks
//! reach the engine re-entrantly while guest code runs, so the mutable state
//! sits behind one lock that is never held while guest code runs.
//!
//! One operation, one room: `config` (the builder), `inputs` (adding and
//! loading files), `isolate` (checking an input in a child process first),
//! `image` (a whole program's objects from the cache), `lazy` (a body
//! compiled on its first call), `tier` (the background thread that
//! recompiles hot functions), `run` (running a program), `call` (calling a
//! guest function with values typed at run time), `lookup` (addresses and
//! typed handles), `swap` (recompile, redefine, reclaim), `define` (host
//! functions), `services` (what callbacks may ask of the engine) and
//! `hypercalls` (the guest's `hj_*` functions, built on the same machinery
//! as the host's callbacks).

mod call;
mod config;
mod define;
mod hypercalls;
mod image;
mod inputs;
mod isolate;
mod lazy;
mod lookup;
mod plan;
mod run;
mod services;
mod swap;
mod tier;

pub use config::EngineBuilder;

use crate::callback::{dispatch_address, Registry};
use crate::compile::Source;
use crate::error::{Error, Result};
use crate::link::{BatchPlan, Binding, EngineGlue, Input, Linker};
use crate::runtime::ExitHandlers;
use crate::stats::Stats;
use crate::Trap;
use config::{Config, HostData};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

/// A JIT engine: add inputs, then run them.
///
/// ```no_run
/// let engine = hyperjit::Engine::builder().opt_level(2).build()?;
/// engine.add_file("prog.c")?;
/// let status = engine.run_main(&["prog.c", "an argument"])?;
/// # Ok::<(), hyperjit::Error>(())
/// ```
pub struct Engine {
    /// Boxed: JIT'd code and callbacks hold its address.
    core: Box<Core>,
}

/// What the engine was built with and holds: its settings, how many inputs
/// wait to be linked and how many batches are linked.
impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = &self.core.config;
        let mut debug = f.debug_struct("Engine");
        debug
            .field("opt_level", &config.opt_level)
            .field("lazy", &config.lazy)
            .field("tiered", &self.core.tiering.is_some());
        // A callback that prints the engine runs while the lock is free;
        // a thread holding it (compiling, say) is not waited for.
        if let Ok(state) = self.core.state.try_lock() {
            debug
                .field(
                    "pending_inputs",
                    &state.pending.len().max(state.image_sources.len()),
                )
                .field("linked_batches", &state.linker.batches().len());
        }
        debug.finish_non_exhaustive()
    }
}

/// The engine proper, at a fixed address.
struct Core {
    state: Mutex<State>,
    /// Declared after `state`: JIT'd code points into these, so they are
    /// freed after the JIT.
    callbacks: Registry,
    exit_handlers: ExitHandlers,
    /// The first trap of the current run (any thread).
    pending_trap: Mutex<Option<Trap>>,
    /// The thunks `call` calls through, by signature (`call.rs`).
    invoke_thunks: Mutex<std::collections::HashMap<crate::callback::Signature, usize>>,
    /// How many runs are in progress (a module loaded during one has its
    /// constructors run at once).
    runs_in_progress: AtomicUsize,
    /// Numbers the new bodies of recompiled and redefined functions.
    versions: AtomicU64,
    host_data: Option<HostData>,
    config: Config,
    /// With tiered compilation; after `state`, as code holds its counters.
    tiering: Option<tier::Tiering>,
}

/// What the lock guards.
struct State {
    /// Added, not linked yet.
    pending: Vec<Input>,
    /// With a cache, until the first batch is linked: every input added,
    /// whose bytes key the program image (`inputs.rs`). Those past
    /// `pending`'s length are deferred: not parsed, as an image of them
    /// may be loaded instead.
    image_sources: Vec<Source>,
    /// The inputs a failed link consumed (LLVM's IR linker takes them as
    /// it goes): what a run with nothing else to run names.
    dropped: Option<String>,
    stats: Stats,
    /// Declared last: it owns all JIT'd code.
    linker: Linker,
}

impl State {
    /// Whether inputs were added that are not linked yet (parsed or
    /// deferred).
    fn has_unlinked(&self) -> bool {
        !self.pending.is_empty() || self.image_sources.len() > self.pending.len()
    }
}

impl Engine {
    /// An engine builder with the defaults (`-O2`).
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine with the default settings.
    pub fn new() -> Result<Engine> {
        EngineBuilder::default().build()
    }

    /// Phase times and counts so far, with per-callback counts when the
    /// engine counts callback calls.
    pub fn stats(&self) -> Stats {
        let mut state = self.core.lock();
        let mut stats = state.stats.clone();
        stats.jit_memory = state.linker.committed_bytes();
        stats.functions_not_compiled = state.linker.uncompiled_count();
        stats.functions_not_read = state.linker.unread_count();
        stats.code_generation = state.linker.codegen().generation_time();
        if let Some(cache) = state.linker.codegen().cache() {
            (stats.objects_from_cache, stats.objects_cached) = cache.counts();
        }
        drop(state);
        if self.core.config.count_calls {
            stats.callbacks = self.core.callbacks.stats();
        }
        stats
    }
}

#[cfg(test)]
impl Engine {
    /// Runs `inspect` on the engine's linker, for tests of what it keeps.
    pub(crate) fn with_linker<R>(&self, inspect: impl FnOnce(&crate::link::Linker) -> R) -> R {
        inspect(&self.core.lock().linker)
    }
}

/// Locks `mutex`, poisoned or not: no engine lock guards an invariant a
/// panic could leave half-written, so a poisoned one is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn take_trap(&self) -> Option<Trap> {
        lock(&self.pending_trap).take()
    }

    /// This engine's stubs for its first batch.
    fn glue(&self) -> EngineGlue {
        EngineGlue {
            exit_handlers: self.exit_handlers.address(),
            engine: self as *const Core as usize,
            dispatch: dispatch_address::<Core>(),
            compile_lazily: lazy::compile_on_first_call as *const () as usize,
        }
    }

    /// Links and compiles everything added since the last link; the first
    /// batch from a program image if one is cached for its inputs.
    fn link_pending(&self, state: &mut State) -> Result<()> {
        let image_key = self.image_key(state);
        if state.image_sources.len() > state.pending.len() && self.load_image(state, image_key)? {
            return Ok(());
        }
        self.prepare_deferred(state)?;
        if state.pending.is_empty() {
            return Ok(());
        }
        // Checked before the inputs leave `pending`, so that on failure they
        // stay there for the host to complete.
        state
            .linker
            .check_resolved(&state.pending, &self.callbacks)?;
        let inputs = std::mem::take(&mut state.pending);
        let files: Vec<&str> = inputs.iter().map(|input| input.file.as_str()).collect();
        let files = files.join(", ");
        state.image_sources.clear();
        let started = Instant::now();
        // Batches stay for good: their trackers are dropped, not removed.
        let glue = self.glue();
        let binding = Binding {
            callbacks: &self.callbacks,
            glue: &glue,
        };
        let batch = plan::plan(
            plan::Unit::Batch,
            self.tiering.is_some(),
            self.config.opt_level,
        );
        let plan = BatchPlan {
            level: batch.level,
            lazy: self.config.lazy,
            image_key,
        };
        let linked = state.linker.link(inputs, binding, plan).map(drop);
        state.stats.codegen_link += started.elapsed();
        state.dropped = linked.is_err().then(|| files.clone());
        linked.map_err(|error| match error {
            Error::Link { file, message } => Error::Link {
                file,
                message: format!("{message} (the inputs {files} were dropped: add them again)"),
            },
            other => other,
        })
    }

    /// Links the pending inputs, unless `name` is linked or the host's
    /// already: code that runs never waits on inputs that cannot link yet
    /// (one missing a symbol failed every lookup and swap until discarded).
    fn link_pending_for(&self, state: &mut State, name: &str) -> Result<()> {
        if state.linker.defines(name) || self.callbacks.is_named(name) {
            return Ok(());
        }
        self.link_pending(state)
    }

    /// The next version number for a function's new bodies.
    fn next_version(&self) -> u64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The tiering thread uses the core: it stops before the core goes.
        if let Some(tiering) = &self.core.tiering {
            tiering.stop();
        }
    }
}

/// Counts a run as in progress for as long as it lives.
struct RunInProgress<'a>(&'a AtomicUsize);

impl<'a> RunInProgress<'a> {
    fn enter(counter: &'a AtomicUsize) -> RunInProgress<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        RunInProgress(counter)
    }
}

impl Drop for RunInProgress<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

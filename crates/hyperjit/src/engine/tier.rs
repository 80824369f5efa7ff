//! Tiered compilation, the engine's side. With tiering, a function's first
//! body is compiled at the baseline (-O0 code generation, the fastest to
//! produce) with a counter of its calls and loop iterations
//! (`llvm/counters.rs`). One background thread watches the counters; a
//! function whose counter reaches the threshold is recompiled at the
//! engine's level by that thread (`compile/tier.rs`, its own LLVM context)
//! and swapped in through the function's entry, as any swap is, while the
//! program keeps running. A frame already running the baseline body
//! finishes in it (there is no on-stack replacement).

use super::{lock, Core};
use crate::compile::{BackgroundCompiler, Key, ObjectCache};
use crate::link::glue;
use crate::stats::TierUp;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the background thread reads the counters.
const POLL: Duration = Duration::from_millis(2);

/// Counters, and the thread that acts on them.
pub(super) struct Tiering {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    started_thread: Mutex<bool>,
}

/// What the engine and its tiering thread share.
struct Shared {
    threshold: u64,
    level: u8,
    cache: Option<Arc<ObjectCache>>,
    started: Instant,
    /// Baseline bodies being counted. The counters are boxed (code holds
    /// their addresses) and live as long as this, which the thread keeps
    /// after the code is gone.
    watched: Mutex<Vec<Watched>>,
    stop: Mutex<bool>,
    wake: Condvar,
    /// The engine's core while it lives; the thread uses it only while
    /// holding this lock.
    core: Mutex<Option<usize>>,
}

struct Watched {
    function: String,
    counter: Box<AtomicU64>,
    /// The level to recompile at once hot.
    level: u8,
    /// Whether IR of an unknown level is optimized again at `level` (a
    /// swap asked for it); a tier-up keeps it as the eager compile would.
    reoptimize: bool,
    done: bool,
}

impl Tiering {
    /// Tiering that recompiles functions at `level` once counted
    /// `threshold` times, with objects from and to `cache`.
    pub(super) fn new(threshold: u64, level: u8, cache: Option<Arc<ObjectCache>>) -> Tiering {
        Tiering {
            shared: Arc::new(Shared {
                threshold,
                level,
                cache,
                started: Instant::now(),
                watched: Mutex::new(Vec::new()),
                stop: Mutex::new(false),
                wake: Condvar::new(),
                core: Mutex::new(None),
            }),
            thread: Mutex::new(None),
            started_thread: Mutex::new(false),
        }
    }

    /// A new counter for `function`'s baseline body, whose address the
    /// body's code adds to; starts the background thread on first use.
    pub(super) fn watch(&self, core: &Core, function: &str) -> usize {
        let counter = Box::new(AtomicU64::new(0));
        let address = counter.as_ptr() as usize;
        lock(&self.shared.watched).push(Watched {
            function: function.to_string(),
            counter,
            level: self.shared.level,
            reoptimize: false,
            done: false,
        });
        self.start(core);
        address
    }

    /// Has `function`'s current body recompiled at `level` in the
    /// background soon, hot or not: a swap went live at the baseline.
    pub(super) fn request(&self, core: &Core, function: &str, level: u8) {
        lock(&self.shared.watched).push(Watched {
            function: function.to_string(),
            counter: Box::new(AtomicU64::new(u64::MAX)),
            level,
            reoptimize: true,
            done: false,
        });
        self.start(core);
        self.shared.wake.notify_all();
    }

    /// Starts the background thread if it is not running yet.
    fn start(&self, core: &Core) {
        let mut started = lock(&self.started_thread);
        if !*started {
            *started = true;
            *lock(&self.shared.core) = Some(core as *const Core as usize);
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("hyperjit-tier".to_string())
                .spawn(move || tier_up_hot_functions(&shared));
            match spawned {
                Ok(handle) => *lock(&self.thread) = Some(handle),
                Err(error) => tracing::warn!("no tiering thread: {error}"),
            }
        }
    }

    /// Stops the background thread and waits for it (for a compilation in
    /// progress: LLVM must not be torn down under it, as it is at process
    /// exit; a program that wants to end at once exits without dropping
    /// the engine, as the CLI does).
    pub(super) fn stop(&self) {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        *lock(&self.shared.core) = None;
        if let Some(thread) = lock(&self.thread).take() {
            // A panic in the thread has been reported already.
            let _ = thread.join();
        }
    }
}

impl Shared {
    /// Runs `work` with the engine's core, unless the engine is gone.
    fn with_core<T>(&self, work: impl FnOnce(&Core) -> T) -> Option<T> {
        let core = lock(&self.core);
        // SAFETY: the address is the live core's while it is in the slot:
        // the engine empties the slot (under this lock) before it drops
        // the core.
        (*core).map(|address| work(unsafe { &*(address as *const Core) }))
    }

    /// Marks the watched functions whose counters reached the threshold as
    /// done and returns them with their counts (none for a swap's request) and levels; `None` once
    /// stopped.
    fn next_hot(&self) -> Option<Vec<Hot>> {
        let stopped = lock(&self.stop);
        let (stopped, _) = self
            .wake
            .wait_timeout(stopped, POLL)
            .unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return None;
        }
        drop(stopped);
        let mut watched = lock(&self.watched);
        Some(
            watched
                .iter_mut()
                .filter(|w| !w.done && w.counter.load(Ordering::Relaxed) >= self.threshold)
                .map(|w| {
                    w.done = true;
                    Hot {
                        function: w.function.clone(),
                        // A swap's request counted nothing.
                        count: Some(w.counter.load(Ordering::Relaxed)).filter(|_| !w.reoptimize),
                        level: w.level,
                        reoptimize: w.reoptimize,
                    }
                })
                .collect(),
        )
    }
}

/// A watched function due for its tier-up.
struct Hot {
    function: String,
    /// Its count when found hot; none if a swap asked for it.
    count: Option<u64>,
    level: u8,
    /// Asked for by a swap: its IR level is kept as it is.
    reoptimize: bool,
}

/// The background thread: recompiles hot functions until stopped.
fn tier_up_hot_functions(shared: &Shared) {
    // Made for the first hot function: a program without one (its loops
    // compiled optimized at once, say) pays no memory for it.
    let mut compiler = None;
    while let Some(hot) = shared.next_hot() {
        for Hot {
            function,
            count,
            level,
            reoptimize,
        } in hot
        {
            let compiler = match compiler.as_mut() {
                Some(compiler) => compiler,
                None => match BackgroundCompiler::new(shared.level, shared.cache.clone()) {
                    Ok(made) => compiler.insert(made),
                    Err(error) => {
                        tracing::warn!("tiering disabled: {error}");
                        return;
                    }
                },
            };
            let source = shared.with_core(|core| {
                let state = core.lock();
                let source = state.linker.body_source(&function)?;
                let location = state.linker.body_location(&function).cloned();
                Some((
                    source,
                    location,
                    glue::body_version(&function, core.next_version()),
                ))
            });
            let Some(Some(((source, body, ir_level), location, version))) = source else {
                continue;
            };
            let compile_started = Instant::now();
            // IR that came optimized (at a level not known) is compiled as
            // it is, as an eager compile would.
            let ir_level = if reoptimize {
                ir_level
            } else {
                ir_level.or(Some(level))
            };
            let compiled = compiler.compile(&source, &body, &version, ir_level, level);
            let compile_time = compile_started.elapsed();
            // This thread allocates from a malloc arena of its own, whose
            // high-water mark adds to the main one's: give back what the
            // compile freed (peak: bzip2 98 -> 93 MB, sqlite 155 -> 141 MB).
            crate::llvm::release_freed_memory();
            // Marked once compiled, not once installed: a run may end
            // first, and the next run starts the body optimized anyway.
            if let (Ok(_), Some(cache)) = (&compiled, &shared.cache) {
                cache.mark(&Key::hot_mark(source.bytes()));
            }
            shared.with_core(|core| {
                let mut state = core.lock();
                // Swapped meanwhile (redefined, say): the new body stays.
                if state.linker.body_location(&function) != location.as_ref() {
                    return;
                }
                let installed = compiled
                    .map_err(crate::error::Error::llvm(format!(
                        "tiering up '{function}'"
                    )))
                    .and_then(|compiled| state.linker.install_body(&function, compiled));
                match installed {
                    Ok(_) => state.stats.tier_ups.push(TierUp {
                        function: function.clone(),
                        count,
                        at: shared.started.elapsed(),
                        compile_time,
                    }),
                    Err(error) => tracing::warn!("{error}"),
                }
            });
        }
    }
}

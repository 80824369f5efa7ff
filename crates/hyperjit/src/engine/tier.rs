//! Tiered compilation, the engine's side. With tiering, a function's first
//! body is compiled at the baseline (-O0 code generation, the fastest to
//! produce) with a counter of its calls and loop iterations
//! (`llvm/counters.rs`). One background thread watches the counters; a
//! function whose counter reaches the threshold is recompiled at the
//! engine's level by that thread (`compile/tier.rs`, its own LLVM context)
//! and swapped in through the function's entry, as any swap is, while the
//! program keeps running. A frame already running the baseline body
//! finishes in it (there is no on-stack replacement).

use super::Core;
use crate::compile::BackgroundCompiler;
use crate::link::glue;
use crate::stats::TierUp;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the background thread reads the counters.
const POLL: Duration = Duration::from_millis(2);

/// Counters, and the thread that acts on them.
pub(super) struct Tiering {
    threshold: u64,
    level: u8,
    started: Instant,
    /// Baseline bodies being counted. The counters are boxed: code holds
    /// their addresses.
    watched: Mutex<Vec<Watched>>,
    stop: Mutex<bool>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Watched {
    function: String,
    counter: Box<AtomicU64>,
    done: bool,
}

impl Tiering {
    /// Tiering that recompiles functions at `level` once counted
    /// `threshold` times.
    pub(super) fn new(threshold: u64, level: u8) -> Tiering {
        Tiering {
            threshold,
            level,
            started: Instant::now(),
            watched: Mutex::new(Vec::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            thread: Mutex::new(None),
        }
    }

    /// A new counter for `function`'s baseline body, whose address the
    /// body's code adds to; starts the background thread on first use.
    pub(super) fn watch(&self, core: &Core, function: &str) -> u64 {
        let counter = Box::new(AtomicU64::new(0));
        let address = counter.as_ptr() as u64;
        lock(&self.watched).push(Watched {
            function: function.to_string(),
            counter,
            done: false,
        });
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let core_address = core as *const Core as usize;
            let spawned = std::thread::Builder::new()
                .name("hyperjit-tier".to_string())
                // SAFETY (of the pointer's use in the thread): the engine
                // joins this thread in `stop`, before its `Core` is dropped.
                .spawn(move || tier_up_hot_functions(core_address));
            match spawned {
                Ok(handle) => *thread = Some(handle),
                Err(error) => tracing::warn!("no tiering thread: {error}"),
            }
        }
        address
    }

    /// Stops the background thread and waits for it.
    pub(super) fn stop(&self) {
        *lock(&self.stop) = true;
        self.wake.notify_all();
        if let Some(thread) = lock(&self.thread).take() {
            // A panic in the thread has been reported already.
            let _ = thread.join();
        }
    }

    /// Marks the watched functions whose counters reached the threshold as
    /// done and returns them with their counts; `None` once stopped.
    fn next_hot(&self) -> Option<Vec<(String, u64)>> {
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
                    (w.function.clone(), w.counter.load(Ordering::Relaxed))
                })
                .collect(),
        )
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The background thread: recompiles hot functions until stopped.
fn tier_up_hot_functions(core_address: usize) {
    // SAFETY: see `Tiering::watch`: the core outlives this thread.
    let core = unsafe { &*(core_address as *const Core) };
    let Some(tiering) = core.tiering.as_ref() else {
        return;
    };
    let mut compiler = match BackgroundCompiler::new(tiering.level) {
        Ok(compiler) => compiler,
        Err(error) => {
            tracing::warn!("tiering disabled: {error}");
            return;
        }
    };
    while let Some(hot) = tiering.next_hot() {
        for (function, count) in hot {
            let Some((source, body, ir_level)) = core.lock().linker.body_source(&function) else {
                continue;
            };
            let version = glue::body_version(&function, core.next_version());
            let compile_started = Instant::now();
            let compiled = compiler.compile(&source, &body, &version, ir_level);
            let compile_time = compile_started.elapsed();
            let mut state = core.lock();
            // Swapped meanwhile (redefined, say): the new body stays.
            let current = state.linker.body_source(&function).map(|(_, body, _)| body);
            if current.as_deref() != Some(body.as_str()) {
                continue;
            }
            let installed = compiled
                .map_err(crate::error::Error::llvm(format!(
                    "tiering up '{function}'"
                )))
                .and_then(|compiled| state.linker.install_body(&function, compiled));
            match installed {
                Ok(_) => state.stats.tier_ups.push(TierUp {
                    function,
                    count,
                    at: tiering.started.elapsed(),
                    compile_time,
                }),
                Err(error) => tracing::warn!("{error}"),
            }
        }
    }
}

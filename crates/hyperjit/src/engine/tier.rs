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
use crate::compile::{BackgroundCompiler, BodySource, Key, ObjectCache};
use crate::link::glue;
use crate::stats::TierUp;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the background thread reads the counters while they move.
const POLL: Duration = Duration::from_millis(2);
/// How rarely, at most, while none moves (an idle program, or one whose
/// hot code is all optimized already): the wait doubles up to this.
const IDLE_POLL: Duration = Duration::from_millis(256);

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
    /// Baseline bodies being counted, until found hot.
    watched: Mutex<Vec<Watched>>,
    /// The counters of bodies found hot: their code, which may still run
    /// (a frame in a loop), holds their addresses, so they live as long as
    /// this, which the thread keeps after the code is gone — but they are
    /// read no more. Boxed: the code holds their addresses while the Vec
    /// grows.
    #[allow(clippy::vec_box)]
    retired: Mutex<Vec<Box<AtomicU64>>>,
    /// How many times the thread has read the counters.
    scans: AtomicU64,
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
                retired: Mutex::new(Vec::new()),
                scans: AtomicU64::new(0),
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
        let watched = Watched {
            function: function.to_string(),
            counter,
            level: self.shared.level,
            reoptimize: false,
        };
        self.add(core, watched, false);
        address
    }

    /// Has `function`'s current body recompiled at `level` in the
    /// background soon, hot or not: a swap went live at the baseline.
    pub(super) fn request(&self, core: &Core, function: &str, level: u8) {
        let watched = Watched {
            function: function.to_string(),
            counter: Box::new(AtomicU64::new(u64::MAX)),
            level,
            reoptimize: true,
        };
        self.add(core, watched, true);
    }

    /// Watches `watched`, waking the thread if it is `urgent` or the
    /// thread sleeps until something is watched.
    fn add(&self, core: &Core, watched: Watched, urgent: bool) {
        let was_empty = {
            let mut list = lock(&self.shared.watched);
            list.push(watched);
            list.len() == 1
        };
        self.start(core);
        if urgent || was_empty {
            // Under the lock the thread checks the list with (`next_hot`).
            let _stop = lock(&self.shared.stop);
            self.shared.wake.notify_all();
        }
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

    /// Takes the watched functions whose counters reached the threshold
    /// off the list and returns them with their counts (none for a swap's
    /// request) and levels; `None` once stopped. Waits for them as `poll`
    /// says: not at all while nothing is watched (until `watch` or
    /// `request` wakes the thread), longer and longer while no counter
    /// moves.
    fn next_hot(&self, poll: &mut Poll) -> Option<Vec<Hot>> {
        let mut stopped = lock(&self.stop);
        // `watch`, `request` and `stop` notify under the `stop` lock, after
        // their change: one made before this thread waits is seen here,
        // one made after wakes it.
        while !*stopped && lock(&self.watched).is_empty() {
            stopped = self.wake.wait(stopped).unwrap_or_else(|e| e.into_inner());
        }
        if !*stopped {
            (stopped, _) = self
                .wake
                .wait_timeout(stopped, poll.wait)
                .unwrap_or_else(|e| e.into_inner());
        }
        if *stopped {
            return None;
        }
        drop(stopped);
        self.scans.fetch_add(1, Ordering::Relaxed);
        let mut watched = lock(&self.watched);
        let total = watched.iter().fold(0u64, |total, w| {
            total.wrapping_add(w.counter.load(Ordering::Relaxed))
        });
        poll.wait = if total == poll.last_total {
            (poll.wait * 2).min(IDLE_POLL)
        } else {
            POLL
        };
        poll.last_total = total;
        let mut hot = Vec::new();
        let mut retired = lock(&self.retired);
        watched.retain_mut(|w| {
            let count = w.counter.load(Ordering::Relaxed);
            if count < self.threshold {
                return true;
            }
            hot.push(Hot {
                function: std::mem::take(&mut w.function),
                // A swap's request counted nothing.
                count: Some(count).filter(|_| !w.reoptimize),
                level: w.level,
                reoptimize: w.reoptimize,
            });
            retired.push(std::mem::replace(
                &mut w.counter,
                Box::new(AtomicU64::new(0)),
            ));
            false
        });
        Some(hot)
    }
}

/// How long the thread waits before reading the counters again.
struct Poll {
    wait: Duration,
    /// The counters' sum at the last read: unchanged means idle.
    last_total: u64,
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
    let mut poll = Poll {
        wait: POLL,
        last_total: 0,
    };
    while let Some(hot) = shared.next_hot(&mut poll) {
        for hot in hot {
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
            tier_up(shared, compiler, hot);
        }
    }
}

/// Recompiles one hot function on the tier thread and swaps it in, unless
/// it was swapped meanwhile.
fn tier_up(shared: &Shared, compiler: &mut BackgroundCompiler, hot: Hot) {
    let Hot {
        function,
        count,
        level,
        reoptimize,
    } = hot;
    // Everything this thread does is LLVM's work: a crash in it is
    // hyperjit's error, not the program's.
    let _phase = crate::runtime::Phase::enter(&format!("tiering up {function}"));
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
        return;
    };
    let compile_started = Instant::now();
    // IR that came optimized (at a level not known) is compiled as
    // it is, as an eager compile would.
    let ir_level = if reoptimize {
        ir_level
    } else {
        ir_level.or(Some(level))
    };
    let body = BodySource {
        bitcode: &source,
        body: &body,
        ir_level,
    };
    let compiled = compiler.compile(body, &version, level);
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

#[cfg(test)]
mod tests {
    use super::lock;
    use crate::Engine;
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    /// The thread reads the counters rarely while none moves, and drops a
    /// function from the list once it is found hot.
    #[test]
    fn an_idle_engine_reads_its_counters_rarely_and_forgets_hot_ones() {
        let engine = Engine::builder().tier_threshold(1000).build().unwrap();
        engine
            .add_ir(
                "f.ll",
                "define i32 @f(i32 %x) {\n  %y = add i32 %x, 1\n  ret i32 %y\n}\n",
            )
            .unwrap();
        let f = engine.lookup_fn::<extern "C" fn(i32) -> i32>("f").unwrap();
        assert_eq!(f.call(1).unwrap(), 2);
        let tiering = engine.core.tiering.as_ref().unwrap();
        assert_eq!(lock(&tiering.shared.watched).len(), 1);
        let before = tiering.shared.scans.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(600));
        // Every 2 ms, that was 300 reads; backing off to 256 ms, about 10.
        let idle_scans = tiering.shared.scans.load(Ordering::Relaxed) - before;
        assert!(idle_scans <= 20, "{idle_scans} reads while idle");
        for _ in 0..2000 {
            f.call(1).unwrap();
        }
        let started = Instant::now();
        while engine.stats().tier_ups.is_empty() && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(engine.stats().tier_ups.len(), 1);
        assert!(lock(&tiering.shared.watched).is_empty());
        assert_eq!(lock(&tiering.shared.retired).len(), 1);
        assert_eq!(f.call(41).unwrap(), 42);
    }

    /// An engine dropped while its thread works on a swap's request: the
    /// thread sees the stop when it comes back for more, though nothing is
    /// watched then (it waited for ever, and the drop with it).
    #[test]
    fn an_engine_dropped_while_its_thread_compiles_is_dropped() {
        for _ in 0..20 {
            let engine = Engine::builder().tier(true).build().unwrap();
            engine
                .add_ir("f.ll", "define i32 @f(i32 %x) {\n  ret i32 %x\n}\n")
                .unwrap();
            engine.lookup("f").unwrap();
            engine
                .redefine_ir(
                    "f",
                    "g.ll",
                    "define i32 @f(i32 %x) {\n  %y = add i32 %x, 1\n  ret i32 %y\n}\n",
                )
                .unwrap();
        }
    }
}

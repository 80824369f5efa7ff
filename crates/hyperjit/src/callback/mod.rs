//! Host callbacks: how a JIT'd program calls into the program hosting it.
//!
//! Four ways, one mechanism. A typed closure ([`Engine::define`]), a
//! dynamic-signature handler ([`Engine::define_dynamic`]) and the seed's
//! multiplexed callbacks ([`Engine::register_callback`], reached through
//! `PerformCustomCallback`) each get an `extern "C-unwind"` trampoline and an
//! environment (the closure and its name, counters and engine). The guest
//! reaches the trampoline through a small IR thunk that passes the
//! environment's address as a constant; the thunk is inlined into the call
//! site, so a callback costs one direct call. A raw address
//! ([`Engine::define_symbol`]) is bound as it is.
//!
//! Trampolines catch panics and `Err(Trap)`s and stop the guest (see
//! `trap.rs`): no panic unwinds into guest code. (They are "C-unwind" only so
//! that `pthread_exit`'s forced unwinding may pass through them when a
//! guest-created thread traps.)
//!
//! [`Engine::define`]: crate::Engine::define
//! [`Engine::define_dynamic`]: crate::Engine::define_dynamic
//! [`Engine::register_callback`]: crate::Engine::register_callback
//! [`Engine::define_symbol`]: crate::Engine::define_symbol

mod dynamic;
mod function_pointer;
mod multiplexed;
mod signature;
pub(crate) mod thunk;
mod trap;
mod typed;

pub(crate) use dynamic::DynamicFunction;
pub use function_pointer::FunctionPointer;
pub(crate) use multiplexed::{dispatch_address, MultiplexedFunction};
pub use signature::{Signature, Ty, Value};
pub use trap::Trap;
pub use typed::{HostReturn, HostType, IntoHostFunction, WithCaller};

use crate::engine::Inner;
use rustc_hash::FxHashMap;
use std::any::Any;
use std::ffi::c_void;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// What every callback environment starts with.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) name: String,
    engine: AtomicPtr<Inner>,
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Shared {
    /// The engine that registered this callback.
    pub(crate) fn engine(&self) -> &Inner {
        // SAFETY: set at registration, before any trampoline can run, to the
        // engine's boxed core, which owns the JIT and so outlives every call.
        unsafe { &*self.engine.load(Ordering::Relaxed) }
    }

    /// Counts one call that began at `started` (only with `--stats`).
    pub(crate) fn count(&self, started: Instant) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// A callback environment: `shared` first (`repr(C)`), so the engine can
/// reach it through an erased pointer whatever `F` is.
#[repr(C)]
pub(crate) struct Env<F> {
    pub(crate) shared: Shared,
    pub(crate) func: F,
}

/// The two trampolines of a callback: plain, and counting calls and time.
#[derive(Clone, Copy)]
pub(crate) struct TrampolinePair {
    pub(crate) plain: usize,
    pub(crate) counting: usize,
}

/// An owned, type-erased callback environment.
pub(crate) struct OwnedEnv {
    ptr: *mut Shared,
    drop: unsafe fn(*mut Shared),
}

// SAFETY: the environments hold `Send + Sync` closures and atomics.
unsafe impl Send for OwnedEnv {}
// SAFETY: as above.
unsafe impl Sync for OwnedEnv {}

impl OwnedEnv {
    fn shared(&self) -> &Shared {
        // SAFETY: `ptr` points at a live Env whose first field is Shared.
        unsafe { &*self.ptr }
    }

    pub(crate) fn address(&self) -> usize {
        self.ptr as usize
    }
}

impl Drop for OwnedEnv {
    fn drop(&mut self) {
        // SAFETY: `drop` is the matching drop function for the Box behind
        // `ptr`, called once.
        unsafe { (self.drop)(self.ptr) }
    }
}

/// A callback ready to register: its guest-visible type, environment and
/// trampolines.
pub(crate) struct HostFunction {
    pub(crate) signature: Signature,
    pub(crate) env: OwnedEnv,
    pub(crate) trampolines: TrampolinePair,
}

impl HostFunction {
    pub(crate) fn new<F: Send + Sync + 'static>(
        signature: Signature,
        func: F,
        trampolines: TrampolinePair,
    ) -> HostFunction {
        unsafe fn drop_env<F>(ptr: *mut Shared) {
            // SAFETY: `ptr` came from Box::into_raw of an Env<F> below.
            drop(unsafe { Box::from_raw(ptr.cast::<Env<F>>()) });
        }
        let env = Box::new(Env {
            shared: Shared::default(),
            func,
        });
        HostFunction {
            signature,
            env: OwnedEnv {
                ptr: Box::into_raw(env).cast::<Shared>(),
                drop: drop_env::<F>,
            },
            trampolines,
        }
    }

    /// Names the callback and ties it to its engine; before any call.
    pub(crate) fn bind(&mut self, name: &str, engine: *const Inner) {
        // SAFETY: the environment is exclusively ours until registered.
        let shared = unsafe { &mut *self.env.ptr };
        shared.name = name.to_string();
        shared.engine = AtomicPtr::new(engine.cast_mut());
    }
}

/// How a guest-visible callback is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A typed closure: thunk calling a trampoline with the arguments.
    Typed,
    /// A dynamic handler: thunk packing the arguments into slots.
    Dynamic,
    /// A raw address, bound directly.
    Symbol,
}

/// A callback the guest calls by its own name.
#[derive(Clone, Debug)]
pub(crate) struct Named {
    pub(crate) kind: Kind,
    pub(crate) signature: Signature,
    /// The environment's address (0 for raw symbols).
    pub(crate) env: usize,
    /// What call sites call: the trampoline, or a raw symbol's address.
    pub(crate) target: usize,
}

/// A multiplexed callback, reached through `PerformCustomCallback`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Multiplexed {
    pub(crate) trampoline: usize,
    pub(crate) env: usize,
}

/// Per-callback call counts and time (with `--stats`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackStats {
    /// The callback's name.
    pub name: String,
    /// How many times the guest called it.
    pub calls: u64,
    /// Total time spent in it.
    pub total: Duration,
}

/// Multiplexed callbacks by name, read without a lock: each registration
/// publishes a new map, and every map stays alive (and unchanged) until the
/// engine is dropped, so a reader's map can never be freed under it.
/// Registrations are rare; `PerformCustomCallback` with a run-time name
/// reads this on every call.
struct MultiplexedMaps {
    current: AtomicPtr<NameMap>,
    // Boxed: readers hold the maps' addresses while the Vec grows.
    #[allow(clippy::vec_box)]
    all: Mutex<Vec<Box<NameMap>>>,
}

type NameMap = FxHashMap<Box<[u8]>, Multiplexed>;

impl Default for MultiplexedMaps {
    fn default() -> Self {
        let mut first = Box::<NameMap>::default();
        MultiplexedMaps {
            current: AtomicPtr::new(&mut *first),
            all: Mutex::new(vec![first]),
        }
    }
}

impl MultiplexedMaps {
    fn get(&self, name: &[u8]) -> Option<Multiplexed> {
        // SAFETY: `current` always points at a map owned by `all`, which
        // only grows while the registry lives, and a published map is never
        // modified.
        let map = unsafe { &*self.current.load(Ordering::Acquire) };
        map.get(name).copied()
    }

    fn insert(&self, name: &str, multiplexed: Multiplexed) {
        let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Box::new(all.last().map(|map| (**map).clone()).unwrap_or_default());
        next.insert(name.as_bytes().into(), multiplexed);
        self.current.store(&mut *next, Ordering::Release);
        all.push(next);
    }
}

/// An engine's callbacks.
#[derive(Default)]
pub(crate) struct Registry {
    named: RwLock<FxHashMap<String, Named>>,
    multiplexed: MultiplexedMaps,
    envs: Mutex<Vec<OwnedEnv>>,
}

impl Registry {
    pub(crate) fn named(&self, name: &str) -> Option<Named> {
        self.read_named().get(name).cloned()
    }

    pub(crate) fn named_all(&self) -> Vec<(String, Named)> {
        self.read_named()
            .iter()
            .map(|(name, named)| (name.clone(), named.clone()))
            .collect()
    }

    fn read_named(&self) -> std::sync::RwLockReadGuard<'_, FxHashMap<String, Named>> {
        self.named.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn multiplexed(&self, name: &[u8]) -> Option<Multiplexed> {
        self.multiplexed.get(name)
    }

    pub(crate) fn is_named(&self, name: &str) -> bool {
        self.read_named().contains_key(name)
    }

    pub(crate) fn insert_named(&self, name: &str, named: Named, env: Option<OwnedEnv>) {
        self.named
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), named);
        self.keep(env);
    }

    pub(crate) fn insert_multiplexed(&self, name: &str, multiplexed: Multiplexed, env: OwnedEnv) {
        self.multiplexed.insert(name, multiplexed);
        self.keep(Some(env));
    }

    pub(crate) fn has_multiplexed(&self, name: &str) -> bool {
        self.multiplexed(name.as_bytes()).is_some()
    }

    fn keep(&self, env: Option<OwnedEnv>) {
        if let Some(env) = env {
            self.envs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(env);
        }
    }

    pub(crate) fn stats(&self) -> Vec<CallbackStats> {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats: Vec<CallbackStats> = envs
            .iter()
            .map(|env| {
                let shared = env.shared();
                CallbackStats {
                    name: shared.name.clone(),
                    calls: shared.calls.load(Ordering::Relaxed),
                    total: Duration::from_nanos(shared.nanos.load(Ordering::Relaxed)),
                }
            })
            .collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }
}

/// What a callback can reach while it runs: the engine's services and the
/// host's data. Valid for the duration of the call.
pub struct Caller<'a> {
    shared: &'a Shared,
}

impl<'a> Caller<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Caller<'a> {
        Caller { shared }
    }

    /// The name of the callback being called.
    pub fn callback(&self) -> &str {
        &self.shared.name
    }

    /// The address of a function or global of the running program, or of a
    /// callback. Safe to call from inside a callback: the engine holds no
    /// lock while guest code runs.
    pub fn lookup(&self, symbol: &str) -> crate::Result<*const c_void> {
        self.shared.engine().lookup(symbol)
    }

    /// Recompiles a function of the running program (see
    /// [`Engine::recompile`](crate::Engine::recompile)); may be the very
    /// function that called this callback: the next call runs the new code.
    pub fn recompile(&self, function: &str, opt_level: u8) -> crate::Result<()> {
        self.shared.engine().recompile(function, opt_level)
    }

    /// Replaces a function's body (see
    /// [`Engine::redefine`](crate::Engine::redefine)).
    pub fn redefine(&self, function: &str, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        self.shared.engine().redefine(function, path.as_ref())
    }

    /// Adds and links a module while the program runs (see
    /// [`Engine::load`](crate::Engine::load)).
    pub fn load(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()> {
        self.shared.engine().load(path.as_ref())
    }

    /// The host data given to [`EngineBuilder::host_data`], if it is a `T`.
    ///
    /// [`EngineBuilder::host_data`]: crate::EngineBuilder::host_data
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.shared.engine().host_data::<T>()
    }
}

//! Callback environments: what a trampoline receives as its first argument.
//! Each callback's closure lives in a boxed `Env` at a fixed address, which
//! its IR thunk passes as a constant; the `Shared` header names the callback,
//! ties it to its engine's services and counts its calls.

use super::{CallbackStats, EngineServices, Signature};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What every callback environment starts with.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) name: String,
    services: Option<NonNull<dyn EngineServices>>,
    /// One of the engine's own functions (a hypercall), not the host's.
    builtin: bool,
    calls: AtomicU64,
    nanos: AtomicU64,
}

impl Shared {
    /// The services of the engine that registered this callback.
    pub(crate) fn services(&self) -> &dyn EngineServices {
        let services = self
            .services
            .expect("a callback is bound to its engine before it is registered");
        // SAFETY: set by `HostFunction::bind` before the callback was
        // registered (so before any trampoline can run) to the engine's
        // boxed core, which owns the registry that owns this environment and
        // the JIT whose code calls it, so it outlives every call.
        unsafe { services.as_ref() }
    }

    /// Counts one call that began at `started` (only with `--stats`).
    pub(crate) fn count(&self, started: Instant) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The calls counted so far; None for the engine's own functions.
    pub(crate) fn stats(&self) -> Option<CallbackStats> {
        (!self.builtin).then(|| CallbackStats {
            name: self.name.clone(),
            calls: self.calls.load(Ordering::Relaxed),
            total: Duration::from_nanos(self.nanos.load(Ordering::Relaxed)),
        })
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

// SAFETY: the environments hold `Send + Sync` closures and atomics, and the
// services they point at are `Send + Sync`.
unsafe impl Send for OwnedEnv {}
// SAFETY: as above.
unsafe impl Sync for OwnedEnv {}

impl OwnedEnv {
    pub(crate) fn shared(&self) -> &Shared {
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
        /// # Safety
        /// `ptr` came from `Box::into_raw` of an `Env<F>`, and is dropped once.
        unsafe fn drop_env<F>(ptr: *mut Shared) {
            // SAFETY: per this function's contract.
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

    /// Names the callback and ties it to its engine; before any call. A
    /// `builtin` is one of the engine's own functions (not in the stats).
    pub(crate) fn bind(&mut self, name: &str, services: &dyn EngineServices, builtin: bool) {
        // SAFETY: the environment is exclusively ours until registered.
        let shared = unsafe { &mut *self.env.ptr };
        shared.name = name.to_string();
        shared.services = Some(NonNull::from(services));
        shared.builtin = builtin;
    }

    /// The trampoline guest code calls: counting calls or not.
    pub(crate) fn trampoline(&self, counting: bool) -> usize {
        if counting {
            self.trampolines.counting
        } else {
            self.trampolines.plain
        }
    }
}

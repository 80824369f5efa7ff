//! An engine's callbacks: those the guest calls by their own name (typed,
//! dynamic, raw symbols) and the multiplexed ones `PerformCustomCallback`
//! finds by name, with the environments they own.

use super::{CallbackStats, DirectCall, EngineServices, HostFunction, OwnedEnv, Signature};
use rustc_hash::FxHashMap;
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, RwLock};

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
    /// `None` for a raw symbol the guest's declaration is trusted for.
    pub(crate) signature: Option<Signature>,
    /// The environment's address (0 for raw symbols).
    pub(crate) env: usize,
    /// What call sites call: the trampoline, or a raw symbol's address.
    pub(crate) target: usize,
    /// One of the engine's own functions (a hypercall), not the host's.
    pub(crate) builtin: bool,
}

/// A multiplexed callback, reached through `PerformCustomCallback`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Multiplexed {
    pub(crate) trampoline: usize,
    pub(crate) env: usize,
    /// A C function's, which constant-name call sites call instead of the
    /// trampoline (not when calls are counted).
    pub(crate) direct: Option<DirectCall>,
}

/// Multiplexed callbacks by name, read without a lock: each registration
/// publishes a new map, and every map stays alive (and unchanged) until the
/// engine is dropped, so a reader's map can never be freed under it.
/// Registrations are rare; `PerformCustomCallback` with a run-time name
/// reads this on every call, so the entry found last is kept aside: a call
/// with the same name compares it with `strcmp` and skips measuring and
/// hashing the name (10.4 -> 6.2 ns a call; a byte-by-byte comparison in
/// Rust was slower than hashing, 13.2 ns, for an 18-byte name).
struct MultiplexedMaps {
    current: AtomicPtr<NameMap>,
    /// The entry a run-time name found last (null before the first), owned
    /// by the maps.
    last: AtomicPtr<Entry>,
    // Boxed: readers hold the maps' addresses while the Vec grows.
    #[allow(clippy::vec_box)]
    all: Mutex<Vec<Box<NameMap>>>,
}

/// A multiplexed callback and its name, NUL-terminated.
struct Entry {
    c_name: Box<[u8]>,
    target: Multiplexed,
}

impl Entry {
    /// Whether the C string at `name` is this entry's name.
    ///
    /// # Safety
    /// `name` is a C string.
    #[inline(always)]
    unsafe fn is_named(&self, name: *const c_char) -> bool {
        // SAFETY: two C strings: strcmp reads neither past its NUL.
        unsafe { libc::strcmp(name, self.c_name.as_ptr().cast()) == 0 }
    }
}

type NameMap = FxHashMap<Box<[u8]>, Arc<Entry>>;

impl Default for MultiplexedMaps {
    fn default() -> Self {
        let mut first = Box::<NameMap>::default();
        MultiplexedMaps {
            current: AtomicPtr::new(&mut *first),
            last: AtomicPtr::new(std::ptr::null_mut()),
            all: Mutex::new(vec![first]),
        }
    }
}

impl MultiplexedMaps {
    fn map(&self) -> &NameMap {
        // SAFETY: `current` always points at a map owned by `all`, which
        // only grows while the registry lives, and a published map is never
        // modified.
        unsafe { &*self.current.load(Ordering::Acquire) }
    }

    fn get(&self, name: &[u8]) -> Option<Multiplexed> {
        self.map().get(name).map(|entry| entry.target)
    }

    /// # Safety
    /// `name` is a C string.
    #[inline(always)]
    unsafe fn get_c(&self, name: *const c_char) -> Option<Multiplexed> {
        // SAFETY: null, or an entry of one of the maps, which live as long
        // as the registry.
        if let Some(last) = unsafe { self.last.load(Ordering::Acquire).as_ref() } {
            // SAFETY: per this function's contract.
            if unsafe { last.is_named(name) } {
                return Some(last.target);
            }
        }
        // SAFETY: per this function's contract.
        unsafe { self.get_c_slow(name) }
    }

    /// # Safety
    /// `name` is a C string.
    #[cold]
    unsafe fn get_c_slow(&self, name: *const c_char) -> Option<Multiplexed> {
        // SAFETY: per this function's contract.
        let name = unsafe { CStr::from_ptr(name) }.to_bytes();
        let entry = self.map().get(name)?;
        self.last
            .store(Arc::as_ptr(entry).cast_mut(), Ordering::Release);
        Some(entry.target)
    }

    fn insert(&self, name: &str, multiplexed: Multiplexed) {
        let mut all = self.all.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = Box::new(all.last().map(|map| (**map).clone()).unwrap_or_default());
        let mut c_name = name.as_bytes().to_vec();
        c_name.push(0);
        let entry = Entry {
            c_name: c_name.into(),
            target: multiplexed,
        };
        next.insert(name.as_bytes().into(), Arc::new(entry));
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

    /// The multiplexed callback named by the C string at `name`: what
    /// `PerformCustomCallback` with a run-time name calls.
    ///
    /// # Safety
    /// `name` is a C string.
    #[inline(always)]
    pub(crate) unsafe fn multiplexed_by_c_name(&self, name: *const c_char) -> Option<Multiplexed> {
        // SAFETY: per this function's contract.
        unsafe { self.multiplexed.get_c(name) }
    }

    pub(crate) fn is_named(&self, name: &str) -> bool {
        self.read_named().contains_key(name)
    }

    /// Registers `function` as the host function the guest calls by
    /// `name`, bound to the engine's `services`; guest code will call its
    /// counting trampoline if `counting`. A `builtin` is one of the engine's
    /// own functions.
    pub(crate) fn register_named(
        &self,
        name: &str,
        kind: Kind,
        mut function: HostFunction,
        services: &dyn EngineServices,
        counting: bool,
        builtin: bool,
    ) {
        function.bind(name, services, builtin);
        let named = Named {
            kind,
            signature: Some(function.signature.clone()),
            env: function.env.address(),
            target: function.trampoline(counting),
            builtin,
        };
        self.insert_named(name, named, Some(function.env));
    }

    /// Binds `name` to a symbol of the host's at `address`: a function of
    /// that `signature`, or anything the guest declares if `None`.
    pub(crate) fn register_symbol(&self, name: &str, address: usize, signature: Option<Signature>) {
        let named = Named {
            kind: Kind::Symbol,
            signature,
            env: 0,
            target: address,
            builtin: false,
        };
        self.insert_named(name, named, None);
    }

    /// Registers `function` as the multiplexed callback `name`; a C
    /// function's `direct` call is used unless calls are `counting`.
    pub(crate) fn register_multiplexed(
        &self,
        name: &str,
        mut function: HostFunction,
        direct: Option<DirectCall>,
        services: &dyn EngineServices,
        counting: bool,
    ) {
        function.bind(name, services, false);
        let multiplexed = Multiplexed {
            trampoline: function.trampoline(counting),
            env: function.env.address(),
            direct: direct.filter(|_| !counting),
        };
        self.multiplexed.insert(name, multiplexed);
        self.keep(Some(function.env));
    }

    fn insert_named(&self, name: &str, named: Named, env: Option<OwnedEnv>) {
        self.named
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), named);
        self.keep(env);
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

    /// The host's callbacks' counts (the engine's own functions left out).
    pub(crate) fn stats(&self) -> Vec<CallbackStats> {
        let envs = self.envs.lock().unwrap_or_else(|e| e.into_inner());
        let mut stats: Vec<CallbackStats> =
            envs.iter().filter_map(|env| env.shared().stats()).collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        stats
    }
}

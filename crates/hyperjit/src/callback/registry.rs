//! An engine's callbacks: those the guest calls by their own name (typed,
//! dynamic, raw symbols) and the multiplexed ones `PerformCustomCallback`
//! finds by name, with the environments they own.

use super::{CallbackStats, DirectCall, EngineServices, HostFunction, OwnedEnv, Signature};
use rustc_hash::FxHashMap;
use std::ffi::{c_char, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Mutex, RwLock};

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

/// Multiplexed callbacks by name, read without a lock: an open-addressing
/// table of entry pointers that registrations fill in place, one slot at a
/// time (a reader sees an entry whole, or an empty slot). When it is half
/// full, a table twice the size is published; every table and entry stays
/// alive (and a published entry unchanged) until the engine is dropped, so
/// a reader's can never be freed under it, and what is kept is linear in
/// the callbacks (the tables' sizes double). `PerformCustomCallback` with a
/// run-time name reads this on every call, so the entry found last is kept
/// aside: a call with the same name compares it with `strcmp` and skips
/// measuring and hashing the name (10.4 -> 6.2 ns a call; a byte-by-byte
/// comparison in Rust was slower than hashing, 13.2 ns, for an 18-byte
/// name).
struct MultiplexedMaps {
    current: AtomicPtr<Table>,
    /// The entry a run-time name found last (null before the first), owned
    /// by `owned`.
    last: AtomicPtr<Entry>,
    owned: Mutex<Owned>,
}

/// What the maps keep alive, and how many names the current table holds.
#[derive(Default)]
struct Owned {
    // Boxed: readers hold their addresses while the Vecs grow.
    #[allow(clippy::vec_box)]
    tables: Vec<Box<Table>>,
    #[allow(clippy::vec_box)]
    entries: Vec<Box<Entry>>,
    names: usize,
}

/// A power-of-two number of slots, each null or an entry.
struct Table {
    slots: Box<[AtomicPtr<Entry>]>,
}

impl Table {
    fn with_slots(count: usize) -> Box<Table> {
        Box::new(Table {
            slots: (0..count)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        })
    }

    /// The slot holding `name`, or the empty one where it would go.
    fn slot(&self, name: &[u8]) -> &AtomicPtr<Entry> {
        let mask = self.slots.len() - 1;
        let mut index = hash(name) & mask;
        loop {
            let slot = &self.slots[index];
            // SAFETY: null, or an entry `Owned` keeps alive with the table.
            match unsafe { slot.load(Ordering::Acquire).as_ref() } {
                Some(entry) if entry.name() != name => index = (index + 1) & mask,
                _ => return slot,
            }
        }
    }
}

fn hash(name: &[u8]) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(name) as usize
}

/// A multiplexed callback and its name, NUL-terminated.
struct Entry {
    c_name: Box<[u8]>,
    target: Multiplexed,
}

impl Entry {
    fn name(&self) -> &[u8] {
        &self.c_name[..self.c_name.len() - 1]
    }

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

impl Default for MultiplexedMaps {
    fn default() -> Self {
        let mut first = Table::with_slots(8);
        MultiplexedMaps {
            current: AtomicPtr::new(&mut *first),
            last: AtomicPtr::new(std::ptr::null_mut()),
            owned: Mutex::new(Owned {
                tables: vec![first],
                ..Owned::default()
            }),
        }
    }
}

impl MultiplexedMaps {
    fn table(&self) -> &Table {
        // SAFETY: `current` always points at a table `owned` keeps while
        // the registry lives.
        unsafe { &*self.current.load(Ordering::Acquire) }
    }

    fn find(&self, name: &[u8]) -> Option<&Entry> {
        // SAFETY: null, or an entry `owned` keeps alive.
        unsafe { self.table().slot(name).load(Ordering::Acquire).as_ref() }
    }

    fn get(&self, name: &[u8]) -> Option<Multiplexed> {
        self.find(name).map(|entry| entry.target)
    }

    /// # Safety
    /// `name` is a C string.
    #[inline(always)]
    unsafe fn get_c(&self, name: *const c_char) -> Option<Multiplexed> {
        // SAFETY: null, or an entry `owned` keeps alive.
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
        let entry = self.find(name)?;
        self.last
            .store(std::ptr::from_ref(entry).cast_mut(), Ordering::Release);
        Some(entry.target)
    }

    fn insert(&self, name: &str, multiplexed: Multiplexed) {
        let mut owned = self.owned.lock().unwrap_or_else(|e| e.into_inner());
        let mut c_name = name.as_bytes().to_vec();
        c_name.push(0);
        let mut entry = Box::new(Entry {
            c_name: c_name.into(),
            target: multiplexed,
        });
        let entry_address: *mut Entry = &mut *entry;
        owned.entries.push(entry);
        // The entry found last may be this name's old one.
        self.last.store(std::ptr::null_mut(), Ordering::Release);
        let table = self.table();
        let slot = table.slot(name.as_bytes());
        if !slot.load(Ordering::Acquire).is_null() {
            // A new registration under a name: readers see the old entry
            // or the new one, both alive.
            slot.store(entry_address, Ordering::Release);
            return;
        }
        owned.names += 1;
        if owned.names * 2 <= table.slots.len() {
            slot.store(entry_address, Ordering::Release);
            return;
        }
        let mut grown = Table::with_slots(table.slots.len() * 2);
        for old in table.slots.iter() {
            let old = old.load(Ordering::Acquire);
            // SAFETY: null, or an entry `owned` keeps alive.
            if let Some(found) = unsafe { old.as_ref() } {
                grown.slot(found.name()).store(old, Ordering::Relaxed);
            }
        }
        grown
            .slot(name.as_bytes())
            .store(entry_address, Ordering::Relaxed);
        // Release: a reader of the new table sees its slots filled.
        self.current.store(&mut *grown, Ordering::Release);
        owned.tables.push(grown);
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

#[cfg(test)]
mod tests {
    use super::{Multiplexed, MultiplexedMaps};

    fn target(n: usize) -> Multiplexed {
        Multiplexed {
            trampoline: n,
            env: n,
            direct: None,
        }
    }

    /// Thousands of registrations keep memory linear in them (each used to
    /// copy the whole map and keep every copy), and every name is found,
    /// by Rust name and by C string; a name registered again finds its
    /// new entry, also right after the old one was found.
    #[test]
    fn many_callbacks_cost_linear_memory_and_are_all_found() {
        let maps = MultiplexedMaps::default();
        const COUNT: usize = 5000;
        for n in 0..COUNT {
            maps.insert(&format!("callback_{n}"), target(n));
        }
        let owned = maps.owned.lock().unwrap();
        let slots: usize = owned.tables.iter().map(|table| table.slots.len()).sum();
        assert_eq!(owned.entries.len(), COUNT);
        // The last table is at most 4 slots a name, and the others add up
        // to less than it.
        assert!(slots <= 8 * COUNT, "{slots} slots for {COUNT} names");
        drop(owned);
        for n in 0..COUNT {
            let name = format!("callback_{n}");
            assert_eq!(maps.get(name.as_bytes()).unwrap().trampoline, n);
            let c_name = std::ffi::CString::new(name).unwrap();
            // SAFETY: a C string.
            let found = unsafe { maps.get_c(c_name.as_ptr()) };
            assert_eq!(found.unwrap().env, n);
        }
        assert!(maps.get(b"callback_").is_none());
        // SAFETY: a C string.
        assert!(unsafe { maps.get_c(c"callback_7".as_ptr()) }.is_some());
        maps.insert("callback_7", target(77));
        // SAFETY: a C string.
        let found = unsafe { maps.get_c(c"callback_7".as_ptr()) };
        assert_eq!(found.unwrap().trampoline, 77);
    }
}

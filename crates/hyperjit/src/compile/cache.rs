//! The object cache (`--cache DIR`, `HYPERJIT_CACHE`): compiled objects
//! kept on disk under a key that covers everything the code depends on —
//! the module's IR (as bitcode), the LLVM version, target triple, CPU and
//! features, the level (`TargetMachine::description`) and hyperjit's
//! version — so that a later run, or another engine, loads them instead of
//! generating code.
//!
//! An entry is checked before it is used: it starts with a magic string,
//! its own key, the payload's length and the payload's SHA-256, so a
//! truncated, corrupt or foreign file is detected, deleted and recompiled,
//! never loaded. Entries are written to a temporary file and renamed into
//! place, so runs sharing a directory never see half an entry. The cache
//! keeps under its size limit by deleting the least recently used entries
//! (a hit refreshes an entry's modification time). Both the accounting of
//! the directory's size when the cache opens and the eviction run on
//! maintenance threads, off the compile path (wasmtime's cache has a
//! worker for the same reason); dropping the cache waits for them.

use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

const MAGIC: &[u8; 8] = b"HJOBJ\x001\n";
const HEADER: usize = MAGIC.len() + 32 + 8 + 32;

/// The default size limit: 1 GiB.
pub(crate) const DEFAULT_LIMIT: u64 = 1 << 30;

/// A cache key: the SHA-256 of what the object depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key([u8; 32]);

/// Which build of hyperjit made an entry: its version and the build
/// identity `build.rs` hashes from its sources and LLVM's configuration.
const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("HYPERJIT_BUILD_ID"));

/// What an object is generated from, as its cache key covers it.
#[derive(Clone, Copy)]
pub(crate) enum ObjectSource<'a> {
    /// A lazy batch's skeleton: its bitcode (written only for the key).
    Skeleton(&'a [u8]),
    /// Code compiled whole from its kept IR (bitcode), counting calls and
    /// loop iterations into the `counters` (symbols) where it counts.
    Kept {
        bitcode: &'a [u8],
        counters: &'a [String],
    },
}

impl Key {
    /// The key of code generated from `source` by a target machine
    /// described by `target`.
    pub(crate) fn for_object(target: &str, source: ObjectSource<'_>) -> Key {
        match source {
            ObjectSource::Skeleton(bitcode) => Key::new(target, &[b"skeleton\0", bitcode]),
            ObjectSource::Kept { bitcode, counters } => {
                let counts: String = counters
                    .iter()
                    .map(|symbol| format!("\0counts {symbol}"))
                    .collect();
                Key::new(target, &[b"kept\0", bitcode, counts.as_bytes()])
            }
        }
    }

    /// The key of code generated from `ir` (bitcode, and what else the
    /// code depends on, in parts hashed as one) by a target machine
    /// described by `target`.
    fn new(target: &str, ir: &[&[u8]]) -> Key {
        Key::object(BUILD, target, ir)
    }

    /// [`Key::new`] for the build `build`.
    fn object(build: &str, target: &str, ir: &[&[u8]]) -> Key {
        let mut hasher = Sha256::new();
        hasher.update(b"hyperjit object ");
        hasher.update(build.as_bytes());
        hasher.update([0]);
        hasher.update(target.as_bytes());
        hasher.update([0]);
        for part in ir {
            hasher.update(part);
        }
        Key(hasher.finalize().into())
    }

    /// The key of the mark that the function compiled from `ir` (its first
    /// body's kept bitcode) was hot once: tiered compilation then compiles
    /// it at the engine's level from its first call on.
    pub(crate) fn hot_mark(ir: &[u8]) -> Key {
        Key::new("tiered up", &[ir])
    }

    /// The key of the program image (`link/image.rs`) linked from
    /// `sources` (each input's name and bytes, in order), prepared as
    /// `settings` says, for a target machine described by `target`.
    pub(crate) fn image(target: &str, settings: &str, sources: &[(&str, &[u8])]) -> Key {
        let mut hasher = Sha256::new();
        // "2": images record no inlining (a program whose pipeline inlined
        // a function is not stored as one); earlier ones may have.
        hasher.update(b"hyperjit image 2 ");
        hasher.update(BUILD.as_bytes());
        for part in [target.as_bytes(), settings.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        // Lengths first: no two lists of sources hash the same bytes.
        for (name, bytes) in sources {
            hasher.update((name.len() as u64).to_le_bytes());
            hasher.update(name.as_bytes());
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        Key(hasher.finalize().into())
    }

    /// The key's bytes, to be stored where it is referred to.
    pub(crate) fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// A key stored with [`to_bytes`](Self::to_bytes).
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(bytes)
    }

    fn hex(&self) -> String {
        self.0.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

/// A directory of compiled objects shared by engines and runs.
#[derive(Debug)]
pub(crate) struct ObjectCache {
    dir: PathBuf,
    /// What the maintenance threads share with the cache.
    upkeep: Arc<Upkeep>,
    /// Objects found, and objects stored, by this process.
    hits: AtomicU64,
    stores: AtomicU64,
    /// The maintenance threads started, joined when the cache is dropped.
    maintenance: Mutex<Vec<JoinHandle<()>>>,
}

/// The size accounting the maintenance threads keep.
#[derive(Debug)]
struct Upkeep {
    dir: PathBuf,
    limit: u64,
    /// The entries' total size as this process knows it: what it stored,
    /// plus what the directory held when the first count finished.
    size: AtomicU64,
    /// An eviction is running.
    evicting: AtomicBool,
}

impl ObjectCache {
    /// The cache in `dir` (created if missing), kept under `limit` bytes.
    /// What the directory holds already is counted on a maintenance
    /// thread, and evicted there if it is over the limit.
    pub(crate) fn open(dir: &Path, limit: u64) -> std::io::Result<ObjectCache> {
        fs::create_dir_all(dir)?;
        let upkeep = Arc::new(Upkeep {
            dir: dir.to_path_buf(),
            limit,
            size: AtomicU64::new(0),
            evicting: AtomicBool::new(false),
        });
        let cache = ObjectCache {
            dir: dir.to_path_buf(),
            upkeep: Arc::clone(&upkeep),
            hits: AtomicU64::new(0),
            stores: AtomicU64::new(0),
            maintenance: Mutex::new(Vec::new()),
        };
        cache.maintain(Job::Count);
        Ok(cache)
    }

    /// Does `job` on a maintenance thread (at once, here, if none can be
    /// started).
    fn maintain(&self, job: Job) {
        let mut threads = self
            .maintenance
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        threads.retain(|thread| !thread.is_finished());
        let upkeep = Arc::clone(&self.upkeep);
        let started = std::thread::Builder::new()
            .name("hyperjit-cache".to_string())
            .spawn(move || upkeep.perform(job));
        match started {
            Ok(thread) => threads.push(thread),
            Err(_) => self.upkeep.perform(job),
        }
    }

    /// Waits until the maintenance threads are done.
    fn wait_for_maintenance(&self) {
        let threads = std::mem::take(
            &mut *self
                .maintenance
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for thread in threads {
            let _ = thread.join();
        }
    }

    fn path(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.dir.join(&hex[..2]).join(format!("{hex}.o"))
    }

    /// The object stored under `key`, if there is a sound one; an entry
    /// that fails its checks is deleted.
    pub(crate) fn get(&self, key: &Key) -> Option<Vec<u8>> {
        let object = self.read(key)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(object)
    }

    /// What [`get`](Self::get) finds, without counting it as an object:
    /// for entries that are not objects (marks, program images).
    pub(crate) fn read(&self, key: &Key) -> Option<Vec<u8>> {
        let path = self.path(key);
        let bytes = fs::read(&path).ok()?;
        match payload(&bytes, key) {
            Some(object) => {
                // Recently used: evicted last. Best effort.
                if let Ok(file) = fs::File::options().append(true).open(&path) {
                    let _ = file.set_modified(SystemTime::now());
                }
                Some(object.to_vec())
            }
            None => {
                tracing::warn!("{}: a damaged cache entry, recompiling", path.display());
                let _ = fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `object` under `key`. Failing to store is not an error of
    /// the program's: it is logged and the run goes on.
    pub(crate) fn put(&self, key: &Key, object: &[u8]) {
        if self.store(key, object) {
            self.stores.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether an entry is stored under `key` (not whether it is sound:
    /// [`get`](Self::get) checks that).
    pub(crate) fn contains(&self, key: &Key) -> bool {
        self.path(key).is_file()
    }

    /// Stores the mark `key` (see [`Key::hot_mark`]).
    pub(crate) fn mark(&self, key: &Key) {
        self.store(key, b"mark");
    }

    /// Whether the mark `key` is stored.
    pub(crate) fn has_mark(&self, key: &Key) -> bool {
        self.read(key).is_some()
    }

    /// Writes an entry, not counted as an object; false (logged) if it
    /// could not.
    pub(crate) fn store(&self, key: &Key, object: &[u8]) -> bool {
        let path = self.path(key);
        if let Err(error) = self.write(&path, key, object) {
            tracing::warn!("{}: not cached: {error}", path.display());
            return false;
        }
        let added = (HEADER + object.len()) as u64;
        let size = self.upkeep.size.fetch_add(added, Ordering::Relaxed) + added;
        if size > self.upkeep.limit && !self.upkeep.evicting.swap(true, Ordering::AcqRel) {
            self.maintain(Job::Evict);
        }
        true
    }

    /// How many objects this process found in the cache, and stored.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.stores.load(Ordering::Relaxed),
        )
    }

    fn write(&self, path: &Path, key: &Key, object: &[u8]) -> std::io::Result<()> {
        let parent = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(parent)?;
        let mut file = tempfile::NamedTempFile::new_in(parent)?;
        file.write_all(MAGIC)?;
        file.write_all(&key.0)?;
        file.write_all(&(object.len() as u64).to_le_bytes())?;
        file.write_all(&Sha256::digest(object))?;
        file.write_all(object)?;
        file.persist(path).map_err(|error| error.error)?;
        Ok(())
    }
}

impl Drop for ObjectCache {
    fn drop(&mut self) {
        self.wait_for_maintenance();
    }
}

/// What a maintenance thread does.
#[derive(Clone, Copy)]
enum Job {
    /// Counts what the directory held when the cache opened, and evicts if
    /// that is over the limit.
    Count,
    /// Evicts (the caller set `evicting`).
    Evict,
}

impl Upkeep {
    fn perform(&self, job: Job) {
        match job {
            Job::Count => {
                let found: u64 = entries(&self.dir).iter().map(|(_, len, _)| len).sum();
                let size = self.size.fetch_add(found, Ordering::Relaxed) + found;
                if size > self.limit && !self.evicting.swap(true, Ordering::AcqRel) {
                    self.evict();
                }
            }
            Job::Evict => self.evict(),
        }
    }

    /// Deletes the least recently used entries until the cache is at
    /// nine tenths of its limit, again while what was stored meanwhile
    /// keeps it over; then another eviction may start.
    fn evict(&self) {
        loop {
            let counted = self.size.load(Ordering::Relaxed);
            let mut all = entries(&self.dir);
            all.sort_by_key(|(_, _, modified)| *modified);
            let mut size: u64 = all.iter().map(|(_, len, _)| len).sum();
            let target = self.limit / 10 * 9;
            for (path, len, _) in all {
                if size <= target {
                    break;
                }
                if fs::remove_file(&path).is_ok() {
                    size -= len;
                }
            }
            // The directory's size replaces the count it was measured
            // against; what was stored meanwhile stays counted.
            self.size
                .fetch_add(size.wrapping_sub(counted), Ordering::Relaxed);
            self.evicting.store(false, Ordering::Release);
            let over = self.size.load(Ordering::Relaxed) > self.limit;
            if !over || self.evicting.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }
}

/// The payload of an entry's `bytes`, if the entry is sound and is `key`'s.
fn payload<'a>(bytes: &'a [u8], key: &Key) -> Option<&'a [u8]> {
    let (magic, rest) = bytes.split_at_checked(MAGIC.len())?;
    let (stored_key, rest) = rest.split_at_checked(32)?;
    let (len, rest) = rest.split_at_checked(8)?;
    let (checksum, object) = rest.split_at_checked(32)?;
    let len = u64::from_le_bytes(len.try_into().ok()?);
    let sound = magic == MAGIC
        && stored_key == key.0
        && object.len() as u64 == len
        && Sha256::digest(object).as_slice() == checksum;
    sound.then_some(object)
}

/// Every entry under `dir`: path, size and modification time.
fn entries(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut found = Vec::new();
    let Ok(shards) = fs::read_dir(dir) else {
        return found;
    };
    for shard in shards.flatten() {
        let Ok(files) = fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_none_or(|e| e != "o") {
                continue;
            }
            if let Ok(metadata) = file.metadata() {
                let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                found.push((path, metadata.len(), modified));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An object's key tells a skeleton from kept IR of the same bytes, and
    /// code that counts from code that does not.
    #[test]
    fn object_keys_cover_what_the_object_is_generated_from() {
        let bitcode: &[u8] = b"bitcode";
        let skeleton = Key::for_object("t", ObjectSource::Skeleton(bitcode));
        let kept =
            |counters: &[String]| Key::for_object("t", ObjectSource::Kept { bitcode, counters });
        let counter = ["f.counter".to_string()];
        assert_ne!(skeleton, kept(&[]));
        assert_ne!(kept(&[]), kept(&counter));
        assert_eq!(kept(&counter), kept(&counter));
        assert_ne!(
            kept(&counter),
            Key::for_object(
                "another target",
                ObjectSource::Kept {
                    bitcode,
                    counters: &counter
                }
            )
        );
    }

    /// An object another build of hyperjit made has another key: the build
    /// identity (a hash of the sources) is part of it.
    #[test]
    fn keys_name_the_build_that_made_the_entry() {
        let id = env!("HYPERJIT_BUILD_ID");
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit()), "{id}");
        assert!(BUILD.ends_with(id) && BUILD.starts_with(env!("CARGO_PKG_VERSION")));
        let ir: &[&[u8]] = &[b"bitcode"];
        assert_eq!(Key::new("x86-64", ir).0, Key::object(BUILD, "x86-64", ir).0);
        assert_ne!(
            Key::object(BUILD, "x86-64", ir).0,
            Key::object("0.1.0+another", "x86-64", ir).0
        );
    }

    /// Stored objects come back; damaged, truncated and foreign entries are
    /// refused and deleted; the least recently used go first.
    #[test]
    fn entries_are_checked_and_evicted_least_recently_used_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ObjectCache::open(dir.path(), 1 << 20).unwrap();
        let key = Key::new("target", &[b"ir one"]);
        assert_eq!(cache.get(&key), None);
        cache.put(&key, b"object one");
        assert_eq!(cache.get(&key).as_deref(), Some(&b"object one"[..]));
        assert_ne!(Key::new("target", &[b"ir two"]), key);
        assert_ne!(Key::new("other target", &[b"ir one"]), key);

        let path = cache.path(&key);
        let sound = fs::read(&path).unwrap();
        let mut corrupt = sound.clone();
        *corrupt.last_mut().unwrap() ^= 1;
        for damaged in [
            corrupt,
            sound[..sound.len() - 3].to_vec(),
            b"HJOBJ".to_vec(),
        ] {
            fs::write(&path, &damaged).unwrap();
            assert_eq!(cache.get(&key), None);
            assert!(!path.exists(), "a damaged entry is deleted");
        }
        // Another key's entry under this key's name: foreign, refused.
        let other = Key::new("target", &[b"ir two"]);
        cache.put(&other, b"object two");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::copy(cache.path(&other), &path).unwrap();
        assert_eq!(cache.get(&key), None);

        // A limit of three entries' worth: the oldest goes, a used one stays.
        let small = tempfile::tempdir().unwrap();
        let object = vec![7u8; 1000];
        let cache = ObjectCache::open(small.path(), 3 * (HEADER as u64 + 1000) + 10).unwrap();
        // The count of what the directory held when it opened, done.
        cache.wait_for_maintenance();
        let keys: Vec<Key> = (0..4).map(|i| Key::new("t", &[&[i]])).collect();
        for (age, key) in keys[..3].iter().enumerate() {
            cache.put(key, &object);
            let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + age as u64);
            fs::File::options()
                .append(true)
                .open(cache.path(key))
                .unwrap()
                .set_modified(old)
                .unwrap();
        }
        assert!(cache.get(&keys[0]).is_some(), "refreshes the oldest");
        cache.put(&keys[3], &object);
        cache.wait_for_maintenance();
        assert!(cache.get(&keys[0]).is_some());
        assert!(
            cache.get(&keys[1]).is_none(),
            "the least recently used went"
        );
        assert!(cache.get(&keys[3]).is_some());
    }
}

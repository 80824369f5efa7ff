//! `hj_engine`: an engine as C holds it, with its settings, inputs, runs,
//! lookups and swaps.
//!
//! C sets an engine up after creating it (`hj_engine_set_*`), while the
//! Rust API configures a builder first; so an `hj_engine` keeps its
//! settings until the first call that needs the engine, which builds it.

use crate::boundary::{
    self, c_string, path, text, with_engine, EngineId, Failure, HJ_OK, WITHOUT_ENGINE,
};
use hyperjit::{Engine, EngineBuilder, SymbolPolicy};
use std::ffi::{c_char, c_int, c_void, CString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// An engine: create it with `hj_engine_new`, free it with
/// `hj_engine_free`. Its functions may be called from any thread, and from
/// inside callbacks while the guest runs.
#[allow(non_camel_case_types)]
pub struct hj_engine {
    /// The settings until the engine is built; `None` after.
    settings: Mutex<Option<Settings>>,
    engine: OnceLock<Engine>,
    /// Which engine a thread's last error is about (never reused, unlike
    /// the engine's address).
    id: EngineId,
    /// Plugins stay loaded as long as the engine (their callbacks are in
    /// them); declared after it, so they are unloaded after it is dropped.
    plugins: Mutex<Vec<libloading::Library>>,
}

/// What `hj_engine_set_*` chose, applied when the engine is built.
#[derive(Clone, Debug, Default)]
struct Settings {
    opt_level: Option<u8>,
    lazy: bool,
    tier: Option<u64>,
    cache: Option<PathBuf>,
    count_callback_calls: bool,
    debug: bool,
    perf_map: bool,
    fault_reports: bool,
    allowed_symbols: Option<Vec<String>>,
    isolate: Option<PathBuf>,
}

impl Settings {
    fn builder(&self) -> EngineBuilder {
        let mut builder = Engine::builder()
            .lazy(self.lazy)
            .count_callback_calls(self.count_callback_calls)
            .debug(self.debug)
            .perf_map(self.perf_map)
            .fault_reports(self.fault_reports);
        if let Some(names) = &self.allowed_symbols {
            builder = builder.symbol_policy(SymbolPolicy::allow(names.iter().cloned()));
        }
        if let Some(checker) = &self.isolate {
            builder = builder.isolate_inputs(checker);
        }
        if let Some(level) = self.opt_level {
            builder = builder.opt_level(level);
        }
        match self.tier {
            Some(0) => builder = builder.tier(true),
            Some(threshold) => builder = builder.tier_threshold(threshold),
            None => {}
        }
        if let Some(dir) = &self.cache {
            builder = builder.cache(dir);
        }
        builder
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl hj_engine {
    fn unbuilt() -> hj_engine {
        hj_engine {
            settings: Mutex::new(Some(Settings::default())),
            engine: OnceLock::new(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            plugins: Mutex::new(Vec::new()),
        }
    }

    /// An `hj_engine` around an engine built in Rust (as `hyperjit run`
    /// does from its flags), to hand to plugins. Its settings are fixed.
    pub fn wrap(engine: Engine) -> Box<hj_engine> {
        let wrapped = hj_engine {
            settings: Mutex::new(None),
            engine: OnceLock::from(engine),
            ..hj_engine::unbuilt()
        };
        Box::new(wrapped)
    }

    /// The engine, built from the settings on first use.
    pub fn engine(&self) -> hyperjit::Result<&Engine> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine);
        }
        let mut settings = lock(&self.settings);
        if let Some(engine) = self.engine.get() {
            return Ok(engine); // another thread built it meanwhile
        }
        let engine = settings.clone().unwrap_or_default().builder().build()?;
        *settings = None;
        Ok(self.engine.get_or_init(|| engine))
    }

    /// Keeps a loaded plugin's library for the engine's lifetime.
    pub(crate) fn keep_plugin(&self, library: libloading::Library) {
        lock(&self.plugins).push(library);
    }

    fn configure(
        &self,
        change: impl FnOnce(&mut Settings) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        match lock(&self.settings).as_mut() {
            Some(settings) => change(settings),
            None => Err(
                "settings are made before the engine is first used (an input added, \
                         a callback registered, ...); this engine is in use"
                    .to_string()
                    .into(),
            ),
        }
    }

    /// Which engine `hj_engine_last_error` messages are about.
    pub(crate) fn id(&self) -> EngineId {
        self.id
    }

    /// This thread's last failure on the engine, as text.
    pub(crate) fn last_error_text(&self) -> Option<String> {
        boundary::last_error_text(self.id)
    }
}

/// The next engine's id; 0 is [`WITHOUT_ENGINE`].
static NEXT_ID: AtomicU64 = AtomicU64::new(WITHOUT_ENGINE + 1);

/// A result of the Rust API as a C status.
pub(crate) fn status(result: hyperjit::Result<()>) -> Result<c_int, Failure> {
    result.map(|()| HJ_OK).map_err(Failure::from)
}

/// The engine C passed, built if need be, as a C failure.
pub(crate) fn built(engine: &hj_engine) -> Result<&Engine, Failure> {
    engine.engine().map_err(Failure::from)
}

/// What every `hj_engine_set_*` does: `change` the settings of an engine
/// not yet in use; 0, or -1 with the reason recorded.
///
/// # Safety
/// `engine` is NULL or a live engine.
unsafe fn set(
    function: &str,
    engine: *mut hj_engine,
    change: impl FnOnce(&mut Settings) -> Result<(), Failure>,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine(function, engine, |engine| {
            engine.configure(change).map(|()| 0)
        })
    }
}

/// A new engine with the defaults: `-O2`, everything compiled before the
/// program runs, no cache. Change them with `hj_engine_set_*` before the
/// engine is first used. Never NULL; free it with `hj_engine_free`.
#[no_mangle]
pub extern "C" fn hj_engine_new() -> *mut hj_engine {
    Box::into_raw(Box::new(hj_engine::unbuilt()))
}

/// Frees an engine and everything it compiled; NULL is ignored. No guest
/// code of the engine may be running, and no pointer it returned may be
/// used after.
///
/// # Safety
/// `engine` is NULL or from `hj_engine_new`, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_free(engine: *mut hj_engine) {
    if !engine.is_null() {
        // SAFETY: from `Box::into_raw` in `hj_engine_new`, freed once by
        // the caller's contract. Dropping runs no guest code.
        let engine = unsafe { Box::from_raw(engine) };
        boundary::forget(engine.id());
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(engine)));
    }
}

/// The optimization level, 0 to 3 (default 2): clang's for C inputs, the
/// IR pipeline's and the code generator's. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_opt_level(engine: *mut hj_engine, level: c_int) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_opt_level", engine, |settings| {
            let level = u8::try_from(level)
                .ok()
                .filter(|level| *level <= 3)
                .ok_or_else(|| format!("opt level {level} is out of range 0..=3"))?;
            settings.opt_level = Some(level);
            Ok(())
        })
    }
}

/// Compiles each function on its first call (non-zero `enabled`) instead
/// of everything before the program runs. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_lazy(engine: *mut hj_engine, enabled: c_int) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_lazy", engine, |settings| {
            settings.lazy = enabled != 0;
            Ok(())
        })
    }
}

/// Tiered compilation (non-zero `enabled`; implies lazy): functions start
/// at a fast baseline and those called or looping `threshold` times (0:
/// the default, 1000) are recompiled optimized in the background. 0 on
/// success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_tier(
    engine: *mut hj_engine,
    enabled: c_int,
    threshold: u64,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_tier", engine, |settings| {
            settings.tier = (enabled != 0).then_some(threshold);
            Ok(())
        })
    }
}

/// Keeps compiled code in directory `dir` (created if missing) and reuses
/// it in later runs and processes; NULL turns the cache off. 0 on success,
/// -1 on failure (a `dir` that cannot be used fails when the engine is
/// first used).
///
/// # Safety
/// `engine` is NULL or a live engine; `dir` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_cache(engine: *mut hj_engine, dir: *const c_char) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_cache", engine, |settings| {
            settings.cache = if dir.is_null() {
                None
            } else {
                Some(path(dir, "the cache directory")?.to_path_buf())
            };
            Ok(())
        })
    }
}

/// Counts each callback's calls and time for `hj_engine_stats` (non-zero
/// `enabled`; default off, when callbacks pay nothing for it). 0 on
/// success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_count_callback_calls(
    engine: *mut hj_engine,
    enabled: c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_count_callback_calls", engine, |settings| {
            settings.count_callback_calls = enabled != 0;
            Ok(())
        })
    }
}

/// Makes JIT'd code debuggable (non-zero `enabled`): every object is
/// registered with gdb through the GDB JIT interface, and C and C++
/// inputs are compiled with debug information. 0 on success, -1 on
/// failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_debug(engine: *mut hj_engine, enabled: c_int) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_debug", engine, |settings| {
            settings.debug = enabled != 0;
            Ok(())
        })
    }
}

/// Lists every function the engine emits in `/tmp/perf-PID.map` (non-zero
/// `enabled`), so that `perf report` names JIT'd code. 0 on success, -1 on
/// failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_perf_map(engine: *mut hj_engine, enabled: c_int) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_perf_map", engine, |settings| {
            settings.perf_map = enabled != 0;
            Ok(())
        })
    }
}

/// Reports a guest's death by a signal (non-zero `enabled`): the signal,
/// the faulting address and the JIT'd function + offset go to stderr, then
/// the process dies by that signal; a crash inside LLVM while an input is
/// read or compiled exits with status 125, naming it. The handlers are the
/// process's: they replace the host's own for SIGSEGV, SIGBUS, SIGFPE,
/// SIGILL and SIGABRT. Each thread that calls into guest code, and each the
/// guest starts with `pthread_create`, gets an alternate signal stack, so a
/// stack overflow there is reported too. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_fault_reports(
    engine: *mut hj_engine,
    enabled: c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_fault_reports", engine, |settings| {
            settings.fault_reports = enabled != 0;
            Ok(())
        })
    }
}

/// Links programs only against registered callbacks, hyperjit's own
/// functions and the `count` host symbols named at `names` (the CLI's
/// `--sandbox --allow`); inline assembly is refused. It controls linking;
/// it is not memory isolation. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `names` is NULL (then `count` is 0)
/// or holds `count` C strings.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_sandbox(
    engine: *mut hj_engine,
    names: *const *const c_char,
    count: libc::size_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_sandbox", engine, |settings| {
            let pointers: &[*const c_char] = match (names.is_null(), count) {
                (_, 0) => &[],
                (true, count) => {
                    return Err(format!("names is NULL but count is {count}").into());
                }
                (false, count) => std::slice::from_raw_parts(names, count),
            };
            let mut allowed = Vec::with_capacity(pointers.len());
            for &name in pointers {
                allowed.push(text(name, "an allowed symbol's name")?.to_string());
            }
            settings.allowed_symbols = Some(allowed);
            Ok(())
        })
    }
}

/// Checks each input in a child process (`CHECKER check ...`, CHECKER
/// being the `hyperjit` executable) before taking it: an input LLVM
/// crashes or hangs on fails to add instead of ending the host. It costs
/// the work done twice. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `checker` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_set_isolation(
    engine: *mut hj_engine,
    checker: *const c_char,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        set("hj_engine_set_isolation", engine, |settings| {
            settings.isolate = Some(path(checker, "the checker's path")?.to_path_buf());
            Ok(())
        })
    }
}

/// Adds an input: a C or C++ file (`.c`, `.cc`, `.cpp`, `.cxx`, compiled
/// with clang-19), `.ll` IR text or `.bc` bitcode. It is linked when the
/// program first runs or a symbol is first looked up. 0 on success, -1 on
/// failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `path` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_add_file(engine: *mut hj_engine, path: *const c_char) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_add_file", engine, |engine| {
            let path = boundary::path(path, "the input's path")?;
            status(built(engine)?.add_file(path))
        })
    }
}

/// Adds LLVM IR text held in memory, named `name` in messages. 0 on
/// success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` and `ir` are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_add_ir(
    engine: *mut hj_engine,
    name: *const c_char,
    ir: *const c_char,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_add_ir", engine, |engine| {
            let name = text(name, "the module's name")?;
            let ir = text(ir, "the IR text")?;
            status(built(engine)?.add_ir(name, ir))
        })
    }
}

/// Adds LLVM IR held in memory, text or bitcode (told apart by its bytes),
/// `length` bytes at `ir`, named `name` in messages. 0 on success, -1 on
/// failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string; `ir`
/// is NULL or points to `length` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_add_ir_bytes(
    engine: *mut hj_engine,
    name: *const c_char,
    ir: *const c_void,
    length: libc::size_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_add_ir_bytes", engine, |engine| {
            let name = text(name, "the module's name")?;
            let ir = boundary::bytes(ir, length, "the IR")?;
            status(built(engine)?.add_ir(name, ir))
        })
    }
}

/// Drops the inputs added but not linked yet (a program that cannot be
/// completed); what is linked stays. How many were dropped, or -1 on
/// failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_discard_pending(engine: *mut hj_engine) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_discard_pending", engine, |engine| {
            let dropped = built(engine)?.discard_pending();
            Ok(c_int::try_from(dropped).unwrap_or(c_int::MAX))
        })
    }
}

/// Links a `.c`, `.ll` or `.bc` file into the program now, while it runs
/// or between runs (the guest's `hj_load`). 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `path` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_load(engine: *mut hj_engine, path: *const c_char) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_load", engine, |engine| {
            let path = boundary::path(path, "the module's path")?;
            status(built(engine)?.load(path))
        })
    }
}

/// [`hj_engine_load`] for IR held in memory, text or bitcode, `length`
/// bytes at `ir`, named `name` in messages. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string; `ir`
/// is NULL or points to `length` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_load_ir(
    engine: *mut hj_engine,
    name: *const c_char,
    ir: *const c_void,
    length: libc::size_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_load_ir", engine, |engine| {
            let name = text(name, "the module's name")?;
            let ir = boundary::bytes(ir, length, "the IR")?;
            status(built(engine)?.load_ir(name, ir))
        })
    }
}

/// The address of a linked function, global or callback, linking what is
/// pending first; NULL on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_lookup(
    engine: *mut hj_engine,
    name: *const c_char,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_lookup", engine, |engine| {
            let name = text(name, "the symbol's name")?;
            built(engine)?
                .lookup(name)
                .map(|address| address.cast_mut())
                .map_err(Failure::from)
        })
    }
}

/// Links what was added and runs the program's `main` with `argc`
/// arguments from `argv` (`argv[0]` is the program's name), then its exit
/// handlers. `HJ_OK` if the program ran to its end, its status (`main`'s
/// result or `exit`'s argument) in `*exit_code` (unless NULL); `HJ_TRAP`
/// if a trap stopped it; `HJ_ERROR` if it could not be linked.
///
/// # Safety
/// `engine` is NULL or a live engine; `argv` is NULL (then `argc` is 0) or
/// holds `argc` C strings; `exit_code` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_run_main(
    engine: *mut hj_engine,
    argc: c_int,
    argv: *const *const c_char,
    exit_code: *mut c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_run_main", engine, |engine| {
            run(engine, "main", argc, argv, exit_code)
        })
    }
}

/// `hj_engine_run_main` with another entry function than `main`: one
/// taking a prefix of `(int argc, char **argv, char **envp)` and returning
/// `int` or nothing.
///
/// # Safety
/// As for `hj_engine_run_main`; `entry` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_run_entry(
    engine: *mut hj_engine,
    entry: *const c_char,
    argc: c_int,
    argv: *const *const c_char,
    exit_code: *mut c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_run_entry", engine, |engine| {
            let entry = text(entry, "the entry's name")?;
            run(engine, entry, argc, argv, exit_code)
        })
    }
}

/// What both runs do.
///
/// # Safety
/// As for `hj_engine_run_main`.
unsafe fn run(
    engine: &hj_engine,
    entry: &str,
    argc: c_int,
    argv: *const *const c_char,
    exit_code: *mut c_int,
) -> Result<c_int, Failure> {
    let count = usize::try_from(argc).map_err(|_| format!("argc is negative ({argc})"))?;
    if argv.is_null() && count > 0 {
        return Err(format!("argv is NULL but argc is {argc}").into());
    }
    let args = (0..count)
        // SAFETY: the caller's contract: `argc` C strings at `argv`.
        .map(|i| unsafe { text(*argv.add(i), &format!("argv[{i}]")) })
        .collect::<Result<Vec<&str>, Failure>>()?;
    let code = built(engine)?.run_entry(entry, &args)?;
    // SAFETY: the caller's contract: NULL or writable.
    if let Some(exit_code) = unsafe { exit_code.as_mut() } {
        *exit_code = code;
    }
    Ok(HJ_OK)
}

/// Recompiles `function` at `opt_level` (0 to 3); calls made after this
/// returns run the new code. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `function` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_recompile(
    engine: *mut hj_engine,
    function: *const c_char,
    opt_level: c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_recompile", engine, |engine| {
            let function = text(function, "the function's name")?;
            let level = u8::try_from(opt_level)
                .map_err(|_| format!("opt level {opt_level} is out of range 0..=3"))?;
            status(built(engine)?.recompile(function, level))
        })
    }
}

/// Replaces `function`'s body with its definition in the file at `path`
/// (`.c`, `.ll` or `.bc`); calls made after this returns run it. 0 on
/// success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `function` and `path` are NULL or C
/// strings.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_redefine(
    engine: *mut hj_engine,
    function: *const c_char,
    path: *const c_char,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_redefine", engine, |engine| {
            let function = text(function, "the function's name")?;
            let path = boundary::path(path, "the new definition's path")?;
            status(built(engine)?.redefine(function, path))
        })
    }
}

/// [`hj_engine_redefine`] with the new body in IR held in memory, text or
/// bitcode, `length` bytes at `ir`, named `name` in messages: a runtime
/// that generates code swaps it without a temporary file. 0 on success, -1
/// on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `function` and `name` are NULL or C
/// strings; `ir` is NULL or points to `length` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_redefine_ir(
    engine: *mut hj_engine,
    function: *const c_char,
    name: *const c_char,
    ir: *const c_void,
    length: libc::size_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_redefine_ir", engine, |engine| {
            let function = text(function, "the function's name")?;
            let name = text(name, "the module's name")?;
            let ir = boundary::bytes(ir, length, "the IR")?;
            status(built(engine)?.redefine_ir(function, name, ir))
        })
    }
}

/// Frees the code of the earlier bodies of every function swapped so far
/// (by `hj_engine_recompile`, `hj_engine_redefine`, a tier-up), which stay
/// mapped after a swap so that calls running in them can finish: how many
/// bodies were freed, or -1 on failure. See `hj_engine_reclaim_function`.
///
/// # Safety
/// `engine` is NULL or a live engine; no thread is running an earlier body
/// of any function (its code is unmapped).
#[no_mangle]
pub unsafe extern "C" fn hj_engine_reclaim(engine: *mut hj_engine) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_reclaim", engine, |engine| {
            // (The enclosing `unsafe` covers this: no earlier body runs.)
            let freed = built(engine)?.reclaim_all()?;
            Ok(c_int::try_from(freed).unwrap_or(c_int::MAX))
        })
    }
}

/// `hj_engine_reclaim` for `function`'s earlier bodies only: those a swap
/// compiled alone (a body that came with other definitions from a
/// redefining file stays, as they may be in use). How many were freed, or
/// -1 on failure (no such function).
///
/// # Safety
/// `engine` is NULL or a live engine; `function` is NULL or a C string; no
/// thread is running an earlier body of `function`.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_reclaim_function(
    engine: *mut hj_engine,
    function: *const c_char,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_reclaim_function", engine, |engine| {
            let function = text(function, "the function's name")?;
            // (The enclosing `unsafe` covers this: no earlier body runs.)
            let freed = built(engine)?.reclaim(function)?;
            Ok(c_int::try_from(freed).unwrap_or(c_int::MAX))
        })
    }
}

/// The engine's statistics as text (phase times, functions compiled
/// lazily, tier-ups, callback counts): the text `hyperjit run --stats`
/// prints. The caller owns it and frees it with `hj_string_free`. NULL on
/// failure.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_stats(engine: *mut hj_engine) -> *mut c_char {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_stats", engine, |engine| {
            Ok(c_string(built(engine)?.stats().to_string()).into_raw())
        })
    }
}

/// Frees a string the library gave the caller (`hj_engine_stats`); NULL
/// is ignored.
///
/// # Safety
/// `text` is NULL or from `hj_engine_stats`, and not freed before.
#[no_mangle]
pub unsafe extern "C" fn hj_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: from `CString::into_raw` in this library, freed once.
        drop(unsafe { CString::from_raw(text) });
    }
}

/// Why this thread's last call on `engine` failed (with a NULL engine:
/// the last call this thread made with a NULL engine); NULL if it
/// succeeded. The library owns the text: it stays valid until this
/// thread's next call on the engine.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_last_error(engine: *const hj_engine) -> *const c_char {
    // SAFETY: the caller's contract: NULL or a live engine.
    match unsafe { engine.as_ref() } {
        Some(engine) => boundary::last_error(engine.id()),
        None => boundary::last_error(WITHOUT_ENGINE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A freed engine's last error on the freeing thread goes with it: a
    /// host that makes and frees engines keeps no message per engine.
    #[test]
    fn freeing_an_engine_forgets_its_last_error() {
        for _ in 0..3 {
            let engine = hj_engine_new();
            // SAFETY: a live engine; NULL input is refused, not read.
            let status = unsafe { hj_engine_add_file(engine, std::ptr::null()) };
            assert_eq!(status, -1);
            assert_eq!(boundary::last_errors_kept(), 1);
            // SAFETY: from hj_engine_new, freed once.
            unsafe { hj_engine_free(engine) };
            assert_eq!(boundary::last_errors_kept(), 0);
        }
    }
}

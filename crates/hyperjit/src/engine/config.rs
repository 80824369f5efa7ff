//! Configuring and building an engine.

use super::{hypercalls, Core, Engine, State};
use crate::callback::Registry;
use crate::compile::{ClangOptions, Codegen, IrOptimization, ObjectCache, DEFAULT_LIMIT};
use crate::error::{Error, Result};
use crate::link::{Linker, Observers, SymbolPolicy};
use crate::runtime::{self, ExitHandlers};
use crate::stats::Stats;
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};

/// The default of [`EngineBuilder::tier_threshold`].
const DEFAULT_TIER_THRESHOLD: u64 = 1000;

/// Configures and builds an [`Engine`].
#[derive(Debug, Default)]
pub struct EngineBuilder {
    config: Config,
    host_data: Option<HostData>,
}

/// An engine's settings.
#[derive(Debug)]
pub(super) struct Config {
    pub(super) opt_level: u8,
    pub(super) ir_optimization: IrOptimization,
    pub(super) clang: ClangOptions,
    pub(super) count_calls: bool,
    pub(super) lazy: bool,
    /// The count at which tiered compilation recompiles a function; `None`:
    /// no tiering.
    pub(super) tier_threshold: Option<u64>,
    /// The object cache's directory, if any.
    pub(super) cache: Option<PathBuf>,
    /// The object cache's size limit in bytes.
    pub(super) cache_limit: u64,
    /// Register JIT'd code with debuggers; C and C++ get debug info.
    pub(super) debug: bool,
    /// List JIT'd functions in `/tmp/perf-PID.map`.
    pub(super) perf_map: bool,
    /// Report a guest's death by a signal, and LLVM's crashes.
    pub(super) fault_reports: bool,
    /// What the program may link against.
    pub(super) symbol_policy: SymbolPolicy,
    /// The `hyperjit` executable that checks each input in a child
    /// process first.
    pub(super) isolate: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            opt_level: 2,
            ir_optimization: IrOptimization::Auto,
            clang: ClangOptions::default(),
            count_calls: false,
            lazy: false,
            tier_threshold: None,
            cache: None,
            cache_limit: DEFAULT_LIMIT,
            debug: false,
            perf_map: false,
            fault_reports: false,
            symbol_policy: SymbolPolicy::Process,
            isolate: None,
        }
    }
}

/// The host's data, reachable from callbacks through
/// [`Caller::data`](crate::Caller::data).
pub(super) struct HostData(pub(super) Box<dyn Any + Send + Sync>);

impl std::fmt::Debug for HostData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostData(..)")
    }
}

impl EngineBuilder {
    /// The optimization level, 0..=3 (default 2): clang's `-O` for `.c`
    /// inputs, the IR pipeline's level, and the code generator's.
    pub fn opt_level(mut self, level: u8) -> Self {
        self.config.opt_level = level;
        self
    }

    /// When to run the IR optimization pipeline (default [`IrOptimization::Auto`]).
    pub fn ir_optimization(mut self, policy: IrOptimization) -> Self {
        self.config.ir_optimization = policy;
        self
    }

    /// The clang used for `.c` inputs (default: `$HYPERJIT_CLANG`, else
    /// `clang-19` on PATH, else `/usr/lib/llvm-19/bin/clang`).
    pub fn clang(mut self, program: impl Into<PathBuf>) -> Self {
        self.config.clang.program = Some(program.into());
        self
    }

    /// Adds an include directory for `.c` inputs (clang's `-I`).
    pub fn include_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.config
            .clang
            .args
            .push(format!("-I{}", dir.as_ref().display()));
        self
    }

    /// Defines a macro for `.c` inputs (clang's `-D`): `NAME` or `NAME=VALUE`.
    pub fn c_define(mut self, definition: impl Into<String>) -> Self {
        self.config
            .clang
            .args
            .push(format!("-D{}", definition.into()));
        self
    }

    /// Compiles each function on its first call instead of all of them up
    /// front (default off): a program starts sooner and functions it never
    /// calls are never compiled. A function's address is the same before
    /// and after (a stub that the first call redirects to the compiled
    /// code). A batch whose labels' addresses escape their function is
    /// compiled whole, as debug information is not kept for lazily compiled
    /// code.
    pub fn lazy(mut self, enabled: bool) -> Self {
        self.config.lazy = enabled;
        self
    }

    /// Tiered compilation (default off; implies [`lazy`](Self::lazy)): each
    /// function is first compiled at a fast baseline (-O0 code generation)
    /// that counts its calls and loop iterations; one that reaches the
    /// threshold (see [`tier_threshold`](Self::tier_threshold)) is
    /// recompiled at the engine's level on a background thread and swapped
    /// in while the program runs. [`Engine::stats`] lists what was tiered
    /// up and when.
    pub fn tier(mut self, enabled: bool) -> Self {
        self.config.tier_threshold =
            enabled.then(|| self.config.tier_threshold.unwrap_or(DEFAULT_TIER_THRESHOLD));
        self
    }

    /// The calls plus loop iterations after which tiered compilation
    /// recompiles a function (default 1000); turns tiering on.
    pub fn tier_threshold(mut self, count: u64) -> Self {
        self.config.tier_threshold = Some(count);
        self
    }

    /// Keeps compiled objects in `dir` (created if missing) and reuses
    /// them: a module, function or tier-up compiled before from the same IR
    /// for the same CPU, level and versions is loaded instead of compiled
    /// again. Damaged entries are detected and recompiled; engines and
    /// processes may share the directory. Size limit: see
    /// [`cache_limit`](Self::cache_limit).
    pub fn cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.cache = Some(dir.into());
        self
    }

    /// The object cache's size limit in bytes (default 1 GiB): beyond it,
    /// the least recently used objects are deleted. It applies whether it
    /// is set before or after [`cache`](Self::cache).
    pub fn cache_limit(mut self, bytes: u64) -> Self {
        self.config.cache_limit = bytes;
        self
    }

    /// Makes JIT'd code debuggable (default off): every object linked is
    /// registered through the GDB JIT interface, so `gdb` breaks on guest
    /// functions by name and backtraces through them, and C and C++ inputs
    /// are compiled with debug information (`-g`) for source lines. Debug
    /// information is complete for code compiled up front; lazily compiled
    /// bodies are registered by name.
    pub fn debug(mut self, enabled: bool) -> Self {
        self.config.debug = enabled;
        self.config.clang.debug_info = enabled;
        self
    }

    /// Lists every function the engine emits — stubs, bodies compiled on
    /// first call, recompiled and tiered versions — with its address and
    /// size in `/tmp/perf-PID.map` (default off), so that `perf report`
    /// names JIT'd code. Engines in one process share the file.
    pub fn perf_map(mut self, enabled: bool) -> Self {
        self.config.perf_map = enabled;
        self
    }

    /// Which of the host process's symbols programs may link against
    /// (default [`SymbolPolicy::Process`]: any, as under `lli`). With
    /// [`SymbolPolicy::AllowList`], only registered callbacks, hyperjit's
    /// own functions and the listed names; a program using anything else is
    /// refused before it links, listing every denied symbol with the input
    /// that uses it, and inline assembly is refused, naming the function.
    /// It controls linking; it is not memory isolation (JIT'd code runs in
    /// the host's process). Program images (`cache`) are not used with an
    /// allow list.
    pub fn symbol_policy(mut self, policy: SymbolPolicy) -> Self {
        self.config.symbol_policy = policy;
        self
    }

    /// Checks each input in a child process before taking it (default
    /// off): `hyperjit check`, run from the `hyperjit` executable at
    /// `checker`, reads, verifies and compiles it first, so that an input
    /// LLVM crashes or hangs on (corrupt bitcode; rare valid IR) is an
    /// [`Error::Isolated`] instead of the end of the host. It costs the
    /// work done twice and a process start (BENCHMARKS.md).
    pub fn isolate_inputs(mut self, checker: impl Into<PathBuf>) -> Self {
        self.config.isolate = Some(checker.into());
        self
    }

    /// Reports a guest's death by a signal (default off): SIGSEGV, SIGBUS,
    /// SIGFPE, SIGILL or SIGABRT in guest code prints the signal, the
    /// faulting address and the JIT'd function + offset (or the library
    /// function and its nearest JIT'd caller) to stderr, then the process
    /// dies by that signal, as the native program would. A stack overflow
    /// is reported too on every thread that runs guest code — the host's,
    /// as each calls in, and those the guest starts with `pthread_create`
    /// — each given an alternate signal stack; not on threads a native
    /// library starts for the guest (libstdc++'s `std::thread`), where it
    /// ends the process by SIGSEGV unreported, as natively. A crash inside
    /// LLVM while an input is read or compiled prints `hyperjit: error:
    /// LLVM crashed while reading FILE` (or compiling it) and exits with
    /// status 125. The handlers are the process's: they replace the host's
    /// own for those signals.
    pub fn fault_reports(mut self, enabled: bool) -> Self {
        self.config.fault_reports = enabled;
        self
    }

    /// Counts each callback's calls and time, for [`Engine::stats`]
    /// (default off: then callbacks pay nothing for it).
    pub fn count_callback_calls(mut self, enabled: bool) -> Self {
        self.config.count_calls = enabled;
        self
    }

    /// Data of the host's that callbacks reach through
    /// [`Caller::data`](crate::Caller::data).
    pub fn host_data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.host_data = Some(HostData(Box::new(data)));
        self
    }

    /// Builds the engine.
    pub fn build(mut self) -> Result<Engine> {
        let level = self.config.opt_level;
        if level > 3 {
            return Err(Error::InvalidSetting(format!(
                "opt level {level} is out of range 0..=3"
            )));
        }
        let mut codegen =
            Codegen::new(level).map_err(Error::llvm("creating the target machine"))?;
        let cache = match &self.config.cache {
            Some(dir) if dir.exists() && !dir.is_dir() => {
                return Err(Error::InvalidSetting(format!(
                    "cache {}: not a directory",
                    dir.display()
                )));
            }
            Some(dir) => Some(Arc::new(
                ObjectCache::open(dir, self.config.cache_limit).map_err(|error| {
                    Error::InvalidSetting(format!("cache {}: {error}", dir.display()))
                })?,
            )),
            None => None,
        };
        if let Some(cache) = &cache {
            codegen.use_cache(Arc::clone(cache));
        }
        if self.config.fault_reports {
            runtime::install_fault_reports().map_err(Error::InvalidSetting)?;
        }
        let observers = Observers {
            debugger: self.config.debug,
            perf_map: self.config.perf_map,
            code_map: self.config.fault_reports,
        };
        let linker = Linker::new(codegen, observers, self.config.symbol_policy.clone())?;
        let exit_handlers = ExitHandlers::new().map_err(Error::llvm("starting the runtime"))?;
        let tiering = self
            .config
            .tier_threshold
            .map(|threshold| super::tier::Tiering::new(threshold, level, cache));
        self.config.lazy |= tiering.is_some();
        let core = Box::new(Core {
            state: Mutex::new(State {
                pending: Vec::new(),
                image_sources: Vec::new(),
                dropped: None,
                stats: Stats::default(),
                linker,
            }),
            callbacks: Registry::default(),
            exit_handlers,
            pending_trap: Mutex::new(None),
            invoke_thunks: Mutex::new(std::collections::HashMap::new()),
            runs_in_progress: AtomicUsize::new(0),
            versions: AtomicU64::new(1),
            host_data: self.host_data,
            config: self.config,
            tiering,
        });
        hypercalls::register(&core)?;
        Ok(Engine { core })
    }
}

//! The engine: inputs in, a running program out.
//!
//! Methods take `&self`: callbacks (later) reach the engine re-entrantly while
//! guest code runs, so the mutable state sits behind one lock that is never
//! held while guest code runs.

use crate::callback::{
    self, thunk, Caller, DynamicFunction, FunctionPointer, HostFunction, IntoHostFunction, Kind,
    Multiplexed, MultiplexedFunction, Named, Registry, Signature, Trap, Value,
};
use crate::error::{Error, Result};
use crate::link::{self, Batch, BatchCode, Input, Linked};
use crate::llvm::{Bitcode, Context, Jit, Module, TargetMachine, TypeKind};
use crate::runtime::{self, ExitHandlers, Outcome};
use crate::source::{self, ClangOptions, SourceKind};
use crate::stats::Stats;
use std::any::Any;
use std::ffi::{c_char, c_void, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// When hyperjit runs LLVM's IR optimization pipeline on an input.
///
/// Re-optimizing optimized IR costs much and gains little (on the sqlite
/// amalgamation, `opt -O2` alone takes longer than `lli` takes to run the
/// program), so by default hyperjit optimizes only what was not optimized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IrOptimization {
    /// Optimize `.ll`/`.bc` inputs that hold unoptimized code — functions
    /// marked `optnone`, as clang's `-O0` marks all of them (the marks are
    /// dropped first) — when the opt level is above 0. `.c` inputs are
    /// compiled by clang at the engine's level and never optimized twice.
    #[default]
    Auto,
    /// Optimize every `.ll`/`.bc` input when the opt level is above 0.
    Always,
    /// Never run the IR pipeline; the level still applies to code generation.
    Never,
}

/// Configures and builds an [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    opt_level: u8,
    ir_optimization: IrOptimization,
    clang: ClangOptions,
    count_calls: bool,
    host_data: Option<HostData>,
}

/// The host's data, reachable from callbacks through [`Caller::data`].
struct HostData(Box<dyn Any + Send + Sync>);

impl std::fmt::Debug for HostData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostData(..)")
    }
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            opt_level: 2,
            ir_optimization: IrOptimization::Auto,
            clang: ClangOptions::default(),
            count_calls: false,
            host_data: None,
        }
    }
}

impl EngineBuilder {
    /// The optimization level, 0..=3 (default 2): clang's `-O` for `.c`
    /// inputs, the IR pipeline's level, and the code generator's.
    pub fn opt_level(mut self, level: u8) -> Self {
        self.opt_level = level;
        self
    }

    /// When to run the IR optimization pipeline (default [`IrOptimization::Auto`]).
    pub fn ir_optimization(mut self, policy: IrOptimization) -> Self {
        self.ir_optimization = policy;
        self
    }

    /// The clang used for `.c` inputs (default: `$HYPERJIT_CLANG`, else
    /// `clang-19` on PATH, else `/usr/lib/llvm-19/bin/clang`).
    pub fn clang(mut self, program: impl Into<PathBuf>) -> Self {
        self.clang.program = Some(program.into());
        self
    }

    /// Adds an include directory for `.c` inputs (clang's `-I`).
    pub fn include_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.clang
            .args
            .push(format!("-I{}", dir.as_ref().display()));
        self
    }

    /// Defines a macro for `.c` inputs (clang's `-D`): `NAME` or `NAME=VALUE`.
    pub fn c_define(mut self, definition: impl Into<String>) -> Self {
        self.clang.args.push(format!("-D{}", definition.into()));
        self
    }

    /// Counts each callback's calls and time, for [`Engine::stats`]
    /// (default off: then callbacks pay nothing for it).
    pub fn count_callback_calls(mut self, enabled: bool) -> Self {
        self.count_calls = enabled;
        self
    }

    /// Data of the host's that callbacks reach through [`Caller::data`].
    pub fn host_data<T: Any + Send + Sync>(mut self, data: T) -> Self {
        self.host_data = Some(HostData(Box::new(data)));
        self
    }

    /// Builds the engine.
    pub fn build(mut self) -> Result<Engine> {
        if self.opt_level > 3 {
            return Err(Error::InvalidSetting(format!(
                "opt level {} is out of range 0..=3",
                self.opt_level
            )));
        }
        let llvm_error = |context: &str| {
            let context = context.to_string();
            move |message| Error::Llvm { context, message }
        };
        let machine = TargetMachine::host(self.opt_level)
            .map_err(llvm_error("creating the target machine"))?;
        let jit = Jit::new().map_err(llvm_error("creating the JIT"))?;
        let exit_handlers = ExitHandlers::new().map_err(llvm_error("starting the runtime"))?;
        let host_data = self.host_data.take();
        let inner = Box::new(Inner {
            state: Mutex::new(State {
                context: Arc::new(Context::new()),
                machines: std::collections::HashMap::new(),
                pending: Vec::new(),
                linked: Linked::default(),
                stats: Stats::default(),
                machine,
                jit,
            }),
            callbacks: Registry::default(),
            exit_handlers,
            pending_trap: Mutex::new(None),
            runs_in_progress: std::sync::atomic::AtomicUsize::new(0),
            versions: std::sync::atomic::AtomicU64::new(1),
            host_data,
            config: self,
        });
        inner
            .lock()
            .jit
            .define_absolute(runtime::absolute_symbols())
            .map_err(llvm_error("defining the runtime symbols"))?;
        Ok(Engine { inner })
    }
}

struct State {
    context: Arc<Context>,
    /// Target machines for recompiling at other levels than the engine's.
    machines: std::collections::HashMap<u8, TargetMachine>,
    pending: Vec<Input>,
    linked: Linked,
    stats: Stats,
    machine: TargetMachine,
    /// Dropped after `pending` and `linked`; owns all JIT'd code.
    jit: Jit,
}

/// A JIT engine: add inputs, then run them.
///
/// ```no_run
/// let engine = hyperjit::Engine::builder().opt_level(2).build()?;
/// engine.add_file("prog.c")?;
/// let status = engine.run_main(&["prog.c", "an argument"])?;
/// # Ok::<(), hyperjit::Error>(())
/// ```
pub struct Engine {
    /// Boxed: JIT'd code and callbacks hold its address.
    inner: Box<Inner>,
}

/// The engine proper, at a fixed address.
pub(crate) struct Inner {
    state: Mutex<State>,
    /// Declared after `state`: JIT'd code points into these, so they are
    /// freed after the JIT.
    callbacks: Registry,
    exit_handlers: ExitHandlers,
    /// The first trap of the current run (any thread).
    pending_trap: Mutex<Option<Trap>>,
    /// How many runs are in progress (a module loaded during one has its
    /// constructors run at once).
    runs_in_progress: std::sync::atomic::AtomicUsize,
    /// Numbers the new bodies of recompiled and redefined functions.
    versions: std::sync::atomic::AtomicU64,
    host_data: Option<HostData>,
    config: EngineBuilder,
}

impl Engine {
    /// An engine builder with the defaults (`-O2`).
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine with the default settings.
    pub fn new() -> Result<Engine> {
        EngineBuilder::default().build()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves no half-written invariant
        // that later calls rely on, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn callbacks(&self) -> &Registry {
        &self.callbacks
    }

    /// Keeps the first trap of a run; later ones (other threads) are dropped.
    pub(crate) fn record_trap(&self, trap: Trap) {
        let mut pending = self.pending_trap.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_none() {
            *pending = Some(trap);
        }
    }

    fn take_trap(&self) -> Option<Trap> {
        self.pending_trap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    pub(crate) fn host_data<T: Any>(&self) -> Option<&T> {
        self.host_data.as_ref()?.0.downcast_ref::<T>()
    }

    /// Links and compiles everything added since the last link.
    fn link_pending(&self, state: &mut State) -> Result<()> {
        if state.pending.is_empty() {
            return Ok(());
        }
        // Checked before the inputs leave `pending`, so that on failure they
        // stay there for the host to complete.
        link::check_resolved(&state.pending, &state.linked, &self.callbacks)?;
        let inputs = std::mem::take(&mut state.pending);
        // Batches stay for good: their trackers are dropped, not removed.
        self.link_checked(state, inputs, None).map(drop)
    }

    /// Links inputs whose symbols were checked, generating code with
    /// `machine` (default: the engine's).
    fn link_checked(
        &self,
        state: &mut State,
        inputs: Vec<Input>,
        machine: Option<&TargetMachine>,
    ) -> Result<Option<BatchCode>> {
        let started = Instant::now();
        // The runtime glue is linked into the first batch.
        let glue = if state.linked.batches.is_empty() {
            let engine = self as *const Inner as usize;
            format!(
                "{}{}{}",
                self.exit_handlers.glue_ir(),
                crate::hypercall::glue_ir(engine),
                thunk::dispatcher(engine, callback::dispatch_address())
            )
        } else {
            String::new()
        };
        let result = link::link_batch(
            &state.context,
            machine.unwrap_or(&state.machine),
            &state.jit,
            &mut state.linked,
            &self.callbacks,
            &glue,
            inputs,
        );
        state.stats.codegen_link += started.elapsed();
        result
    }

    /// Adds and links the file at `path` (the `load` service). During a run
    /// its static constructors run at once, as `dlopen` would run them;
    /// otherwise they run with the next run's.
    pub(crate) fn load(&self, path: &Path) -> Result<()> {
        self.add_file(path)?;
        let constructors = {
            let mut state = self.lock();
            let before = state.linked.batches.len();
            self.link_pending(&mut state)?;
            state.linked.batches[before..]
                .iter()
                .flat_map(|batch| batch.constructors.entries())
                .collect::<Vec<_>>()
        };
        if self
            .runs_in_progress
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
        {
            return Ok(());
        }
        let file = path.display().to_string();
        for constructor in constructors {
            // SAFETY: a constructor linked by this engine, `void (void)`
            // (called with main's arguments, which it ignores, as glibc does).
            match unsafe { runtime::call_entry(constructor, 0, std::ptr::null(), std::ptr::null()) }
            {
                Outcome::Returned(_) => {}
                Outcome::Exited(status) | Outcome::ExitedImmediately(status) => {
                    return Err(Error::Unsupported {
                        file,
                        message: format!(
                            "a static constructor called exit({status}) while loading"
                        ),
                    })
                }
                Outcome::Trapped => {
                    return Err(Error::Unsupported {
                        file,
                        message: "a static constructor trapped while loading".to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// The next version number for a function's new bodies.
    fn next_version(&self) -> u64 {
        self.versions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Recompiles `function`'s current body at `opt_level` (IR pipeline and
    /// code generator) and makes every later call run the new code.
    pub(crate) fn recompile(&self, function: &str, opt_level: u8) -> Result<()> {
        if opt_level > 3 {
            return Err(Error::InvalidSetting(format!(
                "opt level {opt_level} is out of range 0..=3"
            )));
        }
        let mut state = self.lock();
        self.link_pending(&mut state)?;
        let Some((index, body)) = state.linked.bodies.get(function).cloned() else {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        };
        let version = format!("{function}.hj.v{}", self.next_version());
        let context = |message| Error::Llvm {
            context: format!("recompiling '{function}'"),
            message,
        };
        let (source, ir_level) = &state.linked.modules[index];
        let mut ir_level = *ir_level;
        let mut module = source
            .extract_function(&state.context, &body, &version)
            .map_err(context)?;
        let machine = match state.machines.remove(&opt_level) {
            Some(machine) => machine,
            None => TargetMachine::host(opt_level).map_err(context)?,
        };
        // IR already optimized at this level or above is not optimized again.
        let optimized_enough = matches!(ir_level, Some(level) if level >= opt_level);
        if opt_level > 0 && !optimized_enough {
            module.strip_optnone();
            let result = machine.optimize(&mut module, opt_level);
            if let Err(message) = result {
                state.machines.insert(opt_level, machine);
                return Err(context(message));
            }
            ir_level = Some(opt_level);
        }
        let input = Input::new(format!("<recompiled {function}>"), module, ir_level);
        let result = self.link_new_body(&mut state, function, &version, input, Some(&machine));
        state.machines.insert(opt_level, machine);
        result
    }

    /// Replaces `function`'s body with the one defined in `path` (.ll, .bc
    /// or .c); the types must match. Every later call runs the new code.
    pub(crate) fn redefine(&self, function: &str, path: &Path) -> Result<()> {
        let (file, bytes, by_clang) = self.read_source(path)?;
        let mut state = self.lock();
        self.link_pending(&mut state)?;
        let Some(expected) = state.linked.functions.get(function).cloned() else {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        };
        let (mut module, ir_level) = self.prepare_module(&mut state, &file, &bytes, by_clang)?;
        let Some(found) = module
            .function_signature(function)
            .filter(|_| module.defines_function(function))
        else {
            return Err(Error::Unsupported {
                file,
                message: format!("does not define '{function}'"),
            });
        };
        if found != expected {
            return Err(Error::RedefineSignature {
                function: function.to_string(),
                expected: expected.to_string(),
                found: found.to_string(),
                file,
            });
        }
        let version = format!("{function}.hj.v{}", self.next_version());
        module
            .rename_function(function, &version)
            .map_err(|message| Error::Llvm {
                context: file.clone(),
                message,
            })?;
        self.link_new_body(
            &mut state,
            function,
            &version,
            Input::new(file, module, ir_level),
            None,
        )
    }

    /// Links `input`, which defines `version`, and points `function` at it.
    fn link_new_body(
        &self,
        state: &mut State,
        function: &str,
        version: &str,
        input: Input,
        machine: Option<&TargetMachine>,
    ) -> Result<()> {
        let inputs = vec![input];
        link::check_resolved(&inputs, &state.linked, &self.callbacks)?;
        let code = self.link_checked(state, inputs, machine)?;
        let lookup = |name: &str| {
            state.jit.lookup(name).map_err(|message| Error::Llvm {
                context: format!("looking up '{name}'"),
                message,
            })
        };
        let (entry, body) = (lookup(function)?, lookup(version)?);
        state
            .jit
            .redirect(entry, body)
            .map_err(|message| Error::Llvm {
                context: format!("redirecting '{function}'"),
                message,
            })?;
        let linked = &mut state.linked;
        let new_body = linked.bodies.get(version).cloned();
        let old_body = match new_body {
            Some(new_body) => linked.bodies.insert(function.to_string(), new_body),
            None => None,
        };
        // A body its module defines alone can be freed once replaced; the
        // code of modules that define more stays for good.
        if let Some(code) = code.filter(|code| code.symbols == [version]) {
            linked
                .swapped_in
                .insert(version.to_string(), (code.module, code.tracker));
        }
        if let Some((_, old_body)) = old_body {
            if let Some((module, tracker)) = linked.swapped_in.remove(&old_body) {
                linked
                    .superseded
                    .entry(function.to_string())
                    .or_default()
                    .push((old_body, module, tracker));
            }
        }
        Ok(())
    }

    /// Frees the code of `function`'s earlier bodies (see
    /// [`Engine::reclaim`]); returns how many were freed.
    pub(crate) fn reclaim(&self, function: &str) -> Result<usize> {
        let mut state = self.lock();
        let linked = &mut state.linked;
        if !linked.functions.contains_key(function) {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        }
        let bodies = linked.superseded.remove(function).unwrap_or_default();
        let count = bodies.len();
        for (body, module, tracker) in bodies {
            tracker.remove().map_err(|message| Error::Llvm {
                context: format!("reclaiming '{body}'"),
                message,
            })?;
            linked.symbols.remove(&body);
            linked.functions.remove(&body);
            linked.bodies.remove(&body);
            linked.addresses.remove(&body);
            linked.modules[module].0 = Bitcode::default();
        }
        Ok(count)
    }

    /// The address of a linked function or global, or of a callback.
    pub(crate) fn lookup(&self, name: &str) -> Result<*const c_void> {
        let mut state = self.lock();
        if let Some(&address) = state.linked.addresses.get(name) {
            if state.pending.is_empty() {
                return Ok(address as usize as *const c_void);
            }
        }
        self.link_pending(&mut state)?;
        if !state.linked.symbols.contains(name) {
            match self.callbacks.named(name) {
                None => {
                    return Err(Error::UnknownSymbol {
                        name: name.to_string(),
                    })
                }
                // A typed or dynamic callback no linked code took the address
                // of has no thunk in the JIT yet: give it one.
                Some(named) => {
                    let state = &mut *state;
                    link::materialize_callback(
                        &state.context,
                        &state.machine,
                        &state.jit,
                        &mut state.linked,
                        name,
                        &named,
                    )?
                }
            }
        }
        let address = state.jit.lookup(name).map_err(|message| Error::Llvm {
            context: format!("looking up '{name}'"),
            message,
        })?;
        state.linked.addresses.insert(name.to_string(), address);
        Ok(address as usize as *const c_void)
    }

    /// Adds a `.c`, `.ll` or `.bc` file to the program. Parse errors,
    /// verifier failures and clang's diagnostics are reported here.
    pub(crate) fn add_file(&self, path: &Path) -> Result<()> {
        let (file, bytes, by_clang) = self.read_source(path)?;
        self.add_module(file, &bytes, by_clang)
    }

    /// The bytes of an input: clang's bitcode for `.c`, the file for
    /// `.ll`/`.bc`. Also says whether clang optimized them.
    fn read_source(&self, path: &Path) -> Result<(String, Vec<u8>, bool)> {
        let kind = SourceKind::of(path)?;
        let file = path.display().to_string();
        let bytes = match kind {
            SourceKind::C => {
                // clang's own message for a missing file would not say so.
                std::fs::metadata(path).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                let started = Instant::now();
                let bitcode = source::compile_c(&self.config.clang, path, self.config.opt_level)?;
                self.lock().stats.clang += started.elapsed();
                bitcode
            }
            SourceKind::IrText | SourceKind::Bitcode => {
                std::fs::read(path).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?
            }
        };
        if kind == SourceKind::Bitcode && !source::looks_like_bitcode(&bytes) {
            return Err(Error::NotBitcode { file });
        }
        Ok((file, bytes, kind == SourceKind::C))
    }

    pub(crate) fn add_module(
        &self,
        file: String,
        bytes: &[u8],
        optimized_by_clang: bool,
    ) -> Result<()> {
        let mut state = self.lock();
        let (module, ir_level) =
            self.prepare_module(&mut state, &file, bytes, optimized_by_clang)?;
        state.pending.push(Input::new(file, module, ir_level));
        Ok(())
    }

    /// Parses, verifies, targets and (by the IR rule) optimizes a module;
    /// also says at which level its IR is optimized, if that is known.
    fn prepare_module(
        &self,
        state: &mut State,
        file: &str,
        bytes: &[u8],
        optimized_by_clang: bool,
    ) -> Result<(Module, Option<u8>)> {
        let file = file.to_string();
        let started = Instant::now();
        let mut module =
            Module::parse(&state.context, &file, bytes).map_err(|message| Error::Parse {
                file: file.clone(),
                message,
            })?;
        module.verify().map_err(|message| Error::InvalidIr {
            file: file.clone(),
            message,
        })?;
        let triple = module.target_triple();
        let host = state.machine.triple().to_string();
        if !triple.is_empty() && triple.split('-').next() != host.split('-').next() {
            return Err(Error::TargetMismatch {
                file,
                found: triple,
                host,
            });
        }
        module
            .set_target(&host, state.machine.data_layout())
            .map_err(|message| Error::Llvm {
                context: file.clone(),
                message,
            })?;
        state.stats.parse += started.elapsed();
        state.stats.modules += 1;

        let level = self.config.opt_level;
        let optimize = level > 0
            && !optimized_by_clang
            && match self.config.ir_optimization {
                IrOptimization::Auto => module.count_optnone_functions() > 0,
                IrOptimization::Always => true,
                IrOptimization::Never => false,
            };
        if optimize {
            let started = Instant::now();
            module.strip_optnone();
            state
                .machine
                .optimize(&mut module, level)
                .map_err(|message| Error::Llvm {
                    context: format!("{file}: optimizing"),
                    message,
                })?;
            state.stats.optimize += started.elapsed();
            state.stats.modules_optimized += 1;
        }
        let ir_level = if optimized_by_clang || optimize {
            Some(level)
        } else if module.count_optnone_functions() > 0 {
            Some(0)
        } else {
            None // given optimized, at a level we do not know
        };
        Ok((module, ir_level))
    }
}

impl Engine {
    /// Adds a `.c`, `.ll` or `.bc` file to the program. Parse errors,
    /// verifier failures and clang's diagnostics are reported here.
    pub fn add_file(&self, path: impl AsRef<Path>) -> Result<()> {
        self.inner.add_file(path.as_ref())
    }

    /// Adds LLVM IR text held in memory; `name` stands for the file in
    /// messages.
    pub fn add_ir(&self, name: &str, text: &str) -> Result<()> {
        self.inner
            .add_module(name.to_string(), text.as_bytes(), false)
    }

    /// Runs the program's `main` with `args` as `argv` (`args[0]` is the
    /// program name) and the host's environment as `envp`; returns `main`'s
    /// result or the status the program passed to `exit`.
    ///
    /// Each run is a whole program run: static constructors, the entry,
    /// then `atexit` handlers and static destructors, then stdio is flushed.
    /// Globals keep their values from one run to the next.
    pub fn run_main<S: AsRef<str>>(&self, args: &[S]) -> Result<i32> {
        self.run_entry("main", args)
    }

    /// Like [`run_main`](Self::run_main), with another entry function of
    /// main's type (or a prefix of its parameters, or a void result).
    pub fn run_entry<S: AsRef<str>>(&self, entry: &str, args: &[S]) -> Result<i32> {
        let (address, returns_int, batches) =
            {
                let mut state = self.inner.lock();
                if state.pending.is_empty() && state.linked.batches.is_empty() {
                    return Err(Error::NoProgram);
                }
                self.inner.link_pending(&mut state)?;
                let signature = state.linked.functions.get(entry).cloned().ok_or_else(|| {
                    Error::EntryNotFound {
                        name: entry.to_string(),
                    }
                })?;
                let main_params = [TypeKind::Int(32), TypeKind::Pointer, TypeKind::Pointer];
                let params_ok = signature.params.len() <= 3
                    && signature
                        .params
                        .iter()
                        .zip(&main_params)
                        .all(|(a, b)| a == b)
                    && !signature.variadic;
                let returns_int = match signature.ret {
                    TypeKind::Int(32) => true,
                    TypeKind::Void => false,
                    _ => {
                        return Err(Error::EntrySignature {
                            name: entry.to_string(),
                            signature: signature.to_string(),
                        })
                    }
                };
                if !params_ok {
                    return Err(Error::EntrySignature {
                        name: entry.to_string(),
                        signature: signature.to_string(),
                    });
                }
                let address = state.jit.lookup(entry).map_err(|message| Error::Llvm {
                    context: format!("looking up entry function '{entry}'"),
                    message,
                })?;
                (address, returns_int, state.linked.batches.clone())
            };

        let started = Instant::now();
        let status = self.run_program(address, returns_int, &batches, args)?;
        self.inner.lock().stats.run += started.elapsed();
        Ok(status)
    }

    fn run_program<S: AsRef<str>>(
        &self,
        entry: u64,
        returns_int: bool,
        batches: &[Batch],
        args: &[S],
    ) -> Result<i32> {
        let argv_strings = args
            .iter()
            .map(|a| c_string_arg(a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let envp_strings: Vec<CString> = std::env::vars_os()
            .filter_map(|(key, value)| {
                use std::os::unix::ffi::OsStrExt;
                let mut entry = key.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                CString::new(entry).ok()
            })
            .collect();
        let argv = null_terminated(&argv_strings);
        let envp = null_terminated(&envp_strings);
        let argc = i32::try_from(argv_strings.len())
            .map_err(|_| Error::InvalidSetting("too many arguments".to_string()))?;

        self.inner.exit_handlers.clear();
        self.inner.take_trap();
        let _in_progress = RunInProgress::enter(&self.inner.runs_in_progress);
        let call = |address: u64| {
            // SAFETY: `address` is JIT'd code of a function linked by this
            // engine (a constructor, destructor or the checked entry), whose
            // parameters are a prefix of main's; argv/envp are
            // null-terminated and outlive the call.
            unsafe { runtime::call_entry(address, argc, argv.as_ptr(), envp.as_ptr()) }
        };
        let status = self.run_to_exit(&call, entry, returns_int, batches);
        runtime::flush_stdio();
        // A trap on a thread the guest created ends that thread only; the run
        // still reports it.
        match (self.inner.take_trap(), status) {
            (Some(trap), _) => Err(Error::Trap(trap)),
            (None, Some(status)) => Ok(status),
            (None, None) => Err(Error::Trap(Trap::new("the guest was stopped"))),
        }
    }

    /// Constructors, the entry, exit handlers, destructors: the exit status,
    /// or None if a callback trapped.
    fn run_to_exit(
        &self,
        call: &dyn Fn(u64) -> Outcome,
        entry: u64,
        returns_int: bool,
        batches: &[Batch],
    ) -> Option<i32> {
        let mut outcome = Outcome::Returned(0);
        'constructors: for batch in batches {
            for constructor in batch.constructors.entries() {
                outcome = call(constructor);
                if !matches!(outcome, Outcome::Returned(_)) {
                    break 'constructors;
                }
            }
        }
        if matches!(outcome, Outcome::Returned(_)) {
            outcome = match call(entry) {
                Outcome::Returned(_) if !returns_int => Outcome::Returned(0),
                other => other,
            };
        }
        let mut status = match outcome {
            Outcome::Returned(status) | Outcome::Exited(status) => {
                match self.inner.exit_handlers.run(status) {
                    Outcome::Exited(status) => status,
                    _ => return None,
                }
            }
            Outcome::ExitedImmediately(status) => return Some(status),
            Outcome::Trapped => return None,
        };
        for batch in batches.iter().rev() {
            for destructor in batch.destructors.entries().into_iter().rev() {
                match call(destructor) {
                    Outcome::Returned(_) => {}
                    Outcome::Exited(new_status) | Outcome::ExitedImmediately(new_status) => {
                        status = new_status
                    }
                    Outcome::Trapped => return None,
                }
            }
        }
        Some(status)
    }

    /// Phase times and counts so far, with per-callback counts when the
    /// engine counts callback calls.
    pub fn stats(&self) -> Stats {
        let state = self.inner.lock();
        let mut stats = state.stats.clone();
        stats.jit_memory = state.jit.committed_bytes();
        drop(state);
        if self.inner.config.count_calls {
            stats.callbacks = self.inner.callbacks.stats();
        }
        stats
    }

    /// The address of a function or global of the program, or of a callback.
    /// Links what was added since the last link first.
    pub fn lookup(&self, name: &str) -> Result<*const c_void> {
        self.inner.lookup(name)
    }

    /// Recompiles `function` at `opt_level` (0..=3: the IR pipeline and the
    /// code generator); every later call — from JIT'd code, through function
    /// pointers taken earlier, from the host — runs the new code. Calls
    /// already running finish in the old code, which stays mapped.
    pub fn recompile(&self, function: &str, opt_level: u8) -> Result<()> {
        self.inner.recompile(function, opt_level)
    }

    /// Replaces `function`'s body with the one `path` (.c, .ll or .bc)
    /// defines. Its type must be the same; other functions the file defines
    /// are added (they must be new). Later calls run the new body, as for
    /// [`recompile`](Self::recompile).
    pub fn redefine(&self, function: &str, path: impl AsRef<Path>) -> Result<()> {
        self.inner.redefine(function, path.as_ref())
    }

    /// Frees the code of `function`'s earlier bodies, which stay mapped
    /// after a [`recompile`](Self::recompile) or [`redefine`](Self::redefine)
    /// so that calls already running in them can finish. Returns how many
    /// bodies were freed: those a swap compiled alone; a body that came with
    /// other definitions from a redefining file stays, as they may be in
    /// use. The function's current body, and every pointer to it, are
    /// unaffected.
    ///
    /// # Safety
    /// No thread may be running an earlier body of `function` (a guest
    /// frame of it on any stack, e.g. a loop that has not returned since the
    /// swap): its code is unmapped.
    pub unsafe fn reclaim(&self, function: &str) -> Result<usize> {
        self.inner.reclaim(function)
    }

    /// A function of the program (or a callback) as a typed function
    /// pointer, after checking that its C type is the one asked for:
    ///
    /// ```no_run
    /// # let engine = hyperjit::Engine::new()?;
    /// let square: extern "C" fn(i32) -> i32 = engine.lookup_fn("square")?;
    /// assert_eq!(square(7), 49);
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    ///
    /// The pointer is valid while the engine lives, and calls through it run
    /// later redefinitions too. A direct call through it is not a run: should
    /// a callback trap inside it, there is no run to return to and the
    /// calling thread ends. Call code that may trap or `exit` through
    /// [`call`](Self::call), which returns those as errors.
    pub fn lookup_fn<F: FunctionPointer>(&self, name: &str) -> Result<F> {
        let requested = F::signature();
        let address = self.inner.lookup(name)?;
        let actual = {
            let state = self.inner.lock();
            match state.linked.functions.get(name) {
                Some(signature) => (!requested.matches(signature)).then(|| signature.to_string()),
                None => match self.inner.callbacks.named(name) {
                    Some(named) => {
                        (named.signature != requested).then(|| named.signature.to_string())
                    }
                    None => Some("not a function".to_string()),
                },
            }
        };
        if let Some(actual) = actual {
            return Err(Error::LookupSignature {
                symbol: name.to_string(),
                requested: requested.to_string(),
                actual,
            });
        }
        // SAFETY: the program's IR (or the callback's registration) says
        // `name` has exactly F's C type.
        Ok(unsafe { F::from_address(address) })
    }

    /// Calls `function` (from [`lookup_fn`](Self::lookup_fn)) with `args`,
    /// as a run calls its entry: a callback's trap comes back as
    /// [`Error::Trap`] and the guest's `exit(n)` as [`Error::GuestExit`],
    /// where a direct call would end the thread or the process.
    ///
    /// ```no_run
    /// # let engine = hyperjit::Engine::new()?;
    /// let square: extern "C" fn(i32) -> i32 = engine.lookup_fn("square")?;
    /// assert_eq!(engine.call(square, (7,))?, 49);
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    pub fn call<F: FunctionPointer>(&self, function: F, args: F::Args) -> Result<F::Ret> {
        struct Invocation<F: FunctionPointer> {
            function: F,
            args: F::Args,
            result: Option<F::Ret>,
        }
        extern "C" fn invoke<F: FunctionPointer>(payload: *mut c_void) {
            // SAFETY: `payload` is the Invocation<F> below, which outlives
            // this call and is used by this thread only meanwhile.
            let invocation = unsafe { &mut *payload.cast::<Invocation<F>>() };
            invocation.result = Some(invocation.function.call_with(invocation.args));
        }
        let mut invocation = Invocation::<F> {
            function,
            args,
            result: None,
        };
        self.inner.take_trap();
        let outcome = {
            let _in_progress = RunInProgress::enter(&self.inner.runs_in_progress);
            // SAFETY: `invoke` holds only a reference while the guest runs,
            // so a trap's longjmp over its frame skips no destructor.
            unsafe { runtime::call_handler(invoke::<F>, (&raw mut invocation).cast::<c_void>()) }
        };
        let stopped = || Error::Trap(Trap::new("the guest was stopped"));
        match outcome {
            Outcome::Returned(_) => invocation.result.ok_or_else(stopped),
            Outcome::Exited(status) | Outcome::ExitedImmediately(status) => {
                Err(Error::GuestExit { status })
            }
            Outcome::Trapped => Err(self.inner.take_trap().map_or_else(stopped, Error::Trap)),
        }
    }

    /// Adds the module in `path` (.c, .ll or .bc) to the program and links
    /// it at once, so its symbols can be looked up. Called while the program
    /// runs (from a callback, or as the guest's `hj_load`), the module's
    /// static constructors run at once.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<()> {
        self.inner.load(path.as_ref())
    }

    /// Defines a typed host function the guest declares and calls by `name`
    /// (`int Callback1(int, int);`). The closure's parameter and result
    /// types are its C signature; the guest's declaration is checked against
    /// it when the program is linked. It may take a [`Caller`] first, and
    /// return `Result<_, Trap>` to stop the guest.
    ///
    /// ```no_run
    /// # let engine = hyperjit::Engine::new()?;
    /// let scale = 100;
    /// engine.define("Callback1", move |a: i32, b: i32| a * scale + b)?;
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    pub fn define<Params, Results>(
        &self,
        name: &str,
        function: impl IntoHostFunction<Params, Results>,
    ) -> Result<()> {
        self.register_named(name, Kind::Typed, function.into_host_function())
    }

    /// Defines a host function whose signature is data: `handler` receives
    /// the arguments as [`Value`]s and returns the result as one.
    pub fn define_dynamic<F>(&self, name: &str, signature: Signature, handler: F) -> Result<()>
    where
        F: Fn(&mut Caller<'_>, &[Value]) -> std::result::Result<Value, Trap>
            + Send
            + Sync
            + 'static,
    {
        let function = DynamicFunction::into_host_function(signature, Box::new(handler));
        self.register_named(name, Kind::Dynamic, function)
    }

    /// Binds `name` to a function at a fixed address (the proposal
    /// thread's `addGlobalMapping`): the guest calls `address` directly.
    /// `signature` is checked against the guest's declaration.
    ///
    /// The caller vouches that `address` is a function with that signature
    /// that lives as long as the engine.
    pub fn define_symbol(
        &self,
        name: &str,
        address: *const u8,
        signature: Signature,
    ) -> Result<()> {
        check_name(name)?;
        let state = self.inner.lock();
        self.check_free(name, &state)?;
        state
            .jit
            .define_absolute(&[(name, address as usize)])
            .map_err(|message| Error::Llvm {
                context: format!("defining '{name}'"),
                message,
            })?;
        let named = Named {
            kind: Kind::Symbol,
            signature,
            env: 0,
            target: address as usize,
        };
        self.inner.callbacks.insert_named(name, named, None);
        Ok(())
    }

    /// Registers a callback for `PerformCustomCallback(name, args)` (the
    /// seed's `registerCustomCallback`): `handler` gets the guest's `args`
    /// pointer and a [`Caller`]; its result is `PerformCustomCallback`'s.
    /// Calls whose name is a string constant are bound when the program is
    /// linked; others find the callback by name at run time.
    pub fn register_callback<F>(&self, name: &str, handler: F) -> Result<()>
    where
        F: Fn(&mut Caller<'_>, *mut c_void) -> std::result::Result<isize, Trap>
            + Send
            + Sync
            + 'static,
    {
        if name.as_bytes().contains(&0) || name.is_empty() {
            return Err(Error::InvalidName {
                name: name.to_string(),
                reason: "callback names are non-empty and have no NUL byte",
            });
        }
        let state = self.inner.lock();
        if self.inner.callbacks.has_multiplexed(name) {
            return Err(Error::AlreadyDefined {
                name: name.to_string(),
                by: Some("the host".to_string()),
            });
        }
        let mut function = MultiplexedFunction::into_host_function(handler);
        function.bind(name, &*self.inner);
        let trampoline = self.trampoline_of(&function);
        drop(state);
        let multiplexed = Multiplexed {
            trampoline,
            env: function.env.address(),
        };
        self.inner
            .callbacks
            .insert_multiplexed(name, multiplexed, function.env);
        Ok(())
    }

    fn trampoline_of(&self, function: &HostFunction) -> usize {
        if self.inner.config.count_calls {
            function.trampolines.counting
        } else {
            function.trampolines.plain
        }
    }

    /// Fails if `name` is taken by a callback or by linked code.
    fn check_free(&self, name: &str, state: &State) -> Result<()> {
        if self.inner.callbacks.is_named(name) {
            return Err(Error::AlreadyDefined {
                name: name.to_string(),
                by: Some("the host".to_string()),
            });
        }
        if state.linked.symbols.contains(name) {
            return Err(Error::AlreadyDefined {
                name: name.to_string(),
                by: Some("the program".to_string()),
            });
        }
        Ok(())
    }

    fn register_named(&self, name: &str, kind: Kind, mut function: HostFunction) -> Result<()> {
        check_name(name)?;
        let state = self.inner.lock();
        self.check_free(name, &state)?;
        function.bind(name, &*self.inner);
        let named = Named {
            kind,
            signature: function.signature.clone(),
            env: function.env.address(),
            target: self.trampoline_of(&function),
        };
        drop(state);
        self.inner
            .callbacks
            .insert_named(name, named, Some(function.env));
        Ok(())
    }
}

/// Counts a run as in progress for as long as it lives.
struct RunInProgress<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> RunInProgress<'a> {
    fn enter(counter: &'a std::sync::atomic::AtomicUsize) -> RunInProgress<'a> {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        RunInProgress(counter)
    }
}

impl Drop for RunInProgress<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A name the guest can declare: a C identifier.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason: "a function the guest declares needs a C identifier for a name",
        })
    }
}

fn c_string_arg(arg: &str) -> Result<CString> {
    CString::new(arg)
        .map_err(|_| Error::InvalidSetting(format!("argument contains a NUL byte: {arg:?}")))
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

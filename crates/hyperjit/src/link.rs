//! Linking: turning the inputs added so far into one JIT'd batch.
//!
//! The inputs are linked with LLVM's IR linker (static-link rules: one
//! definition per symbol), then prepared for a JIT that has no C runtime of
//! its own: libc's exit functions are bound to ours, thread-locals lowered,
//! static constructor lists turned into tables we call. Before any of that,
//! every symbol the inputs use must resolve (to another input, an earlier
//! batch, the runtime or the process): all missing ones are reported at once,
//! before any code runs, and the inputs stay pending. Only then is machine
//! code generated and handed to the JIT linker.

use crate::callback::{thunk, Kind, Named, Registry};
use crate::error::{Error, Result, UnresolvedSymbol};
use crate::llvm::{
    Bitcode, Context, FunctionSignature, Jit, Module, TargetMachine, Tracker, UndefinedSymbol,
};
use crate::runtime;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::c_void;
use std::sync::{Arc, OnceLock};

/// An input module waiting to be linked.
pub(crate) struct Input {
    pub(crate) file: String,
    pub(crate) module: Module,
    /// What this input references without defining.
    pub(crate) undefined: Vec<UndefinedSymbol>,
    /// The externally visible symbols this input defines.
    pub(crate) defined: Vec<String>,
    /// The level its IR was optimized at, if known (0: not optimized).
    pub(crate) ir_level: Option<u8>,
}

impl Input {
    pub(crate) fn new(file: String, module: Module, ir_level: Option<u8>) -> Input {
        Input {
            file,
            undefined: module.undefined_symbols(),
            defined: module.defined_symbols(),
            module,
            ir_level,
        }
    }
}

/// A constructor or destructor table in JIT'd memory.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FunctionTable {
    pub(crate) address: u64,
    pub(crate) len: usize,
}

impl FunctionTable {
    /// The function addresses, in table order.
    pub(crate) fn entries(&self) -> Vec<u64> {
        if self.len == 0 {
            return Vec::new();
        }
        // SAFETY: the table is a constant `[len x ptr]` array we emitted and
        // the JIT linked at `address`; it stays mapped while the JIT lives,
        // and the caller holds the engine, which owns the JIT.
        unsafe { std::slice::from_raw_parts(self.address as usize as *const u64, self.len) }
            .to_vec()
    }
}

/// What one linked batch contributes to running the program.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub(crate) constructors: FunctionTable,
    pub(crate) destructors: FunctionTable,
}

/// Everything linked so far.
#[derive(Default)]
pub(crate) struct Linked {
    pub(crate) batches: Vec<Batch>,
    /// Functions defined by linked code, with their IR types.
    pub(crate) functions: HashMap<String, FunctionSignature>,
    /// Every externally visible symbol linked code defines.
    pub(crate) symbols: HashSet<String>,
    /// The IR of every linked batch as it was before code generation, kept
    /// to recompile its functions, with the level it was optimized at (if
    /// known for all of its inputs).
    pub(crate) modules: Vec<(Bitcode, Option<u8>)>,
    /// Where each function's current body is: a module of `modules` and the
    /// body's name in it (the function's own, or a later version's).
    pub(crate) bodies: HashMap<String, (usize, String)>,
    /// Addresses already looked up; an address never changes (a redefined
    /// function keeps its entry), so they are cached for good.
    pub(crate) addresses: HashMap<String, u64>,
    /// The current bodies that a swap brought in alone (their module defines
    /// nothing else), by body name: their module and code.
    pub(crate) swapped_in: HashMap<String, (usize, Tracker)>,
    /// Such bodies since replaced, by the function they were a body of:
    /// what [`reclaim`](crate::Engine::reclaim) frees.
    pub(crate) superseded: HashMap<String, Vec<(String, usize, Tracker)>>,
}

/// A batch's code in the JIT.
pub(crate) struct BatchCode {
    /// Removes the code (only swaps ever do).
    pub(crate) tracker: Tracker,
    /// The externally visible symbols it defines.
    pub(crate) symbols: Vec<String>,
    /// Its module's index in [`Linked::modules`].
    pub(crate) module: usize,
}

/// The process's own symbols (libc, libm, ...), as the JIT resolves them.
fn process_symbols() -> &'static Option<libloading::os::unix::Library> {
    static PROCESS: OnceLock<Option<libloading::os::unix::Library>> = OnceLock::new();
    PROCESS.get_or_init(|| {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        // A host need not link libm, but C programs expect it: load it into
        // the global scope, where the JIT's process lookup finds it too.
        // SAFETY: libm's initializers have no preconditions.
        let libm = unsafe { Library::open(Some("libm.so.6"), RTLD_NOW | RTLD_GLOBAL) };
        if let Ok(libm) = libm {
            std::mem::forget(libm); // stays loaded for the process
        }
        Some(Library::this())
    })
}

fn process_defines(name: &str) -> bool {
    let Some(process) = process_symbols() else {
        return false;
    };
    // SAFETY: the symbol is only looked up, never called or dereferenced.
    unsafe { process.get::<*const c_void>(name.as_bytes()) }.is_ok()
}

/// Symbols the runtime glue defines in the first batch.
const GLUE_SYMBOLS: &[&str] = &[
    "__hyperjit.atexit",
    "__hyperjit.__cxa_atexit",
    "PerformCustomCallback",
];
/// Defined by ORC's generic platform in every JITDylib.
const PLATFORM_SYMBOLS: &[&str] = &["__dso_handle"];

/// Links `inputs` into one module and adds its code to `jit`; `None` if
/// there were no inputs.
pub(crate) fn link_batch(
    context: &Arc<Context>,
    machine: &TargetMachine,
    jit: &Jit,
    linked: &mut Linked,
    callbacks: &Registry,
    glue_ir: &str,
    inputs: Vec<Input>,
) -> Result<Option<BatchCode>> {
    let batch = linked.batches.len();
    let files: Vec<String> = inputs.iter().map(|i| i.file.clone()).collect();
    let all_files = files.join(", ");
    let ir_level = inputs
        .iter()
        .map(|input| input.ir_level)
        .try_fold(3u8, |lowest, level| level.map(|l| lowest.min(l)));
    let mut inputs = inputs.into_iter();
    let Some(first) = inputs.next() else {
        return Ok(None);
    };
    let mut module = first.module;
    for input in inputs {
        module
            .link_in(input.module)
            .map_err(|message| Error::Link {
                file: input.file.clone(),
                message,
            })?;
    }
    for (libc_name, replacement) in runtime::INTERPOSED {
        module
            .redirect_declaration(libc_name, replacement)
            .map_err(|message| Error::Unsupported {
                file: all_files.clone(),
                message,
            })?;
    }
    // After the renames, so the guest's declarations bind to the glue.
    if batch == 0 {
        let glue = Module::parse(context, "<hyperjit runtime>", glue_ir.as_bytes()).map_err(
            |message| Error::Llvm {
                context: "parsing the runtime glue".to_string(),
                message,
            },
        )?;
        module.link_in(glue).map_err(|message| Error::Link {
            file: all_files.clone(),
            message,
        })?;
    }

    let thunks =
        link_callback_thunks(context, &mut module, callbacks).map_err(|message| Error::Llvm {
            context: format!("{all_files}: binding callbacks"),
            message,
        })?;
    if thunks > 0 {
        machine
            .run_passes(&mut module, "always-inline")
            .map_err(|message| Error::Llvm {
                context: format!("{all_files}: inlining callback thunks"),
                message,
            })?;
    }
    // A weak reference nothing defines is null (RuntimeDyld would refuse it).
    for symbol in module.undefined_symbols() {
        if symbol.weak && !defined_outside(&symbol.name, linked, callbacks) {
            module
                .replace_with_null(&symbol.name)
                .map_err(|message| Error::Llvm {
                    context: format!("{all_files}: weak symbol '{}'", symbol.name),
                    message,
                })?;
        }
    }
    let lowered_thread_locals = module
        .lower_thread_locals(runtime::TLS_HELPER, "__hyperjit.tls.")
        .map_err(|message| Error::Unsupported {
            file: all_files.clone(),
            message,
        })?;
    let constructors_name = format!("__hyperjit.ctors.{batch}");
    let destructors_name = format!("__hyperjit.dtors.{batch}");
    let structor_error = |message| Error::Unsupported {
        file: all_files.clone(),
        message,
    };
    let constructor_count = module
        .lower_structor_list("llvm.global_ctors", &constructors_name)
        .map_err(structor_error)?;
    let destructor_count = module
        .lower_structor_list("llvm.global_dtors", &destructors_name)
        .map_err(structor_error)?;
    if lowered_thread_locals > 0 {
        module.verify().map_err(|message| Error::Llvm {
            context: format!("{all_files}: lowering thread-local variables"),
            message,
        })?;
    }

    // Every function can be recompiled or redefined later: its entry is
    // patchable, and what it references is reachable by name.
    module.promote_internals(&format!(".hj{batch}"), "__hyperjit.anon.");
    module.mark_patchable_entries();
    let kept = module.to_bitcode();
    let object = machine
        .emit_object(&module)
        .map_err(|message| Error::Llvm {
            context: format!("{all_files}: generating code"),
            message,
        })?;
    let defined = module.defined_symbols();
    let functions: Vec<(String, FunctionSignature)> = defined
        .iter()
        .filter(|name| module.defines_function(name))
        .filter_map(|name| Some((name.clone(), module.function_signature(name)?)))
        .collect();
    drop(module);
    if kept.len() >= crate::llvm::LARGE_MODULE_BITCODE {
        crate::llvm::release_freed_memory();
    }
    // Recorded only once the JIT has the code: a batch the JIT refuses
    // leaves no trace.
    let tracker = jit.add_object(object).map_err(|message| Error::Llvm {
        context: format!("{all_files}: JIT linking"),
        message,
    })?;
    let module_index = linked.modules.len();
    linked.modules.push((kept, ir_level));
    for (name, signature) in functions {
        linked
            .bodies
            .insert(name.clone(), (module_index, name.clone()));
        linked.functions.insert(name, signature);
    }
    linked.symbols.extend(defined.iter().cloned());

    let table = |name: &str, len: usize| -> Result<FunctionTable> {
        let address = if len == 0 {
            0
        } else {
            jit.lookup(name).map_err(|message| Error::Llvm {
                context: format!("{all_files}: JIT linking"),
                message,
            })?
        };
        Ok(FunctionTable { address, len })
    };
    linked.batches.push(Batch {
        constructors: table(&constructors_name, constructor_count)?,
        destructors: table(&destructors_name, destructor_count)?,
    });
    Ok(Some(BatchCode {
        tracker,
        symbols: defined,
        module: module_index,
    }))
}

/// Gives callback `name` a callable definition in the JIT (its thunk), for
/// lookups of callbacks no linked code has taken the address of. Later
/// batches' own (weak) copies of the thunk give way to it.
pub(crate) fn materialize_callback(
    context: &Arc<Context>,
    machine: &TargetMachine,
    jit: &Jit,
    linked: &mut Linked,
    name: &str,
    named: &Named,
) -> Result<()> {
    let ir = match named.kind {
        Kind::Typed => thunk::typed(name, &named.signature, named.env, named.target),
        Kind::Dynamic => thunk::dynamic(name, &named.signature, named.env, named.target),
        // Defined as an absolute symbol when registered.
        Kind::Symbol => return Ok(()),
    };
    let error = |message| Error::Llvm {
        context: format!("compiling the entry of callback '{name}'"),
        message,
    };
    let mut module =
        Module::parse(context, "<hyperjit callback thunk>", ir.as_bytes()).map_err(error)?;
    module
        .set_target(machine.triple(), machine.data_layout())
        .map_err(error)?;
    let object = machine.emit_object(&module).map_err(error)?;
    // The thunk stays for good: its tracker is dropped, not removed.
    jit.add_object(object).map_err(error)?;
    linked.symbols.insert(name.to_string());
    Ok(())
}

/// Links the thunks of the callbacks `module` uses: constant-name
/// `PerformCustomCallback` calls are rebound to their callback's thunk, and
/// typed and dynamic callbacks the module declares get theirs. Returns how
/// many thunks were linked.
fn link_callback_thunks(
    context: &Arc<Context>,
    module: &mut Module,
    callbacks: &Registry,
) -> std::result::Result<usize, String> {
    let mut thunks = Vec::new();
    let bound = module.bind_constant_name_calls("PerformCustomCallback", |name| {
        callbacks
            .multiplexed(name.as_bytes())
            .map(|_| thunk::multiplexed_thunk_symbol(name))
    })?;
    for name in bound {
        if let Some(target) = callbacks.multiplexed(name.as_bytes()) {
            thunks.push(thunk::multiplexed(&name, target.env, target.trampoline));
        }
    }
    let undefined: HashSet<String> = module
        .undefined_symbols()
        .into_iter()
        .map(|symbol| symbol.name)
        .collect();
    for (name, named) in callbacks.named_all() {
        if !undefined.contains(&name) {
            continue;
        }
        match named.kind {
            Kind::Typed => thunks.push(thunk::typed(
                &name,
                &named.signature,
                named.env,
                named.target,
            )),
            Kind::Dynamic => thunks.push(thunk::dynamic(
                &name,
                &named.signature,
                named.env,
                named.target,
            )),
            // Call sites call the address itself; the symbol stays for
            // address-taken uses.
            Kind::Symbol => module.bind_calls_to_address(&name, named.target)?,
        }
    }
    let count = thunks.len();
    for ir in thunks {
        let thunk_module = Module::parse(context, "<hyperjit callback thunk>", ir.as_bytes())?;
        module.link_in(thunk_module)?;
    }
    Ok(count)
}

/// Whether `name` is defined outside the inputs being linked: by the
/// runtime, an earlier batch, a callback or the process.
fn defined_outside(name: &str, linked: &Linked, callbacks: &Registry) -> bool {
    runtime::absolute_symbols().iter().any(|&(n, _)| n == name)
        || GLUE_SYMBOLS.contains(&name)
        || crate::hypercall::SYMBOLS.contains(&name)
        || PLATFORM_SYMBOLS.contains(&name)
        || linked.symbols.contains(name)
        || callbacks.is_named(name)
        || process_defines(name)
}

/// Fails with every symbol the pending `inputs` use that nothing defines —
/// checked before linking, so that on failure the inputs are still pending
/// and the host can add what is missing.
pub(crate) fn check_resolved(
    inputs: &[Input],
    linked: &Linked,
    callbacks: &Registry,
) -> Result<()> {
    check_callbacks(inputs, linked, callbacks)?;
    // The libc functions the runtime replaces, and what the inputs define
    // for each other; everything else is `defined_outside`.
    let known: HashSet<&str> = runtime::INTERPOSED
        .iter()
        .map(|&(libc_name, _)| libc_name)
        .chain(
            inputs
                .iter()
                .flat_map(|i| i.defined.iter().map(String::as_str)),
        )
        .collect();
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for input in inputs {
        for symbol in &input.undefined {
            let name = symbol.name.as_str();
            if symbol.weak || known.contains(name) || defined_outside(name, linked, callbacks) {
                continue;
            }
            missing.entry(name).or_default().push(input.file.clone());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::UnresolvedSymbols {
        symbols: missing
            .into_iter()
            .map(|(name, referenced_by)| UnresolvedSymbol {
                name: name.to_string(),
                referenced_by,
            })
            .collect(),
    })
}

/// Each input's declarations of host callbacks must have the registered
/// type, and no input may define a name the host or linked code defines.
fn check_callbacks(inputs: &[Input], linked: &Linked, callbacks: &Registry) -> Result<()> {
    for input in inputs {
        for name in &input.defined {
            if linked.symbols.contains(name) {
                return Err(Error::AlreadyDefined {
                    name: name.clone(),
                    by: Some(format!("the program (again in {})", input.file)),
                });
            }
            if callbacks.is_named(name) {
                return Err(Error::AlreadyDefined {
                    name: name.clone(),
                    by: Some(format!("the host and by {}", input.file)),
                });
            }
        }
        for symbol in &input.undefined {
            let Some(named) = callbacks.named(&symbol.name) else {
                continue;
            };
            let Some(declared) = input.module.function_signature(&symbol.name) else {
                return Err(Error::CallbackSignature {
                    callback: symbol.name.clone(),
                    expected: named.signature.to_string(),
                    found: "a variable".to_string(),
                    file: input.file.clone(),
                });
            };
            if !named.signature.matches(&declared) {
                return Err(Error::CallbackSignature {
                    callback: symbol.name.clone(),
                    expected: named.signature.to_string(),
                    found: declared.to_string(),
                    file: input.file.clone(),
                });
            }
        }
    }
    Ok(())
}

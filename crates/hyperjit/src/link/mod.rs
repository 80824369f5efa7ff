//! Linking: turning inputs into code in the JIT, and keeping the table of
//! what is linked.
//!
//! The [`Linker`] owns the LLVM context, the code generator, the JIT and the
//! linked-symbol table. A batch of inputs is linked with LLVM's IR linker
//! (static-link rules: one definition per symbol), then prepared for a JIT
//! that has no C runtime of its own: libc's exit functions are bound to the
//! runtime's, the engine's glue and the callbacks' thunks are linked in,
//! thread-locals are lowered, static constructor lists become tables, and
//! every function is made swappable. Before any of that, every symbol the
//! inputs use must resolve (`resolve.rs`). Only then is machine code
//! generated and handed to the JIT linker. Every name the engine itself
//! defines comes from `glue/`; the linker's side of swaps is `swap.rs`.

mod batch;
pub(crate) mod glue;
mod image;
mod lazy;
mod linked;
mod policy;
mod resolve;
mod swap;

pub(crate) use batch::{BatchPlan, Binding, NewBody};
pub(crate) use glue::EngineGlue;
pub(crate) use image::Image;
pub(crate) use lazy::LazyRecord;
pub(crate) use linked::{Batch, BatchCode, Counter, Dependent, Input, Keep};
pub use policy::SymbolPolicy;
pub(crate) use resolve::check_callback_beside;

use crate::callback::{self, Kind, Named, Registry};
use crate::compile::Codegen;
use crate::error::{Error, Result};
use crate::llvm::{Context, FunctionSignature, Jit, Module};
use glue::{Callee, TrapRequests};
use linked::{Linked, TableNames};
use std::collections::HashSet;
use std::sync::Arc;

/// Who hears of every object the JIT links.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Observers {
    /// Debuggers, through the GDB JIT interface.
    pub(crate) debugger: bool,
    /// `perf`, through `/tmp/perf-PID.map`.
    pub(crate) perf_map: bool,
    /// The process's code map, which fault reports read.
    pub(crate) code_map: bool,
}

/// The context, code generator, JIT and linked-symbol table of one engine.
pub(crate) struct Linker {
    /// Dropped before the JIT: it holds the JIT's resource trackers.
    linked: Linked,
    codegen: Codegen,
    context: Arc<Context>,
    policy: SymbolPolicy,
    /// The process's symbols defined in the JIT by name (allow list).
    from_process: HashSet<String>,
    /// Owns all JIT'd code; dropped last.
    jit: Jit,
}

impl Linker {
    /// A linker generating code with `codegen`, whose JIT defines the
    /// runtime's functions, links what `policy` allows and tells
    /// `observers` of every object it links.
    pub(crate) fn new(
        codegen: Codegen,
        observers: Observers,
        policy: SymbolPolicy,
    ) -> Result<Linker> {
        let jit = Jit::new().map_err(Error::llvm("creating the JIT"))?;
        if !policy.searches_process() {
            jit.unlink_process_symbols()
                .map_err(Error::llvm("applying the symbol policy"))?;
        }
        if observers.debugger {
            jit.register_with_debugger();
        }
        if observers.perf_map {
            jit.write_perf_map()
                .map_err(|message| Error::InvalidSetting(format!("perf map: {message}")))?;
        }
        if observers.code_map {
            jit.map_code();
        }
        jit.define_absolute(&glue::runtime_symbols())
            .map_err(Error::llvm("defining the runtime symbols"))?;
        let mut linker = Linker {
            linked: Linked::default(),
            codegen,
            context: Arc::new(Context::new()),
            policy,
            from_process: HashSet::new(),
            jit,
        };
        let helpers = SymbolPolicy::codegen_helpers()
            .iter()
            .map(|&name| name.to_string());
        linker.define_from_process(helpers.collect())?;
        Ok(linker)
    }

    pub(crate) fn context(&self) -> &Arc<Context> {
        &self.context
    }

    pub(crate) fn codegen(&mut self) -> &mut Codegen {
        &mut self.codegen
    }

    /// The batches linked so far, in order.
    pub(crate) fn batches(&self) -> &[Batch] {
        &self.linked.batches
    }

    /// The IR type of a linked function (or alias of one).
    pub(crate) fn function_signature(&self, name: &str) -> Option<&FunctionSignature> {
        self.linked.functions.get(name)
    }

    /// The IR type of a linked function that has a body of its own (not an
    /// alias): what can be recompiled or redefined.
    pub(crate) fn swappable_signature(&self, name: &str) -> Option<&FunctionSignature> {
        let linked = &self.linked;
        (linked.bodies.contains_key(name) || linked.uncompiled.contains_key(name))
            .then(|| linked.functions.get(name))
            .flatten()
    }

    /// Whether linked code defines `name`.
    pub(crate) fn defines(&self, name: &str) -> bool {
        self.linked.symbols.contains(name)
    }

    /// Bytes of memory committed for JIT'd code and data.
    pub(crate) fn committed_bytes(&self) -> usize {
        self.jit.committed_bytes()
    }

    /// Fails if `input` can never link beside `pending` (see
    /// [`resolve::check_addable`]).
    pub(crate) fn check_addable(
        &self,
        pending: &[Input],
        input: &Input,
        callbacks: &Registry,
    ) -> Result<()> {
        resolve::check_addable(pending, input, &self.linked, callbacks)
    }

    /// Fails with every symbol `inputs` use that nothing defines or the
    /// symbol policy denies, or a callback declared with the wrong type
    /// (see `resolve.rs`). Under an allow list, defines in the JIT the
    /// process's symbols they use.
    pub(crate) fn check_resolved(&mut self, inputs: &[Input], callbacks: &Registry) -> Result<()> {
        let used = resolve::check_resolved(inputs, &self.linked, callbacks, &self.policy)?;
        self.define_from_process(used)
    }

    /// Under an allow list, defines `names` (the process's) in the JIT by
    /// address, for it does not search the process itself.
    fn define_from_process(&mut self, names: Vec<String>) -> Result<()> {
        if self.policy.searches_process() {
            return Ok(());
        }
        for name in names {
            if self.from_process.contains(&name) {
                continue;
            }
            if let Some(address) = resolve::process_address(&name) {
                self.jit
                    .define_absolute(&[(&name, address)])
                    .map_err(Error::llvm(format!("defining '{name}'")))?;
            }
            self.from_process.insert(name);
        }
        Ok(())
    }

    /// An address looked up before (addresses never change).
    pub(crate) fn cached_address(&self, name: &str) -> Option<u64> {
        self.linked.addresses.get(name).copied()
    }

    /// The address of `name` in the JIT, linking the object that defines it
    /// if that has not happened yet.
    pub(crate) fn lookup(&mut self, name: &str) -> Result<u64> {
        if let Some(address) = self.cached_address(name) {
            return Ok(address);
        }
        let address = self
            .jit
            .lookup(name)
            .map_err(Error::llvm(format!("looking up '{name}'")))?;
        self.linked.addresses.insert(name.to_string(), address);
        Ok(address)
    }

    /// Binds `name` to a host function at a fixed address.
    pub(crate) fn define_symbol(&self, name: &str, address: usize) -> Result<()> {
        self.jit
            .define_absolute(&[(name, address)])
            .map_err(Error::llvm(format!("defining '{name}'")))
    }

    /// Rewrites a batch's linked module for the JIT: the runtime's exit
    /// functions, the glue, callback thunks, null weak references, lowered
    /// thread-locals and constructor lists, swappable functions. Returns the
    /// constructor and destructor tables' names and lengths, and how many
    /// host callbacks the module was bound to.
    fn prepare_for_jit(
        &mut self,
        module: &mut Module,
        batch: usize,
        binding: Binding<'_>,
        all_files: &str,
    ) -> Result<(TableNames, usize)> {
        let Binding { callbacks, glue } = binding;
        let unsupported = |message| Error::Unsupported {
            file: all_files.to_string(),
            message,
        };
        let llvm_error = |what: &str| Error::llvm(format!("{all_files}: {what}"));
        // Asked before the glue defines it: only the guest's calls bind.
        let calls_multiplexed = module.declares_function(glue::PERFORM_CUSTOM_CALLBACK);
        for (libc_name, replacement) in glue::INTERPOSED {
            module
                .redirect_declaration(libc_name, replacement)
                .map_err(unsupported)?;
        }
        // After the renames, so the guest's declarations bind to the glue.
        if batch == 0 {
            self.jit
                .define_absolute(&glue.symbols())
                .map_err(Error::llvm("defining the engine's glue symbols"))?;
            glue::define_first_batch(module).map_err(|message| Error::Link {
                file: all_files.to_string(),
                message,
            })?;
        }
        let (thunks, bound_to_host) = link_callback_thunks(
            &self.context,
            &self.jit,
            module,
            callbacks,
            calls_multiplexed,
        )
        .map_err(llvm_error("binding callbacks"))?;
        if thunks > 0 {
            self.codegen
                .run_passes(module, "always-inline")
                .map_err(llvm_error("inlining callback thunks"))?;
        }
        // A weak reference nothing defines is null (RuntimeDyld would refuse it).
        for symbol in module.undefined_symbols() {
            let defined =
                resolve::defined_outside(&symbol.name, &self.linked, callbacks, &self.policy);
            if symbol.weak && !defined {
                module
                    .replace_with_null(&symbol.name)
                    .map_err(llvm_error(&format!("weak symbol '{}'", symbol.name)))?;
            }
        }
        let lowered_thread_locals = module
            .lower_thread_locals(glue::TLS_HELPER, glue::TLS_PREFIX)
            .map_err(unsupported)?;
        let constructors = glue::constructor_table(batch);
        let destructors = glue::destructor_table(batch);
        let constructor_count = module
            .lower_structor_list("llvm.global_ctors", &constructors)
            .map_err(unsupported)?;
        let destructor_count = module
            .lower_structor_list("llvm.global_dtors", &destructors)
            .map_err(unsupported)?;
        if lowered_thread_locals > 0 {
            module
                .verify()
                .map_err(llvm_error("lowering thread-local variables"))?;
        }
        // What a function references stays reachable by name from code
        // compiled later on its own (a new body, a lazily compiled one).
        module.promote_internals(&glue::promoted_suffix(batch), glue::ANONYMOUS_PREFIX);
        Ok((
            (
                (constructors, constructor_count),
                (destructors, destructor_count),
            ),
            bound_to_host,
        ))
    }

    /// Gives callback `name` a callable definition in the JIT (its thunk), for
    /// lookups of callbacks no linked code has taken the address of. Later
    /// batches' own (weak) copies of the thunk give way to it.
    pub(crate) fn materialize_callback(&mut self, name: &str, named: &Named) -> Result<()> {
        let error = || Error::llvm(format!("compiling the entry of callback '{name}'"));
        let Some(ir) = callback_thunk(&self.jit, name, named).map_err(error())? else {
            return Ok(());
        };
        let mut module = Module::parse(&self.context, "<hyperjit callback thunk>", ir.as_bytes())
            .map_err(error())?;
        self.codegen.retarget(&mut module).map_err(error())?;
        let object = self.codegen.emit(&module, None).map_err(error())?;
        // The thunk stays for good: its tracker is dropped, not removed.
        self.jit.add_object(object).map_err(error())?;
        self.linked.symbols.insert(name.to_string());
        Ok(())
    }
}

/// Links the inputs' modules into the first one; `None` if there were none.
fn link_inputs(inputs: Vec<Input>) -> Result<Option<Module>> {
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
    Ok(Some(module))
}

/// The thunk of callback `name`, calling its trampoline; `None` for a raw
/// symbol, which was defined as an absolute symbol when registered.
fn callback_thunk(
    jit: &Jit,
    name: &str,
    named: &Named,
) -> std::result::Result<Option<String>, String> {
    if matches!(named.kind, Kind::Symbol) {
        return Ok(None);
    }
    Ok(glue::named(name, named, &callee(jit, named.target)?))
}

/// How thunks reach host code at `address`: by a near symbol, defined on
/// first use, if a direct call reaches it.
fn callee(jit: &Jit, address: usize) -> std::result::Result<Callee, String> {
    let symbol = glue::near_symbol(address);
    if jit.is_near(&symbol) {
        return Ok(Callee::Near(address));
    }
    if !jit.within_call_reach(address) {
        return Ok(Callee::Address(address));
    }
    jit.define_absolute(&[(&symbol, address)])?;
    Ok(Callee::Near(address))
}

/// Links the thunks of the callbacks `module` uses: constant-name
/// `PerformCustomCallback` calls (if it `calls_multiplexed`) are rebound
/// to their callback's thunk, and typed and dynamic callbacks the module
/// declares get theirs, and calls of raw symbols out of a direct call's
/// reach call their address (those within reach are direct calls already).
/// Returns how many thunks were linked, and how many callbacks were bound
/// in all.
fn link_callback_thunks(
    context: &Arc<Context>,
    jit: &Jit,
    module: &mut Module,
    callbacks: &Registry,
    calls_multiplexed: bool,
) -> std::result::Result<(usize, usize), String> {
    let mut thunks = Vec::new();
    let mut addresses_bound = 0;
    let bound = if calls_multiplexed {
        module.bind_constant_name_calls(glue::PERFORM_CUSTOM_CALLBACK, |name| {
            callbacks
                .multiplexed(name.as_bytes())
                .map(|_| glue::multiplexed_thunk_symbol(name))
        })?
    } else {
        Vec::new()
    };
    for name in bound {
        let Some(target) = callbacks.multiplexed(name.as_bytes()) else {
            continue;
        };
        let thunk = match target.direct {
            Some(direct) => {
                let requests = TrapRequests {
                    count: callback::requests_address(),
                    honor: callee(jit, callback::honor_request_address())?,
                };
                let function = callee(jit, direct.function)?;
                glue::multiplexed_direct(&name, target.env, &function, direct.user_data, &requests)
            }
            None => glue::multiplexed(&name, target.env, &callee(jit, target.trampoline)?),
        };
        thunks.push(thunk);
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
        match callback_thunk(jit, &name, &named)? {
            Some(thunk) => thunks.push(thunk),
            None => {
                // Far: call sites call the address itself, not through a
                // stub; the symbol stays for address-taken uses (and data).
                if !jit.is_near(&name) {
                    module.bind_calls_to_address(&name, named.target)?;
                }
                addresses_bound += 1;
            }
        }
    }
    let count = thunks.len();
    for ir in thunks {
        let thunk_module = Module::parse(context, "<hyperjit callback thunk>", ir.as_bytes())?;
        module.link_in(thunk_module)?;
    }
    Ok((count, count + addresses_bound))
}

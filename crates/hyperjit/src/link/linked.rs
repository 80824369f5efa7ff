//! What the linker has linked: the table every later link, lookup and swap
//! consults, and the inputs waiting to join it.

use super::glue;
use super::lazy::LazyRecord;
use crate::compile::Inlining;
use crate::llvm::{
    promoted_name, Bitcode, FunctionSignature, KeptIr, Module, Tracker, UndefinedSymbol,
};
use std::collections::{HashMap, HashSet};

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
    /// A function whose compiled code counts its calls and loop iterations
    /// (tiered compilation's baseline), into the `u64` at an address, the
    /// code's through a symbol; the kept IR does not count.
    pub(crate) counter: Option<Counter>,
    /// How its IR is kept for recompiling.
    pub(crate) keep: Keep,
    /// What the engine's IR pipeline inlined in it.
    pub(crate) inlining: Option<Inlining>,
}

/// How a linked input's IR is kept, to recompile its functions later. With
/// an object cache it is always bitcode: the cache's keys are made of it.
#[derive(Clone, Default)]
pub(crate) enum Keep {
    /// Written as bitcode: compact, for batches and first calls.
    #[default]
    Bitcode,
    /// Copied, as a module in memory, if the input defines one function
    /// body (after static functions are given names of their own): a body
    /// swapped in alone. Bitcode otherwise.
    Copy,
    /// Kept already: the input is linked module `module`'s body `body`,
    /// extracted unchanged but for its name, and that module (a body
    /// alone) passes its kept IR on to the new body.
    Reused { module: usize, body: String },
}

impl Linked {
    /// Records which of batch `batch`'s functions inlined which.
    pub(super) fn record_inlining(&mut self, inlinings: Vec<Inlining>, batch: usize) {
        let suffix = glue::promoted_suffix(batch);
        for inlining in inlinings {
            for (inlined, functions) in &inlining.dependents {
                for function in functions {
                    let linked = if inlining.internal.contains(function) {
                        match promoted_name(function.as_bytes(), &suffix, glue::ANONYMOUS_PREFIX) {
                            Some(linked) => linked,
                            // Numbered, not named, when linked: a swap of
                            // `inlined` cannot find it (a function named
                            // in no way an object file allows).
                            None => continue,
                        }
                    } else {
                        function.clone()
                    };
                    self.dependents
                        .entry(inlined.clone())
                        .or_default()
                        .push(Dependent {
                            function: linked,
                            name_in_source: function.clone(),
                            unoptimized: inlining.unoptimized.clone(),
                            batch_suffix: suffix.clone(),
                        });
                }
            }
        }
    }
}

impl Input {
    pub(crate) fn new(file: String, module: Module, ir_level: Option<u8>) -> Input {
        Input {
            file,
            undefined: module.undefined_symbols(),
            defined: module.defined_symbols(),
            module,
            ir_level,
            counter: None,
            keep: Keep::Bitcode,
            inlining: None,
        }
    }

    /// The input, with what the IR pipeline inlined in it.
    pub(crate) fn with_inlining(self, inlining: Option<Inlining>) -> Input {
        Input { inlining, ..self }
    }

    /// The input, its IR to be kept as `keep` says.
    pub(crate) fn kept_as(self, keep: Keep) -> Input {
        Input { keep, ..self }
    }
}

/// Where a function's baseline code counts.
#[derive(Clone, Debug)]
pub(crate) struct Counter {
    pub(crate) function: String,
    pub(crate) symbol: String,
    pub(crate) address: usize,
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

/// A batch's constructor and destructor tables, each as its symbol's name
/// and its length.
pub(super) type TableNames = ((String, usize), (String, usize));

/// What one linked batch contributes to running the program.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub(crate) constructors: FunctionTable,
    pub(crate) destructors: FunctionTable,
}

/// A linked function whose body holds another's code, inlined by the
/// engine's IR pipeline, and the IR to compile it again from without.
#[derive(Clone)]
pub(crate) struct Dependent {
    /// The function, as linked (an internal one under its promoted name).
    pub(crate) function: String,
    /// Its name in `unoptimized`.
    pub(crate) name_in_source: String,
    /// Its module before the pipeline ran.
    pub(crate) unoptimized: Bitcode,
    /// The promoted-name suffix of its batch: what that module's internal
    /// symbols are called in the JIT.
    pub(crate) batch_suffix: String,
}

/// Everything linked so far.
#[derive(Default)]
pub(super) struct Linked {
    /// For each function, the linked functions whose bodies inlined it.
    pub(super) dependents: HashMap<String, Vec<Dependent>>,
    pub(super) batches: Vec<Batch>,
    /// Functions defined by linked code, with their IR types.
    pub(super) functions: HashMap<String, FunctionSignature>,
    /// Every externally visible symbol linked code defines.
    pub(super) symbols: HashSet<String>,
    /// The IR of every linked batch as it was before code generation, kept
    /// to recompile its functions, with the level it was optimized at (if
    /// known for all of its inputs).
    pub(super) modules: Vec<(KeptIr, Option<u8>)>,
    /// Where each function's current body is: a module of `modules` and the
    /// body's name in it (the function's own, or a later version's).
    pub(super) bodies: HashMap<String, (usize, String)>,
    /// Addresses already looked up; an address never changes (a redefined
    /// function keeps its entry), so they are cached for good.
    pub(super) addresses: HashMap<String, u64>,
    /// The current bodies that a swap brought in alone (their module defines
    /// nothing else), by their module's index: the body's symbol and code.
    pub(super) swapped_in: HashMap<usize, (String, Tracker)>,
    /// Such bodies since replaced, by the function they were a body of:
    /// what [`reclaim`](crate::Engine::reclaim) frees.
    pub(super) superseded: HashMap<String, Vec<(String, usize, Tracker)>>,
    /// Functions of lazily linked batches not compiled yet, each with the
    /// index of its batch's source module in `sources`.
    pub(super) uncompiled: HashMap<String, usize>,
    /// The modules holding those functions' bodies, with the level their
    /// IR is optimized at (if known).
    pub(super) sources: Vec<(Module, Option<u8>)>,
    /// What each stub passes to the runtime; boxed, as code holds their
    /// addresses, and kept while the JIT lives.
    #[allow(clippy::vec_box)] // the addresses must not move as the vector grows
    pub(super) lazy_records: Vec<Box<LazyRecord>>,
    /// The function each record stands for, by the record's index.
    pub(super) lazy_names: Vec<String>,
}

impl Linked {
    /// Records a module whose code the JIT now has: its kept IR (at
    /// `ir_level`), the functions it defines, each with the name of its
    /// body in that IR if it has one to recompile, and its symbols. Returns
    /// the module's index.
    pub(super) fn record(
        &mut self,
        kept: KeptIr,
        ir_level: Option<u8>,
        functions: impl IntoIterator<Item = (String, FunctionSignature, Option<String>)>,
        symbols: &[String],
    ) -> usize {
        let module = self.modules.len();
        self.modules.push((kept, ir_level));
        for (name, signature, body) in functions {
            if let Some(body) = body {
                self.bodies.insert(name.clone(), (module, body));
            }
            self.functions.insert(name, signature);
        }
        self.symbols.extend(symbols.iter().cloned());
        module
    }
}

/// A batch's code in the JIT.
pub(crate) struct BatchCode {
    /// Removes the code (only swaps ever do).
    pub(super) tracker: Tracker,
    /// The externally visible symbols it defines.
    pub(super) symbols: Vec<String>,
    /// Its module's index in [`Linked::modules`].
    pub(super) module: usize,
}

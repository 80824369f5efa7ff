//! Linking a batch of inputs, in stages: the inputs are linked into one
//! module ([`Linker::start_batch`]), prepared for the JIT
//! (`prepare_for_jit`), split into a lazy skeleton or compiled whole
//! ([`Linker::build_whole`]: entries made swappable, IR kept, counters
//! added), emitted or taken from the cache ([`Linker::emit_batch`]), and
//! installed and recorded ([`Linker::install_batch`], the stage a program
//! image enters at). What flows from stage to stage is a [`BatchBuild`].

use super::glue;
use super::image::{self, Image};
use super::linked::{FunctionTable, TableNames};
use super::{link_inputs, Batch, BatchCode, Counter, EngineGlue, Input, Keep, Linker};
use crate::callback::Registry;
use crate::compile::{Inlining, Key, ObjectCache, ObjectSource};
use crate::error::{Error, Result};
use crate::llvm::{Bitcode, FunctionSignature, KeptIr, Module, ObjectCode, UndefinedSymbol};
use crate::runtime;
use std::collections::HashMap;
use std::sync::Arc;

/// Above this much bitcode a dropped module leaves enough free memory to be
/// worth returning (returning it costs ~12 ms for sqlite3.c's 80 MB).
const LARGE_MODULE_BITCODE: usize = 1 << 20;

/// What a batch is linked against: the engine's callbacks and glue.
#[derive(Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) callbacks: &'a Registry,
    pub(crate) glue: &'a EngineGlue,
}

/// How a batch is built.
#[derive(Default)]
pub(crate) struct BatchPlan {
    /// The code generation level; `None`: the engine's.
    pub(crate) level: Option<u8>,
    /// Only the data and a stub per function now, each body on its first
    /// call (`lazy.rs`).
    pub(crate) lazy: bool,
    /// Where a first batch compiled whole is stored as a program image.
    pub(crate) image_key: Option<Key>,
}

/// A new body of a function, to be linked and swapped in.
pub(crate) struct NewBody<'a> {
    /// The function it replaces the body of.
    pub(crate) function: &'a str,
    /// The name `input` defines the body under.
    pub(crate) version: &'a str,
    pub(crate) input: Input,
    /// The code generation level; `None`: the engine's.
    pub(crate) level: Option<u8>,
}

/// A batch between the stages that build it.
pub(super) struct BatchBuild {
    batch: usize,
    files: String,
    /// The lowest level the inputs' IR was optimized at, if known.
    ir_level: Option<u8>,
    level: Option<u8>,
    counters: Vec<Counter>,
    keep: Keep,
    inlinings: Vec<Inlining>,
    /// What a program image must find outside it (read only for one).
    imports: Vec<UndefinedSymbol>,
    tables: TableNames,
    bound_to_host: usize,
    defined: Vec<String>,
    /// Functions and aliases of functions, and whether each is a body.
    functions: Vec<(String, FunctionSignature, bool)>,
    kept: KeptIr,
    /// Each function's body, where entries were split from bodies.
    bodies: HashMap<String, String>,
    is_lazy: bool,
}

/// A batch ready for the JIT: its object and what to record of it.
pub(super) struct BatchRecord {
    pub(super) object: ObjectCode,
    pub(super) kept: KeptIr,
    pub(super) ir_level: Option<u8>,
    pub(super) functions: Vec<(String, FunctionSignature, Option<String>)>,
    pub(super) symbols: Vec<String>,
    pub(super) tables: TableNames,
}

impl Linker {
    /// Links `inputs`, whose symbols were checked, into one batch and adds
    /// its code to the JIT as `plan` says. The first batch also gets the
    /// engine's glue. `None` if there were no inputs.
    pub(crate) fn link(
        &mut self,
        inputs: Vec<Input>,
        binding: Binding<'_>,
        plan: BatchPlan,
    ) -> Result<Option<BatchCode>> {
        let files: Vec<&str> = inputs.iter().map(|i| i.file.as_str()).collect();
        let files = files.join(", ");
        let _phase = runtime::Phase::enter(&format!("compiling {files}"));
        let Some((mut build, mut module)) = self.start_batch(inputs, &plan, files)? else {
            return Ok(None);
        };
        (build.tables, build.bound_to_host) =
            self.prepare_for_jit(&mut module, build.batch, binding, &build.files)?;
        module.set_name("hyperjit batch");
        build.defined = module.defined_symbols();
        build.functions = build
            .defined
            .iter()
            .filter_map(|name| {
                let signature = module.function_signature(name)?;
                Some((name.clone(), signature, module.defines_function(name)))
            })
            .collect();
        let whole = if plan.lazy {
            module.strip_debug_info();
            self.split_lazily(module, binding.glue, build.ir_level, &build.files)?
        } else {
            Err(module)
        };
        let compiled = match whole {
            // Data and stubs gain nothing from optimization; -O0 code
            // generation has the least overhead a function.
            Ok(mut skeleton) => {
                skeleton.mark_patchable_entries(|_| false);
                build.is_lazy = true;
                build.level = Some(0);
                skeleton
            }
            Err(mut module) => {
                self.build_whole(&mut module, &mut build)?;
                module
            }
        };
        let (object, object_key) = self.emit_batch(compiled, &build)?;
        self.install_batch(build, object, object_key, plan.image_key)
            .map(Some)
    }

    /// The inputs linked into one module, and what the later stages need
    /// to know of them.
    fn start_batch(
        &mut self,
        inputs: Vec<Input>,
        plan: &BatchPlan,
        files: String,
    ) -> Result<Option<(BatchBuild, Module)>> {
        let batch = self.linked.batches.len();
        let ir_level = inputs
            .iter()
            .map(|input| input.ir_level)
            .try_fold(3u8, |lowest, level| level.map(|l| lowest.min(l)));
        let counters = inputs.iter().filter_map(|i| i.counter.clone()).collect();
        // An input linked alone may keep its IR otherwise than as bitcode,
        // unless a cache needs the bitcode for its keys.
        let keep = match inputs.as_slice() {
            [input] if self.codegen.cache().is_none() => input.keep.clone(),
            _ => Keep::Bitcode,
        };
        let inlinings = inputs.iter().filter_map(|i| i.inlining.clone()).collect();
        let Some(module) = link_inputs(inputs)? else {
            return Ok(None);
        };
        let imports = match plan.image_key {
            Some(_) if batch == 0 => module.undefined_symbols(),
            _ => Vec::new(),
        };
        let build = BatchBuild {
            batch,
            files,
            ir_level,
            level: plan.level,
            counters,
            keep,
            inlinings,
            imports,
            tables: Default::default(),
            bound_to_host: 0,
            defined: Vec::new(),
            functions: Vec::new(),
            kept: KeptIr::default(),
            bodies: HashMap::new(),
            is_lazy: false,
        };
        Ok(Some((build, module)))
    }

    /// Readies a batch compiled whole: every function's entry made a
    /// patchable stub apart from its body (each can be recompiled or
    /// redefined later), its IR kept, counters added where it counts.
    fn build_whole(&mut self, module: &mut Module, build: &mut BatchBuild) -> Result<()> {
        let files = &build.files;
        module
            .materialize_all()
            .map_err(Error::llvm(format!("{files}: reading")))?;
        build.bodies = module
            .add_entry_stubs(&glue::body_suffix(build.batch), glue::is_new_body)
            .map_err(Error::llvm(format!("{files}: adding entries")))?
            .into_iter()
            .collect();
        module.mark_patchable_entries(glue::is_new_body);
        build.kept = match &build.keep {
            // Kept in memory only by a body alone: it is what a later swap
            // moves on whole.
            Keep::Copy if build.functions.iter().filter(|f| f.2).count() == 1 => {
                KeptIr::Module(module.copy())
            }
            // Passed on once the JIT has taken the code.
            Keep::Reused { .. } => KeptIr::default(),
            _ => KeptIr::Bitcode(module.to_bitcode()),
        };
        // Found hot in an earlier run: optimized from the start.
        let kept = &build.kept;
        let hot = |cache: &Arc<ObjectCache>| {
            kept.as_bitcode()
                .is_some_and(|kept| cache.has_mark(&Key::hot_mark(kept.bytes())))
        };
        if !build.counters.is_empty() && self.codegen.cache().is_some_and(hot) {
            build.counters.clear();
            build.level = None;
        }
        for counter in &build.counters {
            module
                .add_counter(&counter.function, &counter.symbol)
                .map_err(Error::llvm(format!("{files}: counting calls")))?;
            self.jit
                .define_absolute(&[(&counter.symbol, counter.address)])
                .map_err(Error::llvm(format!("{files}: counting calls")))?;
        }
        Ok(())
    }

    /// The batch's object, from the cache if it holds one. With a cache,
    /// the key covers what the object is generated from: the kept IR
    /// (bitcode, with a cache) and where it counts, or the skeleton's IR
    /// (written only for the key).
    fn emit_batch(
        &mut self,
        compiled: Module,
        build: &BatchBuild,
    ) -> Result<(ObjectCode, Option<Key>)> {
        let kept_bitcode = build.kept.as_bitcode().map_or(&[][..], Bitcode::bytes);
        let emitted = if build.is_lazy && self.codegen.cache().is_some() {
            let skeleton_ir = compiled.to_bitcode();
            let source = ObjectSource::Skeleton(skeleton_ir.bytes());
            self.codegen.emit_cached(&compiled, source, build.level)
        } else {
            let counters: Vec<String> = build
                .counters
                .iter()
                .map(|counter| counter.symbol.clone())
                .collect();
            let source = ObjectSource::Kept {
                bitcode: kept_bitcode,
                counters: &counters,
            };
            self.codegen.emit_cached(&compiled, source, build.level)
        }
        .map_err(Error::llvm(format!("{}: generating code", build.files)))?;
        drop(compiled);
        if kept_bitcode.len() >= LARGE_MODULE_BITCODE {
            crate::llvm::release_freed_memory();
        }
        Ok(emitted)
    }

    /// Adds the batch's object to the JIT, records it, and stores it as a
    /// program image at `image_key` if it can be one.
    fn install_batch(
        &mut self,
        build: BatchBuild,
        object: ObjectCode,
        object_key: Option<Key>,
        image_key: Option<Key>,
    ) -> Result<BatchCode> {
        // A lazy batch's bodies are not compiled yet: none to recompile.
        let functions: Vec<_> = build
            .functions
            .into_iter()
            .map(|(name, signature, is_body)| {
                let body = (is_body && !build.is_lazy).then(|| match &build.keep {
                    Keep::Reused { body, .. } => body.clone(),
                    _ => build
                        .bodies
                        .get(&name)
                        .cloned()
                        .unwrap_or_else(|| name.clone()),
                });
                (name, signature, body)
            })
            .collect();
        let counts = !build.counters.is_empty();
        let store_image = image_key
            .zip(object_key)
            .zip(self.codegen.cache().cloned())
            .filter(|_| image::can_store(build.batch, build.is_lazy, counts, build.bound_to_host))
            // An image is loaded without its IR being read: what was
            // inlined would be unknown to the run that loads it.
            .filter(|_| build.inlinings.is_empty());
        let image = store_image.map(|((key, object), cache)| {
            let image = Image {
                object,
                kept: build
                    .kept
                    .as_bitcode()
                    .map_or(&[][..], Bitcode::bytes)
                    .to_vec(),
                ir_level: build.ir_level,
                functions: functions.clone(),
                symbols: build.defined.clone(),
                tables: build.tables.clone(),
                imports: build.imports,
            };
            (key, image, cache)
        });
        let record = BatchRecord {
            object,
            kept: build.kept,
            ir_level: build.ir_level,
            functions,
            symbols: build.defined,
            tables: build.tables,
        };
        let code = self.add_batch(record, &build.files)?;
        self.linked.record_inlining(build.inlinings, build.batch);
        if let Keep::Reused { module, .. } = build.keep {
            let reused = std::mem::take(&mut self.linked.modules[module]);
            self.linked.modules[code.module] = reused;
        }
        // Stored only once the JIT took the code.
        if let Some((key, image, cache)) = image {
            cache.store(&key, &image.encode());
        }
        Ok(code)
    }

    /// Adds a batch's object to the JIT and records what it defines, as
    /// [`Linked::record`](super::linked::Linked::record) says, and its
    /// constructor and destructor tables. Nothing is recorded if the JIT
    /// refuses the object.
    pub(super) fn add_batch(&mut self, record: BatchRecord, files: &str) -> Result<BatchCode> {
        let tracker = self
            .jit
            .add_object(record.object)
            .map_err(Error::llvm(format!("{files}: JIT linking")))?;
        let module = self.linked.record(
            record.kept,
            record.ir_level,
            record.functions,
            &record.symbols,
        );
        let table = |(name, len): (String, usize)| -> Result<FunctionTable> {
            let address = if len == 0 {
                0
            } else {
                self.jit
                    .lookup(&name)
                    .map_err(Error::llvm(format!("{files}: JIT linking")))?
            };
            Ok(FunctionTable { address, len })
        };
        let batch = Batch {
            constructors: table(record.tables.0)?,
            destructors: table(record.tables.1)?,
        };
        self.linked.batches.push(batch);
        Ok(BatchCode {
            tracker,
            symbols: record.symbols,
            module,
        })
    }
}

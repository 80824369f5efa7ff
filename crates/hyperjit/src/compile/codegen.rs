//! Code generation: the host's target machine, made up front and kept
//! (creating one costs more than generating code for a small function),
//! for every level: the engine's own, the baseline's, a recompile's.

use super::cache::{Key, ObjectCache, ObjectSource};
use crate::llvm::{Module, ObjectCode, TargetMachine};
use std::sync::Arc;

/// The host's target machine, and the engine's level.
pub(crate) struct Codegen {
    level: u8,
    machine: TargetMachine,
    cache: Option<Arc<ObjectCache>>,
    /// Time spent in LLVM's code generation passes so far.
    generation_time: std::time::Duration,
}

impl Codegen {
    /// Code generation at `level` (0..=3) by default.
    pub(crate) fn new(level: u8) -> Result<Codegen, String> {
        let machine = TargetMachine::host(level)?;
        Ok(Codegen {
            level,
            machine,
            cache: None,
            generation_time: std::time::Duration::ZERO,
        })
    }

    /// The engine's level.
    pub(crate) fn level(&self) -> u8 {
        self.level
    }

    pub(crate) fn triple(&self) -> &str {
        self.machine.triple()
    }

    /// Why code generation would refuse `module`, naming each function or
    /// global; empty if it would not.
    pub(crate) fn refusals(&self, module: &Module) -> Vec<String> {
        module.codegen_refusals(&self.machine)
    }

    /// The host's data layout, which every module is given.
    pub(crate) fn data_layout(&self) -> &str {
        self.machine.data_layout()
    }

    /// Gives `module` the host's triple and data layout.
    pub(crate) fn retarget(&self, module: &mut Module) -> Result<(), String> {
        module.set_target(self.machine.triple(), self.machine.data_layout())
    }

    /// Runs LLVM's `default<O{level}>` IR pipeline on `module`.
    pub(crate) fn optimize(&mut self, module: &mut Module, level: u8) -> Result<(), String> {
        self.machine.optimize(module, level)
    }

    /// Runs a pass pipeline in `opt`'s syntax on `module`.
    pub(crate) fn run_passes(&self, module: &mut Module, pipeline: &str) -> Result<(), String> {
        self.machine.run_passes(module, pipeline)
    }

    /// Objects come from, and go to, `cache` from now on.
    pub(crate) fn use_cache(&mut self, cache: Arc<ObjectCache>) {
        self.cache = Some(cache);
    }

    /// The cache objects come from, if any.
    pub(crate) fn cache(&self) -> Option<&Arc<ObjectCache>> {
        self.cache.as_ref()
    }

    /// The cache key of the program image linked from `sources` (names and
    /// bytes) prepared as `settings` says, with code at the engine's level.
    pub(crate) fn image_key(
        &mut self,
        settings: &str,
        sources: &[(&str, &[u8])],
    ) -> Result<Key, String> {
        let target = self.machine.description(self.level);
        Ok(Key::image(&target, settings, sources))
    }

    /// Object code for `module`, generated from `source`, at `level`
    /// (default: the engine's): from the cache if it has it, else generated
    /// and stored there; with the key it is cached under, if there is a
    /// cache.
    pub(crate) fn emit_cached(
        &mut self,
        module: &Module,
        source: ObjectSource<'_>,
        level: Option<u8>,
    ) -> Result<(ObjectCode, Option<Key>), String> {
        let Some(cache) = self.cache.clone() else {
            return Ok((self.emit(module, level)?, None));
        };
        let level = level.unwrap_or(self.level);
        let key = Key::for_object(&self.machine.description(level), source);
        if let Some(object) = cache.get(&key) {
            return Ok((ObjectCode::from_bytes(&object), Some(key)));
        }
        let object = self.emit(module, Some(level))?;
        cache.put(&key, object.bytes());
        Ok((object, Some(key)))
    }

    /// Object code for `module`, at `level` (default: the engine's).
    pub(crate) fn emit(
        &mut self,
        module: &Module,
        level: Option<u8>,
    ) -> Result<ObjectCode, String> {
        let level = level.unwrap_or(self.level);
        let started = std::time::Instant::now();
        let object = self.machine.emit_object_at(module, level);
        self.generation_time += started.elapsed();
        object
    }

    /// Time spent in LLVM's code generation passes so far (what a swap
    /// costs beyond hyperjit's own work).
    pub(crate) fn generation_time(&self) -> std::time::Duration {
        self.generation_time
    }
}

//! Lazy compilation, the linker's side: a lazily linked batch is split
//! (`llvm/split.rs`) into a skeleton, compiled at once, that defines the
//! batch's data and a stub for each function, and a source module keeping
//! the bodies. A stub's first call reaches the engine through the runtime's
//! lazy entry with the stub's [`LazyRecord`]; the engine moves that one
//! body out of the source, links it as a new body of the function (as a
//! swap does) and the stub is redirected to it. The stub is the function's
//! address for good, so pointers taken before the first call stay valid.

use super::{EngineGlue, Input, Linker};
use crate::error::{Error, Result};
use crate::llvm::Module;

/// What a function's stub passes to the runtime's lazy entry (its layout
/// starts as `runtime::LazyEntryContract` says: the compiling function
/// first; checked by the test below).
#[repr(C)]
pub(crate) struct LazyRecord {
    /// `glue.compile_lazily`.
    compile: usize,
    /// `glue.engine`.
    engine: usize,
    /// The function's index in the linker's table of lazy functions.
    function: usize,
}

impl LazyRecord {
    /// The engine whose linker made this record (`EngineGlue::engine`).
    pub(crate) fn engine(&self) -> usize {
        self.engine
    }

    /// The function's index, for [`Linker::lazy_function`].
    pub(crate) fn function(&self) -> usize {
        self.function
    }
}

impl Linker {
    /// Splits the prepared `module`, whose IR is optimized at `ir_level`,
    /// into the skeleton to compile now (returned) and the source of its
    /// functions' bodies, which the linker keeps. If it cannot be split,
    /// the module comes back unchanged (`Ok(Err(module))`), to be compiled
    /// whole.
    pub(super) fn split_lazily(
        &mut self,
        mut module: Module,
        glue: &EngineGlue,
        ir_level: Option<u8>,
        files: &str,
    ) -> Result<std::result::Result<Module, Module>> {
        let first_index = self.linked.lazy_names.len();
        let batch = self.linked.batches.len();
        let mut names = Vec::new();
        let mut records = Vec::new();
        let mut symbols: Vec<(String, usize)> = Vec::new();
        let split = module.split("hyperjit skeleton", super::glue::RT_LAZY_ENTRY, |name| {
            let record = Box::new(LazyRecord {
                compile: glue.compile_lazily,
                engine: glue.engine,
                function: first_index + names.len(),
            });
            symbols.push((
                super::glue::lazy_record_symbol(batch, name),
                &*record as *const LazyRecord as usize,
            ));
            records.push(record);
            names.push(name.to_string());
            symbols[symbols.len() - 1].0.clone()
        });
        let Ok(split) = split else {
            return Ok(Err(module));
        };
        let defined: Vec<(&str, usize)> = symbols
            .iter()
            .map(|(name, address)| (name.as_str(), *address))
            .collect();
        self.jit
            .define_absolute(&defined)
            .map_err(Error::llvm(format!("{files}: defining lazy functions")))?;
        let linked = &mut self.linked;
        let source = linked.sources.len();
        for name in &split.stubbed {
            linked.uncompiled.insert(name.clone(), source);
        }
        linked.sources.push((module, ir_level));
        linked.lazy_records.extend(records);
        linked.lazy_names.extend(names);
        Ok(Ok(split.skeleton))
    }

    /// The function a lazy record stands for.
    pub(crate) fn lazy_function(&self, index: usize) -> Option<&str> {
        self.linked.lazy_names.get(index).map(String::as_str)
    }

    /// Whether `function` waits for its first call to be compiled.
    pub(crate) fn is_uncompiled(&self, function: &str) -> bool {
        self.linked.uncompiled.contains_key(function)
    }

    /// How many functions wait for their first call.
    pub(crate) fn uncompiled_count(&self) -> usize {
        self.linked.uncompiled.len()
    }

    /// How many of those have bodies not even read from their bitcode.
    pub(crate) fn unread_count(&self) -> usize {
        let sources = self.linked.sources.iter();
        sources
            .map(|(module, _)| module.unread_function_count())
            .sum()
    }

    /// Moves uncompiled `function`'s body out of its source, as a module
    /// defining `version`, to be linked with [`replace_body`](Self::replace_body).
    pub(crate) fn take_uncompiled(&mut self, function: &str, version: &str) -> Result<Input> {
        let Some(&source) = self.linked.uncompiled.get(function) else {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        };
        let (module, ir_level) = &mut self.linked.sources[source];
        let moved = module
            .move_function(function, version)
            .map_err(Error::llvm(format!(
                "compiling '{function}' on its first call"
            )))?;
        if cfg!(debug_assertions) {
            moved.verify().map_err(Error::llvm(format!(
                "compiling '{function}' on its first call"
            )))?;
        }
        Ok(Input::new(
            format!("function '{function}' (compiled on its first call)"),
            moved,
            *ir_level,
        ))
    }

    /// The address of the code `function` runs now, if it has been
    /// compiled.
    pub(crate) fn current_body(&mut self, function: &str) -> Result<Option<u64>> {
        if self.is_uncompiled(function) {
            return Ok(None);
        }
        let body = match self.linked.bodies.get(function) {
            Some((_, body)) => body.clone(),
            None => function.to_string(),
        };
        self.lookup(&body).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::LazyRecord;
    use crate::{llvm, runtime};

    /// The stub's record load, the record's layout and the runtime's lazy
    /// entry agree (shim.c owns the contract).
    #[test]
    fn stub_record_and_lazy_entry_agree() {
        let contract = runtime::lazy_entry_contract();
        assert_eq!(llvm::STUB_RECORD_LOAD, contract.stub_record_load);
        assert_eq!(
            std::mem::offset_of!(LazyRecord, compile),
            contract.record_compile_offset
        );
    }
}

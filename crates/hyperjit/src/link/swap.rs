//! The linker's side of swaps: reading a function's current body back from
//! its kept IR, linking a new body and pointing the function's patchable
//! entry at it, and freeing bodies no longer in use.
//!
//! A body swapped in alone keeps its IR as a module in memory rather than as
//! bitcode (`Keep`): recompiling it again copies that module, and the copy
//! it was compiled from passes its kept IR on, so a swap neither reads nor
//! writes bitcode. Only the first swap of a function reads its batch's.

use super::glue::ANONYMOUS_PREFIX;
use super::{BatchCode, BatchPlan, Binding, Dependent, Keep, Linker, NewBody};
use crate::compile::CompiledBody;
use crate::error::{Error, Result};
use crate::llvm::{promoted_name, Bitcode, KeptIr, Module};

impl Linker {
    /// `function`'s current body as a module that defines it as `version`,
    /// the level its IR is optimized at, if known, and how the new body
    /// compiled from it keeps its IR.
    pub(crate) fn extract_body(
        &self,
        function: &str,
        version: &str,
    ) -> Result<(Module, Option<u8>, Keep)> {
        let Some((index, body)) = self.linked.bodies.get(function) else {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        };
        let (source, ir_level) = &self.linked.modules[*index];
        let module = source
            .extract_function(&self.context, body, version)
            .map_err(Error::llvm(format!("recompiling '{function}'")))?;
        let keep = match source {
            // A module kept in memory is a body alone (`Keep::Copy`).
            KeptIr::Module(_) => Keep::Reused {
                module: *index,
                body: body.clone(),
            },
            KeptIr::Bitcode(_) => Keep::Copy,
        };
        Ok((module, *ir_level, keep))
    }

    /// Links the new body's input, which defines its version, and makes
    /// every later call of its function run it. Returns the new code's
    /// address.
    pub(crate) fn replace_body(&mut self, body: NewBody<'_>, binding: Binding<'_>) -> Result<u64> {
        let inputs = vec![body.input];
        self.check_resolved(&inputs, binding.callbacks)?;
        let plan = BatchPlan {
            level: body.level,
            ..BatchPlan::default()
        };
        let code = self.link(inputs, binding, plan)?;
        self.point_to(body.function, body.version, code)
    }

    /// The kept IR of `function`'s current body: as bitcode, the body's
    /// name in it and the level it is optimized at.
    pub(crate) fn body_source(&self, function: &str) -> Option<(Bitcode, String, Option<u8>)> {
        let (index, body) = self.linked.bodies.get(function)?;
        let (kept, ir_level) = &self.linked.modules[*index];
        Some((kept.to_bitcode(), body.clone(), *ir_level))
    }

    /// Where `function`'s current body's IR is kept: which module, and the
    /// body's name there. Every swap changes it.
    pub(crate) fn body_location(&self, function: &str) -> Option<&(usize, String)> {
        self.linked.bodies.get(function)
    }

    /// Adds `compiled`, a new body of `function` compiled elsewhere (on a
    /// background thread), and makes every later call run it. Returns the
    /// new code's address.
    pub(crate) fn install_body(&mut self, function: &str, compiled: CompiledBody) -> Result<u64> {
        let CompiledBody {
            version,
            object,
            kept,
            ir_level,
            signature,
        } = compiled;
        let tracker = self
            .jit
            .add_object(object)
            .map_err(Error::llvm(format!("adding the new body of '{function}'")))?;
        let symbols = vec![version.clone()];
        let function_entry = (version.clone(), signature, Some(version.clone()));
        let module = self.linked.record(
            KeptIr::Bitcode(kept),
            ir_level,
            std::iter::once(function_entry),
            &symbols,
        );
        let code = BatchCode {
            tracker,
            symbols,
            module,
        };
        self.point_to(function, &version, Some(code))
    }

    /// Points `function`'s entry at its new body `version`, linked as
    /// `code`, and records the swap. Returns the new code's address.
    fn point_to(&mut self, function: &str, version: &str, code: Option<BatchCode>) -> Result<u64> {
        let entry = self.lookup(function)?;
        let body = self
            .jit
            .lookup(version)
            .map_err(Error::llvm(format!("looking up '{version}'")))?;
        self.jit
            .redirect(entry, body)
            .map_err(Error::llvm(format!("redirecting '{function}'")))?;
        let linked = &mut self.linked;
        linked.uncompiled.remove(function);
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
                .insert(code.module, (version.to_string(), code.tracker));
        }
        if let Some((old_module, _)) = old_body {
            if let Some((old_version, tracker)) = linked.swapped_in.remove(&old_module) {
                // Only a current body is recompiled.
                linked.modules[old_module] = Default::default();
                linked
                    .superseded
                    .entry(function.to_string())
                    .or_default()
                    .push((old_version, old_module, tracker));
            }
        }
        Ok(body)
    }

    /// Frees the code of `function`'s replaced bodies that a swap compiled
    /// alone; returns how many. The caller knows no thread runs them.
    pub(crate) fn reclaim(&mut self, function: &str) -> Result<usize> {
        let linked = &mut self.linked;
        if !linked.functions.contains_key(function) {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        }
        let bodies = linked.superseded.remove(function).unwrap_or_default();
        let count = bodies.len();
        for (body, module, tracker) in bodies {
            tracker
                .remove()
                .map_err(Error::llvm(format!("reclaiming '{body}'")))?;
            linked.symbols.remove(&body);
            linked.functions.remove(&body);
            linked.bodies.remove(&body);
            linked.addresses.remove(&body);
            linked.modules[module] = Default::default();
        }
        Ok(count)
    }

    /// The linked functions whose bodies inlined `function`'s code.
    pub(crate) fn dependents_of(&self, function: &str) -> Vec<Dependent> {
        self.linked
            .dependents
            .get(function)
            .cloned()
            .unwrap_or_default()
    }

    /// A module whose one function, `version`, is `dependent`'s body
    /// compiled from its IR as it was before the engine's pipeline ran: it
    /// calls the functions that pipeline inlined into it.
    pub(crate) fn unoptimized_body(&self, dependent: &Dependent, version: &str) -> Result<Module> {
        let linked_name = |name: &str| {
            let linked = promoted_name(name.as_bytes(), &dependent.batch_suffix, ANONYMOUS_PREFIX)?;
            self.defines(&linked).then_some(linked)
        };
        dependent
            .unoptimized
            .extract_unoptimized(
                &self.context,
                &dependent.name_in_source,
                version,
                &linked_name,
            )
            .map_err(Error::llvm(format!(
                "compiling '{}' again without the code it inlined",
                dependent.function
            )))
    }

    /// Forgets what `function`'s body inlined: it has a new one.
    pub(crate) fn forget_inlining_in(&mut self, function: &str) {
        self.linked.dependents.retain(|_, dependents| {
            dependents.retain(|dependent| dependent.function != function);
            !dependents.is_empty()
        });
    }

    /// [`reclaim`](Self::reclaim) for every function that has earlier
    /// bodies.
    pub(crate) fn reclaim_all(&mut self) -> Result<usize> {
        let functions: Vec<String> = self.linked.superseded.keys().cloned().collect();
        let mut count = 0;
        for function in functions {
            count += self.reclaim(&function)?;
        }
        Ok(count)
    }
}

#[cfg(test)]
impl Linker {
    /// Where `function`'s current body's IR is kept in memory (the module's
    /// address), or `None` for bitcode.
    pub(crate) fn kept_module(&self, function: &str) -> Option<usize> {
        let (index, _) = self.linked.bodies.get(function)?;
        match &self.linked.modules[*index].0 {
            KeptIr::Module(module) => Some(module.raw() as usize),
            KeptIr::Bitcode(_) => None,
        }
    }

    /// How many kept IRs are modules in memory.
    pub(crate) fn modules_in_memory(&self) -> usize {
        let in_memory = |(kept, _): &&(KeptIr, _)| matches!(kept, KeptIr::Module(_));
        self.linked.modules.iter().filter(in_memory).count()
    }
}

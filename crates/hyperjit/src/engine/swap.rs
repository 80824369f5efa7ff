//! Hot swap: recompiling a function at another level or replacing its body
//! while the program runs. The new body is compiled on its own and the
//! function's patchable entry is pointed at it (the linker's `swap.rs`), so
//! every later call — from JIT'd code, through old pointers, from the host —
//! runs the new code, while calls already running finish in the old.

use super::plan::{plan, Unit};
use super::{Core, Engine, State};
use crate::compile::{optimize_for, Prepared, Source};
use crate::error::{Error, Result};
use crate::link::{glue, Binding, Input, Keep, NewBody};
use crate::runtime;
use std::path::Path;
use std::time::Instant;

impl Engine {
    /// Recompiles `function` at `opt_level` (0..=3: the IR pipeline and the
    /// code generator); every later call — from JIT'd code, through function
    /// pointers taken earlier, from the host — runs the new code. Calls
    /// already running finish in the old code, which stays mapped.
    pub fn recompile(&self, function: &str, opt_level: u8) -> Result<()> {
        self.core.recompile(function, opt_level)
    }

    /// Replaces `function`'s body with the one `path` (.c, .ll or .bc)
    /// defines. Its type must be the same; other functions the file defines
    /// are added (they must be new). Later calls run the new body, as for
    /// [`recompile`](Self::recompile).
    pub fn redefine(&self, function: &str, path: impl AsRef<Path>) -> Result<()> {
        self.core.redefine(function, self.core.read(path.as_ref())?)
    }

    /// [`redefine`](Self::redefine) with the new body in IR held in memory
    /// (text or bitcode), named `name` in messages: a runtime that
    /// generates code swaps it without a temporary file.
    pub fn redefine_ir(&self, function: &str, name: &str, ir: impl AsRef<[u8]>) -> Result<()> {
        self.core
            .redefine(function, Source::in_memory(name, ir.as_ref()))
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
        self.core.lock().linker.reclaim(function)
    }

    /// [`reclaim`](Self::reclaim) for every function swapped so far: how
    /// many earlier bodies were freed.
    ///
    /// # Safety
    /// No thread may be running an earlier body of any function.
    pub unsafe fn reclaim_all(&self) -> Result<usize> {
        self.core.lock().linker.reclaim_all()
    }
}

impl Core {
    /// Recompiles `function`'s current body at `opt_level` (IR pipeline and
    /// code generator) and makes every later call run the new code.
    pub(super) fn recompile(&self, function: &str, opt_level: u8) -> Result<()> {
        if opt_level > 3 {
            return Err(Error::InvalidSetting(format!(
                "opt level {opt_level} is out of range 0..=3"
            )));
        }
        let mut state = self.lock();
        self.link_pending_for(&mut state, function)?;
        if state.linker.is_uncompiled(function) {
            self.compile_uncompiled(&mut state, function)?;
        }
        let version = glue::body_version(function, self.next_version());
        let (mut module, ir_level, keep) = state.linker.extract_body(function, &version)?;
        let file = format!("<recompiled {function}>");
        let build = plan(
            Unit::Recompile { opt_level },
            self.tiering.is_some(),
            self.config.opt_level,
        );
        // Tiered: live at the baseline now, at `opt_level` from the
        // background soon; else optimized now.
        let input = if build.tier_up_to.is_some() {
            Input::new(file, module, ir_level).kept_as(keep)
        } else {
            let source_level = ir_level;
            let ir_level = optimize_for(state.linker.codegen(), &mut module, ir_level, opt_level)
                .map_err(Error::llvm(format!("recompiling '{function}'")))?;
            // Optimized now: what is kept is the optimized IR, as for any
            // swap, so the next recompile need not optimize it again.
            let keep = if ir_level == source_level {
                keep
            } else {
                Keep::Copy
            };
            Input::new(file, module, ir_level).kept_as(keep)
        };
        self.replace_body(
            &mut state,
            NewBody {
                function,
                version: &version,
                input,
                level: build.level,
            },
        )?;
        self.request_tier_up(function, build.tier_up_to);
        Ok(())
    }

    /// Replaces `function`'s body with the one defined in `path` (.ll, .bc
    /// or .c); the types must match. Every later call runs the new code.
    pub(super) fn redefine(&self, function: &str, source: Source) -> Result<()> {
        self.vet(&source)?;
        let file = source.file.clone();
        let mut state = self.lock();
        self.link_pending_for(&mut state, function)?;
        let Some(expected) = state.linker.swappable_signature(function).cloned() else {
            return Err(Error::UnknownSymbol {
                name: function.to_string(),
            });
        };
        // What the pipeline inlined in the new body is its own: it is
        // linked alone, and what it inlined is not swapped through it.
        let Prepared {
            mut module,
            ir_level,
            ..
        } = self.prepare(&mut state, &source)?;
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
        // Compiled before the swap: one that cannot be leaves the old body.
        let dependents = self.without_inlined(&mut state, function)?;
        let version = glue::body_version(function, self.next_version());
        module
            .rename_function(function, &version)
            .map_err(Error::llvm(file.clone()))?;
        // A body alone is likely swapped again: kept in memory.
        let input = Input::new(file, module, ir_level).kept_as(Keep::Copy);
        let tiered = self.tiering.is_some();
        let build = plan(Unit::Redefinition, tiered, self.config.opt_level);
        // Tiered: live at the baseline now, optimized from the background.
        self.replace_body(
            &mut state,
            NewBody {
                function,
                version: &version,
                input,
                level: build.level,
            },
        )?;
        self.request_tier_up(function, build.tier_up_to);
        for (dependent, version, input) in dependents {
            let level = plan(Unit::InliningCaller, tiered, self.config.opt_level).level;
            self.replace_body(
                &mut state,
                NewBody {
                    function: &dependent,
                    version: &version,
                    input,
                    level,
                },
            )?;
            state.linker.forget_inlining_in(&dependent);
            state.stats.recompiled_for_inlining += 1;
        }
        Ok(())
    }

    /// New bodies, compiled at the engine's level from their IR before
    /// the engine's pipeline inlined `function` into them, of the functions
    /// that did: each with its version and its input, to be swapped in
    /// with `function`'s new body.
    fn without_inlined(
        &self,
        state: &mut State,
        function: &str,
    ) -> Result<Vec<(String, String, Input)>> {
        let level = self.config.opt_level;
        let mut replacements = Vec::new();
        for dependent in state.linker.dependents_of(function) {
            // Gone since (a reclaimed batch cannot be; a name redefined as
            // something else can): nothing to replace.
            if state
                .linker
                .swappable_signature(&dependent.function)
                .is_none()
            {
                continue;
            }
            let version = glue::body_version(&dependent.function, self.next_version());
            let mut module = state.linker.unoptimized_body(&dependent, &version)?;
            let file = format!("<{} without the code of {function}>", dependent.function);
            let ir_level = optimize_for(state.linker.codegen(), &mut module, Some(0), level)
                .map_err(Error::llvm(file.clone()))?;
            let input = Input::new(file, module, ir_level).kept_as(Keep::Copy);
            replacements.push((dependent.function, version, input));
        }
        Ok(replacements)
    }

    /// Asks the tier thread to recompile `function` at `level`, if the plan
    /// says so.
    fn request_tier_up(&self, function: &str, level: Option<u8>) {
        if let (Some(tiering), Some(level)) = (&self.tiering, level) {
            tiering.request(self, function, level);
        }
    }

    /// Links a new body and points its function at it; the time counts as
    /// code generation and linking. Returns the new code's address.
    pub(super) fn replace_body(&self, state: &mut State, body: NewBody<'_>) -> Result<u64> {
        let _phase = runtime::Phase::enter(&format!("compiling {}", body.function));
        let started = Instant::now();
        let glue = self.glue();
        let binding = Binding {
            callbacks: &self.callbacks,
            glue: &glue,
        };
        let result = state.linker.replace_body(body, binding);
        state.stats.codegen_link += started.elapsed();
        result
    }
}

#[cfg(test)]
mod tests {
    use crate::link::Linker;
    use crate::Engine;

    const PROGRAM: &str = "\
define i64 @step(i64 %x) {
  %r = add i64 %x, 1
  ret i64 %r
}
define i64 @twice(i64 %x) {
  %r = mul i64 %x, 2
  ret i64 %r
}
";

    fn engine(cache: Option<&std::path::Path>) -> Engine {
        let mut builder = Engine::builder().opt_level(2);
        if let Some(dir) = cache {
            builder = builder.cache(dir);
        }
        let engine = builder.build().unwrap();
        engine.add_ir("program.ll", PROGRAM).unwrap();
        engine.lookup("step").unwrap();
        engine
    }

    fn kept_module(engine: &Engine, function: &str) -> Option<usize> {
        engine.with_linker(|linker| linker.kept_module(function))
    }

    /// A function's first swap reads its batch's bitcode and keeps the body
    /// in memory; later recompiles copy that module and pass it on, so no
    /// bitcode is read or written and no module is left behind.
    #[test]
    fn a_swapped_body_keeps_its_ir_in_memory_and_passes_it_on() {
        let engine = engine(None);
        assert_eq!(kept_module(&engine, "step"), None, "a batch keeps bitcode");
        engine.recompile("step", 2).unwrap();
        let kept = kept_module(&engine, "step").expect("the first swap keeps a module");
        for level in [2, 0, 1] {
            engine.recompile("step", level).unwrap();
            assert_eq!(kept_module(&engine, "step"), Some(kept), "passed on");
        }
        // Optimized further: the newly optimized IR is kept instead.
        engine.recompile("step", 3).unwrap();
        let optimized = kept_module(&engine, "step").expect("kept in memory");
        assert_ne!(optimized, kept);
        engine.recompile("step", 3).unwrap();
        assert_eq!(kept_module(&engine, "step"), Some(optimized), "passed on");
        assert_eq!(engine.with_linker(Linker::modules_in_memory), 1);
        let step = engine.lookup_fn::<extern "C" fn(i64) -> i64>("step");
        assert_eq!(step.unwrap().call(41).unwrap(), 42);

        // A redefining file that defines only the body keeps it in memory
        // (and the replaced body's module goes); one with more keeps
        // bitcode.
        let dir = tempfile::tempdir().unwrap();
        let alone = dir.path().join("alone.ll");
        std::fs::write(&alone, "define i64 @step(i64 %x) {\n  ret i64 %x\n}\n").unwrap();
        engine.redefine("step", &alone).unwrap();
        let redefined = kept_module(&engine, "step").expect("a body alone, in memory");
        assert_ne!(redefined, kept);
        assert_eq!(engine.with_linker(Linker::modules_in_memory), 1);
        let with_more = dir.path().join("with_more.ll");
        std::fs::write(
            &with_more,
            "define i64 @step(i64 %x) {\n  ret i64 7\n}\n\
             define i64 @seven() {\n  ret i64 7\n}\n",
        )
        .unwrap();
        engine.redefine("step", &with_more).unwrap();
        assert_eq!(kept_module(&engine, "step"), None);
        // A static helper is a body of its own too.
        let with_helper = dir.path().join("with_helper.ll");
        std::fs::write(
            &with_helper,
            "define internal i64 @helper(i64 %x) {\n  ret i64 7\n}\n\
             define i64 @step(i64 %x) {\n  %r = call i64 @helper(i64 %x)\n  ret i64 %r\n}\n",
        )
        .unwrap();
        engine.redefine("step", &with_helper).unwrap();
        assert_eq!(kept_module(&engine, "step"), None);
        engine.recompile("step", 2).unwrap();
        let step = engine.lookup_fn::<extern "C" fn(i64) -> i64>("step");
        assert_eq!(step.unwrap().call(1).unwrap(), 7);
        assert_eq!(kept_module(&engine, "twice"), None, "never swapped");
    }

    /// With an object cache, swaps keep bitcode: the cache's keys are made
    /// of it.
    #[test]
    fn with_a_cache_swapped_bodies_keep_bitcode() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(Some(dir.path()));
        engine.recompile("step", 1).unwrap();
        engine.recompile("step", 2).unwrap();
        assert_eq!(kept_module(&engine, "step"), None);
        assert_eq!(engine.with_linker(Linker::modules_in_memory), 0);
        let step = engine.lookup_fn::<extern "C" fn(i64) -> i64>("step");
        assert_eq!(step.unwrap().call(1).unwrap(), 2);
    }
}

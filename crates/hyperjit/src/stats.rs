//! Where an engine's time went, phase by phase (`hyperjit run --stats`).

use std::fmt;
use std::time::Duration;

/// Cumulative phase times and counts of one engine.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Compiling `.c` inputs to bitcode with clang.
    pub clang: Duration,
    /// Parsing and verifying IR and bitcode.
    pub parse: Duration,
    /// Running LLVM's IR optimization pipeline on unoptimized inputs.
    pub optimize: Duration,
    /// Linking modules, generating machine code and JIT-linking it.
    pub codegen_link: Duration,
    /// Of `codegen_link`: LLVM's code generation passes (instruction
    /// selection to object code) for links, first calls and swaps; not
    /// the background compiler's (tier-ups).
    pub code_generation: Duration,
    /// Running guest code: constructors, the entry function, exit handlers
    /// and destructors.
    pub run: Duration,
    /// How many input modules hyperjit optimized (see the crate docs for
    /// the rule).
    pub modules_optimized: usize,
    /// How many input modules were added.
    pub modules: usize,
    /// For each input module, whether the IR pipeline ran on it and why.
    pub optimization_decisions: Vec<OptimizationDecision>,
    /// IR instructions of the optimized modules before optimization.
    pub instructions_before_optimization: usize,
    /// The same modules' IR instructions after optimization.
    pub instructions_after_optimization: usize,
    /// Functions compiled on their first call (lazy compilation).
    pub functions_compiled_lazily: usize,
    /// Functions of lazily linked code that have not been called yet.
    pub functions_not_compiled: usize,
    /// Of those, how many have bodies never even read from their bitcode
    /// (a lazy engine reads a body when it compiles it).
    pub functions_not_read: usize,
    /// Bodies compiled again, without the old code, because a function
    /// the engine's IR pipeline had inlined into them was redefined.
    pub recompiled_for_inlining: usize,
    /// Functions recompiled at the engine's level because they were hot
    /// (tiered compilation), in order.
    pub tier_ups: Vec<TierUp>,
    /// Objects loaded from the object cache instead of compiled.
    pub objects_from_cache: u64,
    /// Objects compiled and stored in the object cache.
    pub objects_cached: u64,
    /// Programs loaded from the object cache whole, with their linked IR
    /// and tables, without parsing their inputs (the warm start of a
    /// program an eager run compiled before).
    pub images_from_cache: u64,
    /// Bytes of memory committed for JIT'd code and data now.
    pub jit_memory: usize,
    /// Per-callback calls and time, when the engine counts them
    /// ([`EngineBuilder::count_callback_calls`](crate::EngineBuilder::count_callback_calls)).
    pub callbacks: Vec<CallbackStats>,
}

/// Per-callback call counts and time (with `--stats`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackStats {
    /// The callback's name.
    pub name: String,
    /// How many times the guest called it.
    pub calls: u64,
    /// Total time spent in it.
    pub total: Duration,
}

/// Whether hyperjit optimized an input's IR, and why (the rule of
/// [`IrOptimization`](crate::IrOptimization)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OptimizationDecision {
    /// The input.
    pub file: String,
    /// Whether the IR pipeline ran on it.
    pub optimized: bool,
    /// Why: what it was compiled by, the setting, or what its IR holds.
    pub reason: String,
}

/// A function tiered compilation found hot and recompiled.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TierUp {
    /// The function.
    pub function: String,
    /// Its calls and loop iterations in the baseline code when found hot;
    /// `None` for a tier-up a swap asked for (it went live at the baseline,
    /// to be optimized at once, hot or not).
    pub count: Option<u64>,
    /// When the optimized body went live, since the engine was built.
    pub at: Duration,
    /// How long its compilation took (on the background thread).
    pub compile_time: Duration,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let total = self.clang + self.parse + self.optimize + self.codegen_link + self.run;
        writeln!(f, "phase            time (ms)")?;
        writeln!(f, "clang            {:>9.3}", ms(self.clang))?;
        writeln!(f, "parse            {:>9.3}", ms(self.parse))?;
        write!(
            f,
            "optimize         {:>9.3}  ({} of {} modules)",
            ms(self.optimize),
            self.modules_optimized,
            self.modules
        )?;
        if self.modules_optimized > 0 {
            write!(
                f,
                " {} -> {} IR instructions",
                self.instructions_before_optimization, self.instructions_after_optimization
            )?;
        }
        writeln!(f)?;
        for decision in &self.optimization_decisions {
            let verdict = if decision.optimized {
                "optimized"
            } else {
                "not optimized"
            };
            writeln!(f, "  {}: {verdict}: {}", decision.file, decision.reason)?;
        }
        write!(
            f,
            "codegen+link     {:>9.3}  (LLVM's code generation {:.3})",
            ms(self.codegen_link),
            ms(self.code_generation)
        )?;
        if self.functions_compiled_lazily + self.functions_not_compiled > 0 {
            write!(
                f,
                " (lazy: {} functions compiled on first call, {} never called, {} never read)",
                self.functions_compiled_lazily,
                self.functions_not_compiled,
                self.functions_not_read
            )?;
        }
        writeln!(f)?;
        writeln!(f, "run              {:>9.3}", ms(self.run))?;
        writeln!(f, "total            {:>9.3}", ms(total))?;
        write!(f, "JIT'd code+data  {:>9} KiB", self.jit_memory / 1024)?;
        if self.recompiled_for_inlining > 0 {
            write!(
                f,
                "\nswaps            {} callers that had inlined a redefined function compiled again",
                self.recompiled_for_inlining
            )?;
        }
        if self.objects_from_cache + self.objects_cached > 0 {
            write!(
                f,
                "\ncache            {} objects loaded, {} compiled and stored",
                self.objects_from_cache, self.objects_cached
            )?;
            if self.images_from_cache > 0 {
                write!(f, " (the program from its image: nothing parsed)")?;
            }
        }
        if !self.tier_ups.is_empty() {
            write!(
                f,
                "\ntiered up                      count     at (ms)  compile (ms)"
            )?;
            for tier_up in &self.tier_ups {
                let count = tier_up
                    .count
                    .map_or_else(|| "requested".to_string(), |count| count.to_string());
                write!(
                    f,
                    "\n{:<26} {:>10} {:>11.3} {:>13.3}",
                    tier_up.function,
                    count,
                    ms(tier_up.at),
                    ms(tier_up.compile_time)
                )?;
            }
        }
        if !self.callbacks.is_empty() {
            write!(
                f,
                "\ncallback                              calls   time (ms)"
            )?;
            for callback in &self.callbacks {
                write!(
                    f,
                    "\n{:<32} {:>10} {:>11.3}",
                    callback.name,
                    callback.calls,
                    ms(callback.total)
                )?;
            }
        }
        Ok(())
    }
}

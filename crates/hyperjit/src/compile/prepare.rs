//! Preparing an input for linking: parse, verify, check and set the target,
//! and apply the IR optimization rule ([`IrOptimization`]): unoptimized IR is
//! optimized at the engine's level, optimized IR is left as it is.

use super::{Codegen, Inlining, Source};
use crate::error::{Error, Result};
use crate::llvm::{Context, Module};
use crate::runtime;
use crate::stats::{OptimizationDecision, Stats};
use std::sync::Arc;
use std::time::Instant;

/// When hyperjit runs LLVM's IR optimization pipeline on an input.
///
/// Re-optimizing optimized IR costs much and gains little (on the sqlite
/// amalgamation, `opt -O2` alone takes longer than `lli` takes to run the
/// program), so by default hyperjit optimizes only what was not optimized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IrOptimization {
    /// Optimize `.ll`/`.bc` inputs that hold unoptimized code when the opt
    /// level is above 0: functions marked `optnone`, as clang's `-O0` marks
    /// all of them (the marks are dropped first), or functions that spill
    /// locals `mem2reg` would promote, as a language front end emits them
    /// (all functions are looked at; of bitcode read lazily, a sample of 8
    /// bodies). `.c` inputs are compiled by clang at the engine's level and
    /// never optimized twice. [`Stats::optimization_decisions`] says why
    /// each input was or was not optimized.
    ///
    /// [`Stats::optimization_decisions`]: crate::Stats::optimization_decisions
    #[default]
    Auto,
    /// Optimize every `.ll`/`.bc` input when the opt level is above 0.
    Always,
    /// Never run the IR pipeline; the level still applies to code generation.
    Never,
}

/// An input ready to link.
pub(crate) struct Prepared {
    pub(crate) module: Module,
    /// The level its IR is optimized at, if known (0: not optimized).
    pub(crate) ir_level: Option<u8>,
    /// What the engine's IR pipeline inlined, if it ran and did.
    pub(crate) inlining: Option<Inlining>,
}

/// How inputs are prepared: the engine's settings.
pub(crate) struct PrepareOptions<'a> {
    /// When the IR pipeline runs.
    pub(crate) ir_optimization: IrOptimization,
    /// Leave bitcode's function bodies to be read when each is compiled (a
    /// lazy run compiles a function on its first call): a body never called
    /// is never read, and it is verified when it is read.
    pub(crate) lazily: bool,
    /// Ifuncs become functions keeping their target in `NAME{suffix}`.
    pub(crate) ifunc_suffix: &'a str,
    /// Refuse inline assembly (the symbol policy's allow list).
    pub(crate) refuse_inline_assembly: bool,
}

/// Parses, verifies, targets and (by the IR rule) optimizes `source` at the
/// engine's level, as `options` say, counting the work in `stats`.
pub(crate) fn prepare(
    context: &Arc<Context>,
    codegen: &mut Codegen,
    source: &Source,
    options: &PrepareOptions<'_>,
    stats: &mut Stats,
) -> Result<Prepared> {
    let file = &source.file;
    let _phase = runtime::Phase::enter(&format!("reading {file}"));
    let started = Instant::now();
    let mut module = read_for_target(context, codegen, source, options)?;
    stats.parse += started.elapsed();
    stats.modules += 1;

    let level = codegen.level();
    let Decision {
        optimize,
        spills,
        reason,
    } = decide_optimization(&mut module, source, options, level).map_err(invalid_ir(file))?;
    stats.optimization_decisions.push(OptimizationDecision {
        file: file.clone(),
        optimized: optimize,
        reason,
    });
    let inlining = if optimize {
        optimize_module(codegen, &mut module, file, stats)?
    } else {
        None
    };
    let ir_level = if source.optimized_by_clang || optimize {
        Some(level)
    } else if module.count_optnone_functions() > 0 || spills {
        Some(0)
    } else {
        None // given optimized, at a level we do not know
    };
    Ok(Prepared {
        module,
        ir_level,
        inlining,
    })
}

/// How an error of the verifier about `file` is reported.
fn invalid_ir(file: &str) -> impl Fn(String) -> Error + '_ {
    move |message| Error::InvalidIr {
        file: file.to_string(),
        message,
    }
}

/// `source` parsed (or read lazily) and verified, checked against the
/// host's target and what the engine refuses, and retargeted to it.
fn read_for_target(
    context: &Arc<Context>,
    codegen: &mut Codegen,
    source: &Source,
    options: &PrepareOptions<'_>,
) -> Result<Module> {
    let file = &source.file;
    let unsupported = |message| Error::Unsupported {
        file: file.clone(),
        message,
    };
    let mut module = if options.lazily {
        Module::read_lazily(context, file, &source.bytes)
    } else {
        Module::parse(context, file, &source.bytes)
    }
    .map_err(|message| Error::Parse {
        file: file.clone(),
        message,
    })?;
    module.verify().map_err(invalid_ir(file))?;
    let unlinkable = module.unlinkable_names();
    if !unlinkable.is_empty() {
        return Err(unsupported(format!(
            "symbol names an object file cannot hold (a NUL byte, or not UTF-8): '{}'",
            unlinkable.join("', '")
        )));
    }
    check_target(&module, codegen, file)?;
    codegen
        .retarget(&mut module)
        .map_err(Error::llvm(file.clone()))?;
    module.clear_dso_local_declarations();
    module
        .lower_ifuncs(options.ifunc_suffix)
        .map_err(unsupported)?;
    if options.refuse_inline_assembly {
        if let Some(place) = module.inline_assembly().map_err(invalid_ir(file))? {
            return Err(Error::Denied {
                file: file.clone(),
                what: format!("inline assembly (in {place})"),
            });
        }
    }
    let refusals = codegen.refusals(&module);
    if !refusals.is_empty() {
        return Err(unsupported(refusals.join("; ")));
    }
    Ok(module)
}

/// Refuses a module for another architecture or data layout than the
/// host's.
fn check_target(module: &Module, codegen: &Codegen, file: &str) -> Result<()> {
    let triple = module.target_triple();
    let host = codegen.triple().to_string();
    if !triple.is_empty() && triple.split('-').next() != host.split('-').next() {
        return Err(Error::TargetMismatch {
            file: file.to_string(),
            found: triple,
            host,
        });
    }
    let difference = module
        .data_layout_difference(codegen.data_layout())
        .map_err(Error::llvm(file.to_string()))?;
    if let Some(difference) = difference {
        return Err(Error::DataLayoutMismatch {
            file: file.to_string(),
            found: module.data_layout(),
            difference,
        });
    }
    Ok(())
}

/// Runs the IR pipeline on `module` at the engine's level. Returns what it
/// inlined, with the IR from before, if any function lost a direct call.
fn optimize_module(
    codegen: &mut Codegen,
    module: &mut Module,
    file: &str,
    stats: &mut Stats,
) -> Result<Option<Inlining>> {
    let started = Instant::now();
    module.materialize_all().map_err(invalid_ir(file))?;
    stats.instructions_before_optimization += module.instruction_count();
    // Kept in case the pipeline inlines a function that is swapped later:
    // its callers are compiled again from this.
    let calls_before = module.direct_calls();
    let unoptimized = calls_before
        .iter()
        .any(|function| !function.callees.is_empty())
        .then(|| module.to_bitcode());
    module.strip_optnone();
    let level = codegen.level();
    codegen
        .optimize(module, level)
        .map_err(Error::llvm(format!("{file}: optimizing")))?;
    let inlining = unoptimized.and_then(|unoptimized| {
        Inlining::found(&calls_before, &module.direct_calls(), unoptimized)
    });
    stats.instructions_after_optimization += module.instruction_count();
    stats.optimize += started.elapsed();
    stats.modules_optimized += 1;
    Ok(inlining)
}

/// How many bodies of a lazily read module are read to tell whether it
/// was optimized: enough to see a front end's spills, few enough to keep
/// the bodies of a large program unread.
const BODIES_SAMPLED: usize = 8;

/// Whether to run the IR pipeline on an input, and why.
struct Decision {
    optimize: bool,
    /// Its functions were seen to spill locals, as unoptimized IR does.
    spills: bool,
    reason: String,
}

/// Whether to run the IR pipeline on `module` at `level` (the rule of
/// [`IrOptimization`]), and why.
fn decide_optimization(
    module: &mut Module,
    source: &Source,
    options: &PrepareOptions<'_>,
    level: u8,
) -> Result<Decision, String> {
    let decided = |optimize: bool, reason: String| Decision {
        optimize,
        spills: false,
        reason,
    };
    if source.optimized_by_clang {
        return Ok(decided(false, format!("compiled by clang at -O{level}")));
    }
    if level == 0 {
        return Ok(decided(false, "the opt level is 0".to_string()));
    }
    match options.ir_optimization {
        IrOptimization::Always => return Ok(decided(true, "IR optimization: always".to_string())),
        IrOptimization::Never => return Ok(decided(false, "IR optimization: never".to_string())),
        IrOptimization::Auto => {}
    }
    let optnone = module.count_optnone_functions();
    if optnone > 0 {
        return Ok(decided(
            true,
            format!("{optnone} optnone functions (clang -O0)"),
        ));
    }
    let (spilling, examined) = module.count_functions_with_promotable_allocas(BODIES_SAMPLED)?;
    if spilling == 0 {
        return Ok(decided(
            false,
            format!("no optnone function, no spilled locals in {examined} functions examined: taken as optimized"),
        ));
    }
    Ok(Decision {
        optimize: true,
        spills: true,
        reason: format!(
            "{spilling} of {examined} functions examined spill locals that mem2reg would promote"
        ),
    })
}

/// Optimizes `module`, whose IR is at `ir_level`, for code generation at
/// `opt_level` — unless it is optimized at that level or above already.
/// Returns the level its IR is at afterwards.
pub(crate) fn optimize_for(
    codegen: &mut Codegen,
    module: &mut Module,
    ir_level: Option<u8>,
    opt_level: u8,
) -> Result<Option<u8>, String> {
    let optimized_enough = matches!(ir_level, Some(level) if level >= opt_level);
    if opt_level == 0 || optimized_enough {
        return Ok(ir_level);
    }
    module.strip_optnone();
    codegen.optimize(module, opt_level)?;
    Ok(Some(opt_level))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::ClangOptions;
    use std::path::Path;

    fn options(ir_optimization: IrOptimization) -> PrepareOptions<'static> {
        PrepareOptions {
            ir_optimization,
            lazily: false,
            ifunc_suffix: ".ifunc",
            refuse_inline_assembly: false,
        }
    }

    fn compute_c() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/programs/compute.c")
    }

    /// clang's `-O0` bitcode of a real program: every function `optnone`,
    /// every local in memory.
    fn unoptimized_source() -> Source {
        let mut source = Source::read(&compute_c(), &ClangOptions::default(), 0).unwrap();
        source.optimized_by_clang = false; // as if given as a .bc file
        source
    }

    /// How many allocas `main`'s body holds, in IR text.
    fn allocas_in_main(ir: &str) -> usize {
        let start = ir.find("@main(").expect("compute.c defines main");
        let body = &ir[start..];
        let end = body.find("\n}\n").unwrap_or(body.len());
        body[..end].matches(" = alloca ").count()
    }

    /// Unoptimized IR is optimized at the engine's level: `optnone` is gone,
    /// the locals of `main` (all its loops) live in registers, and there are
    /// fewer instructions; the stats say so.
    #[test]
    fn unoptimized_ir_is_optimized() {
        let context = Arc::new(Context::new());
        let source = unoptimized_source();
        let before = Module::parse(&context, "compute.bc", &source.bytes).unwrap();
        let optnone_before = before.count_optnone_functions();
        assert!(optnone_before > 0);
        assert!(allocas_in_main(&before.to_ir_string()) > 0);

        let mut codegen = Codegen::new(2).unwrap();
        let mut stats = Stats::default();
        let prepared = prepare(
            &context,
            &mut codegen,
            &source,
            &options(IrOptimization::Auto),
            &mut stats,
        )
        .unwrap();
        assert_eq!(prepared.ir_level, Some(2));
        assert_eq!(prepared.module.count_optnone_functions(), 0);
        assert_eq!(allocas_in_main(&prepared.module.to_ir_string()), 0);
        assert_eq!((stats.modules, stats.modules_optimized), (1, 1));
        assert_eq!(
            stats.instructions_before_optimization,
            before.instruction_count()
        );
        assert!(
            stats.instructions_after_optimization < stats.instructions_before_optimization,
            "{stats:?}"
        );
    }

    /// Optimized IR is not optimized again, and neither is unoptimized IR at
    /// `-O0` or under `IrOptimization::Never`: the module comes out as it
    /// went in.
    #[test]
    fn optimized_ir_is_left_as_it_is() {
        let context = Arc::new(Context::new());
        let optimized = Source::read(&compute_c(), &ClangOptions::default(), 2).unwrap();
        let as_bitcode = Source {
            bytes: optimized.bytes.clone(),
            optimized_by_clang: false,
            ..Source::in_memory("compute.O2.bc", b"")
        };
        let cases = [
            (&as_bitcode, 2, IrOptimization::Auto, None),
            (&optimized, 2, IrOptimization::Auto, Some(2)),
            (&unoptimized_source(), 0, IrOptimization::Always, Some(0)),
            (&unoptimized_source(), 2, IrOptimization::Never, Some(0)),
        ];
        for (source, level, policy, ir_level) in cases {
            let mut retargeted = Module::parse(&context, &source.file, &source.bytes).unwrap();
            let mut codegen = Codegen::new(level).unwrap();
            codegen.retarget(&mut retargeted).unwrap();
            let mut stats = Stats::default();
            let prepared =
                prepare(&context, &mut codegen, source, &options(policy), &mut stats).unwrap();
            assert_eq!(stats.modules_optimized, 0, "{policy:?} at -O{level}");
            assert_eq!(prepared.ir_level, ir_level, "{policy:?} at -O{level}");
            let unchanged = prepared.module.to_ir_string() == retargeted.to_ir_string();
            assert!(unchanged, "{policy:?} at -O{level} changed the IR");
        }
    }
}

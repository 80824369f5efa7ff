//! Tiered compilation's compiler: hot functions are recompiled at the
//! engine's level on a thread of their own, so the program keeps running
//! its baseline code meanwhile. LLVM contexts are not thread-safe, so that
//! thread has its own context and target machines, and reads the function
//! from the kept bitcode of its baseline body; what it hands back is plain
//! bytes (object code and the new body's bitcode) for the linker to add.

use super::{optimize_for, Codegen, ObjectSource};
use crate::llvm::{Bitcode, Context, FunctionSignature, Module, ObjectCode};
use crate::runtime;
use std::sync::Arc;

/// Below this many IR instructions a function with a loop is compiled at
/// the engine's level at once. It costs little, and there is no on-stack
/// replacement: a loop that runs long in a single call (a benchmark's
/// kernel, a `main` loop) would run baseline code to its end. Measured on
/// the 2-core EPYC of BENCHMARKS.md: at 200, fannkuch(11) ran 2.46 s (its
/// eager -O2 run: 2.43 s; all baseline: 2.95 s) and the sqlite program
/// started in 1.65 s (all baseline: 1.17 s; 500: 2.04 s).
const OPTIMIZE_AT_ONCE_BELOW: usize = 200;

/// Whether `function`, the one body of `module`, starts at the baseline
/// tier rather than at the engine's level.
pub(crate) fn starts_at_baseline(module: &Module, function: &str) -> bool {
    module.instruction_count() >= OPTIMIZE_AT_ONCE_BELOW
        || !module.has_loops(function).unwrap_or(false)
}

/// A function body compiled away from the engine's context.
pub(crate) struct CompiledBody {
    /// The body's symbol.
    pub(crate) version: String,
    pub(crate) object: ObjectCode,
    /// Its IR before code generation, for later recompiles.
    pub(crate) kept: Bitcode,
    /// The level its IR is optimized at.
    pub(crate) ir_level: Option<u8>,
    pub(crate) signature: FunctionSignature,
}

/// A compiler with a context of its own, for one background thread.
pub(crate) struct BackgroundCompiler {
    context: Arc<Context>,
    codegen: Codegen,
}

/// A function's body as kept: the bitcode holding it, its name there, and
/// the level its IR is optimized at.
pub(crate) struct BodySource<'a> {
    pub(crate) bitcode: &'a Bitcode,
    pub(crate) body: &'a str,
    pub(crate) ir_level: Option<u8>,
}

impl BackgroundCompiler {
    /// A compiler generating code at `level`, with objects from and to
    /// `cache` if given.
    pub(crate) fn new(
        level: u8,
        cache: Option<Arc<super::ObjectCache>>,
    ) -> Result<BackgroundCompiler, String> {
        let mut codegen = Codegen::new(level)?;
        if let Some(cache) = cache {
            codegen.use_cache(cache);
        }
        Ok(BackgroundCompiler {
            context: Arc::new(Context::new()),
            codegen,
        })
    }

    /// Compiles `source`'s body at `level`, as the new body `version`.
    pub(crate) fn compile(
        &mut self,
        source: BodySource<'_>,
        version: &str,
        level: u8,
    ) -> Result<CompiledBody, String> {
        let BodySource {
            bitcode,
            body,
            ir_level,
        } = source;
        let _phase = runtime::Phase::enter(&format!("compiling {body}"));
        let mut module = bitcode.extract_function(&self.context, body, version)?;
        let ir_level = optimize_for(&mut self.codegen, &mut module, ir_level, level)?;
        let kept = module.to_bitcode();
        let signature = module
            .function_signature(version)
            .ok_or_else(|| format!("no function '{version}' after extracting '{body}'"))?;
        let object = self
            .codegen
            .emit_cached(
                &module,
                ObjectSource::Kept {
                    bitcode: kept.bytes(),
                    counters: &[],
                },
                Some(level),
            )?
            .0;
        Ok(CompiledBody {
            version: version.to_string(),
            object,
            kept,
            ir_level,
            signature,
        })
    }
}

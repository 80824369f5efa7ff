//! Tiered compilation's compiler: hot functions are recompiled at the
//! engine's level on a thread of their own, so the program keeps running
//! its baseline code meanwhile. LLVM contexts are not thread-safe, so that
//! thread has its own context and target machines, and reads the function
//! from the kept bitcode of its baseline body; what it hands back is plain
//! bytes (object code and the new body's bitcode) for the linker to add.

use super::{optimize_for, Codegen};
use crate::llvm::{Bitcode, Context, FunctionSignature, ObjectCode};
use std::sync::Arc;

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

impl BackgroundCompiler {
    /// A compiler generating code at `level`.
    pub(crate) fn new(level: u8) -> Result<BackgroundCompiler, String> {
        Ok(BackgroundCompiler {
            context: Arc::new(Context::new()),
            codegen: Codegen::new(level)?,
        })
    }

    /// Compiles function `body` of `source` (IR at `ir_level`) at the
    /// compiler's level, as the new body `version`.
    pub(crate) fn compile(
        &mut self,
        source: &Bitcode,
        body: &str,
        version: &str,
        ir_level: Option<u8>,
    ) -> Result<CompiledBody, String> {
        let level = self.codegen.level();
        let mut module = source.extract_function(&self.context, body, version)?;
        let ir_level = optimize_for(&mut self.codegen, &mut module, ir_level, level)?;
        let kept = module.to_bitcode();
        let signature = module
            .function_signature(version)
            .ok_or_else(|| format!("no function '{version}' after extracting '{body}'"))?;
        let object = self.codegen.emit(&module, None)?;
        Ok(CompiledBody {
            version: version.to_string(),
            object,
            kept,
            ir_level,
            signature,
        })
    }
}

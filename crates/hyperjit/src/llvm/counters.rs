//! Call and loop counters for tiered compilation: a baseline body adds one
//! to a counter of the engine's at its entry and on every branch back to an
//! earlier block (a loop's back edge: clang lays a loop's header out before
//! its body), so that both a function called often and one that loops long
//! are found hot. The engine reads the counters from another thread; the
//! code only adds, with plain loads and stores (a lost count is harmless
//! and an aligned 8-byte access is atomic on x86-64).

use super::{c_string, Module};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMBasicBlockRef, LLVMBuilderRef, LLVMValueRef};
use llvm_sys::LLVMOpcode;

impl Module {
    /// Makes function `name` count its calls and loop iterations in the
    /// `u64` global `counter` (declared here; the engine defines it, so the
    /// code holds no address of this process). Returns how many places
    /// count (1 + the blocks that branch back).
    pub(crate) fn add_counter(&mut self, name: &str, counter: &str) -> Result<usize, String> {
        let function = self.named_function(name)?;
        let counter = c_string(counter)?;
        // SAFETY: `function` is null or a live function of this module; the
        // builder inserts into its live blocks, before their terminators or
        // after the entry's allocas, and is disposed here.
        unsafe {
            if function.is_null() || LLVMGetFirstBasicBlock(function).is_null() {
                return Err(format!("no body of '{name}' to count"));
            }
            let context = LLVMGetModuleContext(self.raw());
            let i64_type = LLVMInt64TypeInContext(context);
            let mut address = LLVMGetNamedGlobal(self.raw(), counter.as_ptr());
            if address.is_null() {
                address = LLVMAddGlobal(self.raw(), i64_type, counter.as_ptr());
            }
            let builder = LLVMCreateBuilderInContext(context);
            let mut blocks: Vec<LLVMBasicBlockRef> = Vec::new();
            let mut block = LLVMGetFirstBasicBlock(function);
            while !block.is_null() {
                blocks.push(block);
                block = LLVMGetNextBasicBlock(block);
            }
            let mut first = LLVMGetFirstInstruction(blocks[0]);
            while !first.is_null() && LLVMGetInstructionOpcode(first) == LLVMOpcode::LLVMAlloca {
                first = LLVMGetNextInstruction(first);
            }
            let mut sites = 0;
            if !first.is_null() {
                LLVMPositionBuilderBefore(builder, first);
                increment(builder, i64_type, address);
                sites += 1;
            }
            for (index, &block) in blocks.iter().enumerate() {
                let terminator = LLVMGetBasicBlockTerminator(block);
                if branches_back(terminator, &blocks[..=index]) {
                    LLVMPositionBuilderBefore(builder, terminator);
                    increment(builder, i64_type, address);
                    sites += 1;
                }
            }
            LLVMDisposeBuilder(builder);
            Ok(sites)
        }
    }
}

impl Module {
    /// Whether function `name` has a loop: a branch back to an earlier
    /// block (false if it has no body).
    pub(crate) fn has_loops(&self, name: &str) -> Result<bool, String> {
        let function = self.named_function(name)?;
        if function.is_null() {
            return Ok(false);
        }
        let mut blocks: Vec<LLVMBasicBlockRef> = Vec::new();
        // SAFETY: walking the blocks of a live function.
        unsafe {
            let mut block = LLVMGetFirstBasicBlock(function);
            while !block.is_null() {
                blocks.push(block);
                if branches_back(LLVMGetBasicBlockTerminator(block), &blocks) {
                    return Ok(true);
                }
                block = LLVMGetNextBasicBlock(block);
            }
        }
        Ok(false)
    }
}

/// Whether `terminator` (null: none) branches to one of `earlier`.
///
/// # Safety
/// `terminator` must be null or a live terminator instruction.
unsafe fn branches_back(terminator: LLVMValueRef, earlier: &[LLVMBasicBlockRef]) -> bool {
    if terminator.is_null() {
        return false;
    }
    // SAFETY: per this function's contract.
    unsafe {
        (0..LLVMGetNumSuccessors(terminator))
            .any(|successor| earlier.contains(&LLVMGetSuccessor(terminator, successor)))
    }
}

/// Emits `*address += 1` at the builder's position.
///
/// # Safety
/// The builder must be positioned in a live block; the types and constant
/// must belong to its context.
unsafe fn increment(
    builder: LLVMBuilderRef,
    i64_type: llvm_sys::prelude::LLVMTypeRef,
    address: LLVMValueRef,
) {
    // SAFETY: per this function's contract.
    unsafe {
        let old = LLVMBuildLoad2(builder, i64_type, address, c"".as_ptr());
        let new = LLVMBuildAdd(builder, old, LLVMConstInt(i64_type, 1, 0), c"".as_ptr());
        LLVMBuildStore(builder, new, address);
    }
}

#[cfg(test)]
mod tests {
    use crate::llvm::{Context, Module};
    use std::sync::Arc;

    /// The entry counts once, after the allocas, and so does each block
    /// that branches back; a loop-free function counts at its entry only.
    #[test]
    fn entries_and_back_edges_count() {
        let ir = r#"
define i64 @loop(i64 %n) {
entry:
  %slot = alloca i64
  store i64 0, ptr %slot
  br label %header
header:
  %i = phi i64 [ 0, %entry ], [ %next, %body ]
  %done = icmp eq i64 %i, %n
  br i1 %done, label %exit, label %body
body:
  %next = add i64 %i, 1
  br label %header
exit:
  ret i64 %i
}
define i64 @straight(i64 %x) {
  %y = add i64 %x, 1
  ret i64 %y
}
"#;
        let context = Arc::new(Context::new());
        let mut module = Module::parse(&context, "counters.ll", ir.as_bytes()).unwrap();
        assert_eq!(module.add_counter("loop", "loop.count").unwrap(), 2);
        assert_eq!(module.add_counter("straight", "straight.count").unwrap(), 1);
        module.verify().unwrap();
        let text = module.to_ir_string();
        assert!(text.contains("@loop.count = external global i64"), "{text}");
        let counted = "load i64, ptr @loop.count";
        assert_eq!(text.matches(counted).count(), 2, "{text}");
        let entry = text.find("%slot = alloca i64").unwrap();
        assert!(text[entry..].find(counted).unwrap() < text[entry..].find("store i64 0").unwrap());
        let body = text.find("body:").unwrap();
        assert!(
            text[body..].find(counted).unwrap() < text[body..].find("br label %header").unwrap()
        );
        assert_eq!(text.matches("ptr @straight.count").count(), 2, "{text}");
        assert!(module.add_counter("absent", "absent.count").is_err());
    }
}

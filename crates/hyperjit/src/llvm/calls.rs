//! Which functions of a module call which, directly: read before and after
//! the IR pipeline, it tells which calls the inliner replaced by the
//! callee's code (`compile/inlining.rs`).

use super::module::Module;
use super::values::value_name;
use llvm_sys::core::*;
use llvm_sys::prelude::LLVMValueRef;
use llvm_sys::LLVMLinkage;

/// A function defined in a module and its direct calls of functions the
/// module defines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallingFunction {
    pub(crate) name: String,
    /// Internal or private: promoted under another name when linked.
    pub(crate) internal: bool,
    /// Each callee with how many call sites call it.
    pub(crate) callees: Vec<(String, u32)>,
}

impl Module {
    /// Every defined, named function (bodies must be read) and its direct
    /// calls of other defined functions; intrinsics are neither.
    pub(crate) fn direct_calls(&self) -> Vec<CallingFunction> {
        let mut callers = Vec::new();
        for function in self.functions() {
            // SAFETY: a live function of this live module; its blocks and
            // instructions are live while the module is not changed.
            unsafe {
                if LLVMIsDeclaration(function) != 0 || LLVMGetIntrinsicID(function) != 0 {
                    continue;
                }
                let name = value_name(function);
                if name.is_empty() {
                    continue;
                }
                let mut callees: Vec<(String, u32)> = Vec::new();
                let mut block = LLVMGetFirstBasicBlock(function);
                while !block.is_null() {
                    let mut instruction = LLVMGetFirstInstruction(block);
                    while !instruction.is_null() {
                        if let Some(callee) = defined_callee(instruction) {
                            let callee = value_name(callee);
                            match callees.iter_mut().find(|(name, _)| *name == callee) {
                                Some((_, count)) => *count += 1,
                                None => callees.push((callee, 1)),
                            }
                        }
                        instruction = LLVMGetNextInstruction(instruction);
                    }
                    block = LLVMGetNextBasicBlock(block);
                }
                let internal = matches!(
                    LLVMGetLinkage(function),
                    LLVMLinkage::LLVMInternalLinkage | LLVMLinkage::LLVMPrivateLinkage
                );
                callers.push(CallingFunction {
                    name,
                    internal,
                    callees,
                });
            }
        }
        callers
    }
}

/// The defined, named function `instruction` calls directly, if it is a
/// call or invoke of one.
///
/// # Safety
/// `instruction` is a live instruction.
unsafe fn defined_callee(instruction: LLVMValueRef) -> Option<LLVMValueRef> {
    // SAFETY: per this function's contract; the called operand of a live
    // call is a live value.
    unsafe {
        if LLVMIsACallInst(instruction).is_null() && LLVMIsAInvokeInst(instruction).is_null() {
            return None;
        }
        let callee = LLVMGetCalledValue(instruction);
        let function = LLVMIsAFunction(callee);
        if function.is_null()
            || LLVMIsDeclaration(function) != 0
            || LLVMGetIntrinsicID(function) != 0
            || value_name(function).is_empty()
        {
            return None;
        }
        Some(function)
    }
}

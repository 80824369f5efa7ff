//! Lowering what a native program gets from its C runtime and the ORC C API
//! cannot give a JIT'd one: static constructor and destructor lists become
//! tables the engine calls, thread-local variables become calls of the
//! runtime's TLS helper. The names of what is created are the caller's
//! (the engine's glue owns every name it defines).

use super::values::{users, value_name};
use super::{c_string, Module};
use llvm_sys::core::*;
use llvm_sys::prelude::LLVMValueRef;
use llvm_sys::target::{LLVMABIAlignmentOfType, LLVMABISizeOfType, LLVMGetModuleDataLayout};
use llvm_sys::{LLVMLinkage, LLVMOpcode};
use std::ffi::c_uint;

impl Module {
    /// Replaces the appending list `list` (`llvm.global_ctors` or
    /// `llvm.global_dtors`) with a constant table `table` of function
    /// pointers, sorted by priority (stable, so equal priorities keep the
    /// list's order: LLVM's rule). Returns the number of entries.
    pub(crate) fn lower_structor_list(&mut self, list: &str, table: &str) -> Result<usize, String> {
        let c_list = c_string(list)?;
        let c_table = c_string(table)?;
        // SAFETY: reading the initializer of a live global; the list's
        // elements are `{ i32, ptr, ptr }` constants per the LangRef, and we
        // check the operand counts before reading them.
        unsafe {
            let global = LLVMGetNamedGlobal(self.raw(), c_list.as_ptr());
            if global.is_null() {
                return Ok(0);
            }
            let mut entries: Vec<(u64, LLVMValueRef)> = Vec::new();
            let initializer = LLVMGetInitializer(global);
            if !initializer.is_null() && LLVMIsAConstantAggregateZero(initializer).is_null() {
                let count = LLVMGetNumOperands(initializer);
                for index in 0..count.max(0) as c_uint {
                    let entry = LLVMGetOperand(initializer, index);
                    if LLVMGetNumOperands(entry) < 2 {
                        continue;
                    }
                    let priority = LLVMGetOperand(entry, 0);
                    let function = LLVMGetOperand(entry, 1);
                    if LLVMIsNull(function) != 0 || LLVMIsAConstantInt(priority).is_null() {
                        continue;
                    }
                    entries.push((LLVMConstIntGetZExtValue(priority), function));
                }
            }
            entries.sort_by_key(|&(priority, _)| priority);
            LLVMDeleteGlobal(global);
            if entries.is_empty() {
                return Ok(0);
            }
            let ptr = self.pointer_type();
            let mut functions: Vec<_> = entries.iter().map(|&(_, f)| f).collect();
            let array = LLVMConstArray2(ptr, functions.as_mut_ptr(), functions.len() as u64);
            let table_global = LLVMAddGlobal(self.raw(), LLVMTypeOf(array), c_table.as_ptr());
            LLVMSetInitializer(table_global, array);
            LLVMSetGlobalConstant(table_global, 1);
            Ok(entries.len())
        }
    }

    /// Lowers every thread-local variable to a call of `helper(control)`,
    /// where `control` is a private global `{prefix}NAME` of the runtime's
    /// TLS control type `{ i64 size, i64 align, ptr init, i64 key }` (see
    /// `runtime::TlsControl`, which owns that layout) and a non-zero
    /// initializer is copied from `{prefix}init.NAME`: the JIT linker cannot
    /// relocate ELF TLS without LLVM's ORC runtime, which the C API cannot
    /// set up. Returns the number of variables lowered.
    pub(crate) fn lower_thread_locals(
        &mut self,
        helper: &str,
        prefix: &str,
    ) -> Result<usize, String> {
        let thread_locals: Vec<LLVMValueRef> = self
            .global_variables()
            // SAFETY: `g` is a live global variable.
            .filter(|&g| unsafe { LLVMIsThreadLocal(g) } != 0)
            .collect();
        if thread_locals.is_empty() {
            return Ok(0);
        }
        // Their uses in bodies not read yet are rewritten too.
        self.materialize_all()?;
        let c_helper = c_string(helper)?;
        let ptr = self.pointer_type();
        let raw = self.raw();
        // SAFETY: all values come from this live module and its context; the
        // builder is created and disposed here; every rewritten use is
        // collected before it is changed.
        unsafe {
            let context = LLVMGetModuleContext(raw);
            let i64_type = LLVMInt64TypeInContext(context);
            let mut helper_params = [ptr];
            let helper_type = LLVMFunctionType(ptr, helper_params.as_mut_ptr(), 1, 0);
            let mut helper_fn = LLVMGetNamedFunction(raw, c_helper.as_ptr());
            if helper_fn.is_null() {
                helper_fn = LLVMAddFunction(raw, c_helper.as_ptr(), helper_type);
            }
            let layout = LLVMGetModuleDataLayout(raw);
            let mut control_fields = [i64_type, i64_type, ptr, i64_type];
            let control_type = LLVMStructTypeInContext(context, control_fields.as_mut_ptr(), 4, 0);
            let builder = LLVMCreateBuilderInContext(context);
            let result = (|| {
                for &variable in &thread_locals {
                    let name = value_name(variable);
                    if LLVMIsDeclaration(variable) != 0 {
                        if LLVMGetFirstUse(variable).is_null() {
                            continue;
                        }
                        return Err(format!(
                            "thread-local variable '{name}' is defined outside the program; \
                             hyperjit supports thread-locals the program defines"
                        ));
                    }
                    let value_type = LLVMGlobalGetValueType(variable);
                    let size = LLVMABISizeOfType(layout, value_type);
                    let align = (LLVMGetAlignment(variable))
                        .max(LLVMABIAlignmentOfType(layout, value_type))
                        .max(1);
                    let initializer = LLVMGetInitializer(variable);
                    let template = if initializer.is_null() || LLVMIsNull(initializer) != 0 {
                        LLVMConstNull(ptr)
                    } else {
                        let init_name = c_string(&format!("{prefix}init.{name}"))?;
                        let template = LLVMAddGlobal(raw, value_type, init_name.as_ptr());
                        LLVMSetInitializer(template, initializer);
                        LLVMSetGlobalConstant(template, 1);
                        LLVMSetLinkage(template, LLVMLinkage::LLVMPrivateLinkage);
                        LLVMSetAlignment(template, align);
                        template
                    };
                    let mut fields = [
                        LLVMConstInt(i64_type, size, 0),
                        LLVMConstInt(i64_type, u64::from(align), 0),
                        template,
                        LLVMConstInt(i64_type, 0, 0),
                    ];
                    let control_name = c_string(&format!("{prefix}{name}"))?;
                    let control = LLVMAddGlobal(raw, control_type, control_name.as_ptr());
                    LLVMSetInitializer(
                        control,
                        LLVMConstNamedStruct(control_type, fields.as_mut_ptr(), 4),
                    );
                    LLVMSetLinkage(control, LLVMLinkage::LLVMPrivateLinkage);
                    LLVMSetAlignment(control, 8);

                    let call_before = |instruction: LLVMValueRef| {
                        LLVMPositionBuilderBefore(builder, instruction);
                        let mut args = [control];
                        LLVMBuildCall2(
                            builder,
                            helper_type,
                            helper_fn,
                            args.as_mut_ptr(),
                            1,
                            c"".as_ptr(),
                        )
                    };
                    // Replaces `replaced` in instruction `user` with an
                    // address computed just before the use (before the
                    // incoming block's end for a phi).
                    let rewrite = |user: LLVMValueRef,
                                   replaced: LLVMValueRef,
                                   address_before: &dyn Fn(LLVMValueRef) -> LLVMValueRef| {
                        if LLVMGetInstructionOpcode(user) == LLVMOpcode::LLVMPHI {
                            for index in 0..LLVMCountIncoming(user) {
                                if LLVMGetIncomingValue(user, index) == replaced {
                                    let block = LLVMGetIncomingBlock(user, index);
                                    let address =
                                        address_before(LLVMGetBasicBlockTerminator(block));
                                    LLVMSetOperand(user, index, address);
                                }
                            }
                        } else {
                            let address = address_before(user);
                            for index in 0..LLVMGetNumOperands(user).max(0) as c_uint {
                                if LLVMGetOperand(user, index) == replaced {
                                    LLVMSetOperand(user, index, address);
                                }
                            }
                        }
                    };
                    let unsupported = || {
                        format!(
                            "thread-local variable '{name}' is used in a constant expression, \
                             which hyperjit cannot lower"
                        )
                    };
                    for user in users(variable) {
                        if !LLVMIsAConstantExpr(user).is_null() {
                            // A field's address (C++ constructs members of a
                            // thread_local object so): the same offset from
                            // this thread's copy, as an instruction.
                            if LLVMGetConstOpcode(user) != LLVMOpcode::LLVMGetElementPtr {
                                return Err(unsupported());
                            }
                            let source_type = LLVMGetGEPSourceElementType(user);
                            let in_bounds = LLVMIsInBounds(user);
                            let indices: Vec<LLVMValueRef> = (1..LLVMGetNumOperands(user))
                                .map(|index| LLVMGetOperand(user, index as c_uint))
                                .collect();
                            let field_before = |instruction: LLVMValueRef| {
                                let base = call_before(instruction);
                                let mut indices = indices.clone();
                                let field = LLVMBuildGEP2(
                                    builder,
                                    source_type,
                                    base,
                                    indices.as_mut_ptr(),
                                    indices.len() as c_uint,
                                    c"".as_ptr(),
                                );
                                LLVMSetIsInBounds(field, in_bounds);
                                field
                            };
                            for inner in users(user) {
                                if LLVMIsAInstruction(inner).is_null() {
                                    return Err(unsupported());
                                }
                                rewrite(inner, user, &field_before);
                            }
                            continue;
                        }
                        if LLVMIsAInstruction(user).is_null() {
                            return Err(unsupported());
                        }
                        let called = if LLVMIsACallInst(user).is_null() {
                            std::ptr::null_mut()
                        } else {
                            LLVMGetCalledValue(user)
                        };
                        let is_address_intrinsic = !called.is_null()
                            && LLVMIsAFunction(called) == called
                            && value_name(called).starts_with("llvm.threadlocal.address");
                        if is_address_intrinsic {
                            let address = call_before(user);
                            LLVMReplaceAllUsesWith(user, address);
                            LLVMInstructionEraseFromParent(user);
                        } else {
                            rewrite(user, variable, &call_before);
                        }
                    }
                    LLVMDeleteGlobal(variable);
                }
                Ok(())
            })();
            LLVMDisposeBuilder(builder);
            result.map(|()| thread_locals.len())
        }
    }

    /// The size and field offsets, by this module's data layout, of the
    /// struct-typed global `name` (for tests of layouts shared with C).
    #[cfg(test)]
    pub(crate) fn struct_global_layout(&self, name: &str) -> Option<(u64, Vec<u64>)> {
        let c_name = c_string(name).ok()?;
        // SAFETY: querying the type of a live global and the module's data
        // layout; field indices are below the struct's element count.
        unsafe {
            let global = LLVMGetNamedGlobal(self.raw(), c_name.as_ptr());
            if global.is_null() {
                return None;
            }
            let ty = LLVMGlobalGetValueType(global);
            let layout = LLVMGetModuleDataLayout(self.raw());
            let fields = LLVMCountStructElementTypes(ty);
            let offsets = (0..fields)
                .map(|field| llvm_sys::target::LLVMOffsetOfElement(layout, ty, field))
                .collect();
            Some((LLVMABISizeOfType(layout, ty), offsets))
        }
    }
}

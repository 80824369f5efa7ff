//! Lowering what a native program gets from its C runtime and the ORC C API
//! cannot give a JIT'd one: static constructor and destructor lists become
//! tables the engine calls, thread-local variables become calls of the
//! runtime's TLS helper, and ifuncs (which the dynamic loader resolves
//! natively) become functions that call their resolver once. The names of what is created are the caller's
//! (the engine's glue owns every name it defines).

use super::cpp::{hj_clear_dso_local, hj_is_dso_local};
use super::values::{iterate, set_value_name, users, value_name};
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

    /// Clears `dso_local` on every declaration: code compiled without
    /// `-fPIC` assumes such a symbol is linked beside it, and addresses
    /// it directly (`sym(%rip)`, a 32-bit displacement), which cannot reach
    /// a library's data (libc's `stdout`) from JIT'd memory: the program
    /// read a wild address. Without it, the address comes from a GOT entry.
    /// Returns how many declarations were changed.
    pub(crate) fn clear_dso_local_declarations(&mut self) -> usize {
        let declarations: Vec<LLVMValueRef> = self
            .functions()
            .chain(self.global_variables())
            // SAFETY: `value` is a live global value of this module.
            .filter(|&value| unsafe {
                LLVMIsDeclaration(value) != 0
                    && hj_is_dso_local(value) != 0
                    // Hidden (`__dso_handle`): the verifier wants dso_local,
                    // and it is the program's own, so near.
                    && LLVMGetVisibility(value) == llvm_sys::LLVMVisibility::LLVMDefaultVisibility
            })
            .collect();
        for &declaration in &declarations {
            // SAFETY: as above; the flag only changes how it is addressed.
            unsafe { hj_clear_dso_local(declaration) };
        }
        declarations.len()
    }

    /// Replaces every ifunc (`@f = ifunc T, ptr @resolver`, what clang's
    /// `target_clones` and `__attribute__((ifunc))` make) with a function
    /// `@f` of type `T` that calls the resolver on its first call, keeps
    /// its answer in a private global `@f{suffix}`, and tail-calls it: the
    /// dynamic loader's job natively, which RuntimeDyld does not do (it
    /// leaves the symbol undefined). Returns the number of ifuncs.
    pub(crate) fn lower_ifuncs(&mut self, suffix: &str) -> Result<usize, String> {
        let raw = self.raw();
        // SAFETY: `raw` is live; the list is collected before it changes.
        let ifuncs: Vec<LLVMValueRef> =
            unsafe { iterate(LLVMGetFirstGlobalIFunc(raw), LLVMGetNextGlobalIFunc) }.collect();
        let ptr = self.pointer_type();
        // SAFETY: all values come from this live module and its context; the
        // builder is created and disposed here; each ifunc is replaced and
        // erased once, after its uses point at the new function.
        unsafe {
            let context = LLVMGetModuleContext(raw);
            let builder = LLVMCreateBuilderInContext(context);
            let result = (|| {
                for &ifunc in &ifuncs {
                    let name = value_name(ifunc);
                    let function_type = LLVMGlobalGetValueType(ifunc);
                    if LLVMIsFunctionVarArg(function_type) != 0 {
                        return Err(format!(
                            "ifunc '{name}' is variadic; hyperjit resolves ifuncs of fixed \
                             arity only"
                        ));
                    }
                    let resolver = LLVMGetGlobalIFuncResolver(ifunc);
                    let linkage = LLVMGetLinkage(ifunc);
                    let visibility = LLVMGetVisibility(ifunc);
                    set_value_name(ifunc, &format!("{name}{suffix}.ifunc"));
                    let c_name = c_string(&name)?;
                    let function = LLVMAddFunction(raw, c_name.as_ptr(), function_type);
                    LLVMSetLinkage(function, linkage);
                    LLVMSetVisibility(function, visibility);
                    let c_slot = c_string(&format!("{name}{suffix}"))?;
                    let slot = LLVMAddGlobal(raw, ptr, c_slot.as_ptr());
                    LLVMSetInitializer(slot, LLVMConstNull(ptr));
                    LLVMSetLinkage(slot, LLVMLinkage::LLVMPrivateLinkage);

                    let entry = LLVMAppendBasicBlockInContext(context, function, c"entry".as_ptr());
                    let resolve =
                        LLVMAppendBasicBlockInContext(context, function, c"resolve".as_ptr());
                    let call = LLVMAppendBasicBlockInContext(context, function, c"call".as_ptr());
                    LLVMPositionBuilderAtEnd(builder, entry);
                    let known = LLVMBuildLoad2(builder, ptr, slot, c"known".as_ptr());
                    LLVMSetOrdering(
                        known,
                        llvm_sys::LLVMAtomicOrdering::LLVMAtomicOrderingAcquire,
                    );
                    LLVMSetAlignment(known, 8);
                    let unknown = LLVMBuildIsNull(builder, known, c"unknown".as_ptr());
                    LLVMBuildCondBr(builder, unknown, resolve, call);

                    LLVMPositionBuilderAtEnd(builder, resolve);
                    // The resolver's own type: x86-64 resolvers take
                    // nothing, but one that declares parameters gets zeros.
                    let resolver_type = LLVMGlobalGetValueType(resolver);
                    let mut resolver_args: Vec<LLVMValueRef> = {
                        let count = LLVMCountParamTypes(resolver_type) as usize;
                        let mut types = vec![std::ptr::null_mut(); count];
                        LLVMGetParamTypes(resolver_type, types.as_mut_ptr());
                        types.into_iter().map(|ty| LLVMConstNull(ty)).collect()
                    };
                    let resolved = LLVMBuildCall2(
                        builder,
                        resolver_type,
                        resolver,
                        resolver_args.as_mut_ptr(),
                        resolver_args.len() as c_uint,
                        c"resolved".as_ptr(),
                    );
                    let store = LLVMBuildStore(builder, resolved, slot);
                    LLVMSetOrdering(
                        store,
                        llvm_sys::LLVMAtomicOrdering::LLVMAtomicOrderingRelease,
                    );
                    LLVMSetAlignment(store, 8);
                    LLVMBuildBr(builder, call);

                    LLVMPositionBuilderAtEnd(builder, call);
                    let target = LLVMBuildPhi(builder, ptr, c"target".as_ptr());
                    let mut values = [known, resolved];
                    let mut blocks = [entry, resolve];
                    LLVMAddIncoming(target, values.as_mut_ptr(), blocks.as_mut_ptr(), 2);
                    let count = LLVMCountParams(function);
                    let mut args: Vec<LLVMValueRef> = (0..count)
                        .map(|index| LLVMGetParam(function, index))
                        .collect();
                    let returned = LLVMBuildCall2(
                        builder,
                        function_type,
                        target,
                        args.as_mut_ptr(),
                        count,
                        c"".as_ptr(),
                    );
                    LLVMSetTailCallKind(
                        returned,
                        llvm_sys::LLVMTailCallKind::LLVMTailCallKindMustTail,
                    );
                    if LLVMGetTypeKind(LLVMGetReturnType(function_type))
                        == llvm_sys::LLVMTypeKind::LLVMVoidTypeKind
                    {
                        LLVMBuildRetVoid(builder);
                    } else {
                        LLVMBuildRet(builder, returned);
                    }
                    LLVMReplaceAllUsesWith(ifunc, function);
                    LLVMEraseGlobalIFunc(ifunc);
                }
                Ok(ifuncs.len())
            })();
            LLVMDisposeBuilder(builder);
            result
        }
    }

    /// Lowers every thread-local variable to a call of `helper(control)`,
    /// where `control` is a private global `{prefix}NAME` of the runtime's
    /// TLS control type `{ i64 size, i64 align, ptr init, i64 key }` (see
    /// shim.c's `struct hj_tls_var`, which owns that layout; the runtime's
    /// contract test checks it) and a non-zero
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

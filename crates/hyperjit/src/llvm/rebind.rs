//! Rebinding references: making a module's uses of one symbol refer to
//! another (libc's exit functions to the runtime's, constant-name
//! `PerformCustomCallback` calls to their callback's thunk, calls of a raw
//! host symbol to its address, weak references nothing defines to null),
//! and defining the forwarders that bind a guest-visible function to a
//! runtime entry and its context.

use super::values::{constant_c_string, external_symbol, set_value_name, users};
use super::{c_string, Module};
use llvm_sys::core::*;
use std::ffi::c_uint;

impl Module {
    /// Makes every use of the declared function `from` refer to `to` instead
    /// (renaming the declaration, or merging it into an existing `to`).
    /// Does nothing if `from` is not a declaration here.
    pub(crate) fn redirect_declaration(&mut self, from: &str, to: &str) -> Result<bool, String> {
        let function = self.named_function(from)?;
        let existing = self.named_function(to)?;
        // SAFETY: both are null or live functions of this module; with opaque
        // pointers every function value has type `ptr`, so uses of one may be
        // replaced by another before the old one is deleted.
        unsafe {
            if function.is_null() || LLVMIsDeclaration(function) == 0 {
                return Ok(false);
            }
            if existing.is_null() {
                set_value_name(function, to);
            } else {
                LLVMReplaceAllUsesWith(function, existing);
                LLVMDeleteFunction(function);
            }
        }
        Ok(true)
    }

    /// Defines `name`, a function of `params` pointers returning an integer
    /// of `return_bits`, as a call of `callee` with the address of the
    /// global `context` before its own arguments, returning what `callee`
    /// returns. `callee` and `context` are declared if the module lacks
    /// them; a declaration of `name` (of any type) gives way to the
    /// definition. Built with LLVM's IR builder: parsing IR text would
    /// bring LLVM's IR parser, a few hundred kilobytes of code, into
    /// memory for three small functions.
    pub(crate) fn define_forwarder(
        &mut self,
        name: &str,
        return_bits: u32,
        params: usize,
        callee: &str,
        context: &str,
    ) -> Result<(), String> {
        let existing = self.named_function(name)?;
        // SAFETY: a non-null result is a live function of this module.
        if !existing.is_null() && unsafe { LLVMIsDeclaration(existing) } == 0 {
            return Err(format!("'{name}': symbol multiply defined"));
        }
        let mut target = self.named_function(callee)?;
        let c_callee = c_string(callee)?;
        let module = self.raw();
        // SAFETY: types, values and a builder of this live module's context;
        // with opaque pointers every function value has type `ptr`, so the
        // declaration's uses may move to the definition before it is
        // deleted; the builder is disposed here.
        unsafe {
            let llvm_context = LLVMGetModuleContext(module);
            let pointer = LLVMPointerTypeInContext(llvm_context, 0);
            let returned = LLVMIntTypeInContext(llvm_context, return_bits);
            let mut own_params = vec![pointer; params];
            let own_type = LLVMFunctionType(returned, own_params.as_mut_ptr(), params as c_uint, 0);
            let mut callee_params = vec![pointer; params + 1];
            let callee_type = LLVMFunctionType(
                returned,
                callee_params.as_mut_ptr(),
                callee_params.len() as c_uint,
                0,
            );
            if target.is_null() {
                target = LLVMAddFunction(module, c_callee.as_ptr(), callee_type);
            }
            let global = external_symbol(module, context)?;
            let forwarder = LLVMAddFunction(module, c"".as_ptr(), own_type);
            let builder = LLVMCreateBuilderInContext(llvm_context);
            LLVMPositionBuilderAtEnd(
                builder,
                LLVMAppendBasicBlockInContext(llvm_context, forwarder, c"".as_ptr()),
            );
            let mut arguments = vec![global];
            arguments.extend((0..params).map(|index| LLVMGetParam(forwarder, index as c_uint)));
            let result = LLVMBuildCall2(
                builder,
                callee_type,
                target,
                arguments.as_mut_ptr(),
                arguments.len() as c_uint,
                c"".as_ptr(),
            );
            LLVMBuildRet(builder, result);
            LLVMDisposeBuilder(builder);
            if !existing.is_null() {
                LLVMReplaceAllUsesWith(existing, forwarder);
                LLVMDeleteFunction(existing);
            }
            set_value_name(forwarder, name);
        }
        Ok(())
    }

    /// For each call of function `callee` whose first argument is a
    /// constant C string, asks `bind(string)` for another function to call
    /// instead (same type) and rebinds the call. Returns the strings bound.
    pub(crate) fn bind_constant_name_calls(
        &mut self,
        callee: &str,
        mut bind: impl FnMut(&str) -> Option<String>,
    ) -> Result<Vec<String>, String> {
        let mut bound = Vec::new();
        let function = self.named_function(callee)?;
        if function.is_null() {
            return Ok(bound);
        }
        // Its calls in bodies not read yet count too.
        self.materialize_all()?;
        // SAFETY: walking the users of a live function and rewriting the
        // callee operand (a call's last operand) of call instructions to a
        // function of the same type; users are collected first.
        unsafe {
            let function_type = LLVMGlobalGetValueType(function);
            for user in users(function) {
                if LLVMIsACallInst(user).is_null() || LLVMGetCalledValue(user) != function {
                    continue;
                }
                if LLVMGetNumArgOperands(user) == 0 {
                    continue;
                }
                let Some(name) = constant_c_string(LLVMGetOperand(user, 0)) else {
                    continue;
                };
                let Some(target) = bind(&name) else {
                    continue;
                };
                let mut replacement = self.named_function(&target)?;
                if replacement.is_null() {
                    let c_target = c_string(&target)?;
                    replacement = LLVMAddFunction(self.raw(), c_target.as_ptr(), function_type);
                }
                let callee_index = LLVMGetNumOperands(user) - 1;
                LLVMSetOperand(user, callee_index as c_uint, replacement);
                if !bound.contains(&name) {
                    bound.push(name);
                }
            }
        }
        Ok(bound)
    }

    /// Makes every call of the declared function `name` call `address`
    /// directly (as a constant), leaving other uses with the symbol.
    pub(crate) fn bind_calls_to_address(
        &mut self,
        name: &str,
        address: usize,
    ) -> Result<(), String> {
        let function = self.named_function(name)?;
        if function.is_null() {
            return Ok(());
        }
        self.materialize_all()?;
        // SAFETY: rewriting the callee operand (a call's last operand) of
        // calls of a live function to a constant pointer; users are
        // collected first.
        unsafe {
            let context = LLVMGetModuleContext(self.raw());
            let target = LLVMConstIntToPtr(
                LLVMConstInt(LLVMInt64TypeInContext(context), address as u64, 0),
                self.pointer_type(),
            );
            for user in users(function) {
                if !LLVMIsACallInst(user).is_null() && LLVMGetCalledValue(user) == function {
                    let callee_index = LLVMGetNumOperands(user) - 1;
                    LLVMSetOperand(user, callee_index as c_uint, target);
                }
            }
        }
        Ok(())
    }

    /// Replaces every use of the declared global `name` with null and
    /// deletes the declaration (a weak reference nothing defines).
    pub(crate) fn replace_with_null(&mut self, name: &str) -> Result<(), String> {
        let c_name = c_string(name)?;
        let function = self.named_function(name)?;
        // SAFETY: the value is a live declaration of this module; after RAUW
        // it has no uses and is deleted once.
        unsafe {
            let value = if function.is_null() {
                LLVMGetNamedGlobal(self.raw(), c_name.as_ptr())
            } else {
                function
            };
            if value.is_null() || LLVMIsDeclaration(value) == 0 {
                return Ok(());
            }
            LLVMReplaceAllUsesWith(value, LLVMConstNull(self.pointer_type()));
            if function.is_null() {
                LLVMDeleteGlobal(value);
            } else {
                LLVMDeleteFunction(value);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llvm::Context;
    use std::sync::Arc;

    const CALLS: &str = r#"
@.str = private unnamed_addr constant [10 x i8] c"Callback1\00"
@.other = private unnamed_addr constant [6 x i8] c"Other\00"
@buffer = global [10 x i8] zeroinitializer
declare i64 @PerformCustomCallback(ptr, ptr)
define i64 @f(ptr %args) {
  %a = call i64 @PerformCustomCallback(ptr @.str, ptr %args)
  %b = call i64 @PerformCustomCallback(ptr @.other, ptr %args)
  %c = call i64 @PerformCustomCallback(ptr @buffer, ptr %args)
  %ab = add i64 %a, %b
  %abc = add i64 %ab, %c
  ret i64 %abc
}
"#;

    /// Calls with a constant name are rebound when the code is compiled:
    /// the registered one to its thunk; an unknown constant name, and a
    /// name in a mutable buffer, stay with the run-time dispatcher.
    #[test]
    fn constant_name_calls_are_bound_at_compile_time() {
        let context = Arc::new(Context::new());
        let mut module = Module::parse(&context, "calls.ll", CALLS.as_bytes()).unwrap();
        let bound = module
            .bind_constant_name_calls("PerformCustomCallback", |name| {
                (name == "Callback1").then(|| "__hyperjit.pcc.Callback1".to_string())
            })
            .unwrap();
        assert_eq!(bound, ["Callback1"]);
        module.verify().unwrap();
        let ir = module.to_ir_string();
        assert!(
            ir.contains(r#"%a = call i64 @__hyperjit.pcc.Callback1(ptr @.str, ptr %args)"#),
            "{ir}"
        );
        assert!(
            ir.contains("%b = call i64 @PerformCustomCallback(ptr @.other"),
            "{ir}"
        );
        assert!(
            ir.contains("%c = call i64 @PerformCustomCallback(ptr @buffer"),
            "{ir}"
        );
    }

    /// A forwarder takes the place of the program's declaration (whose
    /// calls now reach it) and calls its callee with the context first; a
    /// program that defines the name itself is refused.
    #[test]
    fn forwarders_replace_declarations_and_pass_their_context() {
        let context = Arc::new(Context::new());
        let mut module = Module::parse(&context, "calls.ll", CALLS.as_bytes()).unwrap();
        module
            .define_forwarder("PerformCustomCallback", 64, 2, "dispatch", "engine")
            .unwrap();
        module.verify().unwrap();
        let ir = module.to_ir_string();
        for expected in [
            "@engine = external global i8",
            "define i64 @PerformCustomCallback(ptr %0, ptr %1) {",
            "%3 = call i64 @dispatch(ptr @engine, ptr %0, ptr %1)",
            "ret i64 %3",
            "declare i64 @dispatch(ptr, ptr, ptr)",
            "%a = call i64 @PerformCustomCallback(ptr @.str, ptr %args)",
        ] {
            assert!(ir.contains(expected), "{expected}: {ir}");
        }
        assert_eq!(
            module
                .define_forwarder("f", 64, 1, "dispatch", "engine")
                .unwrap_err(),
            "'f': symbol multiply defined"
        );
    }
}

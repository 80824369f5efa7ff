//! Rebinding references: making a module's uses of one symbol refer to
//! another (libc's exit functions to the runtime's, constant-name
//! `PerformCustomCallback` calls to their callback's thunk, calls of a raw
//! host symbol to its address, weak references nothing defines to null).

use super::values::{constant_c_string, set_value_name, users};
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
}

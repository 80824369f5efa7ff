//! What code generation cannot take, found before IR reaches it.
//!
//! The verifier accepts IR that LLVM's code generator then refuses by
//! ending the process ("LLVM ERROR: ..."): a function whose target CPU
//! LLVM does not know or whose features make it a 32-bit subtarget, a
//! global with `appending` linkage that is not one of LLVM's own arrays, a
//! scalable vector (x86-64 has none). And a global may ask for what no
//! process can give: `align 4294967296` makes LLVM write gigabytes of
//! padding into the object, and a 32 GiB zero-initialized array, free in a
//! native `.bss` until touched, is memory the JIT commits and clears. Each
//! is refused here with its name; what still slips through ends the process
//! through the fatal-error handler (`fatal.rs`).

use super::cpp::{hj_cpu_known, hj_feature_known, hj_global_alignment, hj_subtarget_supported};
use super::values::{string_attribute, value_name};
use super::{c_string, Module, TargetMachine};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMTypeRef, LLVMValueRef};
use llvm_sys::target::{LLVMABISizeOfType, LLVMGetModuleDataLayout};
use llvm_sys::{LLVMLinkage, LLVMTypeKind};
use std::collections::HashMap;

/// The largest alignment a global or function may ask for: 16 MiB, past
/// every page size but 1 GiB pages (clang allows 256 MiB, which costs
/// LLVM a gigabyte of padding and 0.7 s here).
const MAX_ALIGNMENT: u64 = 1 << 24;

/// The largest global: 4 GiB of memory the JIT commits and clears.
const MAX_GLOBAL_SIZE: u64 = 1 << 32;

/// The text of a function's string attribute `key`, if it has one.
fn attribute_text(function: LLVMValueRef, key: &str) -> Option<String> {
    // SAFETY: `function` is a live function; the attribute, if any, is
    // owned by it, and its value is copied at once.
    unsafe {
        let attribute = string_attribute(function, key);
        if attribute.is_null() {
            return None;
        }
        let mut len = 0;
        let value = LLVMGetStringAttributeValue(attribute, &mut len);
        let bytes = std::slice::from_raw_parts(value.cast::<u8>(), len as usize);
        Some(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Whether `ty` is or holds a scalable vector.
fn is_scalable(ty: LLVMTypeRef) -> bool {
    // SAFETY: `ty` is a live type; element queries match its kind.
    unsafe {
        match LLVMGetTypeKind(ty) {
            LLVMTypeKind::LLVMScalableVectorTypeKind => true,
            LLVMTypeKind::LLVMArrayTypeKind => is_scalable(LLVMGetElementType(ty)),
            LLVMTypeKind::LLVMStructTypeKind => (0..LLVMCountStructElementTypes(ty))
                .any(|index| is_scalable(LLVMStructGetTypeAtIndex(ty, index))),
            _ => false,
        }
    }
}

impl Module {
    /// Why code generation would refuse this module (each reason names its
    /// function or global), for `machine`; empty if it would not.
    pub(crate) fn codegen_refusals(&self, machine: &TargetMachine) -> Vec<String> {
        let mut reasons = Vec::new();
        // Per distinct CPU and features: sqlite's 2,000 functions share one.
        let mut subtargets: HashMap<(String, String), Result<(), String>> = HashMap::new();
        let mut tune_cpus: HashMap<String, bool> = HashMap::new();
        for function in self.functions() {
            let name = value_name(function);
            // SAFETY: a live function of this module (a global object).
            let alignment = unsafe { hj_global_alignment(function) };
            if alignment > MAX_ALIGNMENT {
                reasons.push(format!(
                    "function '{name}' asks for alignment {alignment} bytes, more than the \
                     {MAX_ALIGNMENT} hyperjit allows"
                ));
            }
            // SAFETY: a live function; its type is a function type.
            let ty = unsafe { LLVMGlobalGetValueType(function) };
            // SAFETY: as above.
            let (result, params) = unsafe {
                let count = LLVMCountParamTypes(ty) as usize;
                let mut params = vec![std::ptr::null_mut(); count];
                LLVMGetParamTypes(ty, params.as_mut_ptr());
                (LLVMGetReturnType(ty), params)
            };
            if is_scalable(result) || params.into_iter().any(is_scalable) {
                reasons.push(format!(
                    "function '{name}' passes a scalable vector, which x86-64 code cannot hold"
                ));
            }
            // LLVM warns about a tuning CPU it does not know and ignores it:
            // refused like a target CPU, before it warns.
            if let Some(tune) = attribute_text(function, "tune-cpu") {
                let known = *tune_cpus
                    .entry(tune.clone())
                    .or_insert_with(|| machine.knows_cpu(&tune));
                if !known {
                    reasons.push(format!(
                        "function '{name}' is tuned for '{tune}', which LLVM does not know"
                    ));
                }
            }
            let cpu = attribute_text(function, "target-cpu");
            let features = attribute_text(function, "target-features");
            if cpu.is_none() && features.is_none() {
                continue;
            }
            let (cpu, features) = (cpu.unwrap_or_default(), features.unwrap_or_default());
            let verdict = subtargets
                .entry((cpu.clone(), features.clone()))
                .or_insert_with(|| machine.subtarget_verdict(&cpu, &features));
            if let Err(why) = verdict {
                reasons.push(format!("function '{name}' {why}"));
            }
        }
        // SAFETY: the module is live; its layout is owned by it.
        let layout = unsafe { LLVMGetModuleDataLayout(self.raw()) };
        for global in self.global_variables() {
            let name = value_name(global);
            // SAFETY: a live global variable of this module; its value type
            // is sized (the verifier checked), and the layout is live.
            let (alignment, ty, linkage) = unsafe {
                (
                    hj_global_alignment(global),
                    LLVMGlobalGetValueType(global),
                    LLVMGetLinkage(global),
                )
            };
            if alignment > MAX_ALIGNMENT {
                reasons.push(format!(
                    "'{name}' asks for alignment {alignment} bytes, more than the \
                     {MAX_ALIGNMENT} hyperjit allows"
                ));
            }
            if linkage == LLVMLinkage::LLVMAppendingLinkage && !name.starts_with("llvm.") {
                reasons.push(format!(
                    "'{name}' has appending linkage, which only LLVM's own arrays (llvm.*) have"
                ));
            }
            if is_scalable(ty) {
                reasons.push(format!(
                    "'{name}' is a scalable vector, which x86-64 code cannot hold"
                ));
                continue;
            }
            // SAFETY: a sized type (not scalable), a live layout.
            let size = unsafe { LLVMABISizeOfType(layout, ty) };
            if size > MAX_GLOBAL_SIZE {
                reasons.push(format!(
                    "'{name}' takes {size} bytes, more than the {MAX_GLOBAL_SIZE} hyperjit \
                     allows for one global"
                ));
            }
        }
        reasons
    }
}

impl TargetMachine {
    /// Whether this target knows the CPU `cpu`.
    fn knows_cpu(&self, cpu: &str) -> bool {
        let Ok(c_cpu) = c_string(cpu) else {
            return false;
        };
        // SAFETY: a live machine and a C string, read during the call.
        unsafe { hj_cpu_known(self.raw(), c_cpu.as_ptr()) == 1 }
    }

    /// Whether this target makes a 64-bit subtarget of `cpu` (empty: the
    /// machine's own) and `features`; if not, why, as words following a
    /// function's name. Features are checked first: LLVM prints a warning
    /// for each it does not know when it builds the subtarget.
    fn subtarget_verdict(&self, cpu: &str, features: &str) -> Result<(), String> {
        for feature in features.split(',').filter(|feature| !feature.is_empty()) {
            let name = feature.trim_start_matches(['+', '-']);
            let known = c_string(name).is_ok_and(|name| {
                // SAFETY: a live machine and a C string, read during the call.
                unsafe { hj_feature_known(self.raw(), name.as_ptr()) == 1 }
            });
            if !known {
                return Err(format!(
                    "has target-feature '{feature}', which LLVM does not know"
                ));
            }
        }
        let (Ok(c_cpu), Ok(c_features)) = (c_string(cpu), c_string(features)) else {
            return Err(format!(
                "is for target-cpu '{cpu}', which LLVM does not know"
            ));
        };
        // SAFETY: a live machine and two C strings, read during the call.
        match unsafe { hj_subtarget_supported(self.raw(), c_cpu.as_ptr(), c_features.as_ptr()) } {
            1 => Ok(()),
            0 => Err(format!(
                "is for target-cpu '{cpu}', which LLVM does not know"
            )),
            _ if cpu.is_empty() => Err(format!(
                "has target-features '{features}', which cannot generate 64-bit code"
            )),
            _ => Err(format!(
                "is for target-cpu '{cpu}' with target-features '{features}', which cannot \
                 generate 64-bit code"
            )),
        }
    }
}

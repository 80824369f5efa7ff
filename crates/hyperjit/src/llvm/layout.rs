//! Whether an input's data layout is the host's.
//!
//! Code is generated with the host's layout; a module written for another
//! (`i64:32`, big-endian, 32-bit pointers) has offsets and sizes in its IR
//! (constant GEPs, `alloca` sizes, hard-coded offsets) that would silently
//! mean something else. So the two layouts are compared on what they decide:
//! byte order, symbol mangling, and the size and ABI alignment of every
//! scalar, pointer, vector and aggregate type the x86-64 ABI has.

use super::{c_string, take_message, Module};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMContextRef, LLVMTypeRef};
use llvm_sys::target::*;

/// A layout as LLVM reads it, disposed of once.
struct Layout(LLVMTargetDataRef);

impl Layout {
    fn parse(layout: &str) -> Result<Layout, String> {
        let layout = c_string(layout)?;
        // SAFETY: LLVM copies the string; an invalid layout was rejected
        // when the module was read (its parser checks it).
        Ok(Layout(unsafe { LLVMCreateTargetData(layout.as_ptr()) }))
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // SAFETY: created by LLVMCreateTargetData, disposed of once.
        unsafe { LLVMDisposeTargetData(self.0) }
    }
}

/// The `m:` part of a layout string: how symbols are mangled.
fn mangling(layout: &str) -> Option<&str> {
    layout.split('-').find(|spec| spec.starts_with("m:"))
}

/// The types whose layouts must agree, named as IR names them.
fn probe_types(context: LLVMContextRef) -> Vec<(String, LLVMTypeRef)> {
    // SAFETY: the type constructors take a live context (the module's) and
    // return types it owns; LLVMPrintTypeToString returns an owned string.
    unsafe {
        let mut types = vec![
            LLVMInt1TypeInContext(context),
            LLVMInt8TypeInContext(context),
            LLVMInt16TypeInContext(context),
            LLVMInt32TypeInContext(context),
            LLVMInt64TypeInContext(context),
            LLVMInt128TypeInContext(context),
            LLVMHalfTypeInContext(context),
            LLVMFloatTypeInContext(context),
            LLVMDoubleTypeInContext(context),
            LLVMX86FP80TypeInContext(context),
            LLVMFP128TypeInContext(context),
        ];
        for address_space in [0, 270, 271, 272] {
            types.push(LLVMPointerTypeInContext(context, address_space));
        }
        let i8_type = LLVMInt8TypeInContext(context);
        let i32_type = LLVMInt32TypeInContext(context);
        let float_type = LLVMFloatTypeInContext(context);
        let vectors = [
            LLVMVectorType(i32_type, 4),
            LLVMVectorType(float_type, 8),
            LLVMVectorType(float_type, 16),
        ];
        types.extend(vectors);
        let mut fields = [i8_type];
        types.push(LLVMStructTypeInContext(context, fields.as_mut_ptr(), 1, 0));
        types
            .into_iter()
            .map(|ty| (take_message(LLVMPrintTypeToString(ty)), ty))
            .collect()
    }
}

impl Module {
    /// The data layout the input states; empty if it states none.
    pub(crate) fn data_layout(&self) -> String {
        // SAFETY: the string is owned by the live module; copied at once.
        unsafe { std::ffi::CStr::from_ptr(LLVMGetDataLayoutStr(self.raw())) }
            .to_string_lossy()
            .into_owned()
    }

    /// How this module's stated data layout differs from `host` in what
    /// it decides, or `None` if it states none or agrees.
    pub(crate) fn data_layout_difference(&self, host: &str) -> Result<Option<String>, String> {
        let stated = self.data_layout();
        if stated.is_empty() || stated == host {
            return Ok(None);
        }
        let (ours, theirs) = (Layout::parse(host)?, Layout::parse(&stated)?);
        // SAFETY: both layouts are live; the byte order queries read them.
        let (our_order, their_order) = unsafe { (LLVMByteOrder(ours.0), LLVMByteOrder(theirs.0)) };
        if our_order != their_order {
            return Ok(Some("its byte order is not the host's".to_string()));
        }
        if mangling(&stated) != mangling(host) {
            return Ok(Some(format!(
                "it mangles symbols as '{}', the host as '{}'",
                mangling(&stated).unwrap_or("m:(none)"),
                mangling(host).unwrap_or("m:(none)")
            )));
        }
        // SAFETY: the module and its context are live.
        let context = unsafe { LLVMGetModuleContext(self.raw()) };
        for (name, ty) in probe_types(context) {
            // SAFETY: sized types of the context, queried in live layouts.
            let (our_size, their_size, our_align, their_align) = unsafe {
                (
                    LLVMABISizeOfType(ours.0, ty),
                    LLVMABISizeOfType(theirs.0, ty),
                    LLVMABIAlignmentOfType(ours.0, ty),
                    LLVMABIAlignmentOfType(theirs.0, ty),
                )
            };
            if their_size != our_size {
                return Ok(Some(format!(
                    "{name} takes {their_size} bytes, not the host's {our_size}"
                )));
            }
            if their_align != our_align {
                return Ok(Some(format!(
                    "{name} is aligned to {their_align} bytes, not the host's {our_align}"
                )));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::llvm::{Context, Module, TargetMachine};
    use std::sync::Arc;

    /// How a module stating `layout` differs from the host's.
    fn difference(layout: &str) -> Option<String> {
        let host = TargetMachine::host(0).unwrap();
        let context = Arc::new(Context::new());
        let ir = format!("target datalayout = \"{layout}\"\n");
        let module = Module::parse(&context, "layout.ll", ir.as_bytes()).unwrap();
        module.data_layout_difference(host.data_layout()).unwrap()
    }

    #[test]
    fn layouts_are_compared_on_what_they_decide() {
        let host = TargetMachine::host(0).unwrap().data_layout().to_string();
        assert!(host.contains("i64:64"), "{host}");
        assert_eq!(difference(""), None);
        assert_eq!(difference(&host), None);
        // Native integer widths and stack alignment decide no type's layout.
        let hints_only = host.replace("-n8:16:32:64", "").replace("-S128", "-S32");
        assert_ne!(hints_only, host);
        assert_eq!(difference(&hints_only), None);
        assert_eq!(
            difference(&host.replace("i64:64", "i64:32")).as_deref(),
            Some("i64 is aligned to 4 bytes, not the host's 8")
        );
        assert_eq!(
            difference(&host.replacen('e', "E", 1)).as_deref(),
            Some("its byte order is not the host's")
        );
        assert_eq!(
            difference(&format!("{host}-p:32:32")).as_deref(),
            Some("ptr takes 4 bytes, not the host's 8")
        );
        assert_eq!(
            difference(&host.replace("m:e", "m:o")).as_deref(),
            Some("it mangles symbols as 'm:o', the host as 'm:e'")
        );
    }
}

//! An owned `LLVMContext` that collects LLVM's diagnostics instead of
//! letting them go to stderr, so that link errors reach the user as errors.

use llvm_sys::core::{
    LLVMContextCreate, LLVMContextDispose, LLVMContextSetDiagnosticHandler,
    LLVMGetDiagInfoDescription, LLVMGetDiagInfoSeverity,
};
use llvm_sys::prelude::{LLVMContextRef, LLVMDiagnosticInfoRef};
use llvm_sys::LLVMDiagnosticSeverity;
use std::ffi::c_void;
use std::sync::Mutex;

/// An LLVM context. Modules keep it alive through an `Arc`.
pub(crate) struct Context {
    raw: LLVMContextRef,
    /// Boxed so its address, handed to LLVM, never moves.
    diagnostics: Box<Mutex<Vec<String>>>,
}

// SAFETY: an LLVMContext may be used from any thread as long as one thread
// uses it at a time; the engine only touches a context under its own lock.
unsafe impl Send for Context {}
// SAFETY: as above; shared references are only used under the engine's lock.
unsafe impl Sync for Context {}

extern "C" fn collect_diagnostic(info: LLVMDiagnosticInfoRef, sink: *mut c_void) {
    // SAFETY: LLVM passes a live diagnostic; the description is an owned
    // message, freed by take_message.
    let text = unsafe { super::take_message(LLVMGetDiagInfoDescription(info)) };
    // SAFETY: `info` is live for the duration of this call.
    let severity = unsafe { LLVMGetDiagInfoSeverity(info) };
    let label = match severity {
        LLVMDiagnosticSeverity::LLVMDSError => "error",
        LLVMDiagnosticSeverity::LLVMDSWarning => "warning",
        _ => return,
    };
    // SAFETY: `sink` is the address of the Context's boxed Mutex, which lives
    // as long as the LLVMContext that calls us.
    let sink = unsafe { &*(sink as *const Mutex<Vec<String>>) };
    if let Ok(mut list) = sink.lock() {
        list.push(format!("{label}: {text}"));
    }
}

impl Context {
    pub(crate) fn new() -> Self {
        // SAFETY: creating a context has no preconditions.
        let raw = unsafe { LLVMContextCreate() };
        let diagnostics = Box::new(Mutex::new(Vec::new()));
        // SAFETY: `raw` is live; the handler's context pointer stays valid as
        // long as `raw` because both are owned by this struct and the box is
        // dropped after LLVMContextDispose.
        unsafe {
            LLVMContextSetDiagnosticHandler(
                raw,
                Some(collect_diagnostic),
                &*diagnostics as *const Mutex<Vec<String>> as *mut c_void,
            )
        };
        Context { raw, diagnostics }
    }

    pub(crate) fn raw(&self) -> LLVMContextRef {
        self.raw
    }

    /// Returns and clears the diagnostics LLVM reported since the last call.
    pub(crate) fn take_diagnostics(&self) -> Vec<String> {
        match self.diagnostics.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: every Module holds an Arc<Context>, so no module of this
        // context is alive any more; the context is disposed once.
        unsafe { LLVMContextDispose(self.raw) };
    }
}

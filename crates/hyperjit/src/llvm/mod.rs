//! The LLVM layer: the only place in hyperjit that calls `llvm-sys`.
//!
//! Nothing above this module touches LLVM but through it (the `unsafe`
//! that remains above — C-ABI entry points, the core's address passed
//! through JIT'd code — is listed and counted by `tests/layers.rs`). Each
//! wrapper here owns the LLVM object it points at and disposes of it
//! exactly once; each `unsafe` block states why the call is sound. Errors leave this layer as plain `String`s
//! (LLVM's own text); the engine adds the file or symbol they concern.
//!
//! One concept a file: `context` (diagnostics), `module` (parse — whole,
//! or lazily with `lazy_bitcode.cpp` —, verify, link, queries), `types`
//! and `values` (read-only views); the IR rewrites the engine needs:
//! `rebind`, `lower`, `patchable`, `extract`, `split` (a lazy skeleton and
//! its bodies, with `metadata.cpp`), `counters` (tiering's call and loop
//! counts); `calls` (the direct calls, before and after inlining),
//! `layout` (an input's data layout against the host's), `limits` (what
//! code generation refuses, with `limits.cpp`), `fatal` (LLVM's fatal
//! errors, with `fatal.cpp`), `target` (pass pipelines, object code, with
//! `codegen_pipeline.cpp`), `cpp` (the C++ files' functions, as
//! `cpp_api.h` declares them), `jit` (ORC's LLJIT; `code_map.cpp`,
//! `perf_map.cpp` and `process_symbols.cpp` are its listeners and symbol
//! generator), `near_calls` (direct calls of host functions within reach)
//! and `near_memory` (the JIT's memory manager, in C).

mod calls;
mod context;
mod counters;
mod cpp;
mod extract;
mod fatal;
mod jit;
mod layout;
mod limits;
mod lower;
mod module;
mod near_calls;
mod near_memory;
mod patchable;
mod rebind;
mod split;
mod target;
mod types;
mod values;

pub(crate) use calls::CallingFunction;
pub(crate) use context::Context;
pub(crate) use extract::{Bitcode, KeptIr};
pub(crate) use jit::{Jit, Tracker};
pub(crate) use module::{is_bitcode, Module, UndefinedSymbol};
pub(crate) use patchable::promoted_name;
#[cfg(test)]
pub(crate) use patchable::STUB_RECORD_LOAD;
pub(crate) use target::{ObjectCode, TargetMachine};
pub(crate) use types::{FunctionSignature, TypeKind};

use llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

/// Registers the host target with LLVM once per process.
fn initialize_native_target() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        fatal::install_handler();
        // SAFETY: the LLVM_Initialize* functions only register target
        // descriptions in LLVM's global registry; OnceLock runs them once.
        let failed = unsafe {
            llvm_sys::target::LLVM_InitializeNativeTarget() != 0
                || llvm_sys::target::LLVM_InitializeNativeAsmPrinter() != 0
                || llvm_sys::target::LLVM_InitializeNativeAsmParser() != 0
        };
        if failed {
            Err("LLVM has no native target for this host".to_string())
        } else {
            Ok(())
        }
    })
    .clone()
}

/// Returns the memory LLVM freed to the system. glibc keeps freed heap
/// memory for reuse; after a large module is dropped that is tens of
/// megabytes (some 80 MB after sqlite3.c) a host would otherwise carry.
pub(crate) fn release_freed_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim only gives free pages of the heap back to the
    // kernel; it has no preconditions and touches no live allocation.
    unsafe { malloc_trim(0) };
}

/// Takes ownership of a message LLVM allocated and returns it as a `String`.
///
/// # Safety
/// `message` must be null or a string allocated by LLVM that the caller owns
/// and that is released with `LLVMDisposeMessage`.
unsafe fn take_message(message: *mut c_char) -> String {
    if message.is_null() {
        return String::new();
    }
    // SAFETY: per this function's contract `message` is a valid C string.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: the caller gave us ownership; it is freed once, here.
    unsafe { llvm_sys::core::LLVMDisposeMessage(message) };
    text
}

/// Converts an owned `LLVMErrorRef` into `Err(message)`.
///
/// # Safety
/// `error` must be null (success) or an error the caller owns.
unsafe fn check_error(error: LLVMErrorRef) -> Result<(), String> {
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: `error` is an owned error; LLVMGetErrorMessage consumes it and
    // returns a message we then free with LLVMDisposeErrorMessage.
    unsafe {
        let message = LLVMGetErrorMessage(error);
        let text = CStr::from_ptr(message).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(message);
        Err(text)
    }
}

/// A C string for LLVM, refusing interior NUL bytes with a clear message.
fn c_string(text: &str) -> Result<CString, String> {
    CString::new(text).map_err(|_| format!("name contains a NUL byte: {text:?}"))
}

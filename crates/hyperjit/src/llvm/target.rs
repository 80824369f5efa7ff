//! The host target machine: runs the IR pass pipeline and generates object
//! code that the JIT links.

use super::{c_string, check_error, initialize_native_target, take_message, Module};
use llvm_sys::core::LLVMDisposeMemoryBuffer;
use llvm_sys::prelude::LLVMMemoryBufferRef;
use llvm_sys::target_machine::*;
use llvm_sys::transforms::pass_builder::{
    LLVMCreatePassBuilderOptions, LLVMDisposePassBuilderOptions, LLVMRunPasses,
};

/// A target machine for the host CPU with its features, generating
/// position-independent code for the small code model (what ORC's JITLink
/// expects on x86-64 ELF).
pub(crate) struct TargetMachine {
    raw: LLVMTargetMachineRef,
    triple: String,
    data_layout: String,
    /// Triple, CPU, features and level: what the code depends on.
    description: String,
}

// SAFETY: a TargetMachine may be used from any thread, one thread at a time;
// the engine serializes use through its lock.
unsafe impl Send for TargetMachine {}

impl TargetMachine {
    /// A machine for this host at codegen level `opt_level` (0..=3).
    pub(crate) fn host(opt_level: u8) -> Result<TargetMachine, String> {
        initialize_native_target()?;
        let level = match opt_level {
            0 => LLVMCodeGenOptLevel::LLVMCodeGenLevelNone,
            1 => LLVMCodeGenOptLevel::LLVMCodeGenLevelLess,
            2 => LLVMCodeGenOptLevel::LLVMCodeGenLevelDefault,
            _ => LLVMCodeGenOptLevel::LLVMCodeGenLevelAggressive,
        };
        // SAFETY: the host queries return owned strings (freed by
        // take_message); LLVMGetTargetFromTriple reads a valid C string and
        // sets an owned error message on failure; LLVMCreateTargetMachine
        // copies its string arguments.
        unsafe {
            let triple = take_message(LLVMNormalizeTargetTriple(
                c_string(&take_message(LLVMGetDefaultTargetTriple()))?.as_ptr(),
            ));
            let cpu = take_message(LLVMGetHostCPUName());
            let features = take_message(LLVMGetHostCPUFeatures());
            let c_triple = c_string(&triple)?;
            let mut target = std::ptr::null_mut();
            let mut message = std::ptr::null_mut();
            if LLVMGetTargetFromTriple(c_triple.as_ptr(), &mut target, &mut message) != 0 {
                return Err(format!(
                    "no LLVM target for {triple}: {}",
                    take_message(message)
                ));
            }
            let raw = LLVMCreateTargetMachine(
                target,
                c_triple.as_ptr(),
                c_string(&cpu)?.as_ptr(),
                c_string(&features)?.as_ptr(),
                level,
                LLVMRelocMode::LLVMRelocPIC,
                LLVMCodeModel::LLVMCodeModelSmall,
            );
            if raw.is_null() {
                return Err(format!(
                    "LLVM could not create a target machine for {triple}"
                ));
            }
            let layout = LLVMCreateTargetDataLayout(raw);
            let data_layout = take_message(llvm_sys::target::LLVMCopyStringRepOfTargetData(layout));
            llvm_sys::target::LLVMDisposeTargetData(layout);
            let (mut major, mut minor, mut patch) = (0, 0, 0);
            llvm_sys::core::LLVMGetVersion(&mut major, &mut minor, &mut patch);
            let description =
                format!("LLVM {major}.{minor}.{patch} {triple} {cpu} {features} -O{opt_level}");
            Ok(TargetMachine {
                raw,
                triple,
                data_layout,
                description,
            })
        }
    }

    pub(crate) fn triple(&self) -> &str {
        &self.triple
    }

    pub(crate) fn data_layout(&self) -> &str {
        &self.data_layout
    }

    /// Everything besides the IR that the code generated depends on: the
    /// LLVM version, triple, CPU, its features and the level.
    pub(crate) fn description(&self) -> &str {
        &self.description
    }

    /// Runs LLVM's standard `default<O{level}>` pipeline on `module`.
    pub(crate) fn optimize(&self, module: &mut Module, level: u8) -> Result<(), String> {
        self.run_passes(module, &format!("default<O{}>", level.min(3)))
    }

    /// Runs a pass pipeline in `opt`'s syntax on `module`.
    pub(crate) fn run_passes(&self, module: &mut Module, pipeline: &str) -> Result<(), String> {
        let pipeline = c_string(pipeline)?;
        // SAFETY: module and machine are live; the options object is created
        // and disposed here; the returned error is owned by check_error.
        unsafe {
            let options = LLVMCreatePassBuilderOptions();
            let error = LLVMRunPasses(module.raw(), pipeline.as_ptr(), self.raw, options);
            LLVMDisposePassBuilderOptions(options);
            check_error(error)
        }
    }

    /// Generates an object file for `module`.
    pub(crate) fn emit_object(&self, module: &Module) -> Result<ObjectCode, String> {
        let mut message = std::ptr::null_mut();
        let mut buffer = std::ptr::null_mut();
        // SAFETY: module and machine are live; on success `buffer` is an
        // owned memory buffer, on failure `message` an owned string.
        let failed = unsafe {
            LLVMTargetMachineEmitToMemoryBuffer(
                self.raw,
                module.raw(),
                LLVMCodeGenFileType::LLVMObjectFile,
                &mut message,
                &mut buffer,
            ) != 0
        };
        if failed || buffer.is_null() {
            // SAFETY: `message` is null or owned by us.
            return Err(unsafe { take_message(message) });
        }
        Ok(ObjectCode { raw: buffer })
    }
}

impl Drop for TargetMachine {
    fn drop(&mut self) {
        // SAFETY: owned, disposed once.
        unsafe { LLVMDisposeTargetMachine(self.raw) };
    }
}

/// An object file in memory, ready for the JIT linker.
pub(crate) struct ObjectCode {
    raw: LLVMMemoryBufferRef,
}

// SAFETY: a memory buffer is plain immutable bytes owned by this wrapper.
unsafe impl Send for ObjectCode {}

impl ObjectCode {
    /// An object file from its bytes (copied).
    pub(crate) fn from_bytes(bytes: &[u8]) -> ObjectCode {
        // SAFETY: LLVM copies the bytes into a buffer we own.
        let raw = unsafe {
            llvm_sys::core::LLVMCreateMemoryBufferWithMemoryRangeCopy(
                bytes.as_ptr().cast(),
                bytes.len(),
                c"hyperjit object".as_ptr(),
            )
        };
        ObjectCode { raw }
    }

    /// The object file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the buffer is live and owned by `self`, immutable, and
        // holds `size` bytes from `start`.
        unsafe {
            std::slice::from_raw_parts(
                llvm_sys::core::LLVMGetBufferStart(self.raw).cast::<u8>(),
                llvm_sys::core::LLVMGetBufferSize(self.raw),
            )
        }
    }

    /// Gives up ownership, for a consumer that takes the buffer over.
    pub(crate) fn into_raw(self) -> LLVMMemoryBufferRef {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }
}

impl Drop for ObjectCode {
    fn drop(&mut self) {
        // SAFETY: owned, disposed once.
        unsafe { LLVMDisposeMemoryBuffer(self.raw) };
    }
}

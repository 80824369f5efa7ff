//! The host target machine: runs the IR pass pipeline and generates object
//! code that the JIT links.

use super::cpp::{
    hj_machine_align_loops, hj_pipeline_create, hj_pipeline_dispose, hj_pipeline_emit,
};
use super::{c_string, check_error, initialize_native_target, take_message, Module};
use llvm_sys::core::LLVMDisposeMemoryBuffer;
use llvm_sys::prelude::LLVMMemoryBufferRef;
use llvm_sys::target_machine::*;
use llvm_sys::transforms::pass_builder::{
    LLVMCreatePassBuilderOptions, LLVMDisposePassBuilderOptions, LLVMRunPasses,
};
use std::ffi::c_void;

/// A target machine for the host CPU with its features, generating
/// position-independent code for the small code model (what RuntimeDyld,
/// the object layer `jit.rs` sets up, links on x86-64 ELF), at any level: one machine serves them all, as
/// LLVM's instruction selector itself switches a machine's level for a
/// function, because each machine builds its own subtarget (a third of a
/// megabyte) and its own copy of the code generator's state.
pub(crate) struct TargetMachine {
    raw: LLVMTargetMachineRef,
    /// The code generation passes of each level, built once
    /// (`codegen_pipeline.cpp`); null until an object is emitted at it.
    pipelines: [std::cell::Cell<*mut c_void>; 4],
    triple: String,
    data_layout: String,
    /// Triple, CPU and features: with the level, what the code depends on.
    description: String,
}

// SAFETY: a TargetMachine may be used from any thread, one thread at a time;
// the engine serializes use through its lock.
unsafe impl Send for TargetMachine {}

impl TargetMachine {
    /// A machine for this host, at codegen level `opt_level` (0..=3)
    /// unless told otherwise.
    pub(crate) fn host(opt_level: u8) -> Result<TargetMachine, String> {
        initialize_native_target()?;
        let opt_level = opt_level.min(3);
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
            hj_machine_align_loops(raw, LOOP_ALIGNMENT);
            let layout = LLVMCreateTargetDataLayout(raw);
            let data_layout = take_message(llvm_sys::target::LLVMCopyStringRepOfTargetData(layout));
            llvm_sys::target::LLVMDisposeTargetData(layout);
            let (mut major, mut minor, mut patch) = (0, 0, 0);
            llvm_sys::core::LLVMGetVersion(&mut major, &mut minor, &mut patch);
            let description = format!(
                "LLVM {major}.{minor}.{patch} {triple} {cpu} {features} loops aligned {LOOP_ALIGNMENT}"
            );
            Ok(TargetMachine {
                raw,
                pipelines: std::array::from_fn(|_| std::cell::Cell::new(std::ptr::null_mut())),
                triple,
                data_layout,
                description,
            })
        }
    }

    pub(crate) fn triple(&self) -> &str {
        &self.triple
    }

    pub(super) fn raw(&self) -> LLVMTargetMachineRef {
        self.raw
    }

    pub(crate) fn data_layout(&self) -> &str {
        &self.data_layout
    }

    /// Everything besides the IR that the code generated at `level`
    /// depends on: the LLVM version, triple, CPU, its features and the
    /// level.
    pub(crate) fn description(&self, level: u8) -> String {
        format!("{} -O{}", self.description, level.min(3))
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

    /// Generates an object file for `module` at `level`, with the machine's
    /// one pipeline of code generation passes for it (built on first use).
    pub(crate) fn emit_object_at(&self, module: &Module, level: u8) -> Result<ObjectCode, String> {
        let level = level.min(3);
        let slot = &self.pipelines[usize::from(level)];
        if slot.get().is_null() {
            // SAFETY: the machine is live and outlives the pipeline, which
            // Drop disposes first.
            let pipeline = unsafe { hj_pipeline_create(self.raw, u32::from(level)) };
            if pipeline.is_null() {
                return Err(format!("{}: cannot emit object files", self.triple));
            }
            slot.set(pipeline);
        }
        // Only this emission's: code generation reports errors (invalid
        // inline assembly) as diagnostics, and still emits an object.
        module.context.take_diagnostics();
        // SAFETY: the pipeline is live and used by one thread at a time (a
        // TargetMachine is not Sync), which is also what lets it set the
        // machine's level for the run; the module is live; the buffer
        // returned is owned by us.
        let raw = unsafe { hj_pipeline_emit(slot.get(), module.raw()) };
        if raw.is_null() {
            return Err("LLVM generated no object".to_string());
        }
        let object = ObjectCode { raw };
        let errors: Vec<String> = module
            .context
            .take_diagnostics()
            .into_iter()
            .filter(|diagnostic| diagnostic.starts_with("error"))
            .map(|diagnostic| diagnostic.trim_end().to_string())
            .collect();
        if errors.is_empty() {
            Ok(object)
        } else {
            Err(errors.join("\n"))
        }
    }
}

/// Where loops start: on a 32-byte boundary. A short hot loop that crosses
/// one (the x86 decoders and op cache work in 32- and 64-byte blocks) costs
/// a cycle an iteration more; where a loop lands depends on everything
/// before it, patchable entries included, so without this a loop's speed
/// was luck: the callback benchmark's loops ran 1.00x-1.20x native by
/// layout, natively -fpatchable-function-entry shifts alone cost 1.00x-1.34x.
const LOOP_ALIGNMENT: u32 = 32;

#[cfg(test)]
impl TargetMachine {
    /// Test IR parsed into `context` and targeted at this machine.
    pub(crate) fn parse_ir(
        &self,
        context: &std::sync::Arc<super::Context>,
        name: &str,
        ir: &str,
    ) -> Module {
        let mut module = Module::parse(context, name, ir.as_bytes()).expect("test IR parses");
        module
            .set_target(self.triple(), self.data_layout())
            .expect("test IR retargets");
        module
    }
}

impl Drop for TargetMachine {
    fn drop(&mut self) {
        // SAFETY: both owned and disposed once, the pipeline first: it
        // uses the machine.
        unsafe {
            for pipeline in &self.pipelines {
                if !pipeline.get().is_null() {
                    hj_pipeline_dispose(pipeline.get());
                }
            }
            LLVMDisposeTargetMachine(self.raw);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llvm::{Context, Module};
    use std::sync::Arc;

    /// LLVM's own emit (a pipeline built for the one module), the
    /// reference for the reused pipeline.
    fn emit_with_a_new_pipeline(machine: &TargetMachine, module: &Module) -> Vec<u8> {
        let mut message = std::ptr::null_mut();
        let mut buffer = std::ptr::null_mut();
        // SAFETY: as in emit_object before the pipeline was reused.
        let failed = unsafe {
            LLVMTargetMachineEmitToMemoryBuffer(
                machine.raw,
                module.raw(),
                LLVMCodeGenFileType::LLVMObjectFile,
                &mut message,
                &mut buffer,
            ) != 0
        };
        // SAFETY: `message` is null or an owned string.
        let message = unsafe { take_message(message) };
        assert!(!failed, "{message}");
        ObjectCode { raw: buffer }.bytes().to_vec()
    }

    /// One pipeline, run on module after module (with globals, a loop, a
    /// call, and again the first), writes each the object a pipeline
    /// built for it alone writes: nothing of one run leaks into the next.
    /// One machine emitting at -O0 and -O2 in turn writes what a machine
    /// made for each level writes: a level's run leaves the machine as it
    /// found it.
    #[test]
    fn a_reused_pipeline_emits_what_a_new_one_does() {
        let sources = [
            "@counter = global i64 0\ndefine i64 @bump(i64 %x) {\n  %old = load i64, ptr @counter\n  %new = add i64 %old, %x\n  store i64 %new, ptr @counter\n  ret i64 %new\n}\n",
            "declare i32 @puts(ptr)\n@text = private constant [3 x i8] c\"hi\\00\"\ndefine i64 @sum(i64 %n) {\nentry:\n  %r = call i32 @puts(ptr @text)\n  br label %loop\nloop:\n  %i = phi i64 [ 0, %entry ], [ %next, %loop ]\n  %acc = phi i64 [ 0, %entry ], [ %add, %loop ]\n  %add = add i64 %acc, %i\n  %next = add i64 %i, 1\n  %done = icmp eq i64 %next, %n\n  br i1 %done, label %exit, label %loop\nexit:\n  ret i64 %add\n}\n",
        ];
        let shared = TargetMachine::host(2).unwrap();
        let own = [
            TargetMachine::host(0).unwrap(),
            TargetMachine::host(2).unwrap(),
        ];
        let context = Arc::new(Context::new());
        let mut objects_by_level = [Vec::new(), Vec::new()];
        for source in [sources[0], sources[1], sources[0]] {
            for (index, level) in [0, 2].into_iter().enumerate() {
                let module = shared.parse_ir(&context, "m.ll", source);
                let reused = shared
                    .emit_object_at(&module, level)
                    .unwrap()
                    .bytes()
                    .to_vec();
                let fresh = emit_with_a_new_pipeline(&own[index], &module);
                assert!(reused.starts_with(b"\x7fELF"), "-O{level}");
                assert_eq!(reused, fresh, "-O{level}: {source}");
                objects_by_level[index].push(reused);
            }
        }
        assert_ne!(
            objects_by_level[0][1], objects_by_level[1][1],
            "the levels differ"
        );
    }

    /// The executable sections' largest alignment in an x86-64 ELF object.
    fn code_alignment(object: &[u8]) -> u64 {
        let word = |at: usize, len: usize| -> u64 {
            object[at..at + len]
                .iter()
                .rev()
                .fold(0, |value, byte| value << 8 | u64::from(*byte))
        };
        let (table, entry_size, count) = (word(0x28, 8), word(0x3a, 2), word(0x3c, 2));
        (0..count)
            .map(|index| (table + index * entry_size) as usize)
            .filter(|header| word(header + 8, 8) & 0x4 != 0) // SHF_EXECINSTR
            .map(|header| word(header + 48, 8))
            .max()
            .unwrap_or(0)
    }

    /// Loops start on 32-byte boundaries at -O2 (their section is aligned
    /// so), where a straight function needs only LLVM's usual 16.
    #[test]
    fn loops_are_aligned_to_32_bytes() {
        let looping = "define i64 @sum(i64 %n) {\nentry:\n  br label %loop\nloop:\n  %i = phi i64 [ 0, %entry ], [ %next, %loop ]\n  %next = add i64 %i, 1\n  %done = icmp eq i64 %next, %n\n  br i1 %done, label %exit, label %loop\nexit:\n  ret i64 %next\n}\n";
        let straight = "define i64 @inc(i64 %x) {\n  %r = add i64 %x, 1\n  ret i64 %r\n}\n";
        let machine = TargetMachine::host(2).unwrap();
        let context = Arc::new(Context::new());
        let alignment = |source: &str| {
            let module = machine.parse_ir(&context, "m.ll", source);
            code_alignment(machine.emit_object_at(&module, 2).unwrap().bytes())
        };
        assert_eq!(alignment(looping), u64::from(LOOP_ALIGNMENT));
        assert_eq!(alignment(straight), 16);
    }
}

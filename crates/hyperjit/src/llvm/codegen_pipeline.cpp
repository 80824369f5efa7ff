// A code generation pipeline built once per target machine and run on
// every module it compiles. LLVMTargetMachineEmitToMemoryBuffer builds the
// legacy pass manager with every codegen pass anew for each module, about
// 0.3 ms: as much as generating code for a small function. The passes keep
// no state from one module to the next (the AsmPrinter finishes and resets
// its streamer, MachineModuleInfo resets its MCContext, at the end of each
// run), so one pipeline, writing into one buffer cleared before each run,
// serves them all.
//
// Also here: the one target option hyperjit sets that the C API cannot.
//
// Only the C ABI below crosses into Rust (src/llvm/target.rs); no C++
// exception is thrown (LLVM is built without them).

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <cstring>
#include <memory>

namespace {

struct Pipeline {
    llvm::TargetMachine *machine;
    llvm::SmallVector<char, 0> buffer;
    llvm::raw_svector_ostream stream{buffer};
    llvm::legacy::PassManager passes;
};

} // namespace

extern "C" {

// A pipeline generating object code with `machine` (which must outlive
// it); null if the machine cannot emit objects.
void *hj_pipeline_create(LLVMTargetMachineRef machine) {
    auto pipeline = std::make_unique<Pipeline>();
    pipeline->machine = reinterpret_cast<llvm::TargetMachine *>(machine);
    if (pipeline->machine->addPassesToEmitFile(pipeline->passes, pipeline->stream, nullptr,
                                               llvm::CodeGenFileType::ObjectFile)) {
        return nullptr;
    }
    return pipeline.release();
}

// Generates `module`'s object code; returns an owned memory buffer.
LLVMMemoryBufferRef hj_pipeline_emit(void *opaque, LLVMModuleRef module_ref) {
    auto *pipeline = static_cast<Pipeline *>(opaque);
    llvm::Module *module = llvm::unwrap(module_ref);
    module->setDataLayout(pipeline->machine->createDataLayout());
    pipeline->buffer.clear();
    pipeline->passes.run(*module);
    return LLVMCreateMemoryBufferWithMemoryRangeCopy(pipeline->buffer.data(),
                                                     pipeline->buffer.size(), "hyperjit object");
}

void hj_pipeline_dispose(void *opaque) { delete static_cast<Pipeline *>(opaque); }

// Starts every loop `machine` generates at a multiple of `bytes` (clang's
// -falign-loops; the C API has no TargetOptions).
void hj_machine_align_loops(LLVMTargetMachineRef machine, unsigned bytes) {
    reinterpret_cast<llvm::TargetMachine *>(machine)->Options.LoopAlignment = bytes;
}

} // extern "C"

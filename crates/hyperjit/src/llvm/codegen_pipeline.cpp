// A code generation pipeline built once per target machine and run on
// every module it compiles. LLVMTargetMachineEmitToMemoryBuffer builds the
// legacy pass manager with every codegen pass anew for each module, about
// 0.3 ms: as much as generating code for a small function. The passes keep
// no state from one module to the next (the AsmPrinter finishes and resets
// its streamer, MachineModuleInfo resets its MCContext, at the end of each
// run), so one pipeline, writing into one buffer cleared before each run,
// serves them all.
//
// One machine serves every level, with a pipeline per level: a machine
// builds its own subtarget (a third of a megabyte) and code generator
// state, and the engine compiles at -O0 and its own level side by side. A
// pipeline sets the machine's level, and the instruction selector it
// chose, for its run and restores them after, as LLVM's SelectionDAGISel
// does for a function it compiles at another level (OptLevelChanger).
//
// Also here: the one target option hyperjit sets that the C API cannot.
//
// Only the C ABI below crosses into Rust (src/llvm/target.rs); no C++
// exception is thrown (LLVM is built without them).

#include "cpp_api.h"

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

// The level-dependent state of a machine.
struct Mode {
    llvm::CodeGenOptLevel level;
    bool fast_isel;
    bool global_isel;

    static Mode of(const llvm::TargetMachine &machine) {
        return {machine.getOptLevel(), machine.Options.EnableFastISel != 0,
                machine.Options.EnableGlobalISel != 0};
    }

    void apply(llvm::TargetMachine &machine) const {
        machine.setOptLevel(level);
        machine.setFastISel(fast_isel);
        machine.setGlobalISel(global_isel);
    }
};

struct Pipeline {
    llvm::TargetMachine *machine;
    Mode mode;
    llvm::SmallVector<char, 0> buffer;
    llvm::raw_svector_ostream stream{buffer};
    llvm::legacy::PassManager passes;
};

} // namespace

extern "C" {

// A pipeline generating object code with `machine` (which must outlive
// it) at `level` (0 to 3); null if the machine cannot emit objects.
void *hj_pipeline_create(LLVMTargetMachineRef machine, unsigned level) {
    auto pipeline = std::make_unique<Pipeline>();
    pipeline->machine = reinterpret_cast<llvm::TargetMachine *>(machine);
    const Mode own = Mode::of(*pipeline->machine);
    pipeline->machine->setOptLevel(static_cast<llvm::CodeGenOptLevel>(level > 3 ? 3 : level));
    // Adding the passes chooses the instruction selector for the level.
    const bool failed = pipeline->machine->addPassesToEmitFile(
        pipeline->passes, pipeline->stream, nullptr, llvm::CodeGenFileType::ObjectFile);
    pipeline->mode = Mode::of(*pipeline->machine);
    own.apply(*pipeline->machine);
    return failed ? nullptr : pipeline.release();
}

// Generates `module`'s object code; returns an owned memory buffer.
LLVMMemoryBufferRef hj_pipeline_emit(void *opaque, LLVMModuleRef module_ref) {
    auto *pipeline = static_cast<Pipeline *>(opaque);
    llvm::Module *module = llvm::unwrap(module_ref);
    module->setDataLayout(pipeline->machine->createDataLayout());
    pipeline->buffer.clear();
    const Mode own = Mode::of(*pipeline->machine);
    pipeline->mode.apply(*pipeline->machine);
    pipeline->passes.run(*module);
    own.apply(*pipeline->machine);
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

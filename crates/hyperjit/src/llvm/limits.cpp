// What the C API cannot tell about an input before code generation refuses
// it (src/llvm/limits.rs): whether a function's target CPU and features
// make a subtarget that can generate 64-bit code, and whether the target
// knows a feature.

#include "cpp_api.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Target/TargetMachine.h>

#include <cstdint>
#include <memory>

extern "C" {

// 1 if `machine`'s target knows `cpu` (empty: the machine's own) and, with
// `features`, it generates 64-bit code: LLVM aborts on a function whose
// subtarget cannot. 0 if it does not know the CPU, -1 if the subtarget is
// not 64-bit.
int hj_subtarget_supported(LLVMTargetMachineRef machine, const char *cpu, const char *features) {
    auto *target_machine = reinterpret_cast<llvm::TargetMachine *>(machine);
    const llvm::MCSubtargetInfo *host = target_machine->getMCSubtargetInfo();
    // No target-cpu attribute: the machine's own, as code generation does.
    if (cpu[0] == '\0') {
        cpu = target_machine->getTargetCPU().data();
    }
    // Asked first: creating a subtarget for an unknown CPU prints a warning.
    if (!host->isCPUStringValid(cpu)) {
        return 0;
    }
    std::unique_ptr<llvm::MCSubtargetInfo> subtarget(target_machine->getTarget().createMCSubtargetInfo(
        target_machine->getTargetTriple().str(), cpu, features));
    if (!subtarget || !subtarget->checkFeatures("+64bit")) {
        return -1;
    }
    return 1;
}

// 1 if `machine`'s target knows the subtarget feature `name` (without its
// + or -): creating a subtarget with one it does not know prints a warning.
int hj_feature_known(LLVMTargetMachineRef machine, const char *name) {
    auto *target_machine = reinterpret_cast<llvm::TargetMachine *>(machine);
    for (const llvm::SubtargetFeatureKV &feature :
         target_machine->getMCSubtargetInfo()->getAllProcessorFeatures()) {
        if (llvm::StringRef(feature.Key) == name) {
            return 1;
        }
    }
    return 0;
}

// 1 if `machine`'s target knows the CPU `cpu` (a target or tuning CPU).
int hj_cpu_known(LLVMTargetMachineRef machine, const char *cpu) {
    auto *target_machine = reinterpret_cast<llvm::TargetMachine *>(machine);
    return target_machine->getMCSubtargetInfo()->isCPUStringValid(cpu) ? 1 : 0;
}

}  // extern "C"

// What the C API cannot tell about an input before code generation refuses
// it (src/llvm/limits.rs): whether a function's target CPU and features
// make a subtarget that can generate 64-bit code.

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Target/TargetMachine.h>

#include <cstdint>
#include <memory>

extern "C" {

// 1 if `machine`'s target knows `cpu` and, with `features`, it generates
// 64-bit code: LLVM aborts on a function whose subtarget cannot. 0 if it
// does not know the CPU, -1 if the subtarget is not 64-bit.
int hj_subtarget_supported(LLVMTargetMachineRef machine, const char *cpu, const char *features) {
    auto *target_machine = reinterpret_cast<llvm::TargetMachine *>(machine);
    const llvm::MCSubtargetInfo *host = target_machine->getMCSubtargetInfo();
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

}  // extern "C"

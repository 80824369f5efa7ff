// What the C API cannot do with LLJIT's process symbols (src/llvm/jit.rs):
// take them out of the main JITDylib's link order. LLJIT links every JIT'd
// symbol the program does not define against the host process by default;
// under an allow list (src/link/policy.rs), only what the engine defines
// by name may be found.

#include "cpp_api.h"

#include <llvm-c/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>

extern "C" {

// Removes the process's symbols from `jit`'s main JITDylib's link order.
// 1 if they were there, 0 if not.
int hj_jit_unlink_process_symbols(LLVMOrcLLJITRef jit) {
    auto *lljit = reinterpret_cast<llvm::orc::LLJIT *>(jit);
    llvm::orc::JITDylibSP process = lljit->getProcessSymbolsJITDylib();
    if (!process) {
        return 0;
    }
    lljit->getMainJITDylib().removeFromLinkOrder(*process);
    return 1;
}

}  // extern "C"

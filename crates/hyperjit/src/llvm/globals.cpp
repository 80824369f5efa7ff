// Properties of global values the C API cannot reach: an object's alignment
// in full (LLVMGetAlignment returns an `unsigned`, which LLVM's largest
// alignment, 2^32, does not fit: it reads as 0, "none"; src/llvm/limits.rs),
// and `dso_local` (src/llvm/lower.rs).

#include "cpp_api.h"

#include <llvm-c/Core.h>
#include <llvm/IR/GlobalObject.h>
#include <llvm/IR/GlobalValue.h>

#include <cstdint>

extern "C" {

// `global`'s alignment in bytes, or 0 if it states none.
uint64_t hj_global_alignment(LLVMValueRef global) {
    if (auto align = llvm::unwrap<llvm::GlobalObject>(global)->getAlign()) {
        return align->value();
    }
    return 0;
}

// Whether `global` is marked `dso_local`.
int hj_is_dso_local(LLVMValueRef global) {
    return llvm::unwrap<llvm::GlobalValue>(global)->isDSOLocal() ? 1 : 0;
}

// Clears `global`'s `dso_local` mark.
void hj_clear_dso_local(LLVMValueRef global) {
    llvm::unwrap<llvm::GlobalValue>(global)->setDSOLocal(false);
}

}  // extern "C"

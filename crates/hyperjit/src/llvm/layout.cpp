// What the C API cannot tell of a layout (src/llvm/layout.rs): a global
// object's alignment in full. LLVMGetAlignment returns an `unsigned`, which
// LLVM's largest alignment, 2^32, does not fit: it reads as 0, "none".

#include <llvm-c/Core.h>
#include <llvm/IR/GlobalObject.h>

#include <cstdint>

extern "C" {

// `global`'s alignment in bytes, or 0 if it states none.
uint64_t hj_global_alignment(LLVMValueRef global) {
    if (auto align = llvm::unwrap<llvm::GlobalObject>(global)->getAlign()) {
        return align->value();
    }
    return 0;
}

}  // extern "C"

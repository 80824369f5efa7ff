// Reading bitcode lazily: what the C API cannot do. The C API opens a
// module whose function bodies stay unread (LLVMGetBitcodeModuleInContext2,
// src/llvm/module.rs) but cannot ask for one body, or for all of them, and
// report an error: running a function pass manager reads a body, but aborts
// the process if the bitcode is corrupt. A lazy run compiles a function on
// its first call, so it reads that body then, and a body never called is
// never read: for the sqlite amalgamation, the 9 ms it takes to open the
// module, against about 170 ms to read it whole.
//
// Only the C ABI below crosses into Rust (src/llvm/module.rs); no C++
// exception is thrown (LLVM is built without them). Errors come back as
// messages allocated by LLVMCreateMessage, which the caller owns.

#include <llvm-c/Core.h>
#include <llvm/IR/GlobalValue.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>

#include <string>

namespace {

// Hands `error`'s text to the caller; returns 1 (failed).
int report(llvm::Error error, char **message) {
    std::string text = llvm::toString(std::move(error));
    *message = LLVMCreateMessage(text.c_str());
    return 1;
}

}  // namespace

extern "C" {

// Whether `global`'s body has not been read yet.
int hj_is_materializable(LLVMValueRef global) {
    return llvm::unwrap<llvm::GlobalValue>(global)->isMaterializable() ? 1 : 0;
}

// Reads `global`'s body if it was not read yet. 0, or 1 and `*message`.
int hj_materialize(LLVMValueRef global, char **message) {
    *message = nullptr;
    if (llvm::Error error = llvm::unwrap<llvm::GlobalValue>(global)->materialize()) {
        return report(std::move(error), message);
    }
    return 0;
}

// Reads every body of `module` not read yet. 0, or 1 and `*message`.
int hj_materialize_all(LLVMModuleRef module, char **message) {
    *message = nullptr;
    if (llvm::Error error = llvm::unwrap(module)->materializeAll()) {
        return report(std::move(error), message);
    }
    return 0;
}

}  // extern "C"

// LLVM's allocation failures (src/llvm/fatal.rs): the C API installs a
// handler for `report_fatal_error` but not for `report_bad_alloc_error`,
// whose default prints "LLVM ERROR: out of memory" and aborts.

#include "cpp_api.h"

#include <llvm/Support/ErrorHandling.h>

namespace {

using handler_fn = void (*)(const char *reason);

void on_bad_alloc(void *handler, const char *reason, bool) {
    reinterpret_cast<handler_fn>(handler)(reason);
}

}  // namespace

extern "C" {

// Sends LLVM's allocation failures to `handler`, which must not return.
void hj_install_bad_alloc_handler(hj_bad_alloc_handler handler) {
    llvm::install_bad_alloc_error_handler(on_bad_alloc, reinterpret_cast<void *>(handler));
}

}  // extern "C"

// The perf map (`--perf-map`): a JIT event listener that appends a line
// "START SIZE NAME" (hex) to /tmp/perf-PID.map for every function of every
// object RuntimeDyld loads — first-call bodies, recompiled and tiered
// versions, stubs — so that `perf report` names JIT'd code. LLVM's own perf
// listener writes jitdump files instead, which need `perf inject`; a map
// needs nothing. One listener per process: engines share the file.
#include "cpp_api.h"

#include <llvm/ExecutionEngine/JITEventListener.h>
#include <llvm/Object/SymbolSize.h>
#include <llvm-c/ExecutionEngine.h>

#include <cstdio>
#include <mutex>
#include <unistd.h>

namespace {

class PerfMapListener : public llvm::JITEventListener {
  public:
    explicit PerfMapListener(FILE *map) : map_(map) {}

    void notifyObjectLoaded(ObjectKey, const llvm::object::ObjectFile &object,
                            const llvm::RuntimeDyld::LoadedObjectInfo &loaded) override {
        // The object as loaded: its symbols' addresses are where they run.
        llvm::object::OwningBinary<llvm::object::ObjectFile> owner =
            loaded.getObjectForDebug(object);
        const llvm::object::ObjectFile *view = owner.getBinary();
        if (view == nullptr)
            return;
        std::lock_guard<std::mutex> guard(lock_);
        for (const auto &[symbol, size] : llvm::object::computeSymbolSizes(*view)) {
            auto type = symbol.getType();
            if (!type) {
                llvm::consumeError(type.takeError());
                continue;
            }
            if (*type != llvm::object::SymbolRef::ST_Function || size == 0)
                continue;
            auto name = symbol.getName();
            auto address = symbol.getAddress();
            if (!name || !address) {
                if (!name)
                    llvm::consumeError(name.takeError());
                if (!address)
                    llvm::consumeError(address.takeError());
                continue;
            }
            std::fprintf(map_, "%llx %llx %.*s\n", static_cast<unsigned long long>(*address),
                         static_cast<unsigned long long>(size), static_cast<int>(name->size()),
                         name->data());
        }
        std::fflush(map_);
    }

  private:
    std::mutex lock_;
    FILE *map_;
};

} // namespace

// The process's perf map listener, created (and the map opened for
// appending) on first use; NULL if /tmp/perf-PID.map cannot be opened.
// Never freed: JITs keep it registered until they are gone.
LLVMJITEventListenerRef hj_perf_map_listener(void) {
    static PerfMapListener *listener = [] {
        char path[64];
        std::snprintf(path, sizeof path, "/tmp/perf-%d.map", static_cast<int>(getpid()));
        FILE *map = std::fopen(path, "a");
        return map ? new PerfMapListener(map) : nullptr;
    }();
    return listener ? llvm::wrap(static_cast<llvm::JITEventListener *>(listener)) : nullptr;
}

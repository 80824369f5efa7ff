// The map of JIT'd code (src/llvm/code_map.rs): which function lies at an
// address, for fault reports. A JIT event listener records every function
// symbol of every object RuntimeDyld loads — first-call bodies, recompiled
// and tiered versions, stubs — and a signal handler reads the map: so it is
// read without locks. Each loaded object becomes an immutable segment,
// sorted by address, pushed at the head of a list with a release store; a
// freed object's segment is marked dead, never freed (a handler may be
// reading it). One listener per process: engines share the map.
#include <llvm-c/ExecutionEngine.h>
#include <llvm/ExecutionEngine/JITEventListener.h>
#include <llvm/Object/SymbolSize.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace {

struct Entry {
    uint64_t start;
    uint64_t size;
    const char *name;  // NUL-terminated, never freed
};

struct Segment {
    uint64_t low, high;  // [low, high) covers every entry
    const Entry *entries;
    size_t count;
    llvm::JITEventListener::ObjectKey key;
    std::atomic<bool> live;
    Segment *next;  // older segments; fixed once published
};

std::atomic<Segment *> head{nullptr};
std::mutex writers;

char *copy_name(llvm::StringRef name) {
    char *copy = static_cast<char *>(std::malloc(name.size() + 1));
    if (copy != nullptr) {
        std::memcpy(copy, name.data(), name.size());
        copy[name.size()] = '\0';
    }
    return copy;
}

class CodeMapListener : public llvm::JITEventListener {
  public:
    void notifyObjectLoaded(ObjectKey key, const llvm::object::ObjectFile &object,
                            const llvm::RuntimeDyld::LoadedObjectInfo &loaded) override {
        std::vector<Entry> entries;
        for (const auto &[symbol, size] : llvm::object::computeSymbolSizes(object)) {
            auto type = symbol.getType();
            auto name = symbol.getName();
            auto offset = symbol.getValue();
            auto section = symbol.getSection();
            if (!type || !name || !offset || !section) {
                llvm::consumeError(type.takeError());
                llvm::consumeError(name.takeError());
                llvm::consumeError(offset.takeError());
                llvm::consumeError(section.takeError());
                continue;
            }
            if (*type != llvm::object::SymbolRef::ST_Function || size == 0 ||
                *section == object.section_end())
                continue;
            // A relocatable object's symbol value is its offset in its section.
            uint64_t base = loaded.getSectionLoadAddress(**section);
            char *copy = copy_name(*name);
            if (base == 0 || copy == nullptr)
                continue;
            entries.push_back(Entry{base + *offset, size, copy});
        }
        if (entries.empty())
            return;
        std::sort(entries.begin(), entries.end(),
                  [](const Entry &a, const Entry &b) { return a.start < b.start; });
        Entry *stored = new Entry[entries.size()];
        std::copy(entries.begin(), entries.end(), stored);
        Segment *segment = new Segment;
        segment->low = entries.front().start;
        segment->high = 0;
        for (const Entry &entry : entries)
            segment->high = std::max(segment->high, entry.start + entry.size);
        segment->entries = stored;
        segment->count = entries.size();
        segment->key = key;
        segment->live.store(true, std::memory_order_relaxed);
        std::lock_guard<std::mutex> guard(writers);
        segment->next = head.load(std::memory_order_relaxed);
        head.store(segment, std::memory_order_release);
    }

    void notifyFreeingObject(ObjectKey key) override {
        std::lock_guard<std::mutex> guard(writers);
        for (Segment *segment = head.load(std::memory_order_relaxed); segment != nullptr;
             segment = segment->next) {
            if (segment->key == key)
                segment->live.store(false, std::memory_order_release);
        }
    }
};

}  // namespace

extern "C" {

// The process's code map listener, created on first use, never freed.
LLVMJITEventListenerRef hj_code_map_listener(void) {
    static CodeMapListener *listener = new CodeMapListener;
    return llvm::wrap(static_cast<llvm::JITEventListener *>(listener));
}

// The JIT'd function containing `address`: 1 and its name and the offset,
// or 0. Async-signal-safe: reads published, immutable memory only.
int hj_code_map_find(uint64_t address, const char **name, uint64_t *offset) {
    for (const Segment *segment = head.load(std::memory_order_acquire); segment != nullptr;
         segment = segment->next) {
        if (address < segment->low || address >= segment->high ||
            !segment->live.load(std::memory_order_acquire))
            continue;
        const Entry *begin = segment->entries;
        const Entry *end = begin + segment->count;
        // The last entry starting at or before `address`.
        const Entry *after = std::upper_bound(
            begin, end, address, [](uint64_t value, const Entry &entry) { return value < entry.start; });
        if (after == begin)
            continue;
        const Entry *entry = after - 1;
        if (address < entry->start + entry->size) {
            *name = entry->name;
            *offset = address - entry->start;
            return 1;
        }
    }
    return 0;
}

}  // extern "C"

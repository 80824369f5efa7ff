// The map of JIT'd code (registered by llvm/jit.rs, read by
// runtime/faults.c): which function lies at an
// address, for fault reports. A JIT event listener records every function
// symbol of every object RuntimeDyld loads — first-call bodies, recompiled
// and tiered versions, stubs — and a signal handler reads the map: so it is
// read without locks. Each loaded object becomes an immutable segment,
// sorted by address, pushed at the head of a list with a release store; a
// freed object's segment is marked dead, never freed (a handler may be
// reading it). One listener per process: engines share the map.
//
// The map lives outside malloc's heap, in chunks of its own behind a guard
// page: a guest that overruns a heap buffer corrupts its own heap, and must
// not take the report of its death down with it (the fuzzer found one that
// did: the handler faulted reading the map, and the process died unreported,
// by the wrong signal).
#include "cpp_api.h"

#include <llvm-c/ExecutionEngine.h>
#include <llvm/ExecutionEngine/JITEventListener.h>
#include <llvm/Object/SymbolSize.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

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

// Bump allocation from mmap'd chunks, each behind a PROT_NONE guard page
// (an overrun from the mapping below faults there). Nothing is freed: the
// map only grows, by a few dozen bytes a function.
class Arena {
  public:
    // `bytes` aligned to `alignment` (a power of two, at most a page), or
    // null if the system has no memory left.
    void *allocate(size_t bytes, size_t alignment) {
        size_t skip = (alignment - reinterpret_cast<uintptr_t>(next) % alignment) % alignment;
        if (next == nullptr || skip + bytes > left) {
            if (!grow(bytes))
                return nullptr;
            skip = 0;
        }
        char *memory = next + skip;
        next += skip + bytes;
        left -= skip + bytes;
        return memory;
    }

    // A NUL-terminated copy of `name`, or null.
    const char *copy(llvm::StringRef name) {
        char *memory = static_cast<char *>(allocate(name.size() + 1, 1));
        if (memory != nullptr) {
            std::memcpy(memory, name.data(), name.size());
            memory[name.size()] = '\0';
        }
        return memory;
    }

  private:
    bool grow(size_t bytes) {
        size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        size_t size = std::max<size_t>(256 * 1024, (bytes + page - 1) / page * page);
        void *chunk = mmap(nullptr, page + size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (chunk == MAP_FAILED)
            return false;
        mprotect(chunk, page, PROT_NONE);
        next = static_cast<char *>(chunk) + page;
        left = size;
        return true;
    }

    char *next = nullptr;
    size_t left = 0;
};

std::atomic<Segment *> head{nullptr};
// Held while the map grows (the arena with it) or a segment dies.
std::mutex writers;
Arena arena;

class CodeMapListener : public llvm::JITEventListener {
  public:
    void notifyObjectLoaded(ObjectKey key, const llvm::object::ObjectFile &object,
                            const llvm::RuntimeDyld::LoadedObjectInfo &loaded) override {
        std::vector<Entry> entries;
        std::vector<llvm::StringRef> names;  // the object's, alive during the call
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
            if (base == 0)
                continue;
            // Named below, once the arena is ours.
            entries.push_back(Entry{base + *offset, size, nullptr});
            names.push_back(*name);
        }
        if (entries.empty())
            return;
        std::lock_guard<std::mutex> guard(writers);
        for (size_t i = 0; i < entries.size(); i++) {
            entries[i].name = arena.copy(names[i]);
            if (entries[i].name == nullptr)
                return;  // no memory left: the object goes unmapped
        }
        std::sort(entries.begin(), entries.end(),
                  [](const Entry &a, const Entry &b) { return a.start < b.start; });
        void *stored = arena.allocate(entries.size() * sizeof(Entry), alignof(Entry));
        void *memory = arena.allocate(sizeof(Segment), alignof(Segment));
        if (stored == nullptr || memory == nullptr)
            return;
        std::copy(entries.begin(), entries.end(), static_cast<Entry *>(stored));
        Segment *segment = new (memory) Segment;
        segment->low = entries.front().start;
        segment->high = 0;
        for (const Entry &entry : entries)
            segment->high = std::max(segment->high, entry.start + entry.size);
        segment->entries = static_cast<Entry *>(stored);
        segment->count = entries.size();
        segment->key = key;
        segment->live.store(true, std::memory_order_relaxed);
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

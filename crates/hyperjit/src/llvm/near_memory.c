/* The JIT's memory manager (RuntimeDyld callbacks): JIT'd code and data live
 * in one arena reserved within 2 GiB of the host's own code.
 *
 * Why: guest code calls host callbacks (Rust trampolines in the host binary)
 * on every callback. A call to a far target (here: some 40 TiB away, where
 * the kernel maps anonymous memory) costs about a nanosecond more on current
 * x86 cores than a near one, whether through a stub or a register; ORC's
 * default allocator maps JIT memory wherever the kernel likes. Address space
 * is reserved in chunks and pages committed as objects need them.
 *
 * Calls from JIT'd code to the host's functions within reach of every near
 * chunk (hj_arena_within_call_reach) are direct `call rel32` instructions
 * (jit.rs rewrites their relocations). Code that had to go to a far chunk,
 * once the window is full, cannot make them: its object fails to finalize
 * with an error rather than run a call that lands elsewhere. An engine whose
 * first chunk is already far (hundreds of engines live at once) binds no
 * direct call at all, and its code runs wherever it lands.
 *
 * Each linked object gets its own allocation context whose sections never
 * share a page with another object's, so finalizing one object (making its
 * code read+execute) never write-protects pages another object still fills.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Address space reserved at a time; a program that needs more gets
 * another chunk. An engine's first chunk is smaller: the window near the
 * host holds some 90 engines' first chunks, not 10. */
#define CHUNK_SIZE ((size_t)256 << 20)
#define FIRST_CHUNK_SIZE ((size_t)32 << 20)

/* Near chunks lie within CODE_WINDOW of the anchor; a call target within
 * CALL_REACH of the anchor is then within a rel32's reach of all of them
 * (CODE_WINDOW + CALL_REACH < 2 GiB, with a page of slack). */
#define CODE_WINDOW ((intptr_t)3 << 29)
#define CALL_REACH (((intptr_t)1 << 31) - CODE_WINDOW - ((intptr_t)1 << 16))

struct hj_chunk {
    char *base;
    size_t size;
    size_t used; /* committed so far, from base */
    int near;    /* within CODE_WINDOW of the anchor */
    struct hj_chunk *prev;
};

struct hj_arena {
    const void *anchor;
    struct hj_chunk *chunk; /* the newest; older ones stay mapped */
    size_t committed;       /* bytes of pages in use */
    int near_calls;         /* objects with direct calls to the host were added */
    int far;                /* its first chunk is far: no call is made direct */
    pthread_mutex_t lock;
};

enum { KIND_CODE, KIND_RODATA, KIND_DATA, KIND_COUNT };

struct hj_run {
    char *start; /* first page of the run */
    size_t pages;
    size_t used; /* bytes used in the run */
};

struct hj_object_memory {
    struct hj_arena *arena;
    /* Every page run of this object, with its kind, for finalization. */
    struct hj_page_run {
        char *start;
        size_t length;
        int kind;
    } *runs;
    size_t nruns, cap;
    struct hj_run current[KIND_COUNT];
    int far_code; /* some of its code is in a far chunk */
};

static size_t page_size(void) {
    static size_t size;
    if (!size)
        size = (size_t)sysconf(_SC_PAGESIZE);
    return size;
}

/* Reserves `size` bytes at `hint`, or anywhere for a NULL hint (with
 * MAP_FIXED_NOREPLACE, NULL would mean address 0: refused, or as root
 * mapped there). */
static void *reserve(void *hint, size_t size) {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#ifdef MAP_FIXED_NOREPLACE
    if (hint)
        flags |= MAP_FIXED_NOREPLACE;
#endif
    void *p = mmap(hint, size, PROT_NONE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (hint && p != hint) {
        munmap(p, size);
        return NULL;
    }
    return p;
}

/* Reserves `size` bytes of address space within CODE_WINDOW of `anchor`,
 * in 128 MiB steps, nearest first; then anywhere as a last resort (a far
 * chunk: its code works, but cannot call the host directly). */
static struct hj_chunk *reserve_chunk(const void *anchor, size_t size) {
    struct hj_chunk *chunk = calloc(1, sizeof *chunk);
    if (!chunk)
        return NULL;
    const uintptr_t step = (uintptr_t)128 << 20;
    const uintptr_t origin = (uintptr_t)anchor;
    const uintptr_t below = origin & ~(step - 1);
    const uintptr_t above = below + step;
    void *base = NULL;
    for (uintptr_t distance = 0; distance < (uintptr_t)CODE_WINDOW && !base; distance += step) {
        /* [start, start + size) must stay within CODE_WINDOW of the anchor. */
        if (below >= distance + size && origin - (below - distance - size) <= (uintptr_t)CODE_WINDOW)
            base = reserve((void *)(below - distance - size), size);
        if (!base && above + distance + size - origin <= (uintptr_t)CODE_WINDOW)
            base = reserve((void *)(above + distance), size);
    }
    chunk->near = base != NULL;
    if (!base)
        base = reserve(NULL, size);
    if (!base) {
        free(chunk);
        return NULL;
    }
    chunk->base = base;
    chunk->size = size;
    return chunk;
}

int hj_arena_within_call_reach(const struct hj_arena *arena, uintptr_t target) {
    if (arena->far)
        return 0;
    uintptr_t anchor = (uintptr_t)arena->anchor;
    uintptr_t distance = target > anchor ? target - anchor : anchor - target;
    return distance <= (uintptr_t)CALL_REACH;
}

void hj_arena_note_near_calls(struct hj_arena *arena) {
    __atomic_store_n(&arena->near_calls, 1, __ATOMIC_SEQ_CST);
}

struct hj_arena *hj_arena_new(const void *anchor) {
    struct hj_arena *arena = calloc(1, sizeof *arena);
    if (!arena)
        return NULL;
    arena->anchor = anchor;
    arena->chunk = reserve_chunk(anchor, FIRST_CHUNK_SIZE);
    if (!arena->chunk) {
        free(arena);
        return NULL;
    }
    /* No room near the host (many engines live at once): this engine's
     * code calls the host as ORC's own allocator's would, through far
     * calls, and works wherever its later chunks land. */
    arena->far = !arena->chunk->near;
    pthread_mutex_init(&arena->lock, NULL);
    return arena;
}

void hj_arena_free(struct hj_arena *arena) {
    if (!arena)
        return;
    for (struct hj_chunk *chunk = arena->chunk, *prev; chunk; chunk = prev) {
        prev = chunk->prev;
        munmap(chunk->base, chunk->size);
        free(chunk);
    }
    pthread_mutex_destroy(&arena->lock);
    free(arena);
}

/* Commits `pages` fresh read+write pages; `*near` tells whether they are
 * in a near chunk. */
static char *take_pages(struct hj_arena *arena, size_t pages, int *near) {
    size_t bytes = pages * page_size();
    char *start = NULL;
    pthread_mutex_lock(&arena->lock);
    struct hj_chunk *chunk = arena->chunk;
    if (chunk->used + bytes > chunk->size) {
        struct hj_chunk *fresh = reserve_chunk(arena->anchor, bytes > CHUNK_SIZE ? bytes : CHUNK_SIZE);
        if (fresh) {
            fresh->prev = chunk;
            arena->chunk = chunk = fresh;
        }
    }
    if (chunk->used + bytes <= chunk->size) {
        start = chunk->base + chunk->used;
        *near = chunk->near;
        if (mprotect(start, bytes, PROT_READ | PROT_WRITE) == 0) {
            chunk->used += bytes;
            arena->committed += bytes;
        } else {
            start = NULL;
        }
    }
    pthread_mutex_unlock(&arena->lock);
    return start;
}

/* ---- RuntimeDyld callbacks ---- */

void *hj_memory_create_context(void *arena) {
    struct hj_object_memory *memory = calloc(1, sizeof *memory);
    if (memory)
        memory->arena = arena;
    return memory;
}

void hj_memory_notify_terminating(void *arena) {
    /* The layer is going away with its objects: so does the arena. */
    hj_arena_free(arena);
}

static uint8_t *allocate(struct hj_object_memory *memory, uintptr_t size, unsigned alignment, int kind) {
    if (!memory)
        return NULL;
    if (alignment == 0)
        alignment = 16;
    struct hj_run *run = &memory->current[kind];
    uintptr_t offset = (run->used + alignment - 1) & ~((uintptr_t)alignment - 1);
    if (!run->start || offset + size > run->pages * page_size()) {
        size_t pages = (size + alignment + page_size() - 1) / page_size();
        if (pages == 0)
            pages = 1;
        int near = 0;
        char *start = take_pages(memory->arena, pages, &near);
        if (!start)
            return NULL;
        if (kind == KIND_CODE && !near)
            memory->far_code = 1;
        if (memory->nruns == memory->cap) {
            size_t cap = memory->cap ? memory->cap * 2 : 8;
            struct hj_page_run *grown = realloc(memory->runs, cap * sizeof *grown);
            if (!grown)
                return NULL;
            memory->runs = grown;
            memory->cap = cap;
        }
        memory->runs[memory->nruns].start = start;
        memory->runs[memory->nruns].length = pages * page_size();
        memory->runs[memory->nruns].kind = kind;
        memory->nruns++;
        run->start = start;
        run->pages = pages;
        run->used = 0;
        offset = ((uintptr_t)start % alignment) ? (alignment - (uintptr_t)start % alignment) : 0;
    }
    run->used = offset + size;
    return (uint8_t *)run->start + offset;
}

uint8_t *hj_memory_allocate_code(void *memory, uintptr_t size, unsigned alignment, unsigned section_id,
                                 const char *name) {
    (void)section_id;
    (void)name;
    return allocate(memory, size, alignment, KIND_CODE);
}

uint8_t *hj_memory_allocate_data(void *memory, uintptr_t size, unsigned alignment, unsigned section_id,
                                 const char *name, int read_only) {
    (void)section_id;
    (void)name;
    return allocate(memory, size, alignment, read_only ? KIND_RODATA : KIND_DATA);
}

/* Code becomes read+execute, read-only data read-only. Returns 0 on success
 * (LLVMBool false), as the callback's contract says. */
int hj_memory_finalize(void *opaque, char **error) {
    struct hj_object_memory *memory = opaque;
    /* Conservative: whether this object itself calls the host directly is
     * not known here, only that some object does. */
    if (memory && memory->far_code && __atomic_load_n(&memory->arena->near_calls, __ATOMIC_SEQ_CST)) {
        if (error)
            *error = strdup("JIT'd code placed out of reach of the host's functions: the address "
                            "space near the host is used up");
        return 1;
    }
    for (size_t i = 0; memory && i < memory->nruns; i++) {
        int protection = memory->runs[i].kind == KIND_CODE     ? PROT_READ | PROT_EXEC
                         : memory->runs[i].kind == KIND_RODATA ? PROT_READ
                                                               : PROT_READ | PROT_WRITE;
        if (mprotect(memory->runs[i].start, memory->runs[i].length, protection) != 0) {
            if (error)
                *error = strdup("mprotect failed while finalizing JIT'd memory");
            return 1;
        }
    }
    for (size_t i = 0; memory && i < memory->nruns; i++)
        if (memory->runs[i].kind == KIND_CODE)
            __builtin___clear_cache(memory->runs[i].start, memory->runs[i].start + memory->runs[i].length);
    /* Later sections of this object (there are none after finalization)
     * would start on fresh pages. */
    for (int kind = 0; memory && kind < KIND_COUNT; kind++)
        memory->current[kind].start = NULL;
    return 0;
}

size_t hj_arena_committed(struct hj_arena *arena) {
    pthread_mutex_lock(&arena->lock);
    size_t committed = arena->committed;
    pthread_mutex_unlock(&arena->lock);
    return committed;
}

/* Called when the object's resources are released (its resource tracker
 * was removed, or the JIT is going): its pages go back to the kernel; the
 * address range stays reserved and is not reused. */
void hj_memory_destroy(void *opaque) {
    struct hj_object_memory *memory = opaque;
    if (!memory)
        return;
    struct hj_arena *arena = memory->arena;
    pthread_mutex_lock(&arena->lock);
    for (size_t i = 0; i < memory->nruns; i++) {
        void *start = memory->runs[i].start;
        size_t length = memory->runs[i].length;
        if (mmap(start, length, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) !=
            MAP_FAILED)
            arena->committed -= length;
    }
    pthread_mutex_unlock(&arena->lock);
    free(memory->runs);
    free(memory);
}

/* ---- redirecting a function's entry ---- */

static pthread_mutex_t redirect_lock = PTHREAD_MUTEX_INITIALIZER;

/* Makes the function at `from` continue at `to`: its entry, a 5-byte no-op
 * (its prologue data) or an earlier redirection, becomes
 * `jmp rel32` in one aligned 8-byte store. A thread is never inside that one
 * instruction, so it runs either the old entry or the jump: the swap is
 * atomic for every caller, including through old function pointers.
 * Returns 0; -1 if the entry is not 8-byte aligned or not patchable, -2 if
 * `to` is out of a rel32 jump's reach, -3 if the page cannot be made
 * writable. */
/* The entry every patchable function starts with: `nopl 0(%rax,%rax,1)`,
 * one 5-byte instruction that `jmp rel32` replaces. The Rust side emits it as
 * each function's prologue data (llvm/patchable.rs reads it from here, so
 * the two cannot disagree), at an address aligned to
 * hj_patchable_entry_alignment, so that the 8 bytes from the entry on are one
 * aligned atomic store. */
const unsigned char hj_patchable_entry[5] = {0x0f, 0x1f, 0x44, 0x00, 0x00};
const unsigned hj_patchable_entry_alignment = 16;

int hj_redirect_entry(void *from, const void *to) {
    uintptr_t entry = (uintptr_t)from;
    if (entry & 7)
        return -1;
    intptr_t distance = (intptr_t)to - (intptr_t)(entry + 5);
    if (distance < INT32_MIN || distance > INT32_MAX)
        return -2;
    unsigned char bytes[8];
    memcpy(bytes, from, 8);
    /* The patchable entry, or an earlier jump. */
    if (memcmp(bytes, hj_patchable_entry, sizeof hj_patchable_entry) != 0 && bytes[0] != 0xe9)
        return -1;
    bytes[0] = 0xe9;
    int32_t rel = (int32_t)distance;
    memcpy(bytes + 1, &rel, 4);
    uint64_t word;
    memcpy(&word, bytes, 8);
    char *page = (char *)(entry & ~(uintptr_t)(page_size() - 1));
    pthread_mutex_lock(&redirect_lock);
    int result = 0;
    if (mprotect(page, page_size(), PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        result = -3;
    } else {
        __atomic_store_n((uint64_t *)from, word, __ATOMIC_SEQ_CST);
        mprotect(page, page_size(), PROT_READ | PROT_EXEC);
        __builtin___clear_cache((char *)from, (char *)from + 8);
    }
    pthread_mutex_unlock(&redirect_lock);
    return result;
}

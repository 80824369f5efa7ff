/* The guest's C runtime: what crt0 and libc's exit() do for a native program,
 * done so that the host survives the guest's exit.
 *
 * Guest code is entered through hj_rt_call(), which sets a jump target; the
 * guest's exit(), _exit() and _Exit() are bound to hj_rt_exit()/hj_rt__exit(),
 * which jump back to it instead of ending the process. The frames skipped are
 * the guest's and this file's only: no Rust frame lies between the two, so no
 * Rust destructor is ever skipped.
 *
 * atexit()/__cxa_atexit() handlers are kept per engine (struct hj_rt_state)
 * and run by hj_rt_run_exit_handlers(). Thread-locals of JIT'd code are
 * lowered to hj_rt_tls_address() (ELF TLS needs LLVM's ORC runtime, which the
 * C API cannot set up).
 */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unwind.h>

enum hj_outcome {
    HJ_RETURNED = 0,
    HJ_EXITED = 1,
    HJ_EXITED_IMMEDIATELY = 2,
    HJ_TRAPPED = 3,
    HJ_FAULTED = 4
};

struct hj_frame {
    jmp_buf env;
    struct hj_frame *prev;
    int kind; /* enum hj_call_kind */
};

static __thread struct hj_frame *current_frame;
/* A thread the guest created (faults.c's start_guest_thread marks it): a
 * trap there ends the thread, and the run reports it. */
static __thread int guest_thread;

void hj_rt_mark_guest_thread(void) { guest_thread = 1; }
/* Set by leave() before it jumps. Kept outside the frame: C leaves locals of
 * hj_rt_call that change between setjmp and longjmp indeterminate. */
static __thread int left_status, left_outcome;

typedef int (*hj_main_fn)(int, char **, char **);
typedef void (*hj_handler_fn)(void *);

enum hj_call_kind { HJ_CALL_ENTRY = 0, HJ_CALL_HANDLER = 1 };

/* HJ_CALL_ENTRY calls fn(argc, argv, envp): a function taking fewer arguments
 * ignores the rest, as the SysV ABI allows, and a void function's result is
 * ignored by the caller. HJ_CALL_HANDLER calls fn(arg). Returns how the call
 * ended; *status receives the return value or the exit status. */
void hj_rt_fault_reports_for_thread(void); /* faults.c */

/* ---- calling guest code with the host's registers kept ----
 *
 * Code that breaks the calling convention — a `naked` function with an IR
 * body (LLVM gives it no prologue), inline assembly that changes rbx or r12
 * without saying so — returns with the caller's callee-saved registers
 * changed. Natively, libc's call of main does not mind; a host does: the
 * next thing it does with them faults in its own code. So every call from
 * the host into guest code goes through hj_rt_guarded_call, which saves
 * rbx, rbp and r12-r15 on its own stack, calls the target with the
 * arguments it was given, and restores them from there (found by rsp,
 * which a function that returned at all has kept), clearing the direction
 * flag too. It is called as the target would be: the target comes from
 * hj_rt_guard_next(), called just before by the same thread, and the
 * target's stack arguments, up to HJ_GUARD_STACK_SLOTS of them, are copied
 * below the guard's frame. MXCSR and the x87 control word are left alone:
 * a guest may set its rounding mode for later calls on purpose. */
#define HJ_GUARD_STACK_SLOTS 16

static __thread void *guard_target;

#if defined(__x86_64__) && defined(__ELF__)
__attribute__((visibility("hidden"))) void *hj_rt_guard_take(void);
__attribute__((visibility("hidden"))) void hj_rt_guarded_call(void);

/* The frame, from the return address down: the 6 saved registers (48
 * bytes), then 200 bytes while hj_rt_guard_take runs (the argument
 * registers: rdi, rsi, rdx, rcx, r8, r9, rax for a variadic target's
 * count, xmm0-7; rsp 16-aligned at the call), then 136 while the target
 * runs (8 of alignment above its 128 bytes of stack arguments). The CFA is
 * always rsp-based: rbp may be the guest's when something faults. */
__asm__(".text\n"
        ".p2align 4\n"
        ".type hj_rt_guarded_call, @function\n"
        "hj_rt_guarded_call:\n"
        ".cfi_startproc\n"
        "pushq %rbp\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset %rbp, 0\n"
        "pushq %rbx\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset %rbx, 0\n"
        "pushq %r12\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset %r12, 0\n"
        "pushq %r13\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset %r13, 0\n"
        "pushq %r14\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset %r14, 0\n"
        "pushq %r15\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset %r15, 0\n"
        "subq $200, %rsp\n .cfi_adjust_cfa_offset 200\n"
        "movq %rdi, 0(%rsp)\n movq %rsi, 8(%rsp)\n movq %rdx, 16(%rsp)\n"
        "movq %rcx, 24(%rsp)\n movq %r8, 32(%rsp)\n movq %r9, 40(%rsp)\n"
        "movq %rax, 48(%rsp)\n"
        "movdqu %xmm0, 64(%rsp)\n movdqu %xmm1, 80(%rsp)\n"
        "movdqu %xmm2, 96(%rsp)\n movdqu %xmm3, 112(%rsp)\n"
        "movdqu %xmm4, 128(%rsp)\n movdqu %xmm5, 144(%rsp)\n"
        "movdqu %xmm6, 160(%rsp)\n movdqu %xmm7, 176(%rsp)\n"
        "call hj_rt_guard_take\n"
        "movq %rax, %r11\n"
        "movq 0(%rsp), %rdi\n movq 8(%rsp), %rsi\n movq 16(%rsp), %rdx\n"
        "movq 24(%rsp), %rcx\n movq 32(%rsp), %r8\n movq 40(%rsp), %r9\n"
        "movq 48(%rsp), %rax\n"
        "movdqu 64(%rsp), %xmm0\n movdqu 80(%rsp), %xmm1\n"
        "movdqu 96(%rsp), %xmm2\n movdqu 112(%rsp), %xmm3\n"
        "movdqu 128(%rsp), %xmm4\n movdqu 144(%rsp), %xmm5\n"
        "movdqu 160(%rsp), %xmm6\n movdqu 176(%rsp), %xmm7\n"
        /* 200 - 64 = 136 stay: 8 of alignment, then 128 bytes of copied
         * stack arguments. */
        "addq $64, %rsp\n .cfi_adjust_cfa_offset -64\n"
        /* The caller's stack arguments: above the return address, at
         * 8 + 48 + 8 + 128 = 192 from here. */
        ".irp i, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
        "movq 192+8*\\i(%rsp), %r10\n movq %r10, 8*\\i(%rsp)\n"
        ".endr\n"
        "call *%r11\n"
        "addq $136, %rsp\n .cfi_adjust_cfa_offset -136\n"
        "popq %r15\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r15\n"
        "popq %r14\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r14\n"
        "popq %r13\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r13\n"
        "popq %r12\n .cfi_adjust_cfa_offset -8\n .cfi_restore %r12\n"
        "popq %rbx\n .cfi_adjust_cfa_offset -8\n .cfi_restore %rbx\n"
        "popq %rbp\n .cfi_adjust_cfa_offset -8\n .cfi_restore %rbp\n"
        "cld\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size hj_rt_guarded_call, .-hj_rt_guarded_call\n");

/* The target hj_rt_guard_next() set, taken once. */
void *hj_rt_guard_take(void) {
    void *target = guard_target;
    guard_target = NULL;
    if (!target) {
        static const char lost[] = "hyperjit: error: internal: a guarded call without a target\n";
        (void)!write(2, lost, sizeof lost - 1);
        abort();
    }
    return target;
}

/* What to call instead of `target`, with its arguments, next on this
 * thread: hj_rt_guarded_call. */
void *hj_rt_guard_next(void *target) {
    guard_target = target;
    return (void *)hj_rt_guarded_call;
}
#else
/* Elsewhere the target is called as it is (not yet guarded). */
void *hj_rt_guard_next(void *target) {
    (void)guard_target;
    return target;
}
#endif

int hj_rt_call(void *fn, int kind, void *arg, int argc, char **argv, char **envp, int *status) {
    hj_rt_fault_reports_for_thread();
    struct hj_frame frame;
    frame.prev = current_frame;
    frame.kind = kind;
    current_frame = &frame;
    if (setjmp(frame.env) == 0) {
        int result = 0;
        if (kind == HJ_CALL_HANDLER)
            ((hj_handler_fn)hj_rt_guard_next(fn))(arg);
        else
            result = ((hj_main_fn)hj_rt_guard_next(fn))(argc, argv, envp);
        current_frame = frame.prev;
        *status = result;
        return HJ_RETURNED;
    }
    current_frame = frame.prev;
    *status = left_status;
    return left_outcome;
}

static _Noreturn void leave(int status, int outcome) {
    struct hj_frame *frame = current_frame;
    if (!frame) {
        /* No run to return to: a thread the guest created, or a host that
         * called JIT'd code directly. exit() ends the process, as it would
         * natively; a trap ends a guest thread (the engine has recorded it
         * and reports it when the run ends). Rust never raises a trap that
         * nothing can stop (callback/raise.rs); anything else that does is
         * refused visibly. */
        if (outcome == HJ_TRAPPED) {
            if (guest_thread)
                pthread_exit(NULL);
            static const char refused[] =
                "hyperjit: error: a trap with no hyperjit call to return to\n";
            (void)!write(2, refused, sizeof refused - 1);
            abort();
        }
        if (outcome == HJ_EXITED)
            exit(status);
        _exit(status);
    }
    left_status = status;
    left_outcome = outcome;
    longjmp(frame->env, 1);
}

/* What the last fault a host's call caught was (faults.c's report line). */
static __thread char fault_report[256];

/* Called by faults.c's handler for a hardware fault in JIT'd code: if the
 * innermost call the engine entered on this thread is the host's
 * (HJ_CALL_HANDLER: TypedFn::call, Engine::call, hj_engine_call), that call
 * fails with HJ_FAULTED and `report`; the guest's frames are abandoned, as
 * for a trap. Code in a library the guest called may hold its locks, so a
 * fault there is not caught. Otherwise returns, and the process dies,
 * reported. Async-signal-safe. */
void hj_rt_escape_fault(int sig, const char *report, size_t len) {
    struct hj_frame *frame = current_frame;
    if (!frame || frame->kind != HJ_CALL_HANDLER)
        return;
    if (len >= sizeof fault_report)
        len = sizeof fault_report - 1;
    memcpy(fault_report, report, len);
    fault_report[len] = 0;
    /* Leaving the handler by a jump: its signal stays blocked otherwise. */
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    pthread_sigmask(SIG_UNBLOCK, &only, NULL);
    leave(sig, HJ_FAULTED);
}

const char *hj_rt_fault_report(void) { return fault_report; }

_Noreturn void hj_rt_exit(int status) { leave(status, HJ_EXITED); }
_Noreturn void hj_rt__exit(int status) { leave(status, HJ_EXITED_IMMEDIATELY); }

/* ---- is guest code running on this thread? ---- */

struct frame_search {
    int (*matches)(uint64_t ip);
    uint64_t found;
    int frames;
};

static _Unwind_Reason_Code visit_frame(struct _Unwind_Context *context, void *arg) {
    struct frame_search *search = arg;
    uint64_t ip = _Unwind_GetIP(context);
    if (ip != 0 && search->matches(ip)) {
        search->found = ip;
        return _URC_END_OF_STACK;
    }
    return ++search->frames < 512 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

/* The address in the first frame up this thread's stack (from the caller's
 * own) that `matches`, or 0. The walk stops there, or where unwind
 * information ends: a frame without any (JIT'd code compiled without it) is
 * still visited, as the one the unwinder could not step past. Used by the
 * fault reports (faults.c). */
uint64_t hj_rt_first_frame(int (*matches)(uint64_t ip)) {
    struct frame_search search = {matches, 0, 0};
    _Unwind_Backtrace(visit_frame, &search);
    return search.found;
}

/* 1 if a trap can stop the guest on this thread: the engine entered the
 * guest code running here (a run, TypedFn::call, hj_engine_call), or the
 * guest created the thread. 0 for JIT'd code a host thread called by its
 * address: nothing there to return to. */
int hj_rt_can_stop_guest(void) { return current_frame != NULL || guest_thread; }

/* Stops the guest after a callback failed. The caller (a Rust trampoline)
 * has recorded why and holds nothing that needs dropping. */
_Noreturn void hj_rt_trap(void) { leave(0, HJ_TRAPPED); }

/* ---- exit handlers, per engine ---- */

struct hj_handler {
    hj_handler_fn fn;
    void *arg;
};

struct hj_rt_state {
    pthread_mutex_t lock;
    struct hj_handler *handlers;
    size_t len, cap;
};

struct hj_rt_state *hj_rt_state_new(void) {
    struct hj_rt_state *state = calloc(1, sizeof *state);
    if (state)
        pthread_mutex_init(&state->lock, NULL);
    return state;
}

void hj_rt_state_free(struct hj_rt_state *state) {
    if (!state)
        return;
    pthread_mutex_destroy(&state->lock);
    free(state->handlers);
    free(state);
}

int hj_rt_cxa_atexit(struct hj_rt_state *state, hj_handler_fn fn, void *arg, void *dso_handle) {
    (void)dso_handle;
    int result = -1;
    pthread_mutex_lock(&state->lock);
    if (state->len == state->cap) {
        size_t cap = state->cap ? state->cap * 2 : 32;
        struct hj_handler *grown = realloc(state->handlers, cap * sizeof *grown);
        if (!grown)
            goto out;
        state->handlers = grown;
        state->cap = cap;
    }
    state->handlers[state->len].fn = fn;
    state->handlers[state->len].arg = arg;
    state->len++;
    result = 0;
out:
    pthread_mutex_unlock(&state->lock);
    return result;
}

static void call_plain_handler(void *fn) { ((void (*)(void))fn)(); }

int hj_rt_atexit(struct hj_rt_state *state, void (*fn)(void)) {
    /* Kept in the same list as __cxa_atexit registrations, so that all run
     * in reverse order of registration. */
    return hj_rt_cxa_atexit(state, call_plain_handler, (void *)fn, NULL);
}

/* Runs the handlers last-registered-first, including any registered while
 * they run. A handler that calls exit() sets the new status and the rest
 * still run (glibc does the same). Returns 1 if a handler trapped (the rest
 * are not run), else 0. */
int hj_rt_run_exit_handlers(struct hj_rt_state *state, int *status) {
    for (;;) {
        struct hj_handler handler;
        pthread_mutex_lock(&state->lock);
        if (state->len == 0) {
            pthread_mutex_unlock(&state->lock);
            return 0;
        }
        handler = state->handlers[--state->len];
        pthread_mutex_unlock(&state->lock);
        int handler_status;
        int outcome = hj_rt_call((void *)handler.fn, HJ_CALL_HANDLER, handler.arg, 0, NULL, NULL, &handler_status);
        if (outcome == HJ_TRAPPED)
            return 1;
        if (outcome != HJ_RETURNED)
            *status = handler_status;
    }
}

/* Discards registered handlers without running them (after a run that did
 * not end by exit). */
void hj_rt_clear_exit_handlers(struct hj_rt_state *state) {
    pthread_mutex_lock(&state->lock);
    state->len = 0;
    pthread_mutex_unlock(&state->lock);
}

/* ---- C++ thread_local destructors (__cxa_thread_atexit) ----
 *
 * Natively, exit() runs the main thread's thread_local destructors, then the
 * atexit handlers. A program's run happens on a host thread that outlives
 * it, so destructors registered on that thread during the run are kept here
 * and run (or dropped) when the run ends. Elsewhere — threads the guest
 * created, host threads calling guest functions outside a run — glibc's own
 * list runs them when the thread exits. */
extern int __cxa_thread_atexit_impl(hj_handler_fn fn, void *obj, void *dso_handle);

static __thread int run_in_progress;
static __thread struct hj_handler *run_thread_dtors;
static __thread size_t run_thread_dtors_len, run_thread_dtors_cap;

int hj_rt_cxa_thread_atexit(hj_handler_fn fn, void *obj, void *dso_handle) {
    if (!run_in_progress)
        return __cxa_thread_atexit_impl(fn, obj, dso_handle);
    if (run_thread_dtors_len == run_thread_dtors_cap) {
        size_t cap = run_thread_dtors_cap ? run_thread_dtors_cap * 2 : 16;
        struct hj_handler *grown = realloc(run_thread_dtors, cap * sizeof *grown);
        if (!grown)
            return -1;
        run_thread_dtors = grown;
        run_thread_dtors_cap = cap;
    }
    run_thread_dtors[run_thread_dtors_len].fn = fn;
    run_thread_dtors[run_thread_dtors_len].arg = obj;
    run_thread_dtors_len++;
    return 0;
}

void hj_rt_begin_run(void) { run_in_progress = 1; }

/* Ends this thread's run: runs its thread_local destructors last-registered
 * first if `run_them` (those registered meanwhile too), else drops them. A
 * destructor's exit() sets *status; returns 1 if one trapped (the rest are
 * dropped), else 0. */
int hj_rt_end_run(int run_them, int *status) {
    int trapped = 0;
    while (run_thread_dtors_len > 0) {
        struct hj_handler dtor = run_thread_dtors[--run_thread_dtors_len];
        if (!run_them || trapped)
            continue;
        int dtor_status;
        int outcome = hj_rt_call((void *)dtor.fn, HJ_CALL_HANDLER, dtor.arg, 0, NULL, NULL, &dtor_status);
        if (outcome == HJ_TRAPPED)
            trapped = 1;
        else if (outcome != HJ_RETURNED)
            *status = dtor_status;
    }
    free(run_thread_dtors);
    run_thread_dtors = NULL;
    run_thread_dtors_cap = 0;
    run_in_progress = 0;
    return trapped;
}

void hj_rt_flush_stdio(void) { fflush(NULL); }

/* ---- thread-local variables of JIT'd code ---- */

struct hj_tls_var {
    uint64_t size;
    uint64_t align;
    const void *init;
    uint64_t key; /* 0 until the first access from any thread */
};

struct hj_tls_block {
    size_t cap;
    void **slots;
};

static __thread struct hj_tls_block tls_block;
static uint64_t next_tls_key = 1;
static pthread_key_t tls_cleanup_key;
static pthread_once_t tls_cleanup_once = PTHREAD_ONCE_INIT;

static void free_tls_block(void *data) {
    struct hj_tls_block *block = data;
    for (size_t i = 0; i < block->cap; i++)
        free(block->slots[i]);
    free(block->slots);
    block->slots = NULL;
    block->cap = 0;
}

static void create_tls_cleanup_key(void) { pthread_key_create(&tls_cleanup_key, free_tls_block); }

static void *tls_allocate(struct hj_tls_var *var, uint64_t key) {
    struct hj_tls_block *block = &tls_block;
    if (key >= block->cap) {
        size_t cap = block->cap ? block->cap : 16;
        while (cap <= key)
            cap *= 2;
        void **grown = realloc(block->slots, cap * sizeof *grown);
        if (!grown)
            abort();
        memset(grown + block->cap, 0, (cap - block->cap) * sizeof *grown);
        block->slots = grown;
        block->cap = cap;
        pthread_once(&tls_cleanup_once, create_tls_cleanup_key);
        pthread_setspecific(tls_cleanup_key, block);
    }
    size_t align = var->align < sizeof(void *) ? sizeof(void *) : var->align;
    size_t size = var->size ? var->size : 1;
    size = (size + align - 1) / align * align;
    void *memory = aligned_alloc(align, size);
    if (!memory)
        abort();
    if (var->init)
        memcpy(memory, var->init, var->size);
    else
        memset(memory, 0, size);
    block->slots[key] = memory;
    return memory;
}

void *hj_rt_tls_address(struct hj_tls_var *var) {
    uint64_t key = __atomic_load_n(&var->key, __ATOMIC_ACQUIRE);
    if (key == 0) {
        uint64_t fresh = __atomic_fetch_add(&next_tls_key, 1, __ATOMIC_RELAXED);
        uint64_t expected = 0;
        if (__atomic_compare_exchange_n(&var->key, &expected, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            key = fresh;
        else
            key = expected;
    }
    struct hj_tls_block *block = &tls_block;
    if (key < block->cap && block->slots[key])
        return block->slots[key];
    return tls_allocate(var, key);
}

/* ---- libc_nonshared.a functions, which the process does not export ---- */

extern int __register_atfork(void (*)(void), void (*)(void), void (*)(void), void *);
extern int __cxa_at_quick_exit(void (*)(void *), void *);

int hj_rt_pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void)) {
    return __register_atfork(prepare, parent, child, NULL);
}

int hj_rt_at_quick_exit(void (*fn)(void)) { return __cxa_at_quick_exit((void (*)(void *))fn, NULL); }

/* ---- lazy compilation ----
 * A function not compiled yet is a stub that loads the address of its
 * record into r11 (`movabs $record, %r11`: the bytes below) and jumps here. A record starts with the function that
 * compiles the stub's function: it returns the new code's address, or does
 * not return (it traps). Around that call every register that can carry an
 * argument is saved (rax: the vector-register count of a variadic call; r10:
 * the static chain; the SSE state with fxsave), and the new code is entered
 * with the caller's frame untouched, as if called directly. */
/* Where in a record the compiling function's address is. */
#define HJ_LAZY_RECORD_COMPILE 0
#define HJ_STRING_OF(x) #x
#define HJ_STRING(x) HJ_STRING_OF(x)

/* The lazy entry's contract, which this file owns: the stub's instruction
 * that loads the record (llvm/patchable.rs writes it) and where the record
 * (link/lazy.rs's LazyRecord) keeps the compiling function. A test on the
 * Rust side compares both with its halves. */
struct hj_rt_lazy_contract {
    unsigned char stub_record_load[2];
    size_t record_compile_offset;
};

const struct hj_rt_lazy_contract hj_rt_lazy_contract = {
    {0x49, 0xbb}, /* REX.W+B, B8+3: movabs $imm64, %r11 */
    HJ_LAZY_RECORD_COMPILE,
};

__asm__(".text\n"
        ".globl hj_rt_lazy_entry\n"
        ".type hj_rt_lazy_entry,@function\n"
        ".p2align 4\n"
        "hj_rt_lazy_entry:\n"
        ".cfi_startproc\n"
        "  pushq %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "  movq %rsp, %rbp\n"
        ".cfi_def_cfa_register %rbp\n"
        "  pushq %rax\n"
        "  pushq %rdi\n"
        "  pushq %rsi\n"
        "  pushq %rdx\n"
        "  pushq %rcx\n"
        "  pushq %r8\n"
        "  pushq %r9\n"
        "  pushq %r10\n"
        /* fxsave64 and the call need rsp 16-aligned. A call leaves it 8
         * past a boundary, so rbp and eight pushes would do; but code that
         * breaks the calling convention (a `naked` function with an IR
         * body) calls with it misaligned, so it is aligned here. */
        "  andq $-16, %rsp\n"
        "  subq $512, %rsp\n"
        "  fxsave64 (%rsp)\n"
        "  movq %r11, %rdi\n"
        "  callq *" HJ_STRING(HJ_LAZY_RECORD_COMPILE) "(%r11)\n"
        "  movq %rax, %r11\n"
        "  fxrstor64 (%rsp)\n"
        "  leaq -64(%rbp), %rsp\n"
        "  popq %r10\n"
        "  popq %r9\n"
        "  popq %r8\n"
        "  popq %rcx\n"
        "  popq %rdx\n"
        "  popq %rsi\n"
        "  popq %rdi\n"
        "  popq %rax\n"
        "  popq %rbp\n"
        ".cfi_def_cfa %rsp, 8\n"
        "  jmpq *%r11\n"
        ".cfi_endproc\n"
        ".size hj_rt_lazy_entry, .-hj_rt_lazy_entry\n");

/* ---- the contract with the Rust side ----
 * The codes and layouts above are mirrored by runtime/call.rs (outcomes,
 * call kinds) and by the IR that llvm/lower.rs gives a thread-local's control
 * block. This file owns them; a test on the Rust side compares its halves
 * with these values. */
struct hj_rt_contract {
    int call_entry, call_handler;
    int returned, exited, exited_immediately, trapped, faulted;
    int guard_stack_slots;
    size_t tls_var_size;
    size_t tls_size_offset, tls_align_offset, tls_init_offset, tls_key_offset;
};

const struct hj_rt_contract hj_rt_contract = {
    HJ_CALL_ENTRY,
    HJ_CALL_HANDLER,
    HJ_RETURNED,
    HJ_EXITED,
    HJ_EXITED_IMMEDIATELY,
    HJ_TRAPPED,
    HJ_FAULTED,
    HJ_GUARD_STACK_SLOTS,
    sizeof(struct hj_tls_var),
    offsetof(struct hj_tls_var, size),
    offsetof(struct hj_tls_var, align),
    offsetof(struct hj_tls_var, init),
    offsetof(struct hj_tls_var, key),
};

/* ---- the CPU model `target_clones` resolvers read ---- */

/* clang's ifunc resolvers (target_clones, __builtin_cpu_supports) call
 * __cpu_indicator_init and read __cpu_model and __cpu_features2, which a
 * native link takes from libgcc.a. libgcc_s.so.1, which every Rust program
 * loads, has the first two, under a version dlsym() does not see. Where it
 * does not, or for __cpu_features2 (not exported), these stand in: no
 * feature is present, so a resolver picks its default version. */
static struct {
    unsigned int vendor, type, subtype;
    unsigned int features[1];
} fallback_cpu_model;
static unsigned int fallback_cpu_features2[3];

static void fallback_cpu_indicator_init(void) {}

void hj_rt_cpu_symbols(void **model, void **indicator_init, void **features2) {
    *model = dlvsym(RTLD_DEFAULT, "__cpu_model", "GCC_4.8.0");
    *indicator_init = dlvsym(RTLD_DEFAULT, "__cpu_indicator_init", "GCC_4.8.0");
    if (!*model || !*indicator_init) {
        *model = &fallback_cpu_model;
        *indicator_init = (void *)fallback_cpu_indicator_init;
    }
    *features2 = fallback_cpu_features2;
}

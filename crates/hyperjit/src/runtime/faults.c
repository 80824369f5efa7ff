/* Fault reports: when guest code dies by a signal, say where, then die by
 * that signal as the native program would.
 *
 * The handlers (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) run on an
 * alternate stack, so that a stack overflow is reported too: every thread
 * that runs guest code gets one, the host's as it calls in (hj_rt_call) and
 * the guest's own through its pthread_create. Threads a native library
 * starts for the guest (libstdc++'s std::thread) get none: an overflow
 * there kills the process by SIGSEGV, unreported, as natively. A report names
 * the signal, the faulting address, and the JIT'd function + offset where
 * it happened (from the code map, src/llvm/code_map.cpp), or the library
 * function and the nearest JIT'd caller on the stack (abort() is called by
 * the guest, but the signal comes from libc). Then the signal's default
 * action is restored and the signal raised again: the process ends as the
 * native program's would (status, core dump).
 *
 * A thread that is reading or compiling an input names what it is doing
 * (hj_rt_set_phase); a crash there outside JIT'd code is LLVM's, reported
 * as hyperjit's own error with exit status 125.
 *
 * Everything the handler calls is async-signal-safe or reads memory that
 * is immutable once published, but for dladdr() and the stack walk, which
 * run only once the process is dying anyway.
 */
#define _GNU_SOURCE /* dladdr, REG_RIP */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

/* src/llvm/code_map.cpp */
#include "../llvm/cpp_api.h" /* hj_code_map_find */

/* What this thread is doing with an input ("reading prog.bc"), or NULL. */
static __thread const char *phase;

/* Sets this thread's phase; returns the one it replaces. */
const char *hj_rt_set_phase(const char *what) {
    const char *previous = phase;
    phase = what;
    return previous;
}

/* ---- a report, built without allocating ---- */

struct text {
    char bytes[1024];
    size_t len;
};

static void add(struct text *text, const char *part) {
    while (*part && text->len < sizeof text->bytes)
        text->bytes[text->len++] = *part++;
}

static void add_hex(struct text *text, uint64_t value) {
    char digits[19] = "0x";
    int len = 2;
    int shift = 60;
    while (shift > 0 && ((value >> shift) & 0xf) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        digits[len++] = "0123456789abcdef"[(value >> shift) & 0xf];
    digits[len] = '\0';
    add(text, digits);
}

/* A JIT'd function's name as the guest wrote it: without the suffixes the
 * engine gives bodies (".hj.first", ".hj.v2"). */
static void add_function(struct text *text, const char *name) {
    const char *suffix = strstr(name, ".hj.");
    size_t len = suffix ? (size_t)(suffix - name) : strlen(name);
    for (size_t i = 0; i < len && text->len < sizeof text->bytes; i++)
        text->bytes[text->len++] = name[i];
}

/* "FUNCTION+0xOFF" for JIT'd code; 0 if `address` is not JIT'd. */
static int add_jit_place(struct text *text, uint64_t address) {
    const char *name;
    uint64_t offset;
    if (!hj_code_map_find(address, &name, &offset))
        return 0;
    add_function(text, name);
    add(text, "+");
    add_hex(text, offset);
    return 1;
}

/* shim.c: the first frame up the stack whose address `matches`. */
uint64_t hj_rt_first_frame(int (*matches)(uint64_t ip));

/* A return address (so one past its call) inside JIT'd code. */
static int returns_into_jit(uint64_t ip) {
    const char *name;
    uint64_t offset;
    return hj_code_map_find(ip - 1, &name, &offset);
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    default:
        return "a signal";
    }
}

static const int reported[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};

/* The signal being reported (0 if none), and whether its first line is out. */
static volatile sig_atomic_t reporting, said;

/* Dies by `sig`'s default action, as the native program would (its status,
 * its core dump): restored, unblocked (a handler blocks its own signal),
 * raised. */
static _Noreturn void die_by(int sig) {
    signal(sig, SIG_DFL);
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    pthread_sigmask(SIG_UNBLOCK, &only, NULL);
    raise(sig);
    _exit(128 + sig); /* not reached: the default action ends the process */
}

/* shim.c: returns only if no host's call can catch the fault. */
void hj_rt_escape_fault(int sig, const char *report, size_t len);

/* "SIGSEGV at address 0x10", "SIGSEGV (stack overflow) at address ..". */
static void add_fault(struct text *text, int sig, int hardware, int overflow, uint64_t ip,
                      uint64_t address) {
    add(text, signal_name(sig));
    if (overflow)
        add(text, " (stack overflow)");
    if (hardware && sig != SIGILL) {
        add(text, sig == SIGFPE ? " (arithmetic error) at " : " at address ");
        add_hex(text, sig == SIGFPE ? ip : address);
    }
}

static void on_fault(int sig, siginfo_t *info, void *context) {
    if (reporting) {
        /* A fault while reporting one: the report read memory the program
         * had corrupted. What was said stands; the process dies by the
         * first signal, as it would natively. */
        struct text text = {.len = 0};
        if (!said) {
            add(&text, "hyperjit: the program was killed by ");
            add(&text, signal_name(reporting));
        }
        add(&text, said ? "  (the rest of the report faulted)\n" : " (its report faulted)\n");
        (void)!write(STDERR_FILENO, text.bytes, text.len);
        die_by(reporting);
    }
    ucontext_t *uc = context;
    uint64_t ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
    uint64_t sp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP];
    uint64_t address = (uint64_t)(uintptr_t)info->si_addr;
    const char *name;
    uint64_t offset;
    int in_jit = hj_code_map_find(ip, &name, &offset);
    struct text text = {.len = 0};
    if (phase && !in_jit) {
        add(&text, "hyperjit: error: LLVM crashed while ");
        add(&text, phase);
        add(&text, " (");
        add(&text, signal_name(sig));
        add(&text, ")\n");
        (void)!write(STDERR_FILENO, text.bytes, text.len);
        _exit(125);
    }
    /* No phase, but in LLVM: guest code does not call LLVM, hyperjit does
     * (a path that names no phase is a gap; still hyperjit's error).
     * dladdr is not async-signal-safe; the process is ending anyway. */
    Dl_info in_library = {0};
    if (!in_jit && dladdr((void *)(uintptr_t)ip, &in_library) && in_library.dli_fname &&
        strstr(in_library.dli_fname, "libLLVM")) {
        add(&text, "hyperjit: error: LLVM crashed (");
        add(&text, signal_name(sig));
        add(&text, " in ");
        add(&text, in_library.dli_sname ? in_library.dli_sname : in_library.dli_fname);
        add(&text, ")\n");
        (void)!write(STDERR_FILENO, text.bytes, text.len);
        _exit(125);
    }
    int hardware = info->si_code > 0 && sig != SIGABRT;
    /* A fault just below the stack pointer: the guard page past the stack. */
    int overflow = sig == SIGSEGV && hardware && address + 65536 >= sp && address <= sp + 4096;
    if (in_jit && hardware) {
        /* A host's call of guest code may catch it (shim.c). */
        add_fault(&text, sig, hardware, overflow, ip, address);
        add(&text, " in ");
        add_jit_place(&text, ip);
        hj_rt_escape_fault(sig, text.bytes, text.len);
        text.len = 0;
    }
    reporting = sig;
    add(&text, "hyperjit: the program was killed by ");
    add_fault(&text, sig, hardware, overflow, ip, address);
    /* Said at once: what follows reads memory a wild jump or a heap
     * overrun may have left unusable; a fault there only cuts the report
     * short. */
    add(&text, "\n");
    (void)!write(STDERR_FILENO, text.bytes, text.len);
    said = 1;
    text.len = 0;
    add(&text, "  in ");
    if (!in_jit) {
        Dl_info where = {0};
        int placed = dladdr((void *)(uintptr_t)ip, &where);
        if (placed && where.dli_sname) {
            add(&text, where.dli_sname);
            add(&text, "+");
            add_hex(&text, ip - (uint64_t)(uintptr_t)where.dli_saddr);
            add(&text, " (");
            add(&text, where.dli_fname);
            add(&text, ")");
        } else if (placed && where.dli_fname) {
            /* A function the library does not export (libc's strlen
             * variants, pthread_kill): the library and the offset. */
            add(&text, where.dli_fname);
            add(&text, "+");
            add_hex(&text, ip - (uint64_t)(uintptr_t)where.dli_fbase);
        } else {
            add(&text, "no function (a jump to a bad address)");
        }
        /* Said before the walk, which may fault: unwinding JIT'd frames
         * allocates, and the program may have corrupted the heap. */
        add(&text, "\n");
        (void)!write(STDERR_FILENO, text.bytes, text.len);
        text.len = 0;
        /* Walked from the handler, through the signal frame (which has
         * unwind information), and only from code in a loaded object:
         * from a wild address there is nothing to unwind. */
        uint64_t caller = placed && !overflow ? hj_rt_first_frame(returns_into_jit) : 0;
        if (caller) {
            add(&text, "  called from ");
            add_jit_place(&text, caller - 1);
            add(&text, "\n");
        }
    } else {
        add_jit_place(&text, ip);
        add(&text, "\n");
    }
    (void)!write(STDERR_FILENO, text.bytes, text.len);
    die_by(sig);
}

/* Set once the handlers are installed: from then on, every thread that runs
 * guest code gets an alternate stack. */
static volatile sig_atomic_t installed;

static pthread_key_t alternate_stack_key;
static pthread_once_t alternate_stack_key_once = PTHREAD_ONCE_INIT;

/* At a thread's exit: its alternate stack is no longer used, then freed. */
static void drop_alternate_stack(void *memory) {
    stack_t disabled = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    sigaltstack(&disabled, NULL);
    free(memory);
}

static void create_alternate_stack_key(void) {
    if (pthread_key_create(&alternate_stack_key, drop_alternate_stack) != 0)
        alternate_stack_key = (pthread_key_t)-1;
}

/* Gives the calling thread an alternate signal stack (once), freed when the
 * thread exits: a stack overflow leaves no stack to run the handler on. */
static int give_alternate_stack(void) {
    static __thread int given;
    if (given)
        return 0;
    pthread_once(&alternate_stack_key_once, create_alternate_stack_key);
    stack_t stack;
    stack.ss_size = 64 * 1024;
    stack.ss_sp = malloc(stack.ss_size);
    stack.ss_flags = 0;
    if (!stack.ss_sp)
        return -1;
    if (sigaltstack(&stack, NULL) != 0) {
        free(stack.ss_sp);
        return -1;
    }
    if (alternate_stack_key != (pthread_key_t)-1)
        pthread_setspecific(alternate_stack_key, stack.ss_sp);
    given = 1;
    return 0;
}

/* Called as a thread starts guest code (hj_rt_call, a guest's thread): an
 * alternate stack, if fault reports are on. Best effort: without one, only
 * a stack overflow goes unreported, and the thread still dies by SIGSEGV. */
void hj_rt_fault_reports_for_thread(void) {
    if (installed)
        (void)give_alternate_stack();
}

/* A thread the guest creates: its start routine, run with an alternate
 * stack. */
struct guest_thread {
    void *(*start)(void *);
    void *arg;
};

void hj_rt_mark_guest_thread(void); /* shim.c */

static void *start_guest_thread(void *boxed) {
    struct guest_thread thread = *(struct guest_thread *)boxed;
    free(boxed);
    hj_rt_mark_guest_thread();
    hj_rt_fault_reports_for_thread();
    return thread.start(thread.arg);
}

/* The guest's pthread_create: libc's, but the new thread is marked as the
 * guest's (a trap can end it) and, with fault reports on, gets an
 * alternate stack first. */
int hj_rt_pthread_create(pthread_t *id, const pthread_attr_t *attr, void *(*start)(void *),
                         void *arg) {
    struct guest_thread *boxed = malloc(sizeof *boxed);
    if (!boxed)
        return EAGAIN;
    boxed->start = start;
    boxed->arg = arg;
    int failed = pthread_create(id, attr, start_guest_thread, boxed);
    if (failed)
        free(boxed);
    return failed;
}

/* Installs the fault handlers for the process and an alternate stack for
 * the calling thread. 0, or -1 if either failed. */
int hj_rt_install_fault_reports(void) {
    if (give_alternate_stack() != 0)
        return -1;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof reported / sizeof reported[0]; i++)
        if (sigaction(reported[i], &action, NULL) != 0)
            return -1;
    installed = 1;
    return 0;
}

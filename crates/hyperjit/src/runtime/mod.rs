//! The guest's C runtime: entering guest code, `exit`/`atexit`, static
//! destructors, thread-locals.
//!
//! A native program gets these from crt0 and libc; a JIT'd program running
//! inside a host must not end the host's process when it calls `exit`, and
//! its `atexit` handlers must run when *its* run ends, not when the host
//! exits (by then its code may be gone). So the guest's references to those
//! libc functions are bound to `shim.c`, which returns to the engine instead.

use std::ffi::{c_char, c_int, c_void};

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    extern "C" {
        pub(super) fn hj_rt_call(
            function: *const c_void,
            kind: c_int,
            arg: *mut c_void,
            argc: c_int,
            argv: *const *const c_char,
            envp: *const *const c_char,
            status: *mut c_int,
        ) -> c_int;
        pub(super) fn hj_rt_exit(status: c_int) -> !;
        pub(super) fn hj_rt__exit(status: c_int) -> !;
        pub(super) fn hj_rt_state_new() -> *mut c_void;
        pub(super) fn hj_rt_state_free(state: *mut c_void);
        pub(super) fn hj_rt_atexit(state: *mut c_void, handler: *const c_void) -> c_int;
        pub(super) fn hj_rt_cxa_atexit(
            state: *mut c_void,
            handler: *const c_void,
            arg: *mut c_void,
            dso_handle: *mut c_void,
        ) -> c_int;
        pub(super) fn hj_rt_run_exit_handlers(state: *mut c_void, status: *mut c_int) -> c_int;
        pub(super) fn hj_rt_clear_exit_handlers(state: *mut c_void);
        pub(super) fn hj_rt_flush_stdio();
        pub(super) fn hj_rt_tls_address(control: *mut c_void) -> *mut c_void;
        pub(super) fn hj_rt_pthread_atfork(
            prepare: *const c_void,
            parent: *const c_void,
            child: *const c_void,
        ) -> c_int;
        pub(super) fn hj_rt_at_quick_exit(handler: *const c_void) -> c_int;
    }

    // On a thread the guest created, a trap ends the thread with
    // pthread_exit, whose forced unwinding passes through the Rust frames
    // that raised it (they hold nothing to drop).
    extern "C-unwind" {
        pub(super) fn hj_rt_trap() -> !;
    }
}

const CALL_ENTRY: c_int = 0;
const CALL_HANDLER: c_int = 1;
const RETURNED: c_int = 0;
const EXITED: c_int = 1;
const EXITED_IMMEDIATELY: c_int = 2;

/// How a call into guest code ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The function returned this value.
    Returned(i32),
    /// The guest called `exit(status)`: exit handlers and destructors run.
    Exited(i32),
    /// The guest called `_exit`/`_Exit`: the run ends at once.
    ExitedImmediately(i32),
    /// A callback failed; the engine holds the trap.
    Trapped,
}

/// The guest-visible libc functions hyperjit replaces, and the symbols their
/// declarations are renamed to.
pub(crate) const INTERPOSED: &[(&str, &str)] = &[
    ("exit", "__hyperjit_rt_exit"),
    ("_exit", "__hyperjit_rt__exit"),
    ("_Exit", "__hyperjit_rt__exit"),
    ("atexit", "__hyperjit.atexit"),
    ("__cxa_atexit", "__hyperjit.__cxa_atexit"),
    ("pthread_atfork", "__hyperjit_rt_pthread_atfork"),
    ("at_quick_exit", "__hyperjit_rt_at_quick_exit"),
];

/// The helper that lowered thread-local accesses call.
pub(crate) const TLS_HELPER: &str = "__hyperjit_rt_tls_address";

/// The runtime's symbols, defined in every engine's JIT at fixed addresses.
pub(crate) fn absolute_symbols() -> &'static [(&'static str, usize)] {
    static SYMBOLS: std::sync::OnceLock<Vec<(&'static str, usize)>> = std::sync::OnceLock::new();
    SYMBOLS.get_or_init(|| {
        vec![
            ("__hyperjit_rt_exit", ffi::hj_rt_exit as *const () as usize),
            (
                "__hyperjit_rt__exit",
                ffi::hj_rt__exit as *const () as usize,
            ),
            (
                "__hyperjit_rt_atexit",
                ffi::hj_rt_atexit as *const () as usize,
            ),
            (
                "__hyperjit_rt_cxa_atexit",
                ffi::hj_rt_cxa_atexit as *const () as usize,
            ),
            (TLS_HELPER, ffi::hj_rt_tls_address as *const () as usize),
            (
                "__hyperjit_rt_pthread_atfork",
                ffi::hj_rt_pthread_atfork as *const () as usize,
            ),
            (
                "__hyperjit_rt_at_quick_exit",
                ffi::hj_rt_at_quick_exit as *const () as usize,
            ),
        ]
    })
}

/// One engine's exit-handler list and the IR glue that binds the guest's
/// `atexit`/`__cxa_atexit` to it.
pub(crate) struct ExitHandlers {
    raw: *mut c_void,
}

// SAFETY: the C state is protected by its own mutex; the pointer is only
// passed to functions that lock it.
unsafe impl Send for ExitHandlers {}
// SAFETY: as above.
unsafe impl Sync for ExitHandlers {}

impl ExitHandlers {
    pub(crate) fn new() -> Result<ExitHandlers, String> {
        // SAFETY: allocation only; null means out of memory.
        let raw = unsafe { ffi::hj_rt_state_new() };
        if raw.is_null() {
            return Err("out of memory for the exit-handler list".to_string());
        }
        Ok(ExitHandlers { raw })
    }

    /// IR defining `__hyperjit.atexit` and `__hyperjit.__cxa_atexit` for this
    /// engine: each passes this list's address as a constant, so engines in
    /// one process keep separate lists.
    pub(crate) fn glue_ir(&self) -> String {
        let state = self.raw as usize;
        format!(
            r#"
define i32 @"__hyperjit.atexit"(ptr %handler) {{
  %r = call i32 @__hyperjit_rt_atexit(ptr inttoptr (i64 {state} to ptr), ptr %handler)
  ret i32 %r
}}
define i32 @"__hyperjit.__cxa_atexit"(ptr %handler, ptr %arg, ptr %dso) {{
  %r = call i32 @__hyperjit_rt_cxa_atexit(ptr inttoptr (i64 {state} to ptr), ptr %handler, ptr %arg, ptr %dso)
  ret i32 %r
}}
declare i32 @__hyperjit_rt_atexit(ptr, ptr)
declare i32 @__hyperjit_rt_cxa_atexit(ptr, ptr, ptr, ptr)
"#
        )
    }

    /// Runs the registered handlers, last first; returns the final status,
    /// or [`Outcome::Trapped`] if a handler trapped.
    pub(crate) fn run(&self, status: i32) -> Outcome {
        let mut status = status;
        // SAFETY: `raw` is live; handlers are guest functions called through
        // hj_rt_call, which catches their exit() and traps.
        let trapped = unsafe { ffi::hj_rt_run_exit_handlers(self.raw, &mut status) } != 0;
        if trapped {
            Outcome::Trapped
        } else {
            Outcome::Exited(status)
        }
    }

    /// Forgets handlers without running them.
    pub(crate) fn clear(&self) {
        // SAFETY: `raw` is live.
        unsafe { ffi::hj_rt_clear_exit_handlers(self.raw) }
    }
}

impl Drop for ExitHandlers {
    fn drop(&mut self) {
        // SAFETY: owned, freed once; the engine drops it only after the JIT
        // whose glue points at it is gone.
        unsafe { ffi::hj_rt_state_free(self.raw) }
    }
}

/// Calls guest function `address` as an entry point `int f(int, char **,
/// char **)` (functions with fewer parameters ignore the rest).
///
/// # Safety
/// `address` must be JIT'd code of a function whose parameters are a prefix
/// of `(int, char **, char **)`; `argv` and `envp` must be null-terminated
/// arrays of C strings that outlive the call.
pub(crate) unsafe fn call_entry(
    address: u64,
    argc: c_int,
    argv: *const *const c_char,
    envp: *const *const c_char,
) -> Outcome {
    let mut status = 0;
    // SAFETY: per this function's contract.
    let outcome = unsafe {
        ffi::hj_rt_call(
            address as usize as *const c_void,
            CALL_ENTRY,
            std::ptr::null_mut(),
            argc,
            argv,
            envp,
            &mut status,
        )
    };
    outcome_of(outcome, status)
}

/// Calls `handler(arg)`, which calls guest code, as a run calls its entry:
/// the guest's `exit()` and a callback's trap come back here.
///
/// # Safety
/// `handler` must be safe to call with `arg`, and hold nothing that needs
/// dropping while it runs guest code (a trap leaves its frame by longjmp).
pub(crate) unsafe fn call_handler(
    handler: extern "C" fn(*mut c_void),
    arg: *mut c_void,
) -> Outcome {
    let mut status = 0;
    // SAFETY: per this function's contract; argv and envp are unused for
    // this kind of call.
    let outcome = unsafe {
        ffi::hj_rt_call(
            handler as *const c_void,
            CALL_HANDLER,
            arg,
            0,
            std::ptr::null(),
            std::ptr::null(),
            &mut status,
        )
    };
    outcome_of(outcome, status)
}

fn outcome_of(outcome: c_int, status: c_int) -> Outcome {
    match outcome {
        RETURNED => Outcome::Returned(status),
        EXITED => Outcome::Exited(status),
        EXITED_IMMEDIATELY => Outcome::ExitedImmediately(status),
        _ => Outcome::Trapped,
    }
}

/// Flushes every stdio stream, as a native program's exit does.
pub(crate) fn flush_stdio() {
    // SAFETY: fflush(NULL) has no preconditions.
    unsafe { ffi::hj_rt_flush_stdio() }
}

/// Abandons the guest code running on this thread: back to the innermost
/// `call_entry` (which returns [`Outcome::Trapped`]), or, on a thread the
/// guest created, the end of that thread.
///
/// # Safety
/// Every frame between here and that point must be guest code, this
/// runtime, or Rust frames holding nothing that needs dropping.
pub(crate) unsafe fn abandon_guest() -> ! {
    // SAFETY: per this function's contract.
    unsafe { ffi::hj_rt_trap() }
}

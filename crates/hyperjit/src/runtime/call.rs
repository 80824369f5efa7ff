//! Entering guest code and learning how it ended: returned, called `exit`
//! or `_exit`, or was abandoned after a callback trapped (`hj_rt_call`
//! catches all of them with setjmp; no Rust frame lies in between).

use super::ffi;
use std::ffi::{c_char, c_int, c_void};

// Mirrors of shim.c's `enum hj_call_kind` and `enum hj_outcome` (checked by
// the contract test in `runtime/mod.rs`).
pub(super) const CALL_ENTRY: c_int = 0;
pub(super) const CALL_HANDLER: c_int = 1;
pub(super) const RETURNED: c_int = 0;
pub(super) const EXITED: c_int = 1;
pub(super) const EXITED_IMMEDIATELY: c_int = 2;
pub(super) const TRAPPED: c_int = 3;
pub(super) const FAULTED: c_int = 4;

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
    /// A host's call ([`call_handler`]) faulted in JIT'd code, with fault
    /// reports on: [`fault_report`] says how. An entry never ends so (the
    /// process dies by the signal, reported, as natively).
    Faulted,
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

/// The most stack-argument slots `hj_rt_guarded_call` passes on (shim.c's
/// `HJ_GUARD_STACK_SLOTS`, checked by the contract test).
pub(super) const GUARD_STACK_SLOTS: usize = 16;

/// What to call instead of guest function `target`, with the same
/// arguments, so that the host's callee-saved registers survive guest code
/// that breaks the calling convention (shim.c's `hj_rt_guarded_call`): the
/// caller calls the result next on this thread, before any other call that
/// enters guest code. A function of more `parameters` than the guard passes
/// stack arguments for is called as it is.
pub(crate) fn guarded(target: *const c_void, parameters: usize) -> *const c_void {
    if parameters > GUARD_STACK_SLOTS {
        return target;
    }
    // SAFETY: hj_rt_guard_next only records `target` in a thread-local.
    unsafe { ffi::hj_rt_guard_next(target) }
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

pub(super) fn outcome_of(outcome: c_int, status: c_int) -> Outcome {
    match outcome {
        RETURNED => Outcome::Returned(status),
        EXITED => Outcome::Exited(status),
        EXITED_IMMEDIATELY => Outcome::ExitedImmediately(status),
        TRAPPED => Outcome::Trapped,
        FAULTED => Outcome::Faulted,
        // hj_rt_call returns nothing else; were it to, the guest did not
        // finish.
        _ => Outcome::Trapped,
    }
}

/// What the last [`Outcome::Faulted`] on this thread was: "SIGSEGV at
/// address 0x0 in f+0x4".
pub(crate) fn fault_report() -> String {
    // SAFETY: a NUL-terminated thread-local buffer of shim.c's, written
    // only by this thread's fault handler.
    unsafe { std::ffi::CStr::from_ptr(ffi::hj_rt_fault_report()) }
        .to_string_lossy()
        .into_owned()
}

/// Flushes every stdio stream, as a native program's exit does.
pub(crate) fn flush_stdio() {
    // SAFETY: fflush(NULL) has no preconditions.
    unsafe { ffi::hj_rt_flush_stdio() }
}

/// Whether a trap can stop the guest code running on this thread: the
/// engine entered it (a run, a typed call), or the guest made the thread.
/// Not so for JIT'd code a host thread called by its address.
pub(crate) fn can_stop_guest() -> bool {
    // SAFETY: reads this thread's state; no preconditions.
    unsafe { ffi::hj_rt_can_stop_guest() != 0 }
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

//! One engine's `atexit`/`__cxa_atexit` handler list, kept in the C shim:
//! a guest's handlers run when *its* run ends, not when the host exits (by
//! then its code may be gone). The glue binds the guest's `atexit` to this
//! list by passing its address as a constant, so engines in one process
//! keep separate lists.

use super::call::Outcome;
use super::ffi;
use std::ffi::c_void;

/// An engine's exit-handler list.
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

    /// The list's address: the first argument of the runtime's `atexit`
    /// and `__cxa_atexit` (see [`Functions`](super::Functions)).
    pub(crate) fn address(&self) -> usize {
        self.raw as usize
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

/// The thread a program's run happens on, while it runs: the C++
/// `thread_local` destructors registered on it are the run's, run when it
/// ends by returning or `exit()` — before the `atexit` handlers, as glibc's
/// `exit` does — and dropped otherwise (also if this is dropped unended).
pub(crate) struct RunThread {
    ended: bool,
}

impl RunThread {
    pub(crate) fn begin() -> RunThread {
        // SAFETY: sets a flag of this thread's.
        unsafe { ffi::hj_rt_begin_run() };
        RunThread { ended: false }
    }

    /// Ends the run with `status`: runs the thread's destructors; the
    /// final status, or [`Outcome::Trapped`] if one trapped.
    pub(crate) fn end(mut self, status: i32) -> Outcome {
        self.ended = true;
        let mut status = status;
        // SAFETY: the destructors are guest functions called through
        // hj_rt_call, which catches their exit() and traps.
        let trapped = unsafe { ffi::hj_rt_end_run(1, &mut status) } != 0;
        if trapped {
            Outcome::Trapped
        } else {
            Outcome::Exited(status)
        }
    }
}

impl Drop for RunThread {
    fn drop(&mut self) {
        if !self.ended {
            let mut status = 0;
            // SAFETY: drops this thread's list; runs no guest code.
            unsafe { ffi::hj_rt_end_run(0, &mut status) };
        }
    }
}

//! Fault reports (`faults.c`): a guest killed by a signal is reported with
//! the signal, the address and the JIT'd function + offset, then dies by
//! that signal; a crash inside LLVM while a thread reads or compiles an
//! input is reported as hyperjit's own error, naming the input.

use super::ffi;
use std::ffi::CString;

/// Installs the fault handlers for the process, and an alternate signal
/// stack for the calling thread (a stack overflow there is reported too).
pub(crate) fn install_fault_reports() -> Result<(), String> {
    // SAFETY: installs signal handlers and this thread's alternate stack;
    // no preconditions.
    if unsafe { ffi::hj_rt_install_fault_reports() } == 0 {
        Ok(())
    } else {
        Err(format!(
            "cannot install the fault handlers: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// What this thread is doing with an input ("reading prog.bc", "compiling
/// main"), while this lives: a crash outside JIT'd code then is LLVM's.
/// Phases nest; the outermost says best what the thread is doing (a lazy
/// function's compilation links a module named after it, not the
/// function).
pub(crate) struct Phase {
    /// Read by the fault handler while set; `None` if an outer phase was.
    what: Option<CString>,
}

impl Phase {
    pub(crate) fn enter(what: &str) -> Phase {
        let what = CString::new(what.replace('\0', " ")).unwrap_or_default();
        // SAFETY: `what` stays alive (a CString's bytes are on the heap,
        // unmoved) until this Phase is dropped, which clears it first.
        let outer = unsafe { ffi::hj_rt_set_phase(what.as_ptr()) };
        if outer.is_null() {
            return Phase { what: Some(what) };
        }
        // SAFETY: the outer phase is alive until its Phase is dropped,
        // after this one (phases nest).
        unsafe { ffi::hj_rt_set_phase(outer) };
        Phase { what: None }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if self.what.is_some() {
            // SAFETY: clears this thread's phase, which was ours.
            unsafe { ffi::hj_rt_set_phase(std::ptr::null()) };
        }
    }
}

//! LLVM's fatal errors: what LLVM reports when it cannot go on
//! (`report_fatal_error`: "LLVM ERROR: ...", then the process exits or
//! aborts, killing the host with it). LLVM's state is unusable after one,
//! so the process still ends, but as hyperjit's own error: the reason on
//! stderr as `hyperjit: error: LLVM: REASON`, and exit status 125, what
//! the CLI gives every error of its own. `limits.rs` refuses beforehand,
//! with a message naming the function or global, the inputs known to
//! bring one about.

use super::cpp::hj_install_bad_alloc_handler;
use llvm_sys::error_handling::LLVMInstallFatalErrorHandler;
use std::ffi::{c_char, CStr};

/// The status the process ends with.
const STATUS: i32 = 125;

/// Installs the handler, for fatal errors and for allocation failures
/// ("out of memory"); once per process, before LLVM does any work.
pub(super) fn install_handler() {
    // SAFETY: a handler that never returns and never unwinds; LLVM keeps
    // the function pointer.
    unsafe {
        LLVMInstallFatalErrorHandler(Some(on_fatal_error));
        hj_install_bad_alloc_handler(on_bad_alloc);
    }
}

/// LLVM's fatal error: writes the reason and ends the process.
extern "C" fn on_fatal_error(reason: *const c_char) {
    die(b"hyperjit: error: LLVM: ", reason)
}

/// LLVM's allocation failure: writes the reason and ends the process.
extern "C" fn on_bad_alloc(reason: *const c_char) {
    die(b"hyperjit: error: LLVM ran out of memory: ", reason)
}

/// Writes `prefix` and `reason` and ends the process. Allocates nothing
/// (memory may have run out) and takes no lock (another thread may hold
/// stdio's: nothing is flushed).
fn die(prefix: &[u8], reason: *const c_char) -> ! {
    let reason = if reason.is_null() {
        &b"(no reason given)"[..]
    } else {
        // SAFETY: LLVM passes a C string, alive during the call.
        unsafe { CStr::from_ptr(reason) }.to_bytes()
    };
    for part in [prefix, reason, b"\n"] {
        // SAFETY: writes `part`'s bytes to stderr; a short or failed
        // write loses text, nothing else.
        unsafe { libc::write(libc::STDERR_FILENO, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: ends the process at once, as LLVM would after the handler.
    unsafe { libc::_exit(STATUS) }
}

//! The C boundary itself: how a call from C becomes a Rust call and comes
//! back. Every exported function goes through [`with_engine`], so a NULL
//! engine, a bad argument, an error and a panic all end the same way: the
//! function's failure value (a status code that says what kind of failure
//! it was, or NULL), and the message in `hj_engine_last_error`.

use crate::engine::hj_engine;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Success.
pub const HJ_OK: c_int = 0;
/// The call could not be done: a bad argument, an input that does not
/// compile or link, an unknown name, a panic inside hyperjit.
pub const HJ_ERROR: c_int = -1;
/// Guest code the call ran was stopped by a trap (`hj_trap`, an unknown
/// callback name, a callback's error).
pub const HJ_TRAP: c_int = -2;
/// Guest code the call ran called `exit`; for `hj_engine_call` only (a
/// run's `exit` is its normal end).
pub const HJ_GUEST_EXIT: c_int = -3;
/// Guest code the call ran faulted (a bad pointer, a division by zero, a
/// stack overflow) and was abandoned; for `hj_engine_call` with fault
/// reports on.
pub const HJ_GUEST_FAULT: c_int = -4;

/// Why a call failed: the message for `hj_engine_last_error` and the
/// status code returned.
#[derive(Debug)]
pub(crate) struct Failure {
    message: String,
    status: c_int,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            status: HJ_ERROR,
        }
    }
}

impl From<hyperjit::Error> for Failure {
    fn from(error: hyperjit::Error) -> Failure {
        let status = match &error {
            hyperjit::Error::Trap(_) => HJ_TRAP,
            hyperjit::Error::GuestExit { .. } => HJ_GUEST_EXIT,
            hyperjit::Error::GuestFault { .. } => HJ_GUEST_FAULT,
            _ => HJ_ERROR,
        };
        Failure {
            message: error.to_string(),
            status,
        }
    }
}

/// What a function returns when it fails: its status code, or NULL.
pub(crate) trait Failed {
    fn failed(status: c_int) -> Self;
}

impl Failed for c_int {
    fn failed(status: c_int) -> c_int {
        status
    }
}

impl<T> Failed for *mut T {
    fn failed(_: c_int) -> *mut T {
        std::ptr::null_mut()
    }
}

impl<T> Failed for *const T {
    fn failed(_: c_int) -> *const T {
        std::ptr::null()
    }
}

/// Which engine a last error is about: [`hj_engine::id`], or
/// [`WITHOUT_ENGINE`] for a call given NULL.
pub(crate) type EngineId = u64;

/// The id of "no engine": `hj_engine_last_error(NULL)`.
pub(crate) const WITHOUT_ENGINE: EngineId = 0;

thread_local! {
    /// This thread's last failure per engine, for `hj_engine_last_error`:
    /// a thread's messages go when it ends, an engine's when the thread's
    /// next call on it succeeds.
    static LAST_ERRORS: RefCell<HashMap<EngineId, CString>> = RefCell::new(HashMap::new());
}

/// Runs `body` on the engine C passed, returning its failure value (after
/// recording why) if the pointer is NULL, `body` fails or `body` panics,
/// and forgetting this thread's last error on the engine if it succeeds.
///
/// # Safety
/// `engine` is NULL or an engine from `hj_engine_new` (or one the CLI
/// wrapped) that has not been freed.
pub(crate) unsafe fn with_engine<T: Failed>(
    function: &str,
    engine: *const hj_engine,
    body: impl FnOnce(&hj_engine) -> Result<T, Failure>,
) -> T {
    // SAFETY: the caller's contract: NULL or a live engine.
    let Some(engine) = (unsafe { engine.as_ref() }) else {
        record(WITHOUT_ENGINE, format!("{function}: the engine is NULL"));
        return T::failed(HJ_ERROR);
    };
    match catch_unwind(AssertUnwindSafe(|| body(engine))) {
        Ok(Ok(value)) => {
            forget(engine.id());
            value
        }
        Ok(Err(failure)) => {
            record(engine.id(), failure.message);
            T::failed(failure.status)
        }
        Err(panic) => {
            record(
                engine.id(),
                format!(
                    "{function}: internal error (a panic in hyperjit): {}",
                    panic_message(&*panic)
                ),
            );
            T::failed(HJ_ERROR)
        }
    }
}

/// Runs `body`, which needs no engine, with panics caught.
pub(crate) fn without_engine<T: Failed>(function: &str, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        record(
            WITHOUT_ENGINE,
            format!(
                "{function}: internal error (a panic in hyperjit): {}",
                panic_message(&*panic)
            ),
        );
        T::failed(HJ_ERROR)
    })
}

fn record(engine: EngineId, message: String) {
    let message = c_string(message);
    LAST_ERRORS.with(|last| last.borrow_mut().insert(engine, message));
}

/// Frees this thread's last error on `engine`: `hj_engine_last_error`
/// promised it only until the thread's next call on the engine (a success,
/// or `hj_engine_free`).
pub(crate) fn forget(engine: EngineId) {
    LAST_ERRORS.with(|last| last.borrow_mut().remove(&engine));
}

/// How many engines this thread keeps a last error for.
#[cfg(test)]
pub(crate) fn last_errors_kept() -> usize {
    LAST_ERRORS.with(|last| last.borrow().len())
}

/// This thread's last failure on `engine`, as text.
pub(crate) fn last_error_text(engine: EngineId) -> Option<String> {
    LAST_ERRORS.with(|last| {
        last.borrow()
            .get(&engine)
            .map(|message| message.to_string_lossy().into_owned())
    })
}

/// This thread's last failure on `engine`: valid until the thread's next
/// call on it (a map's rehash moves the CString, not its bytes).
pub(crate) fn last_error(engine: EngineId) -> *const c_char {
    LAST_ERRORS.with(|last| {
        last.borrow()
            .get(&engine)
            .map_or(std::ptr::null(), |message| message.as_ptr())
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// `message` as a C string; a NUL inside (from a name in bitcode) would
/// end it early, so it is shown escaped.
pub(crate) fn c_string(message: String) -> CString {
    CString::new(message).unwrap_or_else(|error| {
        let escaped = String::from_utf8_lossy(&error.into_vec()).replace('\0', "\\0");
        CString::new(escaped).unwrap_or_default()
    })
}

/// A C string argument as UTF-8 text; `what` names it in the error.
///
/// # Safety
/// `text` is NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn text<'a>(text: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(format!("{what} is NULL").into());
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(text) };
    bytes
        .to_str()
        .map_err(|_| format!("{what} is not UTF-8: {}", bytes.to_string_lossy()).into())
}

/// `length` bytes at `bytes` (NULL only with a length of 0).
///
/// # Safety
/// `bytes` is NULL or points to `length` readable bytes that outlive `'a`.
pub(crate) unsafe fn bytes<'a>(
    bytes: *const std::ffi::c_void,
    length: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if bytes.is_null() {
        return if length == 0 {
            Ok(&[])
        } else {
            Err(format!("{what} is NULL").into())
        };
    }
    // SAFETY: non-NULL, `length` readable bytes by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(bytes.cast::<u8>(), length) })
}

/// A C string argument as a path (any bytes but NUL).
///
/// # Safety
/// As for [`text`].
pub(crate) unsafe fn path<'a>(path: *const c_char, what: &str) -> Result<&'a Path, Failure> {
    if path.is_null() {
        return Err(format!("{what} is NULL").into());
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

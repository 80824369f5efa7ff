//! The C boundary itself: how a call from C becomes a Rust call and comes
//! back. Every exported function goes through [`with_engine`], so a NULL
//! engine, a bad argument, an error and a panic all end the same way: the
//! function's failure value, and the message in `hj_engine_last_error`.

use crate::engine::hj_engine;
use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// A failed call's message, for `hj_engine_last_error`.
pub(crate) type Failure = String;

thread_local! {
    /// The last failure of a call given no engine (NULL), per thread: what
    /// `hj_engine_last_error(NULL)` returns.
    static WITHOUT_ENGINE: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Runs `body` on the engine C passed, returning `failed` (after recording
/// why) if the pointer is NULL, `body` fails or `body` panics.
///
/// # Safety
/// `engine` is NULL or an engine from `hj_engine_new` (or one the CLI
/// wrapped) that has not been freed.
pub(crate) unsafe fn with_engine<T>(
    function: &str,
    engine: *const hj_engine,
    failed: T,
    body: impl FnOnce(&hj_engine) -> Result<T, Failure>,
) -> T {
    // SAFETY: the caller's contract: NULL or a live engine.
    let Some(engine) = (unsafe { engine.as_ref() }) else {
        record_without_engine(format!("{function}: the engine is NULL"));
        return failed;
    };
    match catch_unwind(AssertUnwindSafe(|| body(engine))) {
        Ok(Ok(value)) => value,
        Ok(Err(message)) => {
            engine.record_error(message);
            failed
        }
        Err(panic) => {
            engine.record_error(format!(
                "{function}: internal error (a panic in hyperjit): {}",
                panic_message(&*panic)
            ));
            failed
        }
    }
}

/// Runs `body`, which needs no engine, with panics caught.
pub(crate) fn without_engine<T>(function: &str, failed: T, body: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        record_without_engine(format!(
            "{function}: internal error (a panic in hyperjit): {}",
            panic_message(&*panic)
        ));
        failed
    })
}

fn record_without_engine(message: String) {
    WITHOUT_ENGINE.with(|last| *last.borrow_mut() = Some(c_string(message)));
}

/// The calling thread's last failure of a call given a NULL engine.
pub(crate) fn last_error_without_engine() -> *const c_char {
    WITHOUT_ENGINE.with(|last| {
        last.borrow()
            .as_ref()
            .map_or(std::ptr::null(), |m| m.as_ptr())
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
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(text) };
    bytes
        .to_str()
        .map_err(|_| format!("{what} is not UTF-8: {}", bytes.to_string_lossy()))
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
            Err(format!("{what} is NULL"))
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
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: non-NULL, and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
    Ok(Path::new(OsStr::from_bytes(bytes)))
}

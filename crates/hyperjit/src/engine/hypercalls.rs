//! Hypercalls: the guest's calls into the engine itself (`include/hyperjit.h`).
//!
//! They are ordinary typed host functions, registered by every engine
//! through the same path as the host's callbacks (as WASI is ordinary host
//! functions on wasmtime's linker), reaching the engine through their
//! `Caller`. Failures never stop the guest: they return NULL / -1 and leave
//! a message for `hj_last_error()` on the calling thread.

use super::Core;
use crate::callback::{Caller, HostFunction, IntoHostFunction, Kind};
use crate::error::{Error, Result};
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

thread_local! {
    /// The last hypercall failure on this thread.
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: impl Display) {
    let text = message.to_string().replace('\0', "\\0");
    let text = CString::new(text).unwrap_or_default();
    LAST_ERROR.with(|last| *last.borrow_mut() = text);
}

/// Runs a hypercall's body, turning errors and panics into `failed` and a
/// message for `hj_last_error`.
fn guarded<T>(failed: T, body: impl FnOnce() -> Result<T>) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => {
            set_last_error(error);
            failed
        }
        Err(_) => {
            set_last_error("internal error in the engine (a panic); the engine is still usable");
            failed
        }
    }
}

/// A C string argument as UTF-8, or an error naming the parameter.
///
/// # Safety
/// `text` is null or a C string that lives for the hypercall.
unsafe fn argument<'a>(text: *const c_char, what: &str) -> Result<&'a str> {
    if text.is_null() {
        return Err(Error::InvalidSetting(format!("{what} is NULL")));
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|_| Error::InvalidSetting(format!("{what} is not UTF-8")))
}

/// `void *hj_lookup(const char *symbol)`.
fn lookup(caller: &Caller<'_>, symbol: *const c_char) -> *const c_void {
    guarded(std::ptr::null(), || {
        // SAFETY: the guest passes C strings, as hyperjit.h declares.
        caller.lookup(unsafe { argument(symbol, "the symbol name")? })
    })
}

/// `int hj_load(const char *path)`.
fn load(caller: &Caller<'_>, path: *const c_char) -> c_int {
    guarded(-1, || {
        // SAFETY: the guest passes C strings, as hyperjit.h declares.
        caller.load(Path::new(unsafe { argument(path, "the path")? }))?;
        Ok(0)
    })
}

/// `int hj_recompile(const char *function, int opt_level)`.
fn recompile(caller: &Caller<'_>, function: *const c_char, opt_level: c_int) -> c_int {
    guarded(-1, || {
        // SAFETY: the guest passes C strings, as hyperjit.h declares.
        let function = unsafe { argument(function, "the function name")? };
        let level = u8::try_from(opt_level).map_err(|_| {
            Error::InvalidSetting(format!("opt level {opt_level} is out of range 0..=3"))
        })?;
        caller.recompile(function, level)?;
        Ok(0)
    })
}

/// `int hj_redefine(const char *function, const char *path)`.
fn redefine(caller: &Caller<'_>, function: *const c_char, path: *const c_char) -> c_int {
    guarded(-1, || {
        // SAFETY: the guest passes C strings, as hyperjit.h declares.
        let (function, path) = unsafe {
            (
                argument(function, "the function name")?,
                argument(path, "the path")?,
            )
        };
        caller.redefine(function, Path::new(path))?;
        Ok(0)
    })
}

/// `const char *hj_last_error(void)`: valid until this thread's next
/// hypercall fails.
fn last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// Defines the hypercalls in `core`, before anything else can be defined.
pub(super) fn register(core: &Core) -> Result<()> {
    fn host<P, R>(function: impl IntoHostFunction<P, R>) -> HostFunction {
        function.into_host_function()
    }
    let hypercalls = [
        ("hj_lookup", host(lookup)),
        ("hj_load", host(load)),
        ("hj_recompile", host(recompile)),
        ("hj_redefine", host(redefine)),
        ("hj_last_error", host(last_error)),
    ];
    for (name, function) in hypercalls {
        core.define_named(name, Kind::Typed, function, true)?;
    }
    Ok(())
}

//! Hypercalls: the guest's calls into the engine itself (`include/hyperjit.h`).
//!
//! Like `PerformCustomCallback`, each is defined per engine in the runtime
//! glue as a small IR function passing the engine's address as a constant
//! to an `extern "C-unwind"` function here. Failures never stop the guest:
//! they return NULL / -1 and leave a message for `hj_last_error()` on the
//! calling thread.

use crate::engine::Inner;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};

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
fn guarded<T>(failed: T, body: impl FnOnce() -> crate::Result<T>) -> T {
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
/// `text` is null or a C string valid for the call.
unsafe fn argument<'a>(text: *const c_char, what: &str) -> crate::Result<&'a str> {
    if text.is_null() {
        return Err(crate::Error::InvalidSetting(format!("{what} is NULL")));
    }
    // SAFETY: per this function's contract.
    unsafe { CStr::from_ptr(text) }
        .to_str()
        .map_err(|_| crate::Error::InvalidSetting(format!("{what} is not UTF-8")))
}

/// `void *hj_lookup(const char *symbol)`.
///
/// # Safety
/// `engine` is the engine whose glue calls this; `symbol` a C string or null.
unsafe extern "C-unwind" fn lookup(engine: *const Inner, symbol: *const c_char) -> *const c_void {
    guarded(std::ptr::null(), || {
        // SAFETY: per this function's contract.
        let (engine, symbol) = unsafe { (&*engine, argument(symbol, "the symbol name")?) };
        engine.lookup(symbol)
    })
}

/// `int hj_load(const char *path)`.
///
/// # Safety
/// As for [`lookup`].
unsafe extern "C-unwind" fn load(engine: *const Inner, path: *const c_char) -> c_int {
    guarded(-1, || {
        // SAFETY: per this function's contract.
        let (engine, path) = unsafe { (&*engine, argument(path, "the path")?) };
        engine.load(std::path::Path::new(path)).map(|()| 0)
    })
}

/// `int hj_recompile(const char *function, int opt_level)`.
///
/// # Safety
/// As for [`lookup`].
unsafe extern "C-unwind" fn recompile(
    engine: *const Inner,
    function: *const c_char,
    opt_level: c_int,
) -> c_int {
    guarded(-1, || {
        // SAFETY: per this function's contract.
        let (engine, function) = unsafe { (&*engine, argument(function, "the function name")?) };
        let level = u8::try_from(opt_level).map_err(|_| {
            crate::Error::InvalidSetting(format!("opt level {opt_level} is out of range 0..=3"))
        })?;
        engine.recompile(function, level).map(|()| 0)
    })
}

/// `int hj_redefine(const char *function, const char *path)`.
///
/// # Safety
/// As for [`lookup`].
unsafe extern "C-unwind" fn redefine(
    engine: *const Inner,
    function: *const c_char,
    path: *const c_char,
) -> c_int {
    guarded(-1, || {
        // SAFETY: per this function's contract.
        let (engine, function, path) = unsafe {
            (
                &*engine,
                argument(function, "the function name")?,
                argument(path, "the path")?,
            )
        };
        engine
            .redefine(function, std::path::Path::new(path))
            .map(|()| 0)
    })
}

/// `const char *hj_last_error(void)`: valid until this thread's next
/// hypercall fails.
extern "C-unwind" fn last_error() -> *const c_char {
    LAST_ERROR.with(|last| last.borrow().as_ptr())
}

/// IR defining the guest's hypercall functions for the engine at `engine`.
pub(crate) fn glue_ir(engine: usize) -> String {
    let lookup = lookup as *const () as usize;
    let load = load as *const () as usize;
    let last_error = last_error as *const () as usize;
    let recompile = recompile as *const () as usize;
    let redefine = redefine as *const () as usize;
    format!(
        r#"
define ptr @hj_lookup(ptr %symbol) {{
  %r = call ptr inttoptr (i64 {lookup} to ptr)(ptr inttoptr (i64 {engine} to ptr), ptr %symbol)
  ret ptr %r
}}
define i32 @hj_load(ptr %path) {{
  %r = call i32 inttoptr (i64 {load} to ptr)(ptr inttoptr (i64 {engine} to ptr), ptr %path)
  ret i32 %r
}}
define i32 @hj_recompile(ptr %function, i32 %level) {{
  %r = call i32 inttoptr (i64 {recompile} to ptr)(ptr inttoptr (i64 {engine} to ptr), ptr %function, i32 %level)
  ret i32 %r
}}
define i32 @hj_redefine(ptr %function, ptr %path) {{
  %r = call i32 inttoptr (i64 {redefine} to ptr)(ptr inttoptr (i64 {engine} to ptr), ptr %function, ptr %path)
  ret i32 %r
}}
define ptr @hj_last_error() {{
  %r = call ptr inttoptr (i64 {last_error} to ptr)()
  ret ptr %r
}}
"#
    )
}

/// The hypercalls the glue defines.
pub(crate) const SYMBOLS: &[&str] = &[
    "hj_lookup",
    "hj_load",
    "hj_recompile",
    "hj_redefine",
    "hj_last_error",
];

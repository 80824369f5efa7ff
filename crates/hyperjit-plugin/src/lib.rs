//! Writing hyperjit plugins in Rust.
//!
//! A plugin is a shared library (`crate-type = ["cdylib"]`) that
//! `hyperjit run --plugin` (or a host's `hj_engine_load_plugin`) loads and
//! hands its engine. It must not link an engine of its own — it would get
//! a second, unrelated copy — so this crate is a thin adapter over the C
//! API (`include/hyperjit_host.h`) that the loading process exports:
//! closures become callbacks, Rust function types become checked C
//! signatures, panics become traps.
//!
//! ```no_run
//! use hyperjit_plugin::{Engine, Error};
//!
//! extern "C" fn scale(x: i32) -> i32 { 100 * x }
//!
//! fn init(engine: &Engine) -> Result<(), Error> {
//!     engine.define_function("scale", scale as extern "C" fn(i32) -> i32)?;
//!     engine.register_callback("Log", |args| {
//!         if args.is_null() { return Err("Log needs arguments".into()); }
//!         Ok(0)
//!     })
//! }
//! hyperjit_plugin::export!(init);
//! ```
#![deny(missing_docs, unreachable_pub)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod signature;
mod sys;

pub use signature::{CFunction, CType};

use std::ffi::{c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a failed registration said (the engine's last error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// A multiplexed callback's outcome: `PerformCustomCallback`'s result, or
/// a message that stops the guest.
pub type CallbackResult = Result<isize, String>;

/// The engine a plugin was given.
pub struct Engine {
    raw: *mut sys::hj_engine,
}

impl Engine {
    /// The engine behind `hyperjit_plugin_init`'s argument.
    ///
    /// # Safety
    /// `raw` is the engine the loader passed, alive while this is used.
    pub unsafe fn from_raw(raw: *mut c_void) -> Engine {
        Engine { raw: raw.cast() }
    }

    fn check(&self, status: i32) -> Result<(), Error> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: a live engine; the message is copied at once.
        let message = unsafe { sys::hj_engine_last_error(self.raw) };
        Err(Error(if message.is_null() {
            "unknown error".to_string()
        } else {
            // SAFETY: non-NULL: a C string the engine owns.
            unsafe { CStr::from_ptr(message) }
                .to_string_lossy()
                .into_owned()
        }))
    }

    /// Registers `callback` for the guest's `PerformCustomCallback(name,
    /// args)`: it gets `args`; its `Ok` is the call's result, its `Err` (or
    /// a panic) stops the guest with that message.
    pub fn register_callback<F>(&self, name: &str, callback: F) -> Result<(), Error>
    where
        F: Fn(*mut c_void) -> CallbackResult + Send + Sync + 'static,
    {
        let name = c_name(name)?;
        // The callback lives as long as the plugin, which stays loaded as
        // long as the engine: leaking it is its lifetime.
        let user_data = Box::into_raw(Box::new(callback)).cast::<c_void>();
        // SAFETY: a live engine, a C string, a trampoline matching
        // hj_callback_fn and its closure.
        let status = unsafe {
            sys::hj_register_callback(self.raw, name.as_ptr(), Some(trampoline::<F>), user_data)
        };
        self.check(status)
    }

    /// Binds `name` to the C function `function`, which the guest calls
    /// directly; its signature, from its Rust type, is checked against the
    /// guest's declaration.
    pub fn define_function<F: CFunction>(&self, name: &str, function: F) -> Result<(), Error> {
        let name = c_name(name)?;
        let (result, params) = F::signature();
        // SAFETY: a live engine, a C string, and the signature of
        // `function`'s own type.
        let status = unsafe {
            sys::hj_define_function(
                self.raw,
                name.as_ptr(),
                function.address(),
                result,
                params.as_ptr(),
                params.len(),
            )
        };
        self.check(status)
    }

    /// Binds `name` to `address`, trusted to be what the guest declares
    /// (a function or data), for as long as the engine lives.
    ///
    /// # Safety
    /// `address` is what the guest's declaration of `name` says, and
    /// lives as long as the engine.
    pub unsafe fn define_symbol(&self, name: &str, address: *mut c_void) -> Result<(), Error> {
        let name = c_name(name)?;
        // SAFETY: a live engine, a C string; the address is the caller's.
        let status = unsafe { sys::hj_define_symbol(self.raw, name.as_ptr(), address) };
        self.check(status)
    }
}

fn c_name(name: &str) -> Result<CString, Error> {
    CString::new(name).map_err(|_| Error(format!("'{name}' has a NUL byte")))
}

unsafe extern "C" fn trampoline<F>(args: *mut c_void, user_data: *mut c_void) -> isize
where
    F: Fn(*mut c_void) -> CallbackResult,
{
    // SAFETY: registered with a `Box<F>` as its user data, never freed.
    let callback = unsafe { &*user_data.cast::<F>() };
    let message = match catch_unwind(AssertUnwindSafe(|| callback(args))) {
        Ok(Ok(result)) => return result,
        Ok(Err(message)) => message,
        Err(_) => "the callback panicked".to_string(),
    };
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // SAFETY: a C string; this runs inside a registered callback.
    unsafe { sys::hj_trap(message.as_ptr()) };
    0
}

/// Exports `hyperjit_plugin_init`, calling `init(&Engine) -> Result<(),
/// Error>`; an error or a panic makes it return non-zero, which the loader
/// reports naming the plugin.
#[macro_export]
macro_rules! export {
    ($init:path) => {
        /// The plugin's entry point, called by the loader.
        ///
        /// # Safety
        /// `engine` is the loader's live engine.
        #[no_mangle]
        pub unsafe extern "C" fn hyperjit_plugin_init(engine: *mut ::std::ffi::c_void) -> i32 {
            // SAFETY: the loader passes its live engine.
            let engine = unsafe { $crate::Engine::from_raw(engine) };
            match ::std::panic::catch_unwind(|| $init(&engine)) {
                Ok(Ok(())) => 0,
                Ok(Err(_)) => 1,
                Err(_) => 2,
            }
        }
    };
}

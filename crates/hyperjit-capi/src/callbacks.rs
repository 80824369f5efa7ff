//! Host functions from C: raw symbols (the proposal thread's
//! `addGlobalMapping`), functions with a signature described in C, and the
//! seed's multiplexed callbacks with their `user_data`.

use crate::boundary::{text, with_engine, without_engine, Failure};
use crate::engine::{built, hj_engine, status};
use hyperjit::{Signature, Ty};
use std::ffi::{c_char, c_int, c_void};

/// A C type at the guest/host boundary, for `hj_define_function`: one of
/// the `HJ_*` constants.
#[allow(non_camel_case_types)]
pub type hj_type = u8;
/// No value (results only).
pub const HJ_VOID: hj_type = 0;
/// C `_Bool`.
pub const HJ_BOOL: hj_type = 1;
/// 8-bit integer (`char`, `int8_t`).
pub const HJ_I8: hj_type = 2;
/// 16-bit integer.
pub const HJ_I16: hj_type = 3;
/// 32-bit integer (`int`).
pub const HJ_I32: hj_type = 4;
/// 64-bit integer (`long`, `int64_t`, `intptr_t`, `size_t`).
pub const HJ_I64: hj_type = 5;
/// `float`.
pub const HJ_F32: hj_type = 6;
/// `double`.
pub const HJ_F64: hj_type = 7;
/// Any pointer.
pub const HJ_PTR: hj_type = 8;

fn ty(code: hj_type) -> Option<Ty> {
    Some(match code {
        HJ_VOID => Ty::Void,
        HJ_BOOL => Ty::Bool,
        HJ_I8 => Ty::I8,
        HJ_I16 => Ty::I16,
        HJ_I32 => Ty::I32,
        HJ_I64 => Ty::I64,
        HJ_F32 => Ty::F32,
        HJ_F64 => Ty::F64,
        HJ_PTR => Ty::Ptr,
        _ => return None,
    })
}

/// A multiplexed callback: receives the guest's `args` and the
/// `user_data` given at registration; its result is what the guest's
/// `PerformCustomCallback` returns. It may run on any thread the guest
/// runs on.
#[allow(non_camel_case_types)]
pub type hj_callback_fn =
    Option<unsafe extern "C" fn(args: *mut c_void, user_data: *mut c_void) -> libc::intptr_t>;

/// Binds `name` to `address` (the proposal thread's `addGlobalMapping`):
/// the guest calls the function there directly, or uses the data there,
/// as its own declaration of `name` says (that declaration is trusted; use
/// `hj_define_function` to have it checked). 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string;
/// `address` is what the guest declares `name` to be, alive as long as
/// the engine.
#[no_mangle]
pub unsafe extern "C" fn hj_define_symbol(
    engine: *mut hj_engine,
    name: *const c_char,
    address: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_define_symbol", engine, |engine| {
            let name = text(name, "the symbol's name")?;
            let address = non_null(address, name)?;
            status(built(engine)?.define_symbol(name, address, None))
        })
    }
}

/// Binds `name` to the C function at `function`, whose signature is
/// `result` and the `param_count` types at `params` (`HJ_*`): the guest's
/// declaration of `name` must have that signature (checked when the
/// program is linked), and its calls call `function` directly — the
/// cheapest callback there is. 0 on success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string;
/// `params` is NULL (then `param_count` is 0) or holds `param_count`
/// types; `function` has that signature and lives as long as the engine.
#[no_mangle]
pub unsafe extern "C" fn hj_define_function(
    engine: *mut hj_engine,
    name: *const c_char,
    function: *mut c_void,
    result: hj_type,
    params: *const hj_type,
    param_count: libc::size_t,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_define_function", engine, |engine| {
            let name = text(name, "the function's name")?;
            let address = non_null(function, name)?;
            let signature = signature_of_codes(name, result, params, param_count)?;
            status(built(engine)?.define_symbol(name, address, signature))
        })
    }
}

/// The signature C describes by type codes: `result`, and the `count`
/// codes at `params`; `name` is the function it is for, in errors.
///
/// # Safety
/// `params` is NULL or holds `count` type codes.
pub(crate) unsafe fn signature_of_codes(
    name: &str,
    result: hj_type,
    params: *const hj_type,
    count: libc::size_t,
) -> Result<Signature, Failure> {
    let codes: &[hj_type] = match (params.is_null(), count) {
        (_, 0) => &[],
        (true, count) => {
            return Err(format!("'{name}': params is NULL but param_count is {count}").into())
        }
        // SAFETY: the caller's contract: `count` codes at `params`.
        (false, count) => unsafe { std::slice::from_raw_parts(params, count) },
    };
    let mut types = Vec::with_capacity(codes.len());
    for (index, &code) in codes.iter().enumerate() {
        match ty(code) {
            Some(Ty::Void) | None => {
                return Err(format!(
                    "'{name}': parameter {index} has type code {code}, which is not one \
                     of HJ_BOOL..HJ_PTR"
                )
                .into())
            }
            Some(ty) => types.push(ty),
        }
    }
    let result = ty(result).ok_or_else(|| {
        format!("'{name}': the result's type code {result} is not one of HJ_VOID..HJ_PTR")
    })?;
    Ok(Signature::new(types, result))
}

fn non_null(address: *mut c_void, name: &str) -> Result<*const u8, Failure> {
    if address.is_null() {
        Err(format!("'{name}': the address is NULL").into())
    } else {
        Ok(address.cast_const().cast())
    }
}

/// Registers `callback` for the guest's `PerformCustomCallback(name, args)`
/// (the seed's `registerCustomCallback`; `user_data` is its `LLVM_args`):
/// the callback receives `args` and `user_data`, and its result is
/// `PerformCustomCallback`'s. Calls whose name is a string constant are
/// bound when the program is linked; others find the callback by name.
/// To stop the guest, the callback calls `hj_trap` before returning. 0 on
/// success, -1 on failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string;
/// `callback` and what `user_data` points to live as long as the engine;
/// `callback` does not throw (C++).
#[no_mangle]
pub unsafe extern "C" fn hj_register_callback(
    engine: *mut hj_engine,
    name: *const c_char,
    callback: hj_callback_fn,
    user_data: *mut c_void,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_register_callback", engine, |engine| {
            let name = text(name, "the callback's name")?;
            let callback = callback.ok_or_else(|| format!("callback '{name}' is NULL"))?;
            status(built(engine)?.register_callback_fn(name, callback, user_data))
        })
    }
}

/// Called by a callback registered with `hj_register_callback`: when it
/// returns, the guest stops, and the run (or `hj_engine_call`) fails with
/// `HJ_TRAP` and a trap naming the callback and `message`. 0 if the
/// request was taken; -1, and nothing happens, if nothing can stop the
/// guest on this thread: no guest code runs here, or the host called it
/// directly through a pointer from `hj_engine_lookup` (use
/// `hj_engine_call` to be able to stop it) — the callback must then fail
/// by its result. Called from another function the guest calls (one of
/// `hj_define_function`), the guest stops when the next
/// `hj_register_callback` callback returns on this thread, or the request
/// is dropped when the run ends.
///
/// # Safety
/// `message` is NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn hj_trap(message: *const c_char) -> c_int {
    without_engine("hj_trap", || {
        let message = if message.is_null() {
            "the callback trapped".to_string()
        } else {
            // SAFETY: the caller's contract: a C string.
            unsafe { std::ffi::CStr::from_ptr(message) }
                .to_string_lossy()
                .into_owned()
        };
        if hyperjit::request_trap(message) {
            0
        } else {
            -1
        }
    })
}

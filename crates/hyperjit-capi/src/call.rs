//! Calling guest code from C safely: `hj_engine_call` with arguments and
//! result as `hj_value`s typed by the function's own signature, and
//! `hj_engine_lookup_function`, a lookup checked against the signature the
//! host expects. A pointer from `hj_engine_lookup` called directly is
//! fastest, but nothing can stop the guest in it: a trap there aborts the
//! process (see `hj_trap`).

use crate::boundary::{text, with_engine, Failure, HJ_OK};
use crate::callbacks::{hj_type, signature_of_codes};
use crate::engine::{built, hj_engine};
use hyperjit::{Ty, Value};
use std::ffi::{c_char, c_int, c_void};

/// One argument or result of `hj_engine_call`: an integer of any width
/// (and `_Bool`) in `i`, sign-extended; a `float` or `double` in `f`; a
/// pointer in `p`. Which member counts is the function's signature.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_camel_case_types)]
pub union hj_value {
    /// Integers: `_Bool`, `char`, `short`, `int`, `long`.
    pub i: i64,
    /// `float` and `double`.
    pub f: f64,
    /// Pointers.
    pub p: *mut c_void,
}

impl hj_value {
    /// `self` as an argument of type `ty`.
    fn to_value(self, ty: Ty) -> Value {
        // SAFETY: every member is 8 bytes of plain data, valid for any
        // bit pattern; the signature says which one C meant.
        let (i, f, p) = unsafe { (self.i, self.f, self.p) };
        match ty {
            Ty::Bool => Value::Bool(i != 0),
            Ty::I8 => Value::I8(i as i8),
            Ty::I16 => Value::I16(i as i16),
            Ty::I32 => Value::I32(i as i32),
            Ty::I64 => Value::I64(i),
            Ty::F32 => Value::F32(f as f32),
            Ty::F64 => Value::F64(f),
            Ty::Ptr => Value::Ptr(p as usize),
            Ty::Void => Value::Void,
        }
    }

    fn of(value: Value) -> hj_value {
        match value {
            Value::Bool(b) => hj_value { i: i64::from(b) },
            Value::I8(n) => hj_value { i: n.into() },
            Value::I16(n) => hj_value { i: n.into() },
            Value::I32(n) => hj_value { i: n.into() },
            Value::I64(n) => hj_value { i: n },
            Value::F32(x) => hj_value { f: x.into() },
            Value::F64(x) => hj_value { f: x },
            Value::Ptr(address) => hj_value {
                p: address as *mut c_void,
            },
            Value::Void => hj_value { i: 0 },
        }
    }
}

/// Calls the program's function (or a callback) `name` with the
/// `arg_count` values at `args`, read as its parameters' types say, and
/// stores its result in `*result` (unless NULL; `i` is 0 for a void
/// function). However the guest ends, the host goes on:
///
/// - `HJ_OK`: it returned;
/// - `HJ_TRAP`: a callback trapped (`hj_trap`, an unknown callback);
/// - `HJ_GUEST_EXIT`: it called `exit(n)`; `n` is in `result->i`;
/// - `HJ_GUEST_FAULT`: it faulted in JIT'd code and was abandoned, with
///   fault reports on (`hj_engine_set_fault_reports`); what it had half
///   done stays so. Without them, or for a fault inside a library it
///   called, the process dies by the signal, as natively;
/// - `HJ_ERROR`: no such function, the wrong number of arguments, or a
///   type a `hj_value` cannot hold (a struct by value, `...`).
///
/// `hj_engine_last_error` says why for each failure.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string; `args`
/// is NULL (then `arg_count` is 0) or holds `arg_count` values; `result`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_call(
    engine: *mut hj_engine,
    name: *const c_char,
    args: *const hj_value,
    arg_count: libc::size_t,
    result: *mut hj_value,
) -> c_int {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_call", engine, |engine| {
            let name = text(name, "the function's name")?;
            let args: &[hj_value] = match (args.is_null(), arg_count) {
                (_, 0) => &[],
                (true, count) => {
                    return Err(format!("'{name}': args is NULL but arg_count is {count}").into())
                }
                (false, count) => std::slice::from_raw_parts(args, count),
            };
            let engine = built(engine)?;
            let signature = engine.signature(name)?;
            if args.len() != signature.params().len() {
                return Err(format!(
                    "'{name}' is {signature}: it takes {} arguments, but arg_count is {}",
                    signature.params().len(),
                    args.len()
                )
                .into());
            }
            let values: Vec<Value> = args
                .iter()
                .zip(signature.params())
                .map(|(arg, ty)| arg.to_value(ty))
                .collect();
            match engine.call(name, &values) {
                Ok(value) => {
                    if let Some(result) = result.as_mut() {
                        *result = hj_value::of(value);
                    }
                    Ok(HJ_OK)
                }
                Err(error) => {
                    if let (hyperjit::Error::GuestExit { status }, Some(result)) =
                        (&error, result.as_mut())
                    {
                        *result = hj_value {
                            i: i64::from(*status),
                        };
                    }
                    Err(Failure::from(error))
                }
            }
        })
    }
}

/// The address of the program's function (or callback) `name`, after
/// checking that its signature is `result` and the `param_count` types at
/// `params` (`HJ_*`, as for `hj_define_function`); NULL if it is not, or
/// on another failure. Calls through it are direct: see `hj_engine_call`
/// for what a trap or `exit` does in them.
///
/// # Safety
/// `engine` is NULL or a live engine; `name` is NULL or a C string;
/// `params` is NULL (then `param_count` is 0) or holds `param_count` types.
#[no_mangle]
pub unsafe extern "C" fn hj_engine_lookup_function(
    engine: *mut hj_engine,
    name: *const c_char,
    result: hj_type,
    params: *const hj_type,
    param_count: libc::size_t,
) -> *mut c_void {
    // SAFETY: the caller's contract.
    unsafe {
        with_engine("hj_engine_lookup_function", engine, |engine| {
            let name = text(name, "the function's name")?;
            let expected = signature_of_codes(name, result, params, param_count)?;
            let engine = built(engine)?;
            let address = engine.lookup(name)?;
            let found = engine.signature(name)?;
            if found != expected {
                return Err(format!("'{name}' is {found}, but was looked up as {expected}").into());
            }
            Ok(address.cast_mut())
        })
    }
}

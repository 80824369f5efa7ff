//! The C API's functions a plugin uses, as `include/hyperjit_host.h`
//! declares them; resolved when the plugin is loaded, against the process.

use std::ffi::{c_char, c_int, c_void};

/// The engine, opaque.
#[allow(non_camel_case_types)]
#[repr(C)]
pub(crate) struct hj_engine {
    _opaque: [u8; 0],
}

pub(crate) type Callback = Option<unsafe extern "C" fn(*mut c_void, *mut c_void) -> isize>;

extern "C" {
    pub(crate) fn hj_register_callback(
        engine: *mut hj_engine,
        name: *const c_char,
        callback: Callback,
        user_data: *mut c_void,
    ) -> c_int;
    pub(crate) fn hj_define_function(
        engine: *mut hj_engine,
        name: *const c_char,
        function: *mut c_void,
        result: u8,
        params: *const u8,
        param_count: usize,
    ) -> c_int;
    pub(crate) fn hj_define_symbol(
        engine: *mut hj_engine,
        name: *const c_char,
        address: *mut c_void,
    ) -> c_int;
    pub(crate) fn hj_trap(message: *const c_char) -> c_int;
    pub(crate) fn hj_engine_last_error(engine: *const hj_engine) -> *const c_char;
}

//! C signatures from Rust types: what `hj_define_function` is told, in the
//! header's `HJ_*` codes (hyperjit-capi's tests check they agree).

use std::ffi::c_void;

/// A Rust type with a C counterpart at the guest/host boundary.
pub trait CType {
    /// Its `HJ_*` code.
    const CODE: u8;
}

macro_rules! c_types {
    ($($ty:ty => $code:expr),* $(,)?) => {
        $(impl CType for $ty { const CODE: u8 = $code; })*
    };
}

c_types! {
    () => 0, bool => 1, i8 => 2, u8 => 2, i16 => 3, u16 => 3, i32 => 4, u32 => 4,
    i64 => 5, u64 => 5, isize => 5, usize => 5, f32 => 6, f64 => 7,
}

impl<T> CType for *const T {
    const CODE: u8 = 8;
}

impl<T> CType for *mut T {
    const CODE: u8 = 8;
}

/// A C function pointer type whose signature the engine can check.
pub trait CFunction: Copy {
    /// The result's code and the parameters' codes.
    fn signature() -> (u8, Vec<u8>);
    /// The function's address.
    fn address(self) -> *mut c_void;
}

macro_rules! c_functions {
    ($($arg:ident),*) => {
        impl<R: CType, $($arg: CType),*> CFunction for extern "C" fn($($arg),*) -> R {
            fn signature() -> (u8, Vec<u8>) {
                (R::CODE, vec![$($arg::CODE),*])
            }
            fn address(self) -> *mut c_void {
                self as *mut c_void
            }
        }
        impl<R: CType, $($arg: CType),*> CFunction for unsafe extern "C" fn($($arg),*) -> R {
            fn signature() -> (u8, Vec<u8>) {
                (R::CODE, vec![$($arg::CODE),*])
            }
            fn address(self) -> *mut c_void {
                self as *mut c_void
            }
        }
    };
}

c_functions!();
c_functions!(A);
c_functions!(A, B);
c_functions!(A, B, C);
c_functions!(A, B, C, D);
c_functions!(A, B, C, D, E);
c_functions!(A, B, C, D, E, F);
c_functions!(A, B, C, D, E, F, G);
c_functions!(A, B, C, D, E, F, G, H);

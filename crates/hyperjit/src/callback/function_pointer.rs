//! Typed lookups: `extern "C" fn` types whose C signature is checked
//! against the program's IR before a handle to the function is handed out,
//! and the argument lists its `call` takes.

use super::signature::Signature;
use super::typed::sealed::{HostReturnSealed, HostTypeSealed};
use std::ffi::c_void;

pub(crate) mod sealed {
    use super::*;

    /// An `extern "C" fn` pointer type and its C signature.
    #[allow(unreachable_pub)]
    pub trait FunctionPointerSealed: Copy + 'static {
        /// The parameters as a tuple.
        type Args: Copy;
        /// The result (`()` for none).
        type Ret;
        /// How many parameters it takes.
        const ARITY: usize;
        fn signature() -> Signature;
        /// # Safety
        /// `address` is a function of that signature.
        unsafe fn from_address(address: *const c_void) -> Self;
        /// The function's address.
        fn address(self) -> *const c_void;
        /// Calls the function.
        fn call_with(self, args: Self::Args) -> Self::Ret;
    }
}

/// An `extern "C" fn(A1, .., An) -> R` type, or its `unsafe` form (up to 8 parameters of
/// [`HostType`](crate::HostType)s; R a `HostType` or `()`), for
/// [`Engine::lookup_fn`](crate::Engine::lookup_fn).
pub trait FunctionPointer: sealed::FunctionPointerSealed {}

/// Arguments for [`TypedFn::call`](crate::TypedFn::call): the parameters as
/// a tuple `(A1, .., An)`, or for a function of one parameter, the value
/// itself.
pub trait FunctionArgs<Args>: args::FunctionArgsSealed<Args> {}

pub(crate) mod args {
    use super::HostTypeSealed;

    /// Converts to a function's parameter tuple.
    #[allow(unreachable_pub)]
    pub trait FunctionArgsSealed<Args> {
        fn into_args(self) -> Args;
    }

    impl<Args> FunctionArgsSealed<Args> for Args {
        fn into_args(self) -> Args {
            self
        }
    }

    impl<A: HostTypeSealed> FunctionArgsSealed<(A,)> for A {
        fn into_args(self) -> (A,) {
            (self,)
        }
    }
}

impl<Args> FunctionArgs<Args> for Args {}
impl<A: HostTypeSealed> FunctionArgs<(A,)> for A {}

macro_rules! function_pointers {
    ($($arg:ident)*) => {
        function_pointers!(@safe $($arg)*);
        function_pointers!(@unsafe $($arg)*);
    };
    (@safe $($arg:ident)*) => {
        impl<R: HostReturnSealed<Abi = R>, $($arg: HostTypeSealed,)*> sealed::FunctionPointerSealed
            for extern "C" fn($($arg),*) -> R
        {
            type Args = ($($arg,)*);
            type Ret = R;
            const ARITY: usize = <[&str]>::len(&[$(stringify!($arg)),*]);

            fn signature() -> Signature {
                Signature::from_abi(
                    vec![$(<$arg as HostTypeSealed>::ABI),*],
                    <R as HostReturnSealed>::ABI,
                )
            }

            unsafe fn from_address(address: *const c_void) -> Self {
                // SAFETY: per the trait's contract, `address` is a function
                // of exactly this type.
                unsafe { std::mem::transmute::<*const c_void, Self>(address) }
            }

            fn address(self) -> *const c_void {
                self as *const c_void
            }

            #[allow(non_snake_case)]
            fn call_with(self, ($($arg,)*): Self::Args) -> R {
                self($($arg),*)
            }
        }
        impl<R: HostReturnSealed<Abi = R>, $($arg: HostTypeSealed,)*> FunctionPointer
            for extern "C" fn($($arg),*) -> R
        {}
    };
    // The same C type as an `unsafe extern "C" fn`, which a host may
    // prefer for what it calls through `as_raw`: `TypedFn::call` is as
    // safe for it, as it stops traps, exits and checks the type.
    (@unsafe $($arg:ident)*) => {
        impl<R: HostReturnSealed<Abi = R>, $($arg: HostTypeSealed,)*> sealed::FunctionPointerSealed
            for unsafe extern "C" fn($($arg),*) -> R
        {
            type Args = ($($arg,)*);
            type Ret = R;
            const ARITY: usize =
                <extern "C" fn($($arg),*) -> R as sealed::FunctionPointerSealed>::ARITY;

            fn signature() -> Signature {
                <extern "C" fn($($arg),*) -> R as sealed::FunctionPointerSealed>::signature()
            }

            unsafe fn from_address(address: *const c_void) -> Self {
                // SAFETY: per the trait's contract, `address` is a function
                // of exactly this type.
                unsafe { std::mem::transmute::<*const c_void, Self>(address) }
            }

            fn address(self) -> *const c_void {
                self as *const c_void
            }

            #[allow(non_snake_case)]
            fn call_with(self, ($($arg,)*): Self::Args) -> R {
                // SAFETY: a function of the program checked to have this C
                // type (`from_address`'s contract); what makes the call
                // unsafe for the host's own raw use (a trap, an exit) is
                // caught by the engine's entry around `call_with`.
                unsafe { self($($arg),*) }
            }
        }
        impl<R: HostReturnSealed<Abi = R>, $($arg: HostTypeSealed,)*> FunctionPointer
            for unsafe extern "C" fn($($arg),*) -> R
        {}
    };
}

function_pointers!();
function_pointers!(A1);
function_pointers!(A1 A2);
function_pointers!(A1 A2 A3);
function_pointers!(A1 A2 A3 A4);
function_pointers!(A1 A2 A3 A4 A5);
function_pointers!(A1 A2 A3 A4 A5 A6);
function_pointers!(A1 A2 A3 A4 A5 A6 A7);
function_pointers!(A1 A2 A3 A4 A5 A6 A7 A8);

#[cfg(test)]
mod tests {
    use super::sealed::FunctionPointerSealed;

    fn agree<F: FunctionPointerSealed>() {
        assert_eq!(F::ARITY, F::signature().params().len());
    }

    /// The arity a typed call passes to the register guard is the
    /// signature's.
    #[test]
    fn arity_is_the_number_of_parameters() {
        agree::<extern "C" fn()>();
        agree::<extern "C" fn(i32) -> i64>();
        agree::<extern "C" fn(f64, i8) -> f64>();
        agree::<extern "C" fn(i64, i64, i64, i64, i64, i64, i64, i64) -> i64>();
        assert_eq!(
            <extern "C" fn(i64, i64, i64) as FunctionPointerSealed>::ARITY,
            3
        );
    }
}

//! Typed host functions: a Rust closure becomes a C function the guest
//! declares and calls by name (`int Callback1(int, int);`).
//!
//! The signature comes from the closure's generic parameters (wasmtime's
//! `func/typed.rs` is the model): no boxing of arguments, one monomorphized
//! `extern "C-unwind"` trampoline per closure type. The guest's call reaches it
//! through an IR thunk that passes the closure's environment as a constant
//! (see `thunk.rs`), which LLVM inlines into the call site.

use super::raise::finish;
use super::signature::{AbiType, Extension, Signature, Ty};
use super::{Caller, Env, HostFunction, TrampolinePair};
use crate::Trap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

pub(crate) mod sealed {
    use super::*;

    /// A type that crosses the guest/host boundary as a C scalar.
    #[allow(unreachable_pub)]
    pub trait HostTypeSealed: Copy + 'static {
        const ABI: AbiType;
    }

    /// What a host function may return.
    #[allow(unreachable_pub)]
    pub trait HostReturnSealed: 'static {
        type Abi: Copy;
        const ABI: AbiType;
        fn into_abi(self) -> Result<Self::Abi, Trap>;
    }

    /// Turns a closure into an erased host function.
    #[allow(unreachable_pub)]
    pub trait IntoHostFunctionSealed<Params, Results> {
        #[allow(private_interfaces)]
        fn into_host_function(self) -> HostFunction;
    }
}

/// A Rust type usable as a parameter of a typed host function: integers up
/// to 64 bits, `f32`, `f64`, `bool` and raw pointers.
pub trait HostType: sealed::HostTypeSealed {}

/// A Rust type a typed host function may return: a [`HostType`], `()`, or
/// `Result` of either with [`Trap`] (an `Err` stops the guest).
pub trait HostReturn: sealed::HostReturnSealed {}

/// A closure usable as a typed host function: `Fn(A1, .., An) -> R` or
/// `Fn(&Caller, A1, .., An) -> R` with up to 8 [`HostType`] parameters
/// and a [`HostReturn`] result, `Send + Sync` (guest threads may call it
/// concurrently).
pub trait IntoHostFunction<Params, Results>:
    sealed::IntoHostFunctionSealed<Params, Results> + Send + Sync + 'static
{
}

/// Marks the parameter list of a closure that takes a [`Caller`] first.
pub struct WithCaller;

macro_rules! host_types {
    ($($rust:ty => $ty:ident, $ext:ident;)*) => {$(
        impl sealed::HostTypeSealed for $rust {
            const ABI: AbiType = AbiType { ty: Ty::$ty, extension: Extension::$ext };
        }
        impl HostType for $rust {}
        impl sealed::HostReturnSealed for $rust {
            type Abi = $rust;
            const ABI: AbiType = <$rust as sealed::HostTypeSealed>::ABI;
            fn into_abi(self) -> Result<$rust, Trap> { Ok(self) }
        }
        impl HostReturn for $rust {}
    )*};
}

host_types! {
    i8 => I8, Sign; u8 => I8, Zero;
    i16 => I16, Sign; u16 => I16, Zero;
    i32 => I32, None; u32 => I32, None;
    i64 => I64, None; u64 => I64, None;
    isize => I64, None; usize => I64, None;
    f32 => F32, None; f64 => F64, None;
    bool => Bool, Zero;
}

macro_rules! pointer_types {
    ($($pointer:ty),*) => {$(
        impl<T: 'static> sealed::HostTypeSealed for $pointer {
            const ABI: AbiType = AbiType { ty: Ty::Ptr, extension: Extension::None };
        }
        impl<T: 'static> HostType for $pointer {}
        impl<T: 'static> sealed::HostReturnSealed for $pointer {
            type Abi = $pointer;
            const ABI: AbiType = AbiType { ty: Ty::Ptr, extension: Extension::None };
            fn into_abi(self) -> Result<$pointer, Trap> {
                Ok(self)
            }
        }
        impl<T: 'static> HostReturn for $pointer {}
    )*};
}

pointer_types!(*const T, *mut T);

impl sealed::HostReturnSealed for () {
    type Abi = ();
    const ABI: AbiType = AbiType {
        ty: Ty::Void,
        extension: Extension::None,
    };
    fn into_abi(self) -> Result<(), Trap> {
        Ok(())
    }
}
impl HostReturn for () {}

impl<R: sealed::HostReturnSealed> sealed::HostReturnSealed for Result<R, Trap> {
    type Abi = R::Abi;
    const ABI: AbiType = R::ABI;
    fn into_abi(self) -> Result<R::Abi, Trap> {
        self.and_then(R::into_abi)
    }
}
impl<R: sealed::HostReturnSealed> HostReturn for Result<R, Trap> {}

/// Settles a closure call: its value, or the trap to raise.
fn settle<R: sealed::HostReturnSealed>(result: std::thread::Result<R>) -> Result<R::Abi, Trap> {
    match result {
        Ok(value) => value.into_abi(),
        Err(payload) => Err(Trap::from_panic(payload)),
    }
}

macro_rules! typed_functions {
    ($($arg:ident)*) => {
        #[allow(non_snake_case)]
        impl<F, R, $($arg,)*> sealed::IntoHostFunctionSealed<($($arg,)*), R> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
            R: HostReturn,
            $($arg: HostType,)*
        {
            #[allow(private_interfaces)]
            fn into_host_function(self) -> HostFunction {
                /// # Safety
                /// `env` is the `Env<F>` the engine registered with this
                /// trampoline, alive while guest code can call it.
                unsafe extern "C-unwind" fn trampoline<F, R, $($arg,)* const COUNT: bool>(
                    env: *const Env<F>, $($arg: $arg,)*
                ) -> R::Abi
                where
                    F: Fn($($arg),*) -> R + Send + Sync + 'static,
                    R: HostReturn,
                    $($arg: HostType,)*
                {
                    // SAFETY: per this function's contract.
                    let env = unsafe { &*env };
                    let started = COUNT.then(Instant::now);
                    let result = catch_unwind(AssertUnwindSafe(|| (env.func)($($arg),*)));
                    finish(&env.shared, started, settle(result))
                }
                let signature = Signature::from_abi(
                    vec![$(<$arg as sealed::HostTypeSealed>::ABI),*],
                    <R as sealed::HostReturnSealed>::ABI,
                );
                HostFunction::new(
                    signature,
                    self,
                    TrampolinePair {
                        plain: trampoline::<F, R, $($arg,)* false> as *const () as usize,
                        counting: trampoline::<F, R, $($arg,)* true> as *const () as usize,
                    },
                )
            }
        }
        impl<F, R, $($arg,)*> IntoHostFunction<($($arg,)*), R> for F
        where
            F: Fn($($arg),*) -> R + Send + Sync + 'static,
            R: HostReturn,
            $($arg: HostType,)*
        {}

        #[allow(non_snake_case)]
        impl<F, R, $($arg,)*> sealed::IntoHostFunctionSealed<(WithCaller, $($arg,)*), R> for F
        where
            F: Fn(&Caller<'_>, $($arg),*) -> R + Send + Sync + 'static,
            R: HostReturn,
            $($arg: HostType,)*
        {
            #[allow(private_interfaces)]
            fn into_host_function(self) -> HostFunction {
                /// # Safety
                /// As for the plain trampoline.
                unsafe extern "C-unwind" fn trampoline<F, R, $($arg,)* const COUNT: bool>(
                    env: *const Env<F>, $($arg: $arg,)*
                ) -> R::Abi
                where
                    F: Fn(&Caller<'_>, $($arg),*) -> R + Send + Sync + 'static,
                    R: HostReturn,
                    $($arg: HostType,)*
                {
                    // SAFETY: per this function's contract.
                    let env = unsafe { &*env };
                    let started = COUNT.then(Instant::now);
                    let result = catch_unwind(AssertUnwindSafe(|| {
                        (env.func)(&Caller::new(&env.shared), $($arg),*)
                    }));
                    finish(&env.shared, started, settle(result))
                }
                let signature = Signature::from_abi(
                    vec![$(<$arg as sealed::HostTypeSealed>::ABI),*],
                    <R as sealed::HostReturnSealed>::ABI,
                );
                HostFunction::new(
                    signature,
                    self,
                    TrampolinePair {
                        plain: trampoline::<F, R, $($arg,)* false> as *const () as usize,
                        counting: trampoline::<F, R, $($arg,)* true> as *const () as usize,
                    },
                )
            }
        }
        impl<F, R, $($arg,)*> IntoHostFunction<(WithCaller, $($arg,)*), R> for F
        where
            F: Fn(&Caller<'_>, $($arg),*) -> R + Send + Sync + 'static,
            R: HostReturn,
            $($arg: HostType,)*
        {}
    };
}

typed_functions!();
typed_functions!(A1);
typed_functions!(A1 A2);
typed_functions!(A1 A2 A3);
typed_functions!(A1 A2 A3 A4);
typed_functions!(A1 A2 A3 A4 A5);
typed_functions!(A1 A2 A3 A4 A5 A6);
typed_functions!(A1 A2 A3 A4 A5 A6 A7);
typed_functions!(A1 A2 A3 A4 A5 A6 A7 A8);

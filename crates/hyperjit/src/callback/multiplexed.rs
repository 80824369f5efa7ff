//! The seed's multiplexed callbacks: `PerformCustomCallback(name, args)`.
//!
//! A call whose name is a constant string is bound at link time to the
//! callback's own thunk (no lookup per call); any other goes through
//! [`dispatch`], which finds the callback in a hash map by name.

use super::callback_fn::call_direct;
use super::raise::{finish, raise_with};
use super::{Caller, EngineServices, Env, HostFunction, Signature, TrampolinePair, Ty};
use crate::Trap;
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

pub(crate) struct MultiplexedFunction;

impl MultiplexedFunction {
    /// Monomorphized over the handler, so that the handler inlines into its
    /// trampoline (no call through a vtable).
    pub(crate) fn into_host_function<F>(handler: F) -> HostFunction
    where
        F: Fn(&Caller<'_>, *mut c_void) -> Result<isize, Trap> + Send + Sync + 'static,
    {
        HostFunction::new(
            Signature::new([Ty::Ptr], Ty::I64),
            handler,
            TrampolinePair {
                plain: trampoline::<F, false> as *const () as usize,
                counting: trampoline::<F, true> as *const () as usize,
            },
        )
    }
}

/// # Safety
/// `env` is the registered environment of a multiplexed callback.
unsafe extern "C-unwind" fn trampoline<F, const COUNT: bool>(
    env: *const Env<F>,
    args: *mut c_void,
) -> isize
where
    F: Fn(&Caller<'_>, *mut c_void) -> Result<isize, Trap> + Send + Sync + 'static,
{
    // SAFETY: per this function's contract.
    let env = unsafe { &*env };
    let started = COUNT.then(Instant::now);
    let result = catch_unwind(AssertUnwindSafe(|| {
        (env.func)(&Caller::new(&env.shared), args)
    }));
    let outcome = result.unwrap_or_else(|payload| Err(Trap::from_panic(payload)));
    finish(&env.shared, started, outcome)
}

/// `PerformCustomCallback` with a name known only at run time.
///
/// Monomorphized over the engine's type, so that the glue passes a plain
/// pointer to it.
///
/// # Safety
/// `engine` is the engine whose glue calls this; `name` is null or a C
/// string.
unsafe extern "C-unwind" fn dispatch<S: EngineServices>(
    engine: *const S,
    name: *const c_char,
    args: *mut c_void,
) -> isize {
    // SAFETY: per this function's contract.
    let engine = unsafe { &*engine };
    if name.is_null() {
        raise_with(
            engine,
            Trap::new("PerformCustomCallback called with a null name"),
        );
    }
    // SAFETY: `name` is a C string, per this function's contract.
    match unsafe { engine.callbacks().multiplexed_by_c_name(name) } {
        Some(target) => match target.direct {
            // SAFETY: the registry keeps a C function's direct call with
            // its environment; both live as long as the engine.
            Some(direct) => unsafe { call_direct(direct, target.env, args) },
            None => {
                // SAFETY: the registry pairs each trampoline with its own
                // environment; both live as long as the engine.
                let trampoline: unsafe extern "C-unwind" fn(usize, *mut c_void) -> isize =
                    unsafe { std::mem::transmute(target.trampoline) };
                // SAFETY: as above.
                unsafe { trampoline(target.env, args) }
            }
        },
        None => {
            // SAFETY: as above.
            let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
            raise_with(engine, Trap::new(format!("unknown callback '{name}'")))
        }
    }
}

/// The address the glue's `PerformCustomCallback` calls, with a pointer to
/// the engine (an `S`) as its first argument.
pub(crate) fn dispatch_address<S: EngineServices>() -> usize {
    dispatch::<S> as *const () as usize
}

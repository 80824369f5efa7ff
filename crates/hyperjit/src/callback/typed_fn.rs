//! [`TypedFn`]: a guest function with a checked C type, callable from the
//! host or from inside a callback. A call enters guest code as a run does,
//! so a callback's trap and the guest's `exit` come back as errors.

use super::{EngineServices, FunctionArgs, FunctionPointer};
use crate::error::{Error, Result};
use crate::{runtime, Trap};
use std::ffi::c_void;
use std::fmt;

/// A function of the running program (or a callback) with a checked C type
/// `F` (an `extern "C" fn`), from [`Engine::lookup_fn`] or
/// [`Caller::lookup_fn`]. It borrows the engine, so it cannot outlive the
/// code it calls; calls run later redefinitions too.
///
/// [`Engine::lookup_fn`]: crate::Engine::lookup_fn
/// [`Caller::lookup_fn`]: crate::Caller::lookup_fn
pub struct TypedFn<'engine, F: FunctionPointer> {
    services: &'engine dyn EngineServices,
    function: F,
}

impl<'engine, F: FunctionPointer> TypedFn<'engine, F> {
    /// `name`'s function in `services`' program, if its type is `F`.
    pub(crate) fn lookup(services: &'engine dyn EngineServices, name: &str) -> Result<Self> {
        let address = services.lookup_function(name, &F::signature())?;
        Ok(TypedFn {
            services,
            // SAFETY: the program's IR (or the callback's registration) says
            // `name` has exactly F's C type.
            function: unsafe { F::from_address(address) },
        })
    }

    /// Calls the function as a run calls its entry: a callback's trap comes
    /// back as [`Error::Trap`] and the guest's `exit(n)` as
    /// [`Error::GuestExit`], where a direct call would end the thread or the
    /// process. `args` is the parameters as a tuple, or for a function of
    /// one parameter, that value.
    pub fn call(&self, args: impl FunctionArgs<F::Args>) -> Result<F::Ret> {
        struct Invocation<F: FunctionPointer> {
            function: F,
            args: F::Args,
            result: Option<F::Ret>,
        }
        extern "C" fn invoke<F: FunctionPointer>(payload: *mut c_void) {
            // SAFETY: `payload` is the Invocation<F> below, which outlives
            // this call and is used by this thread only meanwhile.
            let invocation = unsafe { &mut *payload.cast::<Invocation<F>>() };
            let guarded = runtime::guarded(invocation.function.address(), F::ARITY);
            // SAFETY: `guarded` is called next, as the function would be.
            let function = unsafe { F::from_address(guarded) };
            invocation.result = Some(function.call_with(invocation.args));
        }
        let mut invocation = Invocation::<F> {
            function: self.function,
            args: args.into_args(),
            result: None,
        };
        // SAFETY: `invoke` holds only a reference while the guest runs, so a
        // trap's longjmp over its frame skips no destructor; the payload is
        // the Invocation<F> it expects.
        unsafe {
            self.services
                .call_guest(invoke::<F>, (&raw mut invocation).cast::<c_void>())?;
        }
        invocation
            .result
            .ok_or_else(|| Error::Trap(Trap::new("the guest was stopped")))
    }

    /// The raw function pointer, for hot paths: a direct call costs what a
    /// native call costs.
    ///
    /// # Safety
    /// The pointer must not be called after the engine is dropped. A direct
    /// call from the host is not a run, and nothing can stop the guest in
    /// it: should a callback return a trap (or panic) inside it, hyperjit
    /// prints the trap and aborts the process (SIGABRT), as no frame can be
    /// returned to and unwinding may not cross the guest's; a C callback's
    /// `hj_trap`, and [`request_trap`](crate::request_trap), return -1 /
    /// false and do nothing. Should the guest call `exit`, the process
    /// exits with that status; a fault in it is reported and kills the
    /// process by its signal, as natively.
    pub unsafe fn as_raw(&self) -> F {
        self.function
    }
}

impl<F: FunctionPointer> Clone for TypedFn<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F: FunctionPointer> Copy for TypedFn<'_, F> {}

impl<F: FunctionPointer> fmt::Debug for TypedFn<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedFn")
            .field("signature", &F::signature().to_string())
            .finish_non_exhaustive()
    }
}

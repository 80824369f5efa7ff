//! Host functions: what the host defines for the guest to call — typed
//! closures, dynamic-signature handlers, raw addresses, and the seed's
//! multiplexed callbacks. Each goes through the callback layer's registry;
//! the engine's own hypercalls take the same path.

use super::{Core, Engine, State};
use crate::callback::{
    callback_fn_host_function, CallbackFn, Caller, DirectCall, DynamicFunction, HostFunction,
    IntoHostFunction, Kind, MultiplexedFunction, Signature, Value,
};
use crate::error::{Error, Result};
use crate::Trap;
use std::ffi::c_void;

impl Engine {
    /// Defines a typed host function the guest declares and calls by `name`
    /// (`int Callback1(int, int);`). The closure's parameter and result
    /// types are its C signature; the guest's declaration is checked against
    /// it when the program is linked. It may take a [`Caller`] first, and
    /// return `Result<_, Trap>` to stop the guest.
    ///
    /// ```no_run
    /// # let engine = hyperjit::Engine::new()?;
    /// let scale = 100;
    /// engine.define("Callback1", move |a: i32, b: i32| a * scale + b)?;
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    pub fn define<Params, Results>(
        &self,
        name: &str,
        function: impl IntoHostFunction<Params, Results>,
    ) -> Result<()> {
        self.core
            .define_named(name, Kind::Typed, function.into_host_function(), false)
    }

    /// Defines a host function whose signature is data: `handler` receives
    /// the arguments as [`Value`]s and returns the result as one.
    pub fn define_dynamic<F>(&self, name: &str, signature: Signature, handler: F) -> Result<()>
    where
        F: Fn(&Caller<'_>, &[Value]) -> std::result::Result<Value, Trap> + Send + Sync + 'static,
    {
        let function = DynamicFunction::into_host_function(signature, Box::new(handler));
        self.core.define_named(name, Kind::Dynamic, function, false)
    }

    /// Binds `name` to a symbol at a fixed address (the proposal thread's
    /// `addGlobalMapping`): the guest calls `address` directly, or reads
    /// the data there. With a `signature`, `name` is a function whose type
    /// is checked against the guest's declaration; with `None`, the
    /// guest's declaration, function or variable, is trusted.
    ///
    /// The caller vouches that `address` is a function with that signature
    /// (or what the guest declares) that lives as long as the engine.
    ///
    /// ```no_run
    /// # let engine = hyperjit::Engine::new()?;
    /// # use hyperjit::{Signature, Ty};
    /// extern "C" fn twice(x: i32) -> i32 { 2 * x }
    /// static LIMIT: i64 = 10;
    /// engine.define_symbol("twice", twice as *const u8, Signature::new([Ty::I32], Ty::I32))?;
    /// engine.define_symbol("limit", &LIMIT as *const i64 as *const u8, None)?;
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    pub fn define_symbol(
        &self,
        name: &str,
        address: *const u8,
        signature: impl Into<Option<Signature>>,
    ) -> Result<()> {
        check_name(name)?;
        let signature = signature.into();
        let state = self.core.lock();
        self.core.check_free(name, &state, signature.as_ref())?;
        state.linker.define_symbol(name, address as usize)?;
        self.core
            .callbacks
            .register_symbol(name, address as usize, signature);
        Ok(())
    }

    /// Registers a callback for `PerformCustomCallback(name, args)` (the
    /// seed's `registerCustomCallback`): `handler` gets the guest's `args`
    /// pointer and a [`Caller`]; its result is `PerformCustomCallback`'s.
    /// Calls whose name is a string constant are bound when the program is
    /// linked; others find the callback by name at run time.
    pub fn register_callback<F>(&self, name: &str, handler: F) -> Result<()>
    where
        F: Fn(&Caller<'_>, *mut c_void) -> std::result::Result<isize, Trap> + Send + Sync + 'static,
    {
        self.core
            .register_multiplexed(name, MultiplexedFunction::into_host_function(handler), None)
    }

    /// Registers the C function `function` for `PerformCustomCallback(name,
    /// args)` (the seed's `registerCustomCallback`, `user_data` being its
    /// `LLVM_args`): it receives the guest's `args` and `user_data`, and
    /// its result is `PerformCustomCallback`'s. Calls whose name is a
    /// string constant call `function` itself, as cheap as a native call.
    /// To stop the guest, `function` calls [`request_trap`] before it
    /// returns.
    ///
    /// # Safety
    /// `function` is safe to call with any `args` the guest passes and
    /// `user_data`, on any thread the guest runs on, while the engine
    /// lives; it never unwinds.
    ///
    /// [`request_trap`]: crate::request_trap
    pub unsafe fn register_callback_fn(
        &self,
        name: &str,
        function: CallbackFn,
        user_data: *mut c_void,
    ) -> Result<()> {
        // SAFETY: the caller's contract.
        let (function, direct) = unsafe { callback_fn_host_function(function, user_data) };
        self.core.register_multiplexed(name, function, Some(direct))
    }
}

impl Core {
    /// Registers the multiplexed callback `name`; a C function's `direct`
    /// call serves constant-name call sites.
    fn register_multiplexed(
        &self,
        name: &str,
        function: HostFunction,
        direct: Option<DirectCall>,
    ) -> Result<()> {
        if name.as_bytes().contains(&0) || name.is_empty() {
            return Err(Error::InvalidName {
                name: name.to_string(),
                reason: "callback names are non-empty and have no NUL byte",
            });
        }
        let _state = self.lock();
        if self.callbacks.has_multiplexed(name) {
            return Err(Error::AlreadyDefined {
                name: name.to_string(),
                by: Some("the host".to_string()),
            });
        }
        self.callbacks
            .register_multiplexed(name, function, direct, self, self.config.count_calls);
        Ok(())
    }

    /// Registers a host function the guest calls by `name`; a `builtin` is
    /// one of the engine's own.
    pub(super) fn define_named(
        &self,
        name: &str,
        kind: Kind,
        function: HostFunction,
        builtin: bool,
    ) -> Result<()> {
        check_name(name)?;
        let state = self.lock();
        self.check_free(name, &state, Some(&function.signature))?;
        self.callbacks
            .register_named(name, kind, function, self, self.config.count_calls, builtin);
        Ok(())
    }

    /// Fails if `name` is taken by a callback or by linked code, or cannot
    /// be a callback of `signature` beside the pending inputs.
    fn check_free(&self, name: &str, state: &State, signature: Option<&Signature>) -> Result<()> {
        crate::link::check_callback_beside(&state.pending, name, signature)?;
        let linker = &state.linker;
        let by = if let Some(named) = self.callbacks.named(name) {
            if named.builtin {
                "hyperjit (a hypercall)"
            } else {
                "the host"
            }
        } else if linker.defines(name) {
            "the program"
        } else {
            return Ok(());
        };
        Err(Error::AlreadyDefined {
            name: name.to_string(),
            by: Some(by.to_string()),
        })
    }
}

/// A name the guest can declare: a C identifier.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidName {
            name: name.to_string(),
            reason: "a function the guest declares needs a C identifier for a name",
        })
    }
}

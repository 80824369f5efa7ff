//! Finding things in the running program: addresses of functions, globals
//! and callbacks, and typed handles to functions whose C type was checked.

use super::{Core, Engine};
use crate::callback::{FunctionPointer, Signature, TypedFn};
use crate::error::{Error, Result};
use std::ffi::c_void;

impl Engine {
    /// The address of a function or global of the program, or of a callback.
    /// Links what was added since the last link first.
    pub fn lookup(&self, name: &str) -> Result<*const c_void> {
        self.core.lookup(name)
    }

    /// A function of the program (or a callback) as a typed handle, after
    /// checking that its C type is the one asked for:
    ///
    /// ```no_run
    /// # let engine = hyperjit::Engine::new()?;
    /// let square = engine.lookup_fn::<extern "C" fn(i32) -> i32>("square")?;
    /// assert_eq!(square.call(7)?, 49);
    /// # Ok::<(), hyperjit::Error>(())
    /// ```
    ///
    /// Calls through the handle run later redefinitions too; a callback's
    /// trap or the guest's `exit` inside one come back as errors.
    pub fn lookup_fn<F: FunctionPointer>(&self, name: &str) -> Result<TypedFn<'_, F>> {
        TypedFn::lookup(&*self.core, name)
    }
}

impl Core {
    /// The address of a linked function or global, or of a callback.
    pub(super) fn lookup(&self, name: &str) -> Result<*const c_void> {
        let mut state = self.lock();
        if !state.has_unlinked() {
            if let Some(address) = state.linker.cached_address(name) {
                return Ok(address as usize as *const c_void);
            }
        }
        self.link_pending_for(&mut state, name)?;
        if !state.linker.defines(name) {
            let Some(named) = self.callbacks.named(name) else {
                return Err(Error::UnknownSymbol {
                    name: name.to_string(),
                });
            };
            // A typed or dynamic callback no linked code took the address
            // of has no thunk in the JIT yet: give it one.
            state.linker.materialize_callback(name, &named)?;
        }
        let address = state.linker.lookup(name)?;
        Ok(address as usize as *const c_void)
    }

    /// The address of a function (or callback) whose C type is `requested`.
    pub(super) fn lookup_function(
        &self,
        name: &str,
        requested: &Signature,
    ) -> Result<*const c_void> {
        let address = self.lookup(name)?;
        let actual = match self.lock().linker.function_signature(name) {
            Some(signature) => (!requested.matches(signature)).then(|| signature.to_string()),
            None => match self.callbacks.named(name) {
                Some(named) => match &named.signature {
                    Some(signature) => (signature != requested).then(|| signature.to_string()),
                    None => None, // a raw symbol: the host vouched for it
                },
                None => Some("not a function".to_string()),
            },
        };
        match actual {
            None => Ok(address),
            Some(actual) => Err(Error::LookupSignature {
                symbol: name.to_string(),
                requested: requested.to_string(),
                actual,
            }),
        }
    }
}

//! `Caller`: what a callback can reach while it runs — the engine's
//! services, re-entrantly, and the host's data.

use super::{FunctionPointer, Shared, TypedFn};
use std::any::Any;
use std::ffi::c_void;
use std::path::Path;

/// What a callback can reach while it runs: the engine's services and the
/// host's data. Valid for the duration of the call.
pub struct Caller<'a> {
    shared: &'a Shared,
}

impl<'a> Caller<'a> {
    pub(crate) fn new(shared: &'a Shared) -> Caller<'a> {
        Caller { shared }
    }

    /// The name of the callback being called.
    pub fn callback(&self) -> &str {
        &self.shared.name
    }

    /// The address of a function or global of the running program, or of a
    /// callback. Safe to call from inside a callback: the engine holds no
    /// lock while guest code runs.
    pub fn lookup(&self, symbol: &str) -> crate::Result<*const c_void> {
        self.shared.services().lookup(symbol)
    }

    /// A function of the running program (or a callback) as a typed handle,
    /// after checking its C type (see
    /// [`Engine::lookup_fn`](crate::Engine::lookup_fn)). Calling it from the
    /// callback nests a run in the running one.
    pub fn lookup_fn<F: FunctionPointer>(&self, name: &str) -> crate::Result<TypedFn<'a, F>> {
        TypedFn::lookup(self.shared.services(), name)
    }

    /// Recompiles a function of the running program (see
    /// [`Engine::recompile`](crate::Engine::recompile)); may be the very
    /// function that called this callback: the next call runs the new code.
    pub fn recompile(&self, function: &str, opt_level: u8) -> crate::Result<()> {
        self.shared.services().recompile(function, opt_level)
    }

    /// Replaces a function's body (see
    /// [`Engine::redefine`](crate::Engine::redefine)).
    pub fn redefine(&self, function: &str, path: impl AsRef<Path>) -> crate::Result<()> {
        self.shared.services().redefine(function, path.as_ref())
    }

    /// Replaces a function's body with one in IR held in memory (see
    /// [`Engine::redefine_ir`](crate::Engine::redefine_ir)).
    pub fn redefine_ir(
        &self,
        function: &str,
        name: &str,
        ir: impl AsRef<[u8]>,
    ) -> crate::Result<()> {
        self.shared
            .services()
            .redefine_ir(function, name, ir.as_ref())
    }

    /// Adds and links a module while the program runs (see
    /// [`Engine::load`](crate::Engine::load)).
    pub fn load(&self, path: impl AsRef<Path>) -> crate::Result<()> {
        self.shared.services().load(path.as_ref())
    }

    /// Adds and links IR held in memory while the program runs (see
    /// [`Engine::load_ir`](crate::Engine::load_ir)).
    pub fn load_ir(&self, name: &str, ir: impl AsRef<[u8]>) -> crate::Result<()> {
        self.shared.services().load_ir(name, ir.as_ref())
    }

    /// The host data given to [`EngineBuilder::host_data`], if it is a `T`.
    ///
    /// [`EngineBuilder::host_data`]: crate::EngineBuilder::host_data
    pub fn data<T: Any>(&self) -> Option<&T> {
        self.shared.services().host_data()?.downcast_ref::<T>()
    }
}

//! The engine's side of the callback layer's [`EngineServices`]: what a
//! callback (through its `Caller`) and a trampoline may ask of the engine.

use super::Core;
use crate::callback::{EngineServices, Registry, Signature};
use crate::compile::Source;
use crate::error::Result;
use crate::Trap;
use std::any::Any;
use std::ffi::c_void;
use std::path::Path;

impl EngineServices for Core {
    fn lookup(&self, symbol: &str) -> Result<*const c_void> {
        Core::lookup(self, symbol)
    }

    fn lookup_function(&self, name: &str, signature: &Signature) -> Result<*const c_void> {
        Core::lookup_function(self, name, signature)
    }

    unsafe fn call_guest(
        &self,
        handler: extern "C" fn(*mut c_void),
        payload: *mut c_void,
    ) -> Result<()> {
        // SAFETY: the caller keeps the trait method's contract, which is
        // this one's.
        unsafe { Core::call_guest(self, handler, payload) }
    }

    fn load(&self, path: &Path) -> Result<()> {
        Core::load(self, self.read(path)?)
    }

    fn load_ir(&self, name: &str, ir: &[u8]) -> Result<()> {
        Core::load(self, Source::in_memory(name, ir))
    }

    fn recompile(&self, function: &str, opt_level: u8) -> Result<()> {
        Core::recompile(self, function, opt_level)
    }

    fn redefine(&self, function: &str, path: &Path) -> Result<()> {
        Core::redefine(self, function, self.read(path)?)
    }

    fn redefine_ir(&self, function: &str, name: &str, ir: &[u8]) -> Result<()> {
        Core::redefine(self, function, Source::in_memory(name, ir))
    }

    /// Keeps the first trap of a run; later ones (other threads) are dropped.
    fn record_trap(&self, trap: Trap) {
        let mut pending = super::lock(&self.pending_trap);
        if pending.is_none() {
            *pending = Some(trap);
        }
    }

    fn host_data(&self) -> Option<&(dyn Any + Send + Sync)> {
        self.host_data.as_ref().map(|data| &*data.0)
    }

    fn callbacks(&self) -> &Registry {
        &self.callbacks
    }
}

//! What the callback layer needs from the engine, as a trait the layer owns
//! and the engine implements: callbacks reach the engine re-entrantly while
//! guest code runs (a `Caller` looks up a symbol or recompiles a function, a
//! trampoline records a trap), yet this layer sits below the engine and
//! never names it.

use super::{Registry, Signature};
use crate::{Result, Trap};
use std::any::Any;
use std::ffi::c_void;
use std::path::Path;

/// The engine's services, as callbacks see them. Every method may be called
/// from guest code on any thread; the engine holds no lock while guest code
/// runs, so none of them can deadlock with the run that called it.
pub(crate) trait EngineServices: Send + Sync + 'static {
    /// The address of a linked function or global, or of a callback.
    fn lookup(&self, symbol: &str) -> Result<*const c_void>;
    /// The address of a function or callback whose C type is `signature`.
    fn lookup_function(&self, name: &str, signature: &Signature) -> Result<*const c_void>;
    /// Calls `handler(payload)`, which calls guest code, as a run calls its
    /// entry: the guest's `exit` and a callback's trap come back as errors.
    ///
    /// # Safety
    /// `handler` must be safe to call with `payload`, and hold nothing that
    /// needs dropping while it runs guest code (a trap leaves its frame by
    /// longjmp).
    unsafe fn call_guest(
        &self,
        handler: extern "C" fn(*mut c_void),
        payload: *mut c_void,
    ) -> Result<()>;
    /// Adds and links a module; during a run its constructors run at once.
    fn load(&self, path: &Path) -> Result<()>;
    /// [`load`](Self::load) for IR (text or bitcode) held in memory.
    fn load_ir(&self, name: &str, ir: &[u8]) -> Result<()>;
    /// Recompiles a function's current body at `opt_level`.
    fn recompile(&self, function: &str, opt_level: u8) -> Result<()>;
    /// Replaces a function's body with the one `path` defines.
    fn redefine(&self, function: &str, path: &Path) -> Result<()>;
    /// [`redefine`](Self::redefine) with IR (text or bitcode) held in memory.
    fn redefine_ir(&self, function: &str, name: &str, ir: &[u8]) -> Result<()>;
    /// Keeps `trap` for the run that is in progress (the first one wins).
    fn record_trap(&self, trap: Trap);
    /// The host's data, if it gave any.
    fn host_data(&self) -> Option<&(dyn Any + Send + Sync)>;
    /// The engine's callbacks (run-time `PerformCustomCallback` looks names
    /// up here).
    fn callbacks(&self) -> &Registry;
}

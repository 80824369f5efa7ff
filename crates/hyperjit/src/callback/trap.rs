//! Traps: how a failing callback stops the guest.
//!
//! A trampoline never lets a panic or an error cross into guest code. It
//! records the trap with the engine and abandons the guest through the
//! runtime (`hj_rt_trap`, a longjmp back to where the engine entered guest
//! code). The only Rust frame skipped is the trampoline's own, which by then
//! holds nothing that needs dropping.

use super::Shared;
use crate::engine::Inner;
use std::any::Any;
use std::fmt;
use std::time::Instant;

/// Why a callback stopped the guest. Returned by callbacks as `Err(Trap)`;
/// the engine adds the callback's name and `run_main` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    callback: Option<String>,
    message: String,
}

impl Trap {
    /// A trap with a message.
    pub fn new(message: impl Into<String>) -> Trap {
        Trap {
            callback: None,
            message: message.into(),
        }
    }

    /// The callback that trapped, if the trap came from one.
    pub fn callback(&self) -> Option<&str> {
        self.callback.as_deref()
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn in_callback(mut self, name: &str) -> Trap {
        if self.callback.is_none() {
            self.callback = Some(name.to_string());
        }
        self
    }

    /// The trap for a callback that panicked with `payload`.
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> Trap {
        let text = if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_string()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "(no message)".to_string()
        };
        Trap::new(format!("panicked: {text}"))
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.callback {
            Some(name) => write!(f, "trap in callback '{name}': {}", self.message),
            None => write!(f, "trap: {}", self.message),
        }
    }
}

impl std::error::Error for Trap {}

/// Ends a trampoline: counts the call if it was timed (`--stats`), then
/// returns the callback's value or raises its trap. Always inlined: it is
/// on every callback's path (not inlined, dynamic callbacks measured 18 ns
/// a call instead of 11).
#[inline(always)]
pub(crate) fn finish<T>(shared: &Shared, started: Option<Instant>, outcome: Result<T, Trap>) -> T {
    if let Some(started) = started {
        shared.count(started);
    }
    match outcome {
        Ok(value) => value,
        Err(trap) => raise(shared, trap),
    }
}

/// Records `trap` for the engine that owns the callback and abandons the
/// guest code running on this thread.
pub(crate) fn raise(shared: &Shared, trap: Trap) -> ! {
    raise_for_engine(shared.engine(), trap.in_callback(&shared.name))
}

/// Records `trap` with `engine` and abandons the guest code running on this
/// thread.
pub(crate) fn raise_for_engine(engine: &Inner, trap: Trap) -> ! {
    engine.record_trap(trap);
    // SAFETY: the callers are trampolines called directly from guest code;
    // `trap` was moved out above and the callers hold only references and
    // plain values, so no Rust destructor is skipped.
    unsafe { crate::runtime::abandon_guest() }
}

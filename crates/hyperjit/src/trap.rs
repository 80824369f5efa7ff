//! Traps: why guest code was stopped. A callback returns `Err(Trap)` (or
//! panics, or the guest calls an unknown callback); the engine abandons the
//! guest and the host gets the trap back as [`Error::Trap`](crate::Error::Trap).
//! It sits at the crate root because every layer speaks of it and it
//! depends on nothing.

use std::any::Any;
use std::fmt;

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

/// `Err("message")?` in a callback.
impl From<&str> for Trap {
    fn from(message: &str) -> Trap {
        Trap::new(message)
    }
}

/// `Err(format!(..))?` in a callback.
impl From<String> for Trap {
    fn from(message: String) -> Trap {
        Trap::new(message)
    }
}

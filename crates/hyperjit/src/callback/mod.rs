//! Host callbacks: how a JIT'd program calls into the program hosting it.
//!
//! Four ways, one mechanism. A typed closure ([`Engine::define`]), a
//! dynamic-signature handler ([`Engine::define_dynamic`]) and the seed's
//! multiplexed callbacks ([`Engine::register_callback`], reached through
//! `PerformCustomCallback`) each get an `extern "C-unwind"` trampoline and an
//! environment (`env.rs`: the closure and its name, counters and engine).
//! The guest reaches the trampoline through a small IR thunk that passes the
//! environment's address as a constant; the thunk (the link layer's glue
//! writes it) is inlined into the call site, so a callback costs one direct
//! call. A raw address ([`Engine::define_symbol`]) is bound as it is.
//!
//! A C function registered for `PerformCustomCallback`
//! ([`Engine::register_callback_fn`]) is called directly from constant-name
//! call sites, with no trampoline (`callback_fn.rs`).
//!
//! Trampolines catch panics and `Err(Trap)`s and stop the guest
//! (`raise.rs`): no panic unwinds into guest code. (They are "C-unwind" only
//! so that `pthread_exit`'s forced unwinding may pass through them when a
//! guest-created thread traps.)
//!
//! This layer sits below the engine: it reaches the engine only through the
//! [`EngineServices`] trait it owns (`services.rs`).
//!
//! [`Engine::define`]: crate::Engine::define
//! [`Engine::define_dynamic`]: crate::Engine::define_dynamic
//! [`Engine::register_callback`]: crate::Engine::register_callback
//! [`Engine::define_symbol`]: crate::Engine::define_symbol
//! [`Engine::register_callback_fn`]: crate::Engine::register_callback_fn

mod callback_fn;
mod caller;
mod dynamic;
mod env;
mod function_pointer;
mod multiplexed;
mod raise;
mod registry;
mod services;
mod signature;
mod typed;
mod typed_fn;

pub(crate) use callback_fn::{
    drop_trap_request, honor_request_address, into_host_function as callback_fn_host_function,
    requests_address, DirectCall,
};
pub use callback_fn::{request_trap, CallbackFn};
pub use caller::Caller;
pub(crate) use dynamic::DynamicFunction;
pub(crate) use env::{Env, HostFunction, OwnedEnv, Shared, TrampolinePair};
pub use function_pointer::{FunctionArgs, FunctionPointer};
pub(crate) use multiplexed::{dispatch_address, MultiplexedFunction};
pub(crate) use raise::raise_with;
pub(crate) use registry::{Kind, Named, Registry};
pub(crate) use services::EngineServices;
pub(crate) use signature::AbiType;
pub use signature::{Signature, Ty, Value};
pub use typed::{HostReturn, HostType, IntoHostFunction, WithCaller};
pub use typed_fn::TypedFn;

use crate::stats::CallbackStats;

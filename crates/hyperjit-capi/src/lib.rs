//! hyperjit's C API: `include/hyperjit_host.h`, generated from this crate
//! by cbindgen (a test fails if the header and the code differ).
//!
//! C and C++ hosts link `libhyperjit_capi` (shared or static) and drive an
//! engine through an opaque `hj_engine *`; plugins — shared libraries
//! exporting `int hyperjit_plugin_init(hj_engine *)` — register callbacks
//! through the same functions, which the `hyperjit` binary exports to
//! them. Every function is a thin shell over the Rust API:
//!
//! - no panic crosses the boundary (each body runs under `catch_unwind`);
//! - every pointer argument is checked, and a failure is a return value
//!   (a status code, `HJ_ERROR` or one naming how guest code ended, or
//!   `NULL`) with its message in `hj_engine_last_error`;
//! - strings the library returns say who owns them: the last error is the
//!   engine's (valid until the thread's next call on it), the statistics
//!   text is the caller's (`hj_string_free`).
//!
//! For Rust programs this crate offers what the CLI needs: an `hj_engine`
//! around an [`Engine`](hyperjit::Engine) it built, and plugin loading.
#![deny(missing_docs, unreachable_pub)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

mod boundary;
mod call;
mod callbacks;
mod engine;
mod plugin;

// The C functions are this crate's public surface (Rust may call them
// too); the Rust-only part is `hj_engine`'s methods and `PluginError`.
pub use boundary::{HJ_ERROR, HJ_GUEST_EXIT, HJ_GUEST_FAULT, HJ_OK, HJ_TRAP};
pub use call::*;
pub use callbacks::*;
pub use engine::*;
pub use plugin::*;

//! The seed proposal's example: the host registers `Callback1`, the guest
//! (`examples/test.c`) fills `struct arg { int arg1; int arg2; }` with 10
//! and 20 and calls `PerformCustomCallback("Callback1", &Arg)`.
//!
//! `cargo run -p hyperjit --example seed`

use hyperjit::{Engine, Trap};
use std::ffi::c_void;

/// The guest's `struct arg`.
#[repr(C)]
struct Arg {
    arg1: i32,
    arg2: i32,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::new()?;
    // The proposal's extra `LLVM_args` context is the closure's own state.
    let context = String::from("host context");
    engine.register_callback("Callback1", move |_caller, args: *mut c_void| {
        if args.is_null() {
            return Err(Trap::new("Callback1 needs a struct arg"));
        }
        // SAFETY: the guest passes a pointer to its `struct arg`.
        let arg = unsafe { &*(args as *const Arg) };
        println!(
            "Callback1({}, {}) called with {context}",
            arg.arg1, arg.arg2
        );
        Ok((arg.arg1 + arg.arg2) as isize)
    })?;
    let guest = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/test.c");
    engine.add_file(guest)?;
    let status = engine.run_main(&["test.c"])?;
    println!("guest exited with {status}");
    Ok(())
}

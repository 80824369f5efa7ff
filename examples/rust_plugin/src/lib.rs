//! A plugin in Rust for `hyperjit run --plugin`, defining what
//! `examples/c_host/test.c` calls: `Callback1` through
//! `PerformCustomCallback` (a closure with state) and `Callback2` by its
//! own typed name. From the repository's root:
//!
//! ```sh
//! cargo build --release -p hyperjit-example-plugin
//! hyperjit run --plugin target/release/librust_callbacks.so examples/c_host/test.c
//! ```

use hyperjit_plugin::{Engine, Error};
use std::sync::atomic::{AtomicU32, Ordering};

/// The proposal's argument struct.
#[repr(C)]
struct Arg {
    arg1: i32,
    arg2: i32,
}

extern "C" fn callback2(a: i32, b: i32) -> i32 {
    a * 100 + b
}

fn init(engine: &Engine) -> Result<(), Error> {
    let calls = AtomicU32::new(0);
    engine.register_callback("Callback1", move |args| {
        if args.is_null() {
            return Err("Callback1 needs its arguments".to_string());
        }
        // SAFETY: the guest passes the proposal's struct of two ints.
        let arg = unsafe { &*args.cast::<Arg>() };
        let call = calls.fetch_add(1, Ordering::Relaxed) + 1;
        println!(
            "rust plugin: Callback1({}, {}), call {call}",
            arg.arg1, arg.arg2
        );
        Ok((arg.arg1 + arg.arg2) as isize)
    })?;
    engine.define_function("Callback2", callback2 as extern "C" fn(i32, i32) -> i32)
}

hyperjit_plugin::export!(init);

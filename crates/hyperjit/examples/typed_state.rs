//! Typed host functions with host state: the guest (`examples/counter.c`)
//! declares `long record(const char *, long)` and friends; the host defines
//! them as Rust closures sharing a ledger, and reads it after the run.
//!
//! `cargo run -p hyperjit --example typed_state`

use hyperjit::{Caller, Engine, Trap};
use std::ffi::{c_char, CStr};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Ledger {
    events: Vec<(String, i64)>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Engine::builder().count_callback_calls(true).build()?;
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    let state = Arc::clone(&ledger);
    engine.define(
        "record",
        move |event: *const c_char, amount: i64| -> Result<i64, Trap> {
            if event.is_null() {
                return Err(Trap::new("record needs an event name"));
            }
            // SAFETY: the guest passes a C string.
            let event = unsafe { CStr::from_ptr(event) }
                .to_string_lossy()
                .into_owned();
            let mut ledger = state.lock().map_err(|_| Trap::new("ledger poisoned"))?;
            ledger.events.push((event, amount));
            Ok(ledger.events.iter().map(|(_, a)| a).sum())
        },
    )?;
    engine.define("log_line", |caller: &Caller<'_>, text: *const c_char| {
        // SAFETY: the guest passes a C string.
        let text = unsafe { CStr::from_ptr(text) }.to_string_lossy();
        println!("[host, from {}] {text}", caller.callback());
    })?;
    let state = Arc::clone(&ledger);
    engine.define("average", move || -> f64 {
        let ledger = state.lock().expect("ledger");
        let sum: i64 = ledger.events.iter().map(|(_, a)| a).sum();
        sum as f64 / ledger.events.len().max(1) as f64
    })?;

    engine.add_file(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/counter.c"))?;
    let status = engine.run_main(&["counter.c"])?;
    let ledger = ledger.lock().expect("ledger");
    println!(
        "host: guest exited with {status} after {} events",
        ledger.events.len()
    );
    for stats in engine.stats().callbacks {
        println!("host: {} called {} times", stats.name, stats.calls);
    }
    Ok(())
}

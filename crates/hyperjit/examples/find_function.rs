//! A guest finds a function by name in a module of 10,000 generated
//! functions (`hj_lookup`, the proposal's "where is function X in a large
//! module?").
//!
//! `cargo run -p hyperjit --example find_function`

use hyperjit::Engine;
use std::fmt::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut module = String::new();
    for i in 0..10_000 {
        writeln!(
            module,
            "define i64 @generated_{i}(i64 %x) {{\n  %r = mul i64 %x, {i}\n  ret i64 %r\n}}"
        )?;
    }
    let engine = Engine::new()?;
    engine.add_ir("generated.ll", &module)?;
    engine.add_file(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/finder.c"))?;
    let status = engine.run_main(&["finder.c"])?;
    println!("guest exited with {status}");
    Ok(())
}

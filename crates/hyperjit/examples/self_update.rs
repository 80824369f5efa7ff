//! A long-running guest loop (`examples/stepper.c`) redefines its own
//! `step()` from `examples/step_v2.c` mid-run and prints the change.
//!
//! `cargo run -p hyperjit --example self_update`

use hyperjit::Engine;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let engine = Engine::new()?;
    engine.add_file(format!("{dir}/stepper.c"))?;
    let status = engine.run_main(&["stepper.c", &format!("{dir}/step_v2.c")])?;
    println!("guest exited with {status}");
    Ok(())
}

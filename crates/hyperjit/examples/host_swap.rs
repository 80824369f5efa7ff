//! The host redefines a guest function while the guest runs in another
//! thread: `examples/worker.c` spins calling `compute()`; the host swaps in
//! a new body from IR, and the running loop picks it up.
//!
//! `cargo run -p hyperjit --example host_swap`

use hyperjit::Engine;
use std::sync::Arc;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let engine = Arc::new(Engine::new()?);
    engine.add_file(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.c"))?;
    // Link before the guest starts, so the redefinition below has a target.
    engine.lookup("compute")?;
    let guest = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || engine.run_main(&["worker.c"]))
    };
    std::thread::sleep(Duration::from_millis(200));
    let dir = std::env::temp_dir().join(format!("hyperjit-host-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let v2 = dir.join("compute_v2.ll");
    std::fs::write(
        &v2,
        "define i64 @compute(i64 %x) {\n  %r = add i64 %x, 42\n  ret i64 %r\n}\n",
    )?;
    engine.redefine("compute", &v2)?;
    println!("host: compute() redefined while the guest runs");
    let status = guest.join().map_err(|_| "guest thread panicked")??;
    std::fs::remove_dir_all(&dir)?;
    println!("host: guest exited with {status}");
    Ok(())
}

//! Builds the guest runtime shim (`src/runtime/shim.c`).
fn main() {
    println!("cargo:rerun-if-changed=src/runtime/shim.c");
    cc::Build::new()
        .file("src/runtime/shim.c")
        .flag_if_supported("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .compile("hyperjit_runtime");
}

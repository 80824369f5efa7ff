//! Builds the C parts: the guest runtime shim (`src/runtime/shim.c`) and the
//! JIT's memory manager (`src/llvm/near_memory.c`).
fn main() {
    println!("cargo:rerun-if-changed=src/runtime/shim.c");
    println!("cargo:rerun-if-changed=src/llvm/near_memory.c");
    cc::Build::new()
        .file("src/runtime/shim.c")
        .file("src/llvm/near_memory.c")
        .flag_if_supported("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .compile("hyperjit_runtime");
}

//! Hands this crate's header directory to the build scripts of crates
//! that depend on it (`DEP_HYPERJIT_CAPI_INCLUDE`): the CLI exports the
//! functions `hyperjit_host.h` declares.
fn main() {
    let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    println!("cargo:include={}", include.display());
    println!("cargo:rerun-if-changed=build.rs");
}

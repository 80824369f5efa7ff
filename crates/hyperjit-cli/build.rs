//! Exports the C API from the `hyperjit` binary: plugins that `--plugin`
//! loads call it, resolved against the process, as a C host's calls are
//! against `libhyperjit_capi`. Exactly the functions the header declares
//! (it is generated from the API's code), not the engine's internal C
//! symbols.
use std::path::PathBuf;

fn main() {
    // From hyperjit-capi's build script (`links = "hyperjit_capi"`).
    let include = std::env::var_os("DEP_HYPERJIT_CAPI_INCLUDE")
        .expect("hyperjit-capi's build script names its include directory");
    let header = PathBuf::from(include).join("hyperjit_host.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let text = std::fs::read_to_string(&header)
        .unwrap_or_else(|error| panic!("{}: {error}", header.display()));
    for line in text.lines().filter(|line| !line.starts_with("//")) {
        // Declarations look like `int hj_engine_add_file(hj_engine *engine, ...`.
        let Some(open) = line.find('(') else { continue };
        let name = line[..open].rsplit([' ', '*']).next().unwrap_or_default();
        if name.starts_with("hj_") {
            println!("cargo:rustc-link-arg-bins=-Wl,--export-dynamic-symbol={name}");
        }
    }
}

//! `include/hyperjit_host.h` is what cbindgen generates from this crate:
//! the header cannot drift from the library. `HYPERJIT_BLESS=1` rewrites
//! it after a change to the API.

use std::path::Path;

#[test]
fn the_header_is_generated_from_the_library() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("include/hyperjit_host.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("config");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen reads the crate")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8");
    if std::env::var_os("HYPERJIT_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("writing the header");
    }
    let committed = std::fs::read_to_string(&header).unwrap_or_default();
    assert!(
        committed == generated,
        "include/hyperjit_host.h differs from what cbindgen generates from \
         crates/hyperjit-capi; run `HYPERJIT_BLESS=1 cargo test -p hyperjit-capi --test header` \
         and commit the header"
    );
}

//! Builds the C and C++ parts, against LLVM 19's C++ headers where they
//! use LLVM: what the C API cannot do. The guest runtime shim
//! (`src/runtime/shim.c`) and its fault reports (`src/runtime/faults.c`);
//! the JIT's memory manager (`src/llvm/near_memory.c`); the reusable code
//! generation pipeline (`src/llvm/codegen_pipeline.cpp`), lazy bitcode
//! reading (`src/llvm/lazy_bitcode.cpp`), what code generation refuses
//! (`src/llvm/limits.cpp`), globals' alignments and `dso_local`
//! (`src/llvm/globals.cpp`), metadata of a moved body (`src/llvm/metadata.cpp`), the JIT's process symbols
//! (`src/llvm/process_symbols.cpp`), allocation failures (`src/llvm/fatal.cpp`), the
//! code map fault reports read (`src/llvm/code_map.cpp`) and the perf map's
//! JIT event listener (`src/llvm/perf_map.cpp`).
fn main() {
    build_identity();
    // build_identity reruns this script on every source change; the C and
    // C++ parts are compiled again only when their own inputs changed.
    let stamp = native_inputs_hash();
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let stamp_file = out_dir.join("native.stamp");
    let built = ["libhyperjit_runtime.a", "libhyperjit_codegen.a"]
        .iter()
        .all(|lib| out_dir.join(lib).exists());
    if built && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str()) {
        // What cc printed when it built them.
        println!("cargo:rustc-link-lib=static=hyperjit_runtime");
        println!("cargo:rustc-link-lib=static=hyperjit_codegen");
        println!("cargo:rustc-link-search=native={}", out_dir.display());
        println!("cargo:rustc-link-lib=stdc++");
        return;
    }
    compile_native();
    let _ = std::fs::write(&stamp_file, stamp);
}

/// Compiles the C and C++ parts.
fn compile_native() {
    println!("cargo:rerun-if-changed=src/runtime/shim.c");
    println!("cargo:rerun-if-changed=src/runtime/faults.c");
    println!("cargo:rerun-if-changed=src/llvm/near_memory.c");
    println!("cargo:rerun-if-changed=src/llvm/cpp_api.h");
    println!("cargo:rerun-if-env-changed=LLVM_SYS_191_PREFIX");
    let llvm = std::env::var("LLVM_SYS_191_PREFIX").unwrap_or_else(|_| "/usr/lib/llvm-19".into());
    cc::Build::new()
        .file("src/runtime/shim.c")
        .file("src/runtime/faults.c")
        .file("src/llvm/near_memory.c")
        // faults.c includes src/llvm/cpp_api.h, which names LLVM's C types.
        .flag("-isystem")
        .flag(format!("{llvm}/include"))
        .flag_if_supported("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .compile("hyperjit_runtime");

    println!("cargo:rerun-if-changed=src/llvm/codegen_pipeline.cpp");
    println!("cargo:rerun-if-changed=src/llvm/lazy_bitcode.cpp");
    println!("cargo:rerun-if-changed=src/llvm/limits.cpp");
    println!("cargo:rerun-if-changed=src/llvm/globals.cpp");
    println!("cargo:rerun-if-changed=src/llvm/metadata.cpp");
    println!("cargo:rerun-if-changed=src/llvm/process_symbols.cpp");
    println!("cargo:rerun-if-changed=src/llvm/fatal.cpp");
    println!("cargo:rerun-if-changed=src/llvm/code_map.cpp");
    println!("cargo:rerun-if-changed=src/llvm/perf_map.cpp");
    println!("cargo:rerun-if-env-changed=CXX");
    // LLVM's own flags (llvm-config --cxxflags): no exceptions, no RTTI.
    // clang-19's C++ compiler: installed with clang-19, unlike g++.
    let mut build = cc::Build::new();
    if std::env::var_os("CXX").is_none() {
        build.compiler(format!("{llvm}/bin/clang++"));
    }
    build
        .cpp(true)
        .file("src/llvm/codegen_pipeline.cpp")
        .file("src/llvm/lazy_bitcode.cpp")
        .file("src/llvm/limits.cpp")
        .file("src/llvm/globals.cpp")
        .file("src/llvm/metadata.cpp")
        .file("src/llvm/process_symbols.cpp")
        .file("src/llvm/fatal.cpp")
        .file("src/llvm/code_map.cpp")
        .file("src/llvm/perf_map.cpp")
        // A system include: LLVM's headers' own warnings are not ours.
        .flag("-isystem")
        .flag(format!("{llvm}/include"))
        .flag("-std=c++17")
        .flag("-fno-exceptions")
        .flag("-fno-rtti")
        // As LLVM itself is built: its headers' assertions would otherwise
        // abort on input LLVM reports as an error (issue 23).
        .define("NDEBUG", None)
        .define("__STDC_CONSTANT_MACROS", None)
        .define("__STDC_FORMAT_MACROS", None)
        .define("__STDC_LIMIT_MACROS", None)
        .warnings(true)
        .compile("hyperjit_codegen");
}

/// hyperjit's build identity, `HYPERJIT_BUILD_ID`: a SHA-256 of the
/// crate's sources (Rust, C, C++, headers) and of the LLVM configuration it
/// builds against. The object cache's keys include it, so an object or
/// image another build of hyperjit made (other stubs, glue, runtime
/// contract or LLVM) is never loaded, even under the same version number.
fn build_identity() {
    use sha2::{Digest, Sha256};
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=include");
    let llvm = std::env::var("LLVM_SYS_191_PREFIX").unwrap_or_else(|_| "/usr/lib/llvm-19".into());
    let llvm_config = format!("{llvm}/include/llvm/Config/llvm-config.h");
    println!("cargo:rerun-if-changed={llvm_config}");
    let mut files = Vec::new();
    for dir in ["src", "include"] {
        collect_files(std::path::Path::new(dir), &mut files);
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        let name = file.to_string_lossy();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    hasher.update(std::fs::read(&llvm_config).unwrap_or_default());
    let id: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    println!("cargo:rustc-env=HYPERJIT_BUILD_ID={id}");
}

fn collect_files(dir: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, found);
        } else {
            found.push(path);
        }
    }
}

/// A hash of what the C and C++ parts are compiled from: their sources and
/// headers, the compilers and flags the environment chooses, LLVM's prefix.
fn native_inputs_hash() -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    collect_files(std::path::Path::new("src"), &mut files);
    files.retain(|file| {
        file.extension()
            .is_some_and(|ext| ext == "c" || ext == "cpp" || ext == "h")
    });
    files.sort();
    let mut hasher = Sha256::new();
    for file in &files {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(file).unwrap_or_default());
    }
    for var in [
        "LLVM_SYS_191_PREFIX",
        "CC",
        "CXX",
        "CFLAGS",
        "CXXFLAGS",
        "TARGET",
        "OPT_LEVEL",
        "DEBUG",
        "PROFILE",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        hasher.update(var.as_bytes());
        hasher.update(std::env::var(var).unwrap_or_default().as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

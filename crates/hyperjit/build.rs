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

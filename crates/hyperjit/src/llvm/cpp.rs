//! The Rust declarations of hyperjit's own C++ functions (the `.cpp` files
//! beside this one: what LLVM's C API lacks). `cpp_api.h` owns their
//! signatures and every `.cpp` includes it; the test below reads both texts
//! and fails where a declaration here differs from it, so a changed
//! parameter cannot reach Rust unnoticed.

use llvm_sys::orc2::lljit::LLVMOrcLLJITRef;
use llvm_sys::prelude::{
    LLVMJITEventListenerRef, LLVMMemoryBufferRef, LLVMModuleRef, LLVMValueRef,
};
use llvm_sys::target_machine::LLVMTargetMachineRef;
use std::ffi::{c_char, c_int, c_void};

unsafe extern "C" {
    // code_map.cpp: the process's listener, created on first use.
    pub(super) fn hj_code_map_listener() -> LLVMJITEventListenerRef;

    // codegen_pipeline.cpp: the code generation passes of `machine` at
    // `level`, writing an object into their own buffer; null if it cannot.
    pub(super) fn hj_pipeline_create(machine: LLVMTargetMachineRef, level: u32) -> *mut c_void;
    // Runs the pipeline on `module`; the object as an owned buffer.
    pub(super) fn hj_pipeline_emit(
        pipeline: *mut c_void,
        module: LLVMModuleRef,
    ) -> LLVMMemoryBufferRef;
    pub(super) fn hj_pipeline_dispose(pipeline: *mut c_void);
    // Sets `machine`'s loop alignment (clang's `-falign-loops`).
    pub(super) fn hj_machine_align_loops(machine: LLVMTargetMachineRef, bytes: u32);

    // fatal.cpp: the C API has no way to install it.
    pub(super) fn hj_install_bad_alloc_handler(handler: extern "C" fn(*const c_char));

    // globals.cpp: the C API cannot read a global's alignment as the code
    // generator will, nor read or set `dso_local`.
    pub(super) fn hj_global_alignment(global: LLVMValueRef) -> u64;
    pub(super) fn hj_is_dso_local(global: LLVMValueRef) -> c_int;
    pub(super) fn hj_clear_dso_local(global: LLVMValueRef);

    // lazy_bitcode.cpp
    pub(super) fn hj_bitcode_refusal(
        bytes: *const u8,
        length: usize,
        message: *mut *mut c_char,
    ) -> c_int;
    pub(super) fn hj_is_materializable(global: LLVMValueRef) -> c_int;
    pub(super) fn hj_materialize(global: LLVMValueRef, message: *mut *mut c_char) -> c_int;
    pub(super) fn hj_materialize_all(module: LLVMModuleRef, message: *mut *mut c_char) -> c_int;

    // limits.cpp
    pub(super) fn hj_subtarget_supported(
        machine: LLVMTargetMachineRef,
        cpu: *const c_char,
        features: *const c_char,
    ) -> c_int;
    pub(super) fn hj_feature_known(machine: LLVMTargetMachineRef, name: *const c_char) -> c_int;
    pub(super) fn hj_cpu_known(machine: LLVMTargetMachineRef, cpu: *const c_char) -> c_int;

    // metadata.cpp
    pub(super) fn hj_metadata_constants(
        function: LLVMValueRef,
        out: *mut LLVMValueRef,
        capacity: usize,
    ) -> usize;
    pub(super) fn hj_remap_metadata(
        function: LLVMValueRef,
        from: *const LLVMValueRef,
        to: *const LLVMValueRef,
        count: usize,
    );

    // perf_map.cpp: the process's listener, NULL if the map cannot be
    // opened.
    pub(super) fn hj_perf_map_listener() -> LLVMJITEventListenerRef;

    // process_symbols.cpp
    pub(super) fn hj_jit_unlink_process_symbols(jit: LLVMOrcLLJITRef) -> c_int;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// Functions of the header only C calls (runtime/faults.c).
    const C_ONLY: &[&str] = &["hj_code_map_find"];

    /// A C type as Rust spells it: `const char **` is `*mut *const c_char`.
    fn rust_type_of(c: &str) -> String {
        let c = c.trim();
        let pointers = c.matches('*').count();
        let base = c.trim_end_matches(['*', ' ']);
        let (is_const, base) = match base.strip_prefix("const ") {
            Some(rest) => (true, rest.trim()),
            None => (false, base),
        };
        let mut rust = match base {
            "int" => "c_int",
            "unsigned" => "u32",
            "uint64_t" => "u64",
            "uint8_t" => "u8",
            "size_t" => "usize",
            "char" => "c_char",
            "void" => "c_void",
            "hj_bad_alloc_handler" => "extern \"C\" fn(*const c_char)",
            other => other,
        }
        .to_string();
        for level in 0..pointers {
            let innermost = level == 0;
            rust = format!(
                "*{} {rust}",
                if innermost && is_const {
                    "const"
                } else {
                    "mut"
                }
            );
        }
        rust
    }

    /// `name → (parameter types, result)` of the prototypes in `text`.
    fn signatures(
        prototypes: impl Iterator<Item = String>,
        split_param: impl Fn(&str) -> String,
    ) -> BTreeMap<String, (Vec<String>, String)> {
        let mut found = BTreeMap::new();
        for prototype in prototypes {
            let Some(open) = prototype.find('(') else {
                continue;
            };
            let close = prototype.rfind(')').expect("a closing parenthesis");
            let head = prototype[..open].trim();
            let name = head.rsplit([' ', '*']).next().unwrap().to_string();
            let params: Vec<String> = top_level_split(&prototype[open + 1..close])
                .into_iter()
                .filter(|param| !param.is_empty() && param != "void")
                .map(|param| split_param(&param))
                .collect();
            let result = prototype[close + 1..].trim().to_string();
            let result = if result.is_empty() {
                head[..head.len() - name.len()].trim().to_string()
            } else {
                result
            };
            found.insert(name, (params, result));
        }
        found
    }

    /// `text` split at the commas outside parentheses, each part trimmed.
    fn top_level_split(text: &str) -> Vec<String> {
        let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
        for ch in text.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(current.trim().to_string());
                    current.clear();
                    continue;
                }
                _ => {}
            }
            current.push(ch);
        }
        parts.push(current.trim().to_string());
        parts
    }

    fn without_comments(text: &str, marker: &str) -> String {
        text.lines()
            .map(|line| line.split(marker).next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every function `cpp_api.h` declares is declared here with the same
    /// parameter and result types, and nothing else is.
    #[test]
    fn the_declarations_match_cpp_api_h() {
        let header = include_str!("cpp_api.h");
        let header = header
            .split("extern \"C\" {\n#endif")
            .nth(1)
            .expect("the header's C block");
        let header = without_comments(header, "/*");
        let c = signatures(
            header
                .split(';')
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|p| p.contains("hj_") && !p.contains("typedef")),
            |param| {
                // A C parameter: its type, then its name.
                let name_at = param.rfind([' ', '*']).expect("a parameter name") + 1;
                rust_type_of(&param[..name_at])
            },
        );
        let c: BTreeMap<_, _> = c
            .into_iter()
            .filter(|(name, _)| !C_ONLY.contains(&name.as_str()))
            .map(|(name, (params, result))| {
                let result = if result == "void" {
                    String::new()
                } else {
                    rust_type_of(&result)
                };
                (name, (params, result))
            })
            .collect();

        let source = include_str!("cpp.rs");
        let block = source
            .split("unsafe extern \"C\" {")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .expect("the extern block");
        let block = without_comments(block, "//");
        let rust = signatures(
            block
                .split(';')
                .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                .map(|p| p.replace("( ", "(").replace(", )", ")"))
                .filter(|p| p.contains("fn hj_"))
                .map(|p| {
                    // `pub(super) fn NAME(..) -> R` as `NAME(..) R`.
                    let p = p.trim_start_matches("pub(super) fn ").to_string();
                    match p.rsplit_once(") -> ") {
                        Some((head, result)) => format!("{head}) {result}"),
                        None => p,
                    }
                }),
            |param| {
                let (_, ty) = param.split_once(':').expect("name: type");
                ty.trim().to_string()
            },
        );
        assert_eq!(
            rust.keys().collect::<Vec<_>>(),
            c.keys().collect::<Vec<_>>()
        );
        for (name, signature) in &c {
            assert_eq!(&rust[name], signature, "{name}");
        }
    }

    #[test]
    fn c_types_are_spelled_as_rust_spells_them() {
        assert_eq!(rust_type_of("const char **"), "*mut *const c_char");
        assert_eq!(rust_type_of("char **"), "*mut *mut c_char");
        assert_eq!(rust_type_of("const LLVMValueRef *"), "*const LLVMValueRef");
        assert_eq!(rust_type_of("unsigned"), "u32");
    }
}

//! The library's architecture, checked: its modules are layers, and each
//! may use only itself and the layers below it (ARCHITECTURE.md):
//!
//! ```text
//! engine → link → compile → callback → runtime → llvm → error → stats → trap
//! ```
//!
//! Every `crate::` and `super::` path in `src/` is resolved to the layer it
//! names (a name re-exported from `lib.rs` to the layer it comes from), and
//! an edge upward fails the test, listing every such edge. Raw FFI stays in
//! its two rooms: `llvm_sys` only in `src/llvm/`, `extern` blocks only there
//! and in `src/runtime/`. The core (`engine`, `link`, `compile`) stays
//! readable: no function there spans more than 80 lines or takes more than
//! 5 parameters, `self` counted (parsed with `syn`, tests aside).
//!
//! `cargo test -p hyperjit --test layers -- --nocapture` prints the edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom.
const LAYERS: &[&str] = &[
    "engine", "link", "compile", "callback", "runtime", "llvm", "error", "stats", "trap",
];

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|&l| l == layer)
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The file's text without comments (line comments, doc comments).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("read source");
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal is rare here and harmless: the
            // rest of the line is dropped either way.
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file under `src/`: `link/glue/mod.rs` → [link, glue].
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

fn identifier_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The identifiers a path segment names after `prefix::`: one, or each in
/// a `{...}` group (first level only).
fn names_after(text: &str) -> Vec<String> {
    if let Some(group) = text.strip_prefix('{') {
        let end = group.find('}').unwrap_or(group.len());
        return group[..end]
            .split(',')
            .map(|item| identifier_at(item.trim()).to_string())
            .filter(|name| !name.is_empty())
            .collect();
    }
    vec![identifier_at(text).to_string()]
}

/// Which layer each name `lib.rs` re-exports comes from.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in lib.split(';') {
        let Some(at) = statement.find("pub use ") else {
            continue;
        };
        let rest = &statement[at + "pub use ".len()..];
        let layer = identifier_at(rest);
        for name in rest
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| !word.is_empty() && *word != layer)
        {
            map.insert(name.to_string(), layer.to_string());
        }
    }
    map
}

/// The layers a file's code refers to, with the path text that does.
fn references(
    code: &str,
    module: &[String],
    reexported: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut search = code;
    while let Some(at) = search.find("crate::") {
        let rest = &search[at + "crate::".len()..];
        for name in names_after(rest) {
            let layer = reexported.get(&name).cloned().unwrap_or(name.clone());
            found.push((layer, format!("crate::{name}")));
        }
        search = rest;
    }
    let mut search = code;
    while let Some(at) = search.find("super::") {
        // Resolve a run of `super::` from this module.
        let preceded_by_super = search[..at].ends_with("super::");
        let mut rest = &search[at..];
        let mut depth = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            depth += 1;
            rest = after;
        }
        if !preceded_by_super && depth >= module.len() {
            // Up to the crate root: the next name is a layer (or re-export).
            for name in names_after(rest) {
                let layer = reexported.get(&name).cloned().unwrap_or(name.clone());
                found.push((layer, format!("{}{name}", "super::".repeat(depth))));
            }
        }
        search = &search[at + "super::".len()..];
    }
    found
}

#[test]
fn no_module_uses_a_layer_above_it() {
    let src = source_dir();
    let lib = code_of(&src.join("lib.rs"));
    let reexported = reexports(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();

    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    let mut upward = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let module = module_path(relative);
        let Some(layer) = module.first() else {
            continue; // lib.rs: the root may name every layer
        };
        assert!(
            rank(layer).is_some(),
            "{}: not in a known layer; add it to LAYERS",
            relative.display()
        );
        for (target, path) in references(&code_of(file), &module, &reexported) {
            let Some(target_rank) = rank(&target) else {
                continue; // e.g. a macro or a name the root defines itself
            };
            if target != *layer {
                edges.insert((layer.clone(), target.clone()));
            }
            if target_rank < rank(layer).unwrap_or(0) {
                upward.push(format!(
                    "{} ({layer}) uses {path} ({target})",
                    relative.display()
                ));
            }
        }
    }
    for (from, to) in &edges {
        println!("{from} -> {to}");
    }
    assert!(
        upward.is_empty(),
        "modules use layers above them:\n  {}",
        upward.join("\n  ")
    );
    // The check sees what it should: the engine does use the layers below.
    for below in ["link", "compile", "callback", "runtime"] {
        assert!(
            edges.contains(&("engine".to_string(), below.to_string())),
            "no engine -> {below} edge found: the scan is broken"
        );
    }
}

#[test]
fn raw_ffi_stays_in_the_llvm_and_runtime_layers() {
    let src = source_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut misplaced = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let layer = module_path(relative).first().cloned().unwrap_or_default();
        let code = code_of(file);
        if code.contains("llvm_sys") && layer != "llvm" {
            misplaced.push(format!(
                "{}: llvm_sys outside src/llvm/",
                relative.display()
            ));
        }
        let extern_block = ["extern \"C\" {", "extern \"C-unwind\" {", "extern {"]
            .iter()
            .any(|block| code.contains(block));
        if extern_block && layer != "llvm" && layer != "runtime" {
            misplaced.push(format!(
                "{}: an extern block outside src/llvm/ and src/runtime/",
                relative.display()
            ));
        }
    }
    assert!(misplaced.is_empty(), "{}", misplaced.join("\n"));
}

/// The most lines a function of the engine's core may span, and the most
/// parameters (`self` counted) it may take.
const MAX_LINES: usize = 80;
const MAX_PARAMS: usize = 5;

/// Every function of `src/{engine,link,compile}` (tests aside), with the
/// lines it spans and its parameters.
fn core_functions() -> Vec<(String, usize, usize)> {
    use syn::visit::Visit;

    struct Functions<'a> {
        file: &'a str,
        found: Vec<(String, usize, usize)>,
    }
    fn is_test(attrs: &[syn::Attribute]) -> bool {
        attrs.iter().any(|attr| {
            attr.path().is_ident("test")
                || (attr.path().is_ident("cfg")
                    && attr
                        .parse_args::<syn::Ident>()
                        .is_ok_and(|ident| ident == "test"))
        })
    }
    impl Functions<'_> {
        fn record(&mut self, name: &syn::Ident, inputs: usize, block: &syn::Block) {
            let start = name.span().start().line;
            let end = block.brace_token.span.close().end().line;
            self.found
                .push((format!("{}: {name}", self.file), end - start + 1, inputs));
        }
    }
    impl<'ast> Visit<'ast> for Functions<'_> {
        fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
            if !is_test(&item.attrs) {
                syn::visit::visit_item_mod(self, item);
            }
        }
        fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
            if !is_test(&item.attrs) {
                self.record(&item.sig.ident, item.sig.inputs.len(), &item.block);
                syn::visit::visit_item_fn(self, item);
            }
        }
        fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
            if !is_test(&item.attrs) {
                self.record(&item.sig.ident, item.sig.inputs.len(), &item.block);
                syn::visit::visit_impl_item_fn(self, item);
            }
        }
    }

    let src = source_dir();
    let mut files = Vec::new();
    for layer in ["engine", "link", "compile"] {
        rust_files(&src.join(layer), &mut files);
    }
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let syntax = syn::parse_file(&text).expect("parse source");
        let relative = file
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        let mut visitor = Functions {
            file: &relative,
            found: Vec::new(),
        };
        visitor.visit_file(&syntax);
        found.extend(visitor.found);
    }
    found
}

/// The core stays readable: no function of the engine, link or compile
/// layers spans more than 80 lines or takes more than 5 parameters.
#[test]
fn the_cores_functions_are_short_and_take_few_parameters() {
    let functions = core_functions();
    assert!(
        functions.len() > 200,
        "the scan found {} functions",
        functions.len()
    );
    let too_big: Vec<String> = functions
        .iter()
        .filter(|(_, lines, params)| *lines > MAX_LINES || *params > MAX_PARAMS)
        .map(|(name, lines, params)| format!("{name}: {lines} lines, {params} parameters"))
        .collect();
    assert!(
        too_big.is_empty(),
        "too long or too many parameters:\n  {}",
        too_big.join("\n  ")
    );
}

/// How many times each layer may say `unsafe` (blocks, functions, impls,
/// extern blocks), comments aside. The raw FFI lives in `llvm` and
/// `runtime`; `callback` holds the C-ABI entry points JIT'd code calls and
/// the calls of typed function pointers; `engine` passes the core's address
/// through JIT'd code and back (lazy records, the tier thread, hypercalls'
/// C strings) and enters guest code through `runtime`; `link` opens libm
/// and reads constructor tables from JIT'd memory. A layer that needs more
/// raises its budget here, where a reviewer sees it.
const UNSAFE_BUDGET: &[(&str, usize)] = &[
    ("engine", 23),
    ("link", 3),
    ("compile", 0),
    ("callback", 71),
    ("runtime", 26),
    ("llvm", 225),
    ("error", 0),
    ("stats", 0),
    ("trap", 0),
];

#[test]
fn unsafe_stays_within_each_layers_budget() {
    let src = source_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(layer) = module_path(relative).first().cloned() else {
            continue;
        };
        let code = code_of(file);
        let uses = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|word| *word == "unsafe")
            .count();
        *counts.entry(layer).or_default() += uses;
    }
    println!("unsafe per layer: {counts:?}");
    let over: Vec<String> = UNSAFE_BUDGET
        .iter()
        .filter_map(|&(layer, budget)| {
            let count = counts.get(layer).copied().unwrap_or(0);
            (count > budget).then(|| format!("{layer}: {count} > {budget}"))
        })
        .collect();
    assert!(over.is_empty(), "over budget: {}", over.join(", "));
    assert!(
        counts.get("llvm").copied().unwrap_or(0) > 100,
        "the scan is broken: {counts:?}"
    );
}

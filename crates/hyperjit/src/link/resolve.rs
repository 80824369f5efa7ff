//! Resolution: before anything is linked, every symbol the inputs use must
//! resolve — to another input, an earlier batch, the glue, a callback or the
//! process — and every callback they declare must have the registered type.
//! All missing symbols are reported at once, before any code runs, and the
//! inputs stay pending. The symbol policy (`policy.rs`) narrows "the
//! process".

use super::glue;
use super::linked::{Input, Linked};
use super::SymbolPolicy;
use crate::callback::Registry;
use crate::error::{Error, Result, UnresolvedSymbol};
use crate::llvm::UndefinedSymbol;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::c_void;
use std::sync::OnceLock;

/// The process's own symbols (libc, libm, ...), as the JIT resolves them.
fn process_symbols() -> &'static Option<libloading::os::unix::Library> {
    static PROCESS: OnceLock<Option<libloading::os::unix::Library>> = OnceLock::new();
    PROCESS.get_or_init(|| {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        // A host need not link libm, but C programs expect it: load it into
        // the global scope, where the JIT's process lookup finds it too.
        // SAFETY: libm's initializers have no preconditions.
        let libm = unsafe { Library::open(Some("libm.so.6"), RTLD_NOW | RTLD_GLOBAL) };
        if let Ok(libm) = libm {
            std::mem::forget(libm); // stays loaded for the process
        }
        Some(Library::this())
    })
}

/// The address of the process's `name`, if it has one.
pub(super) fn process_address(name: &str) -> Option<usize> {
    let process = process_symbols().as_ref()?;
    // SAFETY: the symbol is only looked up, never called or dereferenced.
    let symbol = unsafe { process.get::<*const c_void>(name.as_bytes()) }.ok()?;
    Some(symbol.into_raw() as usize)
}

/// Whether `name` is defined outside the inputs being linked: by the
/// runtime, an earlier batch, a callback or — if `policy` allows — the
/// process.
pub(super) fn defined_outside(
    name: &str,
    linked: &Linked,
    callbacks: &Registry,
    policy: &SymbolPolicy,
) -> bool {
    glue::defines(name)
        || linked.symbols.contains(name)
        || callbacks.is_named(name)
        || (policy.allows(name) && process_address(name).is_some())
}

/// Fails with every symbol the pending `inputs` use that nothing defines,
/// or that `policy` denies — checked before linking, so that on failure
/// the inputs are still pending and the host can add what is missing.
/// Returns the process's symbols they use.
pub(super) fn check_resolved(
    inputs: &[Input],
    linked: &Linked,
    callbacks: &Registry,
    policy: &SymbolPolicy,
) -> Result<Vec<String>> {
    check_callbacks(inputs, linked, callbacks)?;
    check_defined_once(inputs)?;
    // What the inputs define for each other; everything else is checked
    // by `check_imports`.
    let known: HashSet<&str> = inputs
        .iter()
        .flat_map(|i| i.defined.iter().map(String::as_str))
        .collect();
    let imports = inputs.iter().flat_map(|input| {
        input
            .undefined
            .iter()
            .filter(|symbol| !known.contains(symbol.name.as_str()))
            .map(|symbol| (symbol, input.file.as_str()))
    });
    check_imports(imports, linked, callbacks, policy)
}

/// Fails with every symbol of `imports` (each with the file that uses it)
/// that is neither weak, nor one of the libc functions the runtime
/// replaces (but for `pthread_create`, which `policy` decides on as on
/// libc's), nor [`defined_outside`]; and with every one `policy` denies,
/// first. Returns the process's symbols they use (weak ones included).
pub(super) fn check_imports<'a>(
    imports: impl Iterator<Item = (&'a UndefinedSymbol, &'a str)>,
    linked: &Linked,
    callbacks: &Registry,
    policy: &SymbolPolicy,
) -> Result<Vec<String>> {
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut denied: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut from_process: BTreeSet<&str> = BTreeSet::new();
    for (symbol, file) in imports {
        let name = symbol.name.as_str();
        if glue::interposes_ungranted(name)
            || glue::defines(name)
            || linked.symbols.contains(name)
            || callbacks.is_named(name)
        {
            continue;
        }
        match (process_address(name).is_some(), policy.allows(name)) {
            (true, true) => {
                from_process.insert(name);
            }
            // A weak reference to what the program may not have is null.
            _ if symbol.weak => {}
            (true, false) => denied.entry(name).or_default().push(file.to_string()),
            (false, _) => missing.entry(name).or_default().push(file.to_string()),
        }
    }
    let listed = |symbols: BTreeMap<&str, Vec<String>>| {
        symbols
            .into_iter()
            .map(|(name, referenced_by)| UnresolvedSymbol {
                name: name.to_string(),
                referenced_by,
            })
            .collect()
    };
    if !denied.is_empty() {
        return Err(Error::DeniedSymbols {
            symbols: listed(denied),
        });
    }
    if !missing.is_empty() {
        return Err(Error::UnresolvedSymbols {
            symbols: listed(missing),
        });
    }
    Ok(from_process.into_iter().map(str::to_string).collect())
}

/// Fails if `input` cannot join the `pending` inputs whatever is added
/// later: it defines what the program, the host or a pending input defines,
/// or declares a callback with another type than the registered one. Such
/// an input is refused when it is added, so it never blocks the others.
pub(super) fn check_addable(
    pending: &[Input],
    input: &Input,
    linked: &Linked,
    callbacks: &Registry,
) -> Result<()> {
    check_callbacks(std::slice::from_ref(input), linked, callbacks)?;
    let defined = input.module.strong_definitions();
    for earlier in pending {
        let theirs = earlier.module.strong_definitions();
        if let Some(name) = defined.iter().find(|name| theirs.contains(name)) {
            return Err(Error::Link {
                file: input.file.clone(),
                message: format!("'{name}' is defined in {} and again here", earlier.file),
            });
        }
    }
    Ok(())
}

/// Fails if a callback `name` of `signature` (`None`: any declaration goes)
/// cannot be registered beside the `pending` inputs: one defines `name`, or
/// declares it with another type.
pub(crate) fn check_callback_beside(
    pending: &[Input],
    name: &str,
    signature: Option<&crate::callback::Signature>,
) -> Result<()> {
    for input in pending {
        if input.defined.iter().any(|defined| defined == name) {
            return Err(Error::AlreadyDefined {
                name: name.to_string(),
                by: Some(format!("{}, added to the program", input.file)),
            });
        }
        let (Some(signature), true) = (
            signature,
            input.undefined.iter().any(|symbol| symbol.name == name),
        ) else {
            continue;
        };
        let found = match input.module.function_signature(name) {
            Some(declared) if signature.matches(&declared) => continue,
            Some(declared) => declared.to_string(),
            None => "a variable".to_string(),
        };
        return Err(Error::CallbackSignature {
            callback: name.to_string(),
            expected: signature.to_string(),
            found,
            file: input.file.clone(),
        });
    }
    Ok(())
}

/// No two inputs may both define a symbol strongly: the IR linker would
/// fail after the inputs left `pending`, and they would be lost.
fn check_defined_once(inputs: &[Input]) -> Result<()> {
    if inputs.len() < 2 {
        return Ok(());
    }
    let mut defined_by: HashMap<String, &str> = HashMap::new();
    for input in inputs {
        for name in input.module.strong_definitions() {
            if let Some(first) = defined_by.insert(name.clone(), &input.file) {
                return Err(Error::Link {
                    file: input.file.clone(),
                    message: format!("'{name}' is defined in {first} and again here"),
                });
            }
        }
    }
    Ok(())
}

/// Each input's declarations of host callbacks must have the registered
/// type, and no input may define a name the host or linked code defines.
fn check_callbacks(inputs: &[Input], linked: &Linked, callbacks: &Registry) -> Result<()> {
    for input in inputs {
        for name in &input.defined {
            if linked.symbols.contains(name) {
                return Err(Error::AlreadyDefined {
                    name: name.clone(),
                    by: Some(format!("the program (again in {})", input.file)),
                });
            }
            if callbacks.is_named(name) {
                return Err(Error::AlreadyDefined {
                    name: name.clone(),
                    by: Some(format!("the host and by {}", input.file)),
                });
            }
        }
        for symbol in &input.undefined {
            let Some(named) = callbacks.named(&symbol.name) else {
                continue;
            };
            let Some(signature) = &named.signature else {
                continue; // a raw symbol, declared as the guest sees fit
            };
            let Some(declared) = input.module.function_signature(&symbol.name) else {
                return Err(Error::CallbackSignature {
                    callback: symbol.name.clone(),
                    expected: signature.to_string(),
                    found: "a variable".to_string(),
                    file: input.file.clone(),
                });
            };
            if !signature.matches(&declared) {
                return Err(Error::CallbackSignature {
                    callback: symbol.name.clone(),
                    expected: signature.to_string(),
                    found: declared.to_string(),
                    file: input.file.clone(),
                });
            }
        }
    }
    Ok(())
}

//! Glue: every name and every IR stub the engine defines itself, in one
//! place — the runtime functions the guest's libc calls are bound to, the
//! per-engine stubs of the first batch (`atexit`, `PerformCustomCallback`),
//! the callback thunks (`thunk.rs`), and the names the linker gives what it
//! creates (constructor tables, promoted statics, new bodies). Whatever a
//! guest may link against that its inputs do not define comes from here,
//! from a callback, or from the process; the symbol policy
//! (`link/policy.rs`) decides which of the process's it may be.

mod thunk;

pub(crate) use thunk::{
    invoke_thunk, multiplexed, multiplexed_direct, multiplexed_thunk_symbol, named, near_symbol,
    Callee, TrapRequests,
};

use crate::llvm::Module;
use crate::runtime;

/// The seed's multiplexed entry point: the glue defines it, and the linker
/// binds its constant-name calls to their callbacks' thunks.
pub(crate) const PERFORM_CUSTOM_CALLBACK: &str = "PerformCustomCallback";

const RT_EXIT: &str = "__hyperjit_rt_exit";
const RT_EXIT_IMMEDIATELY: &str = "__hyperjit_rt__exit";
const RT_ATEXIT: &str = "__hyperjit_rt_atexit";
const RT_CXA_ATEXIT: &str = "__hyperjit_rt_cxa_atexit";
const RT_CXA_THREAD_ATEXIT: &str = "__hyperjit_rt_cxa_thread_atexit";
const RT_PTHREAD_ATFORK: &str = "__hyperjit_rt_pthread_atfork";
const RT_AT_QUICK_EXIT: &str = "__hyperjit_rt_at_quick_exit";
const RT_PTHREAD_CREATE: &str = "__hyperjit_rt_pthread_create";
/// Where the stubs of functions not compiled yet jump.
pub(crate) const RT_LAZY_ENTRY: &str = "__hyperjit_rt_lazy_entry";
/// What lowered thread-local accesses call.
pub(crate) const TLS_HELPER: &str = "__hyperjit_rt_tls_address";
/// The prefix of a lowered thread-local's control block.
pub(crate) const TLS_PREFIX: &str = "__hyperjit.tls.";
/// The base of a promoted unnamed internal symbol's name.
pub(crate) const ANONYMOUS_PREFIX: &str = "__hyperjit.anon.";
/// What an ifunc's resolved target is kept in: `NAME{IFUNC_SUFFIX}`.
pub(crate) const IFUNC_SUFFIX: &str = ".hj.ifunc";
const ATEXIT: &str = "__hyperjit.atexit";
const CXA_ATEXIT: &str = "__hyperjit.__cxa_atexit";
/// The functions [`define_first_batch`] defines.
const FIRST_BATCH_FUNCTIONS: [&str; 3] = [ATEXIT, CXA_ATEXIT, PERFORM_CUSTOM_CALLBACK];

/// The guest-visible libc functions hyperjit replaces, and the symbols their
/// declarations are renamed to.
pub(crate) const INTERPOSED: &[(&str, &str)] = &[
    ("exit", RT_EXIT),
    ("_exit", RT_EXIT_IMMEDIATELY),
    ("_Exit", RT_EXIT_IMMEDIATELY),
    ("atexit", ATEXIT),
    ("__cxa_atexit", CXA_ATEXIT),
    ("__cxa_thread_atexit", RT_CXA_THREAD_ATEXIT),
    ("pthread_atfork", RT_PTHREAD_ATFORK),
    ("at_quick_exit", RT_AT_QUICK_EXIT),
    ("pthread_create", RT_PTHREAD_CREATE),
];

/// The interposed functions a symbol policy still decides on, as on the
/// libc functions they wrap: replaced to do the same thing better, they
/// grant what those grant (a thread).
const INTERPOSED_BUT_GRANTED: &[&str] = &["pthread_create"];

/// What the first batch defines: the per-engine stubs.
const FIRST_BATCH_SYMBOLS: &[&str] = &[ATEXIT, CXA_ATEXIT, PERFORM_CUSTOM_CALLBACK];
/// Defined by ORC's generic platform in every JITDylib.
const PLATFORM_SYMBOLS: &[&str] = &["__dso_handle"];
/// What the first batch's glue refers to (see [`EngineGlue::symbols`]).
const GLUE_SYMBOLS: &[&str] = &[ENGINE_SYMBOL, EXIT_HANDLERS_SYMBOL, DISPATCH_SYMBOL];

/// The runtime's functions, defined at fixed addresses in every engine's JIT.
pub(crate) fn runtime_symbols() -> [(&'static str, usize); 13] {
    let functions = runtime::functions();
    let [cpu_model, cpu_indicator_init, cpu_features2] = runtime::cpu_symbols();
    [
        ("__cpu_model", cpu_model),
        ("__cpu_indicator_init", cpu_indicator_init),
        ("__cpu_features2", cpu_features2),
        (RT_EXIT, functions.exit),
        (RT_EXIT_IMMEDIATELY, functions.exit_immediately),
        (RT_ATEXIT, functions.atexit),
        (RT_CXA_ATEXIT, functions.cxa_atexit),
        (RT_CXA_THREAD_ATEXIT, functions.cxa_thread_atexit),
        (TLS_HELPER, functions.tls_address),
        (RT_PTHREAD_ATFORK, functions.pthread_atfork),
        (RT_AT_QUICK_EXIT, functions.at_quick_exit),
        (RT_PTHREAD_CREATE, functions.pthread_create),
        (RT_LAZY_ENTRY, functions.lazy_entry),
    ]
}

/// Whether the glue defines `name`, so nothing else needs to.
pub(crate) fn defines(name: &str) -> bool {
    runtime_symbols().iter().any(|&(n, _)| n == name)
        || FIRST_BATCH_SYMBOLS.contains(&name)
        || PLATFORM_SYMBOLS.contains(&name)
        || GLUE_SYMBOLS.contains(&name)
        || name.starts_with(thunk::NEAR_PREFIX)
}

/// Whether `name` is a libc function the runtime replaces.
fn interposes(name: &str) -> bool {
    INTERPOSED.iter().any(|&(libc_name, _)| libc_name == name)
}

/// Whether `name` is a libc function the runtime replaces without the
/// symbol policy's say: it grants nothing libc's would not.
pub(crate) fn interposes_ungranted(name: &str) -> bool {
    interposes(name) && !INTERPOSED_BUT_GRANTED.contains(&name)
}

/// The table of batch `batch`'s static constructors.
pub(crate) fn constructor_table(batch: usize) -> String {
    format!("__hyperjit.ctors.{batch}")
}

/// The table of batch `batch`'s static destructors.
pub(crate) fn destructor_table(batch: usize) -> String {
    format!("__hyperjit.dtors.{batch}")
}

/// What batch `batch`'s internal symbols' names get, to be unique.
pub(crate) fn promoted_suffix(batch: usize) -> String {
    format!(".hj{batch}")
}

/// The name of `function`'s body compiled on its first call (once per
/// function, so the same in every run: the object cache reuses it).
pub(crate) fn first_body(function: &str) -> String {
    format!("{function}.hj.first")
}

/// The symbol whose address is the record of lazy `function` of batch
/// `batch` (its stub loads it).
pub(crate) fn lazy_record_symbol(batch: usize, function: &str) -> String {
    format!("__hyperjit.lazy.{batch}.{function}")
}

/// The symbol whose address is the counter of `function`'s baseline body.
pub(crate) fn counter_symbol(function: &str) -> String {
    format!("__hyperjit.count.{function}")
}

/// The name of `function`'s new body number `version`.
pub(crate) fn body_version(function: &str, version: u64) -> String {
    format!("{function}.hj.v{version}")
}

/// Whether `name` is one of a function's new bodies ([`first_body`],
/// [`body_version`]): code reached through the function's own entry, never
/// patched itself.
pub(crate) fn is_new_body(name: &str) -> bool {
    if name.ends_with(".hj.first") {
        return true;
    }
    let numbered = |marker: &str| {
        name.rsplit_once(marker).is_some_and(|(_, number)| {
            !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
        })
    };
    numbered(".hj.v") || numbered(".hj.b")
}

/// What the body of a function of batch `batch` is named after, its entry
/// being a stub of the function's own name ([`is_new_body`] knows it).
pub(crate) fn body_suffix(batch: usize) -> String {
    format!(".hj.b{batch}")
}

/// One engine's stubs, linked into its first batch: each passes a constant
/// address of this engine's, so engines in one process stay apart.
pub(crate) struct EngineGlue {
    /// The engine's exit-handler list (`runtime::ExitHandlers`).
    pub(crate) exit_handlers: usize,
    /// The engine, as the dispatcher's first argument.
    pub(crate) engine: usize,
    /// The run-time `PerformCustomCallback` dispatcher.
    pub(crate) dispatch: usize,
    /// What compiles a function on its first call: an `extern "C"
    /// fn(&LazyRecord) -> u64` returning the code's address.
    pub(crate) compile_lazily: usize,
}

/// The symbols through which the first batch reaches its engine: their
/// addresses are the engine's, defined in its JIT, so that the code itself
/// holds no address of this process and can be reused by another run
/// (the object cache).
const ENGINE_SYMBOL: &str = "__hyperjit.engine";
const EXIT_HANDLERS_SYMBOL: &str = "__hyperjit.exit_handlers";
const DISPATCH_SYMBOL: &str = "__hyperjit.dispatch";

impl EngineGlue {
    /// The absolute symbols [`define_first_batch`]'s functions refer to,
    /// with this engine's addresses.
    pub(crate) fn symbols(&self) -> [(&'static str, usize); 3] {
        [
            (ENGINE_SYMBOL, self.engine),
            (EXIT_HANDLERS_SYMBOL, self.exit_handlers),
            (DISPATCH_SYMBOL, self.dispatch),
        ]
    }
}

/// Defines in the first batch's `module` the replacements of `atexit` and
/// `__cxa_atexit` and `PerformCustomCallback` for names known only at run
/// time ([`FIRST_BATCH_FUNCTIONS`]), each a call into the runtime with the
/// engine's data, reached through [`EngineGlue::symbols`]. They take the
/// program's target attributes, so that the module is compiled for one
/// subtarget.
pub(crate) fn define_first_batch(module: &mut Module) -> Result<(), String> {
    module.define_forwarder(ATEXIT, 32, 1, RT_ATEXIT, EXIT_HANDLERS_SYMBOL)?;
    module.define_forwarder(CXA_ATEXIT, 32, 3, RT_CXA_ATEXIT, EXIT_HANDLERS_SYMBOL)?;
    module.define_forwarder(
        PERFORM_CUSTOM_CALLBACK,
        64,
        2,
        DISPATCH_SYMBOL,
        ENGINE_SYMBOL,
    )?;
    module.adopt_target_attributes(&FIRST_BATCH_FUNCTIONS);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_bodies_are_told_from_functions_by_name() {
        assert!(is_new_body(&first_body("main")));
        assert!(is_new_body(&body_version("f.hj1", 12)));
        assert!(is_new_body(&format!("f{}", body_suffix(3))));
        for name in ["main", "f.hj.v", "f.hj.vx", "f.hj.first.x", "tables.hj3"] {
            assert!(!is_new_body(name), "{name}");
        }
    }
}

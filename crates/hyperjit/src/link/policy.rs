//! The symbol policy: which of the host process's symbols a program may
//! link against.
//!
//! By default, as under `lli`, any: libc, libm, whatever the host has
//! loaded. With an allow list, only the host's registered callbacks,
//! hyperjit's own functions (its runtime and hypercalls) and the names
//! listed: every other symbol the program uses is refused, all at once,
//! before anything links, and the JIT itself no longer searches the
//! process (each allowed symbol is defined in it by name). Inline assembly,
//! which reaches past any list, is refused too.
//!
//! It controls what a program links against. It is not memory isolation:
//! JIT'd code runs in the host's process, with the host's memory and
//! rights, and a program that can compute an address can call it.

use std::collections::BTreeSet;

/// Which of the host process's symbols a program may link against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SymbolPolicy {
    /// Any symbol the process defines (what `lli` does). The default.
    #[default]
    Process,
    /// Only registered callbacks, hyperjit's own functions and these
    /// names; inline assembly is refused.
    AllowList(BTreeSet<String>),
}

/// What LLVM's code generator may call on its own, for IR that never
/// names it (`llvm.memcpy` becomes `memcpy`, 128-bit division
/// `__divti3`): allowed under every policy, or no program would link.
const CODEGEN_HELPERS: &[&str] = &[
    "memcpy",
    "memmove",
    "memset",
    "__divti3",
    "__udivti3",
    "__modti3",
    "__umodti3",
    "__muloti4",
    "__mulodi4",
    "__fixdfti",
    "__fixsfti",
    "__fixxfti",
    "__fixunsdfti",
    "__fixunssfti",
    "__fixunsxfti",
    "__floattidf",
    "__floattisf",
    "__floattixf",
    "__floatuntidf",
    "__floatuntisf",
    "__floatuntixf",
    "__powidf2",
    "__powisf2",
    "__powixf2",
    "__extendhfsf2",
    "__truncsfhf2",
    "__truncdfhf2",
    "__stack_chk_fail",
];

impl SymbolPolicy {
    /// An allow list of `names`.
    pub fn allow<I, S>(names: I) -> SymbolPolicy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        SymbolPolicy::AllowList(names.into_iter().map(Into::into).collect())
    }

    /// Whether the program may link against the process's `name`.
    pub(crate) fn allows(&self, name: &str) -> bool {
        match self {
            SymbolPolicy::Process => true,
            SymbolPolicy::AllowList(names) => {
                names.contains(name) || CODEGEN_HELPERS.contains(&name)
            }
        }
    }

    /// Whether the JIT may search the process for symbols by itself.
    pub(crate) fn searches_process(&self) -> bool {
        matches!(self, SymbolPolicy::Process)
    }

    /// What code generation may call that the program does not name.
    pub(crate) fn codegen_helpers() -> &'static [&'static str] {
        CODEGEN_HELPERS
    }
}

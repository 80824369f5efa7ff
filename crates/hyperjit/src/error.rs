//! hyperjit's one error type. Every variant names the file, symbol or
//! function it is about, so that a message is actionable on its own.

use std::fmt;
use std::path::PathBuf;

/// A symbol the program uses that nothing defines, with the inputs that use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnresolvedSymbol {
    /// The symbol's name.
    pub name: String,
    /// The inputs (files or in-memory module names) that reference it.
    pub referenced_by: Vec<String>,
}

impl fmt::Display for UnresolvedSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'", self.name)?;
        if !self.referenced_by.is_empty() {
            write!(f, " (referenced by {})", self.referenced_by.join(", "))?;
        }
        Ok(())
    }
}

fn list(symbols: &[UnresolvedSymbol]) -> String {
    symbols
        .iter()
        .map(|s| format!("\n  {s}"))
        .collect::<String>()
}

/// Everything that can go wrong in hyperjit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The input's extension is not one hyperjit runs.
    #[error("{}: unsupported input (expected .c, .cc, .cpp, .cxx, .ll or .bc)", path.display())]
    UnsupportedInput {
        /// The file.
        path: PathBuf,
    },
    /// LLVM IR text or bitcode that does not parse.
    #[error("{message}")]
    Parse {
        /// The input.
        file: String,
        /// LLVM's message, starting with `file:line:col` for IR text.
        message: String,
    },
    /// A `.bc` file without the bitcode signature.
    #[error(
        "{file}: not LLVM bitcode (the file does not start with the bitcode signature 'BC' 0xC0DE)"
    )]
    NotBitcode {
        /// The input.
        file: String,
    },
    /// IR that parses but that LLVM's verifier rejects.
    #[error("{file}: invalid IR rejected by the verifier:\n{message}")]
    InvalidIr {
        /// The input.
        file: String,
        /// The verifier's findings.
        message: String,
    },
    /// clang could not be started.
    #[error("cannot run clang '{}' to compile {file}: {source} (install clang-19, or set HYPERJIT_CLANG)", program.display())]
    ClangNotFound {
        /// The clang that was tried.
        program: PathBuf,
        /// The C file.
        file: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// clang rejected a C file.
    #[error("{file}: clang failed:\n{diagnostics}")]
    Clang {
        /// The C file.
        file: String,
        /// clang's diagnostics, as it printed them.
        diagnostics: String,
    },
    /// A module built for another machine.
    #[error("{file}: built for target '{found}', but this host is '{host}'")]
    TargetMismatch {
        /// The input.
        file: String,
        /// The module's triple.
        found: String,
        /// The host's triple.
        host: String,
    },
    /// A module whose data layout gives types other sizes or alignments
    /// than the host's (its offsets would mean something else).
    #[error("{file}: data layout '{found}' is not the host's: {difference}")]
    DataLayoutMismatch {
        /// The input.
        file: String,
        /// The module's data layout.
        found: String,
        /// What differs, e.g. "i64 is aligned to 4 bytes, not the host's 8".
        difference: String,
    },
    /// Symbols the program uses that the symbol policy does not allow,
    /// with the inputs that use them (all of them, before anything links).
    #[error("symbols the symbol policy does not allow:{}", list(.symbols))]
    DeniedSymbols {
        /// Each denied symbol.
        symbols: Vec<UnresolvedSymbol>,
    },
    /// Something in an input the symbol policy refuses (inline assembly
    /// under an allow list).
    #[error("{file}: {what} is not allowed by the symbol policy")]
    Denied {
        /// The input.
        file: String,
        /// What it holds, naming the function.
        what: String,
    },
    /// An input the isolated check (`EngineBuilder::isolate_inputs`)
    /// refused: LLVM crashed or hung on it in the child process, or it is
    /// not a valid input.
    #[error("{file}: {what} (checked in a child process)")]
    Isolated {
        /// The input.
        file: String,
        /// What happened.
        what: String,
    },
    /// The IR linker rejected the inputs (e.g. a symbol defined twice).
    #[error("{file}: link error: {message}")]
    Link {
        /// The input being linked in.
        file: String,
        /// The linker's message.
        message: String,
    },
    /// Symbols nothing defines; all of them, found before any code runs.
    #[error("unresolved external symbols:{}", list(symbols))]
    UnresolvedSymbols {
        /// Each missing symbol with the inputs that use it.
        symbols: Vec<UnresolvedSymbol>,
    },
    /// The program uses a feature hyperjit cannot compile.
    #[error("{file}: {message}")]
    Unsupported {
        /// The input (or linked inputs).
        file: String,
        /// What is not supported.
        message: String,
    },
    /// `run_main` before any input was added.
    #[error("no program to run: no input was added")]
    NoProgram,
    /// `run_main` after the only inputs failed to link: LLVM's IR linker
    /// consumed them (a symbol defined twice is found before, and leaves
    /// them pending).
    #[error("no program to run: {files} failed to link and were dropped; add them again")]
    InputsDropped {
        /// The inputs, comma-separated.
        files: String,
    },
    /// The entry function does not exist.
    #[error("entry function '{name}' is not defined by the program")]
    EntryNotFound {
        /// The entry's name.
        name: String,
    },
    /// The entry function's type cannot be called as `main`.
    #[error(
        "entry function '{name}' has type {signature}; hyperjit calls \
         int {name}(int argc, char **argv, char **envp), with fewer parameters or a void result allowed"
    )]
    EntrySignature {
        /// The entry's name.
        name: String,
        /// Its IR type.
        signature: String,
    },
    /// A callback stopped the guest (returned `Err(Trap)`, panicked, or an
    /// unknown callback name was called).
    #[error("{0}")]
    Trap(#[from] crate::trap::Trap),
    /// The guest called `exit` (or `_exit`) in a function the host called
    /// through [`TypedFn::call`](crate::TypedFn::call).
    #[error("the guest called exit({status}) in a call from the host")]
    GuestExit {
        /// The status it passed.
        status: i32,
    },
    /// The guest faulted in JIT'd code (a bad pointer, a division by zero,
    /// a stack overflow) in a function the host called through
    /// [`TypedFn::call`](crate::TypedFn::call) or
    /// [`Engine::call`](crate::Engine::call), with
    /// [fault reports](crate::EngineBuilder::fault_reports) on: the call
    /// was abandoned, as for a trap. What the guest had half done (memory
    /// it wrote, locks it took) stays so. Without fault reports, and for a
    /// fault inside a library the guest called, the process dies by the
    /// signal, as natively.
    #[error("the guest faulted in a call from the host: {report}")]
    GuestFault {
        /// The signal, the address and the JIT'd function + offset.
        report: String,
    },
    /// The guest declares a callback with another type than the host
    /// registered.
    #[error(
        "{file}: callback '{callback}' is declared as {found}, but the host registered it as {expected}"
    )]
    CallbackSignature {
        /// The callback.
        callback: String,
        /// The registered signature.
        expected: String,
        /// The guest's declaration.
        found: String,
        /// The input that declares it.
        file: String,
    },
    /// A name is registered twice, or the host and the program both define it.
    #[error("'{name}' is already defined{}", by.as_ref().map(|by| format!(" by {by}")).unwrap_or_default())]
    AlreadyDefined {
        /// The name.
        name: String,
        /// Who defines it already (an input, or "the host").
        by: Option<String>,
    },
    /// A new body for a function has another type than the function.
    #[error("{file}: '{function}' has type {found} there, but the running program's '{function}' has type {expected}")]
    RedefineSignature {
        /// The function.
        function: String,
        /// Its type in the running program.
        expected: String,
        /// Its type in the new body.
        found: String,
        /// The file with the new body.
        file: String,
    },
    /// A dynamic call's arguments are not of the function's parameter
    /// types.
    #[error("'{function}' has type {expected}, but was called with arguments of type {found}")]
    CallArguments {
        /// The function called.
        function: String,
        /// Its type.
        expected: String,
        /// The arguments' types (with its result type).
        found: String,
    },
    /// A typed lookup asked for another type than the symbol has.
    #[error("'{symbol}' has type {actual}, not the requested {requested}")]
    LookupSignature {
        /// The symbol.
        symbol: String,
        /// The type asked for.
        requested: String,
        /// Its type in the program.
        actual: String,
    },
    /// A symbol that is not defined (by the program or a callback).
    #[error("unknown symbol '{name}'")]
    UnknownSymbol {
        /// The name looked up.
        name: String,
    },
    /// A callback or symbol name that cannot be a symbol.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A builder setting out of range.
    #[error("invalid setting: {0}")]
    InvalidSetting(String),
    /// LLVM failed in code generation or JIT linking.
    #[error("{context}: {message}")]
    Llvm {
        /// What hyperjit was doing, naming the file or symbol.
        context: String,
        /// LLVM's message.
        message: String,
    },
}

impl Error {
    /// Turns LLVM's message into [`Error::Llvm`] about `context` (what
    /// hyperjit was doing, naming the file or symbol): for `map_err`.
    pub(crate) fn llvm(context: impl Into<String>) -> impl FnOnce(String) -> Error {
        let context = context.into();
        move |message| Error::Llvm { context, message }
    }
}

/// An engine call failing inside a callback (`caller.recompile(..)?`) stops
/// the guest with that error; a trap stays the trap it was.
impl From<Error> for crate::trap::Trap {
    fn from(error: Error) -> crate::trap::Trap {
        match error {
            Error::Trap(trap) => trap,
            other => crate::trap::Trap::new(other.to_string()),
        }
    }
}

/// `Result` with hyperjit's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

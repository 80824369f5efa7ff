//! Turning an input file into bytes LLVM can parse: IR text and bitcode are
//! read as they are; C and C++ are compiled to bitcode by clang-19 (the
//! driver picks the language from the extension; no linking happens, so
//! `clang` serves for C++ as `clang++` would), with hyperjit's own
//! `include/` (holding `hyperjit.h`) on the include path.

use crate::error::{Error, Result};
use crate::llvm;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// An input's bytes, ready for LLVM to parse.
pub(crate) struct Source {
    /// The file (or in-memory name) that messages name.
    pub(crate) file: String,
    pub(crate) bytes: Vec<u8>,
    /// clang compiled it, at the engine's level: its IR is optimized.
    pub(crate) optimized_by_clang: bool,
    /// Time spent in clang.
    pub(crate) clang_time: Duration,
}

impl Source {
    /// Whether the bytes are bitcode, not IR text.
    pub(crate) fn is_bitcode(&self) -> bool {
        crate::llvm::is_bitcode(&self.bytes)
    }

    /// Reads `path`: clang's bitcode for C and C++ (at `-O{opt_level}`),
    /// the file itself for `.ll`/`.bc`.
    pub(crate) fn read(path: &Path, clang: &ClangOptions, opt_level: u8) -> Result<Source> {
        let kind = SourceKind::of(path)?;
        let file = path.display().to_string();
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let started = Instant::now();
        let bytes = match kind {
            SourceKind::C | SourceKind::Cpp => {
                // clang's own message for a missing file would not say so.
                std::fs::metadata(path).map_err(io_error)?;
                compile_c(clang, path, opt_level)?
            }
            SourceKind::IrText | SourceKind::Bitcode => std::fs::read(path).map_err(io_error)?,
        };
        if kind == SourceKind::Bitcode && !llvm::is_bitcode(&bytes) {
            return Err(Error::NotBitcode { file });
        }
        let by_clang = matches!(kind, SourceKind::C | SourceKind::Cpp);
        Ok(Source {
            file,
            bytes,
            optimized_by_clang: by_clang,
            clang_time: if by_clang {
                started.elapsed()
            } else {
                Duration::ZERO
            },
        })
    }

    /// IR held in memory, text or bitcode; `name` stands for the file in
    /// messages.
    pub(crate) fn in_memory(name: &str, ir: &[u8]) -> Source {
        Source {
            file: name.to_string(),
            bytes: ir.to_vec(),
            optimized_by_clang: false,
            clang_time: Duration::ZERO,
        }
    }
}

/// What an input file holds, by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceKind {
    C,
    /// C++: `.cc`, `.cpp`, `.cxx`.
    Cpp,
    IrText,
    Bitcode,
}

impl SourceKind {
    fn of(path: &Path) -> Result<SourceKind> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("c") => Ok(SourceKind::C),
            Some("cc" | "cpp" | "cxx") => Ok(SourceKind::Cpp),
            Some("ll") => Ok(SourceKind::IrText),
            Some("bc") => Ok(SourceKind::Bitcode),
            _ => Err(Error::UnsupportedInput {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// The guest ABI header, shipped inside the library so that an installed
/// `hyperjit` finds it without the source tree.
const GUEST_HEADER: &str = include_str!("../../include/hyperjit.h");

/// A directory holding `hyperjit.h`: written once per header version under
/// the temp directory, atomically (a rename), so concurrent runs agree.
fn guest_include_dir() -> Result<PathBuf> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    GUEST_HEADER.hash(&mut hasher);
    let dir = std::env::temp_dir().join(format!("hyperjit-include-{:016x}", hasher.finish()));
    let header = dir.join("hyperjit.h");
    if header.exists() {
        return Ok(dir);
    }
    let io_error = |source| Error::Io {
        path: header.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io_error)?;
    let mut temp = tempfile::NamedTempFile::new_in(&dir).map_err(io_error)?;
    temp.write_all(GUEST_HEADER.as_bytes()).map_err(io_error)?;
    temp.persist(&header).map_err(|e| io_error(e.error))?;
    Ok(dir)
}

/// The clang to use: the configured one, `$HYPERJIT_CLANG`, `clang-19` on
/// PATH, or Debian's LLVM 19 installation.
fn find_clang(configured: Option<&Path>) -> PathBuf {
    if let Some(path) = configured {
        return path.to_path_buf();
    }
    if let Some(path) = std::env::var_os("HYPERJIT_CLANG") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("clang-19"))
            .find(|candidate| candidate.is_file())
    });
    on_path.unwrap_or_else(|| PathBuf::from("/usr/lib/llvm-19/bin/clang"))
}

/// How clang is run for C and C++ inputs.
#[derive(Clone, Debug, Default)]
pub(crate) struct ClangOptions {
    pub(crate) program: Option<PathBuf>,
    /// `-I`/`-D` arguments, passed through in order.
    pub(crate) args: Vec<String>,
    /// `-g` (for debuggers) rather than `-g0`.
    pub(crate) debug_info: bool,
}

/// Compiles `path` to bitcode at `-O{opt_level}`.
fn compile_c(options: &ClangOptions, path: &Path, opt_level: u8) -> Result<Vec<u8>> {
    let program = find_clang(options.program.as_deref());
    let include = guest_include_dir()?;
    let output = Command::new(&program)
        .arg(format!("-O{opt_level}"))
        .args(["-c", "-emit-llvm", "-o", "-"])
        .arg(if options.debug_info { "-g" } else { "-g0" })
        // External functions stay calls (not inlined into their callers), so
        // that redefining or recompiling one reaches every caller; static
        // functions are inlined as usual.
        .args(["-fPIC", "-fsemantic-interposition"])
        .arg("-I")
        .arg(&include)
        .args(&options.args)
        .arg(path)
        .output()
        .map_err(|source| Error::ClangNotFound {
            program: program.clone(),
            file: path.display().to_string(),
            source,
        })?;
    let diagnostics = String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_string();
    if !output.status.success() {
        return Err(Error::Clang {
            file: path.display().to_string(),
            diagnostics: if diagnostics.is_empty() {
                format!("clang exited with {}", output.status)
            } else {
                diagnostics
            },
        });
    }
    if !diagnostics.is_empty() {
        tracing::warn!(target: "hyperjit", file = %path.display(), "{diagnostics}");
    }
    Ok(output.stdout)
}

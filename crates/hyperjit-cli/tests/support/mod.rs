//! Shared helpers for the CLI's integration tests: running `hyperjit`, the
//! LLVM 19 tools and native builds, and fetching real programs via cargo.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The environment variable every conformance run sees (argv_envp.c reads it).
pub const CONFORMANCE_VAR: (&str, &str) = ("HJ_CONFORMANCE", "hello world");

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn conformance_source(name: &str) -> PathBuf {
    repo_root()
        .join("tests/conformance")
        .join(format!("{name}.c"))
}

/// An LLVM 19 tool: `NAME-19` on PATH, else Debian's `/usr/lib/llvm-19/bin`.
pub fn llvm_tool(name: &str) -> PathBuf {
    let versioned = format!("{name}-19");
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(&versioned);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("/usr/lib/llvm-19/bin").join(name)
}

/// What a process did.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// The exit status, or None if a signal ended it.
    pub status: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

impl Outcome {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

pub fn run(command: &mut Command) -> Outcome {
    run_with_stdin(command, None)
}

pub fn run_with_stdin(command: &mut Command, stdin: Option<&Path>) -> Outcome {
    command.env(CONFORMANCE_VAR.0, CONFORMANCE_VAR.1);
    match stdin {
        Some(path) => command.stdin(std::fs::File::open(path).expect("stdin file")),
        None => command.stdin(Stdio::null()),
    };
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    Outcome {
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        status: output.status.code(),
        signal: std::os::unix::process::ExitStatusExt::signal(&output.status),
    }
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write a test input");
    path
}

pub fn hyperjit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hyperjit"))
}

/// The compilation modes every program is run in: each must behave the same.
pub const MODES: &[&[&str]] = &[
    &["--eager"],
    &["--lazy"],
    &["--lazy", "-O", "0"],
    // A low threshold: most functions are swapped to -O2 while running.
    &["--tier", "--tier-threshold", "2"],
    // Twice: the second run starts from the program image the first
    // stored (or both do, from an earlier test).
    &["--eager", "--cache", IMAGE_CACHE],
    &["--eager", "--cache", IMAGE_CACHE],
    // Twice: the second run is warm (or both are, from an earlier test).
    &["--tier", "--tier-threshold", "2", "--cache", MODES_CACHE],
    &["--tier", "--tier-threshold", "2", "--cache", MODES_CACHE],
];

/// The object cache the tiered cached modes share (across tests,
/// concurrently). Apart from the eager one's: a program image an eager run
/// stores would be loaded in any mode, and tiered code not cached at all.
const MODES_CACHE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/modes-cache");

/// The object cache of the eager cached modes, with program images.
const IMAGE_CACHE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/image-cache");

/// `hyperjit run` in `mode` (one of [`MODES`]).
pub fn hyperjit_run(mode: &[&str]) -> Command {
    let mut command = hyperjit();
    command.arg("run").args(mode);
    command
}

/// Runs a tool that must succeed (clang building a test input, say).
pub fn must(command: &mut Command) {
    let outcome = run(command);
    assert_eq!(
        outcome.status,
        Some(0),
        "{command:?} failed:\n{}",
        outcome.stderr
    );
}

pub fn clang() -> Command {
    Command::new(llvm_tool("clang"))
}

/// Asserts that two runs printed the same bytes and ended the same way.
pub fn assert_same_run(expected: &Outcome, actual: &Outcome, what: &str) {
    assert_eq!(
        actual.status, expected.status,
        "{what}: exit status differs\nstderr: {}",
        actual.stderr
    );
    if actual.stdout != expected.stdout {
        panic!(
            "{what}: stdout differs\n--- expected\n{}\n--- actual\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&expected.stdout),
            String::from_utf8_lossy(&actual.stdout),
            actual.stderr
        );
    }
}

/// Compiles the C or C++ program `source` natively (clang-19 -O2, or
/// clang++-19 for C++) to `output`.
pub fn build_native(source: &Path, output: &Path) {
    let cpp = matches!(
        source.extension().and_then(|e| e.to_str()),
        Some("cc" | "cpp" | "cxx")
    );
    let mut compiler = if cpp {
        Command::new(llvm_tool("clang++"))
    } else {
        clang()
    };
    must(
        compiler
            .args(["-O2", "-o"])
            .arg(output)
            .arg(source)
            .args(["-lm", "-lpthread"]),
    );
}

/// A directory that outlives one test run, for expensive build products.
pub fn cache_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hyperjit-test-cache");
    std::fs::create_dir_all(&dir).expect("cache dir");
    dir
}

/// Builds `output` with `build` unless it already exists; the product is
/// written under a temporary name and renamed, so a crashed or concurrent
/// build never leaves a partial file behind.
pub fn cached(output: &Path, build: impl FnOnce(&Path)) -> PathBuf {
    if !output.exists() {
        let partial = output.with_extension(format!("partial-{}", std::process::id()));
        build(&partial);
        std::fs::rename(&partial, output).expect("rename cached build product");
    }
    output.to_path_buf()
}

/// Source directories of the crates named in tests/corpus/Cargo.toml,
/// downloaded by `cargo metadata` (which never builds them).
pub fn corpus_package_dir(package: &str) -> PathBuf {
    static METADATA: OnceLock<serde_json::Value> = OnceLock::new();
    let metadata = METADATA.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--manifest-path",
            ])
            .arg(repo_root().join("tests/corpus/Cargo.toml"))
            .output()
            .expect("run cargo metadata");
        assert!(
            output.status.success(),
            "cargo metadata failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("cargo metadata JSON")
    });
    let manifest = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .find(|p| p["name"] == package)
        .and_then(|p| p["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("{package} is not in tests/corpus/Cargo.toml"));
    Path::new(manifest)
        .parent()
        .expect("package dir")
        .to_path_buf()
}

/// A cache key for build products of `inputs` (paths and their contents)
/// made with this machine's clang.
fn cache_key(inputs: &[&Path]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    llvm_tool("clang").hash(&mut hasher);
    for input in inputs {
        input.hash(&mut hasher);
        std::fs::read(input)
            .expect("read build input")
            .hash(&mut hasher);
    }
    format!("{:016x}", hasher.finish())
}

/// The sqlite3 amalgamation plus tests/programs/sqlite_driver.c as one -O2
/// bitcode file, cached under the target directory by what went into it.
pub fn sqlite_bitcode() -> PathBuf {
    static BUILD: OnceLock<PathBuf> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let sqlite_dir = corpus_package_dir("libsqlite3-sys").join("sqlite3");
            let amalgamation_c = sqlite_dir.join("sqlite3.c");
            let driver = repo_root().join("tests/programs/sqlite_driver.c");
            let cache = cache_dir();
            let amalgamation_key = cache_key(&[&amalgamation_c]);
            let amalgamation = cached(
                &cache.join(format!("sqlite3.{amalgamation_key}.bc")),
                |out| {
                    must(
                        clang()
                            .args(["-O2", "-c", "-emit-llvm", "-o"])
                            .arg(out)
                            .arg(&amalgamation_c),
                    );
                },
            );
            let key = cache_key(&[&amalgamation_c, &driver]);
            let driver_bc = cached(&cache.join(format!("sqlite_driver.{key}.bc")), |out| {
                must(
                    clang()
                        .args(["-O2", "-c", "-emit-llvm", "-I"])
                        .arg(&sqlite_dir)
                        .arg("-o")
                        .arg(out)
                        .arg(&driver),
                );
            });
            cached(&cache.join(format!("sqlite_program.{key}.bc")), |out| {
                must(
                    Command::new(llvm_tool("llvm-link"))
                        .arg("-o")
                        .arg(out)
                        .arg(&amalgamation)
                        .arg(&driver_bc),
                );
            })
        })
        .clone()
}

/// A native binary compiled (clang-19 -O2) from [`sqlite_bitcode`].
pub fn sqlite_native() -> PathBuf {
    native_of(&sqlite_bitcode())
}

/// A native binary compiled (clang-19 -O2) from `bitcode`, cached beside it.
pub fn native_of(bitcode: &Path) -> PathBuf {
    cached(&bitcode.with_extension("native"), |out| {
        must(clang().args(["-O2", "-o"]).arg(out).arg(bitcode).arg("-lm"));
    })
}

/// Lua 5.4 (the lua-src crate's sources) plus tests/programs/lua_driver.c
/// as one -O2 bitcode file, cached like [`sqlite_bitcode`].
pub fn lua_bitcode() -> PathBuf {
    static BUILD: OnceLock<PathBuf> = OnceLock::new();
    BUILD
        .get_or_init(|| {
            let lua_dir = corpus_package_dir("lua-src").join("lua-5.4.7");
            let driver = repo_root().join("tests/programs/lua_driver.c");
            let mut sources: Vec<PathBuf> = std::fs::read_dir(&lua_dir)
                .expect("lua sources")
                .map(|entry| entry.expect("lua source").path())
                .filter(|path| path.extension().is_some_and(|e| e == "c"))
                .collect();
            sources.sort();
            sources.push(driver);
            let inputs: Vec<&Path> = sources.iter().map(PathBuf::as_path).collect();
            let key = cache_key(&inputs);
            cached(&cache_dir().join(format!("lua_program.{key}.bc")), |out| {
                let dir = tempfile::tempdir().expect("temp dir");
                let bitcode: Vec<PathBuf> = sources
                    .iter()
                    .map(|source| {
                        let stem = source.file_stem().expect("stem").to_string_lossy();
                        let output = dir.path().join(format!("{stem}.bc"));
                        must(
                            clang()
                                .args(["-O2", "-DLUA_USE_POSIX", "-c", "-emit-llvm", "-I"])
                                .arg(&lua_dir)
                                .arg("-o")
                                .arg(&output)
                                .arg(source),
                        );
                        output
                    })
                    .collect();
                must(
                    Command::new(llvm_tool("llvm-link"))
                        .arg("-o")
                        .arg(out)
                        .args(&bitcode),
                );
            })
        })
        .clone()
}

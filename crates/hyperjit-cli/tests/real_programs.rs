//! Real programs nobody here wrote, fetched through cargo (tests/corpus):
//! bzip2 1.0.8 against its own reference files, the sqlite3 amalgamation
//! driven by tests/programs/sqlite_driver.c, and Lua 5.4 (whose
//! interpreter loop uses computed goto) running tests/programs/bench.lua.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

const BZIP2_SOURCES: &[&str] = &[
    "bzip2.c",
    "blocksort.c",
    "huffman.c",
    "crctable.c",
    "randtable.c",
    "compress.c",
    "decompress.c",
    "bzlib.c",
];

fn bzip2_dir() -> PathBuf {
    corpus_package_dir("bzip2-sys").join("bzip2-1.0.8")
}

/// bzip2's sources compiled to -O2 bitcode once, linked by hyperjit.
fn bzip2_bitcode(dir: &Path) -> Vec<PathBuf> {
    BZIP2_SOURCES
        .iter()
        .map(|source| {
            let output = dir.join(source.replace(".c", ".bc"));
            must(
                clang()
                    .args(["-O2", "-D_FILE_OFFSET_BITS=64", "-c", "-emit-llvm", "-o"])
                    .arg(&output)
                    .arg(bzip2_dir().join(source)),
            );
            output
        })
        .collect()
}

/// bzip2's own `make test`: compress sampleN.ref at -N and compare with
/// sampleN.bz2, decompress sampleN.bz2 and compare with sampleN.ref — under
/// hyperjit, natively, and under lli-19 (its inputs linked with llvm-link).
#[test]
fn bzip2_reproduces_its_reference_files() {
    let src = bzip2_dir();
    let dir = tempfile::tempdir().expect("temp dir");
    let bitcode = bzip2_bitcode(dir.path());
    let linked = dir.path().join("bzip2-linked.bc");
    must(
        Command::new(llvm_tool("llvm-link"))
            .arg("-o")
            .arg(&linked)
            .args(&bitcode),
    );
    let native = dir.path().join("bzip2");
    must(clang().args(["-O2", "-o"]).arg(&native).arg(&linked));

    for (index, mode) in MODES.iter().enumerate() {
        let n = index % 3 + 1;
        let reference = src.join(format!("sample{n}.ref"));
        let compressed = src.join(format!("sample{n}.bz2"));
        let expected_bz2 = std::fs::read(&compressed).expect("sample bz2");
        let expected_ref = std::fs::read(&reference).expect("sample ref");
        let level = format!("-{n}");
        let mode_name = mode.join(" ");

        let jit_compress = run_with_stdin(
            hyperjit_run(mode).args(&bitcode).args(["--", &level]),
            Some(&reference),
        );
        assert_eq!(jit_compress.status, Some(0), "{}", jit_compress.stderr);
        assert!(
            jit_compress.stdout == expected_bz2,
            "sample{n} ({mode_name}): hyperjit's compression differs from sample{n}.bz2"
        );

        let jit_decompress = run_with_stdin(
            hyperjit_run(mode).args(&bitcode).args(["--", "-d"]),
            Some(&compressed),
        );
        assert_eq!(jit_decompress.status, Some(0), "{}", jit_decompress.stderr);
        assert!(
            jit_decompress.stdout == expected_ref,
            "sample{n} ({mode_name}): hyperjit's decompression differs from sample{n}.ref"
        );

        let native_run = run_with_stdin(Command::new(&native).arg(&level), Some(&reference));
        assert_same_run(
            &native_run,
            &jit_compress,
            &format!("bzip2 {level} < sample{n}.ref"),
        );

        let lli_run = run_with_stdin(
            Command::new(llvm_tool("lli")).arg(&linked).arg(&level),
            Some(&reference),
        );
        assert_same_run(
            &lli_run,
            &jit_compress,
            &format!("lli-19 bzip2 {level} < sample{n}.ref"),
        );
    }
}

/// A corrupt archive: bzip2 reports it and exits 2, under hyperjit as natively.
#[test]
fn bzip2_rejects_a_corrupt_archive_like_the_native_build() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sources: Vec<PathBuf> = BZIP2_SOURCES.iter().map(|s| bzip2_dir().join(s)).collect();
    let native = dir.path().join("bzip2");
    must(
        clang()
            .args(["-O2", "-D_FILE_OFFSET_BITS=64", "-o"])
            .arg(&native)
            .args(&sources),
    );
    let corrupt = dir.path().join("corrupt.bz2");
    let mut bytes = std::fs::read(bzip2_dir().join("sample2.bz2")).expect("sample");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(&corrupt, bytes).expect("write corrupt archive");

    // From C sources: hyperjit runs clang on each with -D passed through.
    let jit = run_with_stdin(
        hyperjit()
            .args(["run", "-D_FILE_OFFSET_BITS=64"])
            .args(&sources)
            .args(["--", "-d"]),
        Some(&corrupt),
    );
    let native_run = run_with_stdin(Command::new(&native).arg("-d"), Some(&corrupt));
    assert_eq!(
        native_run.status,
        Some(2),
        "native bzip2 should reject the archive"
    );
    assert_eq!(jit.status, native_run.status, "{}", jit.stderr);
    assert!(
        jit.stderr
            .contains("Data integrity error when decompressing"),
        "{}",
        jit.stderr
    );
}

/// sqlite3 with our driver: identical output to the native binary built
/// from the same bitcode (lli-19's output is compared in opt_rules.rs, which
/// runs it anyway to compare start-up times).
#[test]
fn sqlite_matches_the_native_build() {
    let bitcode = sqlite_bitcode();
    let native_binary = sqlite_native();
    let native = run(&mut Command::new(&native_binary));
    assert_eq!(native.status, Some(0), "{}", native.stderr);
    assert!(native.stdout_text().contains("rows printed by callback: "));

    let native_small = run(Command::new(&native_binary).arg("500"));
    for mode in MODES {
        let mode_name = mode.join(" ");
        let jit = run(hyperjit_run(mode).arg(&bitcode));
        assert_same_run(&native, &jit, &format!("hyperjit run {mode_name} sqlite"));

        let small = run(hyperjit_run(mode).arg(&bitcode).args(["--", "500"]));
        let what = format!("hyperjit run {mode_name} sqlite -- 500");
        assert_same_run(&native_small, &small, &what);
        assert_ne!(small.stdout, jit.stdout, "argv[1] must change the workload");
    }

    // The default mode reads a body from the bitcode on its first call:
    // sqlite's bodies never called are never read.
    let stats = run(hyperjit().args(["run", "--stats"]).arg(&bitcode));
    assert_same_run(&native, &stats, "hyperjit run --stats sqlite");
    let count = |after: &str| -> usize {
        let text = stats.stderr.split(after).next().unwrap_or_default();
        let number = text.rsplit(' ').next().unwrap_or_default();
        number
            .parse()
            .unwrap_or_else(|_| panic!("{after}: {}", stats.stderr))
    };
    let (never_called, never_read) = (count(" never called"), count(" never read"));
    assert!(never_called > 500, "{}", stats.stderr);
    assert!(
        never_read <= never_called && never_read + 10 >= never_called,
        "{}",
        stats.stderr
    );
}

/// Lua 5.4 runs a script as its native build does, in every mode.
#[test]
fn lua_runs_a_script_like_the_native_build() {
    let bitcode = lua_bitcode();
    let native_binary = native_of(&bitcode);
    let script = repo_root().join("tests/programs/bench.lua");
    let native = run(Command::new(&native_binary).arg(&script).arg("1"));
    assert_eq!(native.status, Some(0), "{}", native.stderr);
    assert!(
        native.stdout_text().contains("closure\t100001"),
        "{}",
        native.stdout_text()
    );
    for mode in MODES {
        let jit = run(hyperjit_run(mode)
            .arg(&bitcode)
            .arg("--")
            .arg(&script)
            .arg("1"));
        assert_same_run(
            &native,
            &jit,
            &format!("hyperjit run {} lua bench.lua", mode.join(" ")),
        );
    }
    // A script error is reported by the interpreter, with its status.
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = write(dir.path(), "bad.lua", "error('deliberate')\n");
    let native_bad = run(Command::new(&native_binary).arg(&bad));
    let jit_bad = run(hyperjit().arg("run").arg(&bitcode).arg("--").arg(&bad));
    assert_eq!(native_bad.status, Some(1));
    assert_same_run(&native_bad, &jit_bad, "hyperjit run lua bad.lua");
    assert!(jit_bad.stderr.contains("deliberate"), "{}", jit_bad.stderr);
}

//! The C and C++ hosts in `examples/`, built with the documented commands
//! against this build's `libhyperjit_capi` (shared and static) and run on
//! the proposal's guest program.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where cargo put this crate's libraries: beside the test executable.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().expect("deps directory").to_path_buf()
}

fn build(compiler: &str, args: &[&str], out: &Path) {
    let status = Command::new(compiler)
        .args(args)
        .arg("-o")
        .arg(out)
        .current_dir(repo())
        .status()
        .unwrap_or_else(|error| panic!("running {compiler}: {error}"));
    assert!(status.success(), "{compiler} {args:?} failed");
}

/// The host built at `host`, with the library its rpath names: cargo's
/// `LD_LIBRARY_PATH` would take precedence, and may list a stale copy.
fn host_command(host: &Path) -> Command {
    let mut command = Command::new(host);
    command.env_remove("LD_LIBRARY_PATH").current_dir(repo());
    command
}

fn run_host(host: &Path) -> Output {
    host_command(host)
        .arg("examples/c_host/test.c")
        .output()
        .expect("running the host")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the hosts and the guest print on a good run, in order.
const GOOD_RUN: [&str; 4] = [
    "host: Callback1(10, 20)",
    "guest: Callback1(10, 20) returned 30",
    "guest: Callback2(3, 4) returned 304",
    "host: the guest exited with 0 after 1 call(s) of Callback1",
];

fn assert_good_run(output: &Output) {
    let text = stdout(output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..4],
        &GOOD_RUN,
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(0));
}

/// Builds `source` with `compiler` and `flags` against the shared library,
/// as README.md shows.
fn build_with_shared_library(compiler: &str, flags: &[&str], source: &str, out: &Path) {
    let libs = library_dir();
    let rpath = format!("-Wl,-rpath,{}", libs.display());
    let search = format!("-L{}", libs.display());
    let mut args = flags.to_vec();
    args.extend([
        source,
        "-Iinclude",
        "-Wall",
        "-Werror",
        &search,
        "-lhyperjit_capi",
        &rpath,
    ]);
    build(compiler, &args, out);
}

#[test]
fn the_c_host_runs_the_proposals_example_with_the_shared_library() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("c_host");
    build_with_shared_library("cc", &[], "examples/c_host/host.c", &host);
    assert_good_run(&run_host(&host));
}

#[test]
fn the_c_host_runs_with_the_static_library() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("c_host_static");
    let archive = library_dir().join("libhyperjit_capi.a");
    let archive = archive.to_str().expect("a UTF-8 path");
    // `cargo rustc -p hyperjit-capi --crate-type staticlib -- --print
    // native-static-libs` lists these; README.md gives the same line.
    build(
        "cc",
        &[
            "examples/c_host/host.c",
            "-Iinclude",
            archive,
            "-L/usr/lib/llvm-19/lib",
            "-lLLVM-19",
            "-lstdc++",
            "-lgcc_s",
            "-lutil",
            "-lrt",
            "-lpthread",
            "-lm",
            "-ldl",
        ],
        &host,
    );
    assert_good_run(&run_host(&host));
}

#[test]
fn the_cpp_host_runs_the_example_and_gets_a_throwing_callback_as_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("cpp_host");
    build_with_shared_library(
        "clang++-19",
        &["-std=c++17"],
        "examples/cpp_host/host.cpp",
        &host,
    );
    let output = run_host(&host);
    assert_good_run(&output);
    assert!(
        stdout(&output).contains("host: stopped: trap in callback 'Callback1': no, thanks"),
        "{}",
        stdout(&output)
    );
}

/// A C host's safe calls: each way guest code can end is a distinct
/// status, and the host goes on; in a direct call `hj_trap` refuses.
#[test]
fn the_safe_call_host_gets_traps_exits_and_faults_as_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("safe_call");
    build_with_shared_library("cc", &[], "examples/c_host/safe_call.c", &host);
    let output = host_command(&host).output().expect("running the host");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Where in `crash` the store sits depends on its entry (patchable or
    // not, in the mode the engine chose): the report names the function.
    let printed = stdout(&output);
    let printed = match printed.split_once(" in crash+0x") {
        Some((before, after)) => format!(
            "{before} in crash+0x_{}",
            after.trim_start_matches(|c: char| c.is_ascii_hexdigit())
        ),
        None => printed,
    };
    assert_eq!(
        printed,
        "checked: HJ_TRAP (trap in callback 'Check': checked refuses)\n\
         leave: HJ_GUEST_EXIT 7 (the guest called exit(7) in a call from the host)\n\
         crash: HJ_GUEST_FAULT (the guest faulted in a call from the host: SIGSEGV at address 0x0 in crash+0x_)\n\
         scale: HJ_OK -6\n\
         arity: HJ_ERROR ('scale' is double (double, i8): it takes 2 arguments, but arg_count is 1)\n\
         unknown: HJ_ERROR (unknown symbol 'nothing')\n\
         last error after a success: none\n\
         wrong type: 'checked' is i32 (i32), but was looked up as i32 (i64)\n\
         direct: 1002, hj_trap returned -1\n\
         host: still here\n",
        "stderr: {stderr}"
    );
    assert_eq!(output.status.code(), Some(3), "stderr: {stderr}");
}

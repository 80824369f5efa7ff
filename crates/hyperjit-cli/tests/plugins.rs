//! `hyperjit run --plugin`: the proposal's scenario, a runner whose
//! callbacks come from a shared library, with plugins written in C and in
//! Rust, and every way loading one can fail.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use support::*;

/// What the guest and a plugin print, the plugin's line first.
fn expected_run(plugin_line: &str) -> String {
    format!(
        "{plugin_line}\nguest: Callback1(10, 20) returned 30\nguest: Callback2(3, 4) returned 304\n"
    )
}

fn guest() -> PathBuf {
    repo_root().join("examples/c_host/test.c")
}

/// Builds a C plugin from `source` with the documented command.
fn c_plugin(source: &Path, out: &Path) -> PathBuf {
    must(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-Wall", "-Werror"])
            .arg(format!("-I{}", repo_root().join("include").display()))
            .arg(source)
            .arg("-o")
            .arg(out),
    );
    out.to_path_buf()
}

/// The example C plugin, built once.
fn example_c_plugin() -> &'static Path {
    static PLUGIN: OnceLock<PathBuf> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libcallbacks.so");
        c_plugin(&repo_root().join("examples/plugin/callbacks.c"), &out)
    })
}

/// The example Rust plugin, built once by cargo (`cargo test` builds no
/// cdylib), in a target directory of its own.
fn example_rust_plugin() -> &'static Path {
    static PLUGIN: OnceLock<PathBuf> = OnceLock::new();
    PLUGIN.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-build");
        must(
            Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "hyperjit-example-plugin",
                    "--target-dir",
                ])
                .arg(&target)
                .current_dir(repo_root()),
        );
        target.join("debug/librust_callbacks.so")
    })
}

#[test]
fn a_c_plugins_callbacks_are_called_typed_and_through_perform_custom_callback_in_every_mode() {
    let plugin = example_c_plugin();
    for mode in MODES {
        let outcome = run(hyperjit_run(mode).arg("--plugin").arg(plugin).arg(guest()));
        assert_eq!(outcome.status, Some(0), "{mode:?}: {}", outcome.stderr);
        assert_eq!(
            outcome.stdout_text(),
            expected_run("plugin: Callback1(10, 20), call 1"),
            "{mode:?}"
        );
    }
}

#[test]
fn a_rust_plugins_callbacks_are_called_typed_and_through_perform_custom_callback() {
    let plugin = example_rust_plugin();
    for mode in [&[][..], &["--eager"], &["--lazy"]] {
        let outcome = run(hyperjit_run(mode).arg("--plugin").arg(plugin).arg(guest()));
        assert_eq!(outcome.status, Some(0), "{mode:?}: {}", outcome.stderr);
        assert_eq!(
            outcome.stdout_text(),
            expected_run("rust plugin: Callback1(10, 20), call 1"),
            "{mode:?}"
        );
    }
}

#[test]
fn callbacks_of_several_plugins_are_all_registered() {
    let dir = tempfile::tempdir().unwrap();
    let only_callback2 = write(
        dir.path(),
        "callback2.c",
        "#include <hyperjit_host.h>\n\
         static int Callback2(int a, int b) { return a * 100 + b; }\n\
         int hyperjit_plugin_init(hj_engine *e) {\n\
           const hj_type p[] = {HJ_I32, HJ_I32};\n\
           return hj_define_function(e, \"Callback2\", (void *)Callback2, HJ_I32, p, 2);\n\
         }\n",
    );
    let only_callback1 = write(
        dir.path(),
        "callback1.c",
        "#include <hyperjit_host.h>\n#include <stdio.h>\n\
         static intptr_t Callback1(void *args, void *data) {\n\
           (void)data; const int *a = args; printf(\"second plugin\\n\"); return a[0] + a[1];\n\
         }\n\
         int hyperjit_plugin_init(hj_engine *e) {\n\
           return hj_register_callback(e, \"Callback1\", Callback1, 0);\n\
         }\n",
    );
    let first = c_plugin(&only_callback2, &dir.path().join("libfirst.so"));
    let second = c_plugin(&only_callback1, &dir.path().join("libsecond.so"));
    let outcome = run(hyperjit()
        .args(["run", "--plugin"])
        .arg(&first)
        .arg("--plugin")
        .arg(&second)
        .arg(guest()));
    assert_eq!(outcome.status, Some(0), "{}", outcome.stderr);
    assert_eq!(outcome.stdout_text(), expected_run("second plugin"));
}

/// A C++ plugin defines `hyperjit_plugin_init` as the header declares it:
/// with C linkage (it was declared outside `extern "C"`, so the definition
/// got a mangled name the loader could not find), and the header may be
/// included twice (the declaration was outside the include guard).
#[test]
fn a_cpp_plugin_built_against_the_header_loads() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "plugin.cc",
        "#include <hyperjit_host.h>\n#include <hyperjit_host.h>\n#include <cstdio>\n\
         static intptr_t Callback1(void *args, void *) {\n\
           const int *a = static_cast<const int *>(args);\n\
           std::printf(\"C++ plugin\\n\"); return a[0] + a[1];\n\
         }\n\
         static int Callback2(int a, int b) { return a * 100 + b; }\n\
         int hyperjit_plugin_init(hj_engine *e) {\n\
           const hj_type p[] = {HJ_I32, HJ_I32};\n\
           if (hj_register_callback(e, \"Callback1\", Callback1, nullptr) != 0) return 1;\n\
           return hj_define_function(e, \"Callback2\", reinterpret_cast<void *>(Callback2),\n\
                                     HJ_I32, p, 2);\n\
         }\n",
    );
    let plugin = dir.path().join("libcpp_plugin.so");
    must(
        Command::new(llvm_tool("clang++"))
            .args(["-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"])
            .arg(format!("-I{}", repo_root().join("include").display()))
            .arg(&source)
            .arg("-o")
            .arg(&plugin),
    );
    let outcome = run(hyperjit()
        .args(["run", "--plugin"])
        .arg(&plugin)
        .arg(guest()));
    assert_eq!(outcome.stderr, "");
    assert_eq!(outcome.status, Some(0));
    assert_eq!(outcome.stdout_text(), expected_run("C++ plugin"));
}

/// Runs `hyperjit run --plugin PLUGIN guest` and returns its stderr,
/// checking that it failed as hyperjit's own error.
fn plugin_failure(plugin: &Path) -> String {
    let outcome = run(hyperjit()
        .args(["run", "--plugin"])
        .arg(plugin)
        .arg(guest()));
    assert_eq!(outcome.status, Some(125), "{}", outcome.stderr);
    assert!(outcome.stdout.is_empty(), "the guest must not run");
    outcome.stderr
}

#[test]
fn a_missing_plugin_is_an_error_naming_it() {
    let stderr = plugin_failure(Path::new("/nonexistent/libnothing.so"));
    assert!(
        stderr.starts_with("hyperjit: error: plugin /nonexistent/libnothing.so: cannot load it: ")
            && stderr.contains("No such file"),
        "{stderr}"
    );
}

#[test]
fn a_library_that_is_not_a_plugin_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(dir.path(), "empty.c", "int not_a_plugin = 1;\n");
    let plugin = c_plugin(&source, &dir.path().join("libempty.so"));
    let stderr = plugin_failure(&plugin);
    assert_eq!(
        stderr,
        format!(
            "hyperjit: error: plugin {}: it does not export `int hyperjit_plugin_init(hj_engine *)`\n",
            plugin.display()
        )
    );
    // Not a shared library at all.
    let text = write(dir.path(), "libtext.so", "not an ELF file\n");
    let stderr = plugin_failure(&text);
    assert!(
        stderr.starts_with(&format!(
            "hyperjit: error: plugin {}: cannot load it: ",
            text.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_plugin_that_refuses_is_an_error_with_its_status_and_the_engines_reason() {
    let dir = tempfile::tempdir().unwrap();
    let source = write(
        dir.path(),
        "refuses.c",
        "#include <hyperjit_host.h>\n\
         static int f(void) { return 0; }\n\
         int hyperjit_plugin_init(hj_engine *e) {\n\
           if (hj_define_function(e, \"not a name\", (void *)f, HJ_I32, 0, 0) != 0) return 3;\n\
           return 0;\n\
         }\n",
    );
    let plugin = c_plugin(&source, &dir.path().join("librefuses.so"));
    let stderr = plugin_failure(&plugin);
    assert!(
        stderr.starts_with(&format!(
            "hyperjit: error: plugin {}: hyperjit_plugin_init returned 3 (the engine's last error: ",
        plugin.display()
        )) && stderr.contains("invalid name \"not a name\""),
        "{stderr}"
    );
    // The same plugin twice: the second registration finds the name taken.
    let example = example_c_plugin();
    let outcome = run(hyperjit()
        .args(["run", "--plugin"])
        .arg(example)
        .arg("--plugin")
        .arg(example)
        .arg(guest()));
    assert_eq!(outcome.status, Some(125));
    assert!(
        outcome.stderr.contains("hyperjit_plugin_init returned 1")
            && outcome.stderr.contains("Callback1"),
        "{}",
        outcome.stderr
    );
}

/// `make demo`: the demo program calls its plugin's callbacks, typed and
/// multiplexed, and otherwise prints what its native build prints.
#[test]
fn the_demo_calls_its_plugins_callbacks() {
    let plugin = c_plugin(
        &repo_root().join("examples/plugin/demo_plugin.c"),
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("libdemo_plugin.so"),
    );
    let outcome = run(hyperjit()
        .args(["run", "--plugin"])
        .arg(&plugin)
        .arg(repo_root().join("examples/demo.c"))
        .args(["--", "10000"]));
    assert_eq!(outcome.status, Some(0), "{}", outcome.stderr);
    let text = outcome.stdout_text();
    let total = "total work 859666";
    assert!(
        text.ends_with(&format!("[atexit] {total}, goodbye\n")),
        "{text}"
    );
    for line in [
        "[plugin] host callback report_best: the chain from 6171 takes 262 steps\n",
        "[plugin] host callback Tally: 859666 steps\n[main] the host tallied 859666 steps\n",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

/// The proposal's own example: its C++ guest `test.cc` calls `Callback1`,
/// which the runner got from a plugin.
#[test]
fn the_proposals_cpp_test_runs_with_the_callback_from_a_plugin() {
    let plugin = example_c_plugin();
    for mode in [&[][..], &["--eager"]] {
        let outcome = run(hyperjit_run(mode)
            .arg("--plugin")
            .arg(plugin)
            .arg(repo_root().join("examples/plugin/test.cc")));
        assert_eq!(outcome.status, Some(0), "{mode:?}: {}", outcome.stderr);
        assert_eq!(
            outcome.stdout_text(),
            "plugin: Callback1(10, 20), call 1\n\
             test.cc: PerformCustomCallback(\"Callback1\", &Arg) returned 30\n",
            "{mode:?}"
        );
    }
}

//! Hypercalls into the engine from the guest: hj_lookup, hj_load,
//! hj_last_error (include/hyperjit.h), and the same services on the host.

mod support;

use support::*;

use hyperjit::{Caller, Error, Trap};

/// The guest finds a function by name among 10,000 generated ones.
#[test]
fn the_guest_looks_up_functions_by_name_in_a_large_module() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = String::new();
    for i in 0..10_000 {
        big.push_str(&format!(
            "define i64 @generated_{i}(i64 %x) {{\n  %r = add i64 %x, {i}\n  ret i64 %r\n}}\n"
        ));
    }
    let big_path = write(dir.path(), "big.ll", &big);
    let guest = write(
        dir.path(),
        "finder.c",
        r#"#include <hyperjit.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    long (*f)(long) = (long (*)(long))hj_lookup("generated_7777");
    if (!f) return 1;
    if (f(1) != 7778) return 2;
    if (hj_lookup("generated_10000") != NULL) return 3;
    if (!strstr(hj_last_error(), "unknown symbol 'generated_10000'")) return 4;
    if (hj_lookup(NULL) != NULL || !strstr(hj_last_error(), "NULL")) return 5;
    int *counter = (int *)hj_lookup("counter");
    if (!counter || *counter != 41) return 6;
    return 0;
}
int counter = 41;
"#,
    );
    let engine = engine();
    engine.add_file(&big_path).unwrap();
    engine.add_file(&guest).unwrap();
    assert_eq!(engine.run_main(&["finder"]).unwrap(), 0);
}

/// The guest loads a module while running; its constructor runs at load,
/// its functions are found with hj_lookup, and it may call callbacks.
#[test]
fn the_guest_loads_a_module_that_calls_callbacks() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = write(
        dir.path(),
        "plugin.c",
        r#"int host_scale(int);
int plugin_ready;
__attribute__((constructor)) static void init(void) { plugin_ready = 1; }
int plugin_work(int x) { return plugin_ready ? host_scale(x) + 1 : -1; }
"#,
    );
    let missing = dir.path().join("missing.c");
    let broken = write(dir.path(), "broken.ll", "define i32 @f( {\n");
    let guest = write(
        dir.path(),
        "loader.c",
        format!(
            r#"#include <hyperjit.h>
#include <string.h>
int main(void) {{
    if (hj_load("{missing}") != -1) return 1;
    if (!strstr(hj_last_error(), "missing.c")) return 2;
    if (hj_load("{broken}") != -1) return 3;
    if (!strstr(hj_last_error(), "broken.ll:")) return 4;
    if (hj_load("{plugin}") != 0) return 5;
    int (*work)(int) = (int (*)(int))hj_lookup("plugin_work");
    if (!work) return 6;
    return work(20);
}}
"#,
            missing = missing.display(),
            broken = broken.display(),
            plugin = plugin.display()
        ),
    );
    let engine = engine();
    engine.define("host_scale", |x: i32| x * 2).unwrap();
    engine.add_file(&guest).unwrap();
    assert_eq!(engine.run_main(&["loader"]).unwrap(), 41);
}

/// A callback loads a module through its Caller and calls into it.
#[test]
fn a_callback_loads_and_calls_a_module() {
    let dir = tempfile::tempdir().unwrap();
    let module = write(
        dir.path(),
        "extra.ll",
        "define i32 @extra(i32 %x) {\n  %r = mul i32 %x, 3\n  ret i32 %r\n}\n",
    );
    let engine = engine();
    let path = module.clone();
    engine
        .define(
            "load_and_call",
            move |caller: &Caller<'_>, x: i32| -> Result<i32, Trap> {
                caller.load(&path).map_err(|e| Trap::new(e.to_string()))?;
                let extra = caller
                    .lookup_fn::<extern "C" fn(i32) -> i32>("extra")
                    .map_err(|e| Trap::new(e.to_string()))?;
                extra.call(x).map_err(|e| Trap::new(e.to_string()))
            },
        )
        .unwrap();
    engine
        .add_ir(
            "main.ll",
            "declare i32 @load_and_call(i32)\ndefine i32 @main() {\n  %r = call i32 @load_and_call(i32 14)\n  ret i32 %r\n}\n",
        )
        .unwrap();
    assert_eq!(engine.run_main(&["main"]).unwrap(), 42);
    // Loading the same module again is a duplicate definition.
    let error = engine.load(&module).unwrap_err();
    assert!(matches!(error, Error::AlreadyDefined { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("'extra' is already defined by the program (again in "),
        "{error}"
    );
}

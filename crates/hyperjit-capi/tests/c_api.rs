//! The C API's contract on bad input: every failure is a return value
//! with a message naming what it is about, and the engine stays usable.
//! These call the exported functions as C does.

use hyperjit_capi::*;
use std::ffi::{c_int, c_void, CStr, CString};
use std::ptr::{null, null_mut};

fn c(text: &str) -> CString {
    CString::new(text).unwrap()
}

/// The engine's last error on this thread.
fn last_error(engine: *const hj_engine) -> String {
    // SAFETY: a live engine or NULL; the message is copied at once.
    let message = unsafe { hj_engine_last_error(engine) };
    assert!(!message.is_null(), "a failed call leaves a message");
    // SAFETY: non-NULL: a C string the engine owns until its next failure.
    unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned()
}

struct Engine(*mut hj_engine);

impl Engine {
    fn new() -> Engine {
        Engine(hj_engine_new())
    }

    fn add_ir(&self, name: &str, ir: &str) -> c_int {
        // SAFETY: a live engine and C strings.
        unsafe { hj_engine_add_ir(self.0, c(name).as_ptr(), c(ir).as_ptr()) }
    }

    fn run(&self) -> Result<c_int, String> {
        let name = c("prog");
        let argv = [name.as_ptr()];
        let mut status = -1;
        // SAFETY: a live engine, one argument, a writable status.
        match unsafe { hj_engine_run_main(self.0, 1, argv.as_ptr(), &mut status) } {
            0 => Ok(status),
            _ => Err(last_error(self.0)),
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: from hj_engine_new, freed once.
        unsafe { hj_engine_free(self.0) };
    }
}

const CALLS_SUM: &str = r#"
@name = private constant [4 x i8] c"Sum\00"
declare i64 @PerformCustomCallback(ptr, ptr)
define i32 @main() {
  %args = alloca [2 x i32]
  store i32 40, ptr %args
  %second = getelementptr i32, ptr %args, i64 1
  store i32 2, ptr %second
  %r = call i64 @PerformCustomCallback(ptr @name, ptr %args)
  %t = trunc i64 %r to i32
  ret i32 %t
}
"#;

unsafe extern "C" fn sum(args: *mut c_void, user_data: *mut c_void) -> isize {
    // SAFETY: the guest passes two ints; the test passes a counter.
    unsafe {
        *(user_data as *mut u32) += 1;
        let args = args as *const i32;
        (*args + *args.add(1)) as isize
    }
}

impl Engine {
    /// Registers `sum` as callback "Sum", counting its calls in `*calls`,
    /// which must outlive the engine's runs.
    fn register_sum(&self, calls: *mut u32) -> c_int {
        // SAFETY: a live engine, a C string, a callback and its counter.
        unsafe { hj_register_callback(self.0, c"Sum".as_ptr(), Some(sum), calls.cast()) }
    }
}

unsafe extern "C" fn refuse(_args: *mut c_void, _user_data: *mut c_void) -> isize {
    // SAFETY: a C string.
    assert_eq!(unsafe { hj_trap(c"not today".as_ptr()) }, 0);
    7
}

#[test]
fn a_registered_callback_gets_the_guests_args_and_the_hosts_user_data() {
    let engine = Engine::new();
    let mut calls = 0u32;
    assert_eq!(engine.register_sum(&raw mut calls), 0);
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), 0);
    assert_eq!(engine.run(), Ok(42));
    assert_eq!(calls, 1);
}

#[test]
fn hj_trap_stops_the_guest_and_names_the_callback() {
    let engine = Engine::new();
    // SAFETY: a live engine, a C string, a callback without user data.
    let registered =
        unsafe { hj_register_callback(engine.0, c"Sum".as_ptr(), Some(refuse), null_mut()) };
    assert_eq!(registered, 0);
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), 0);
    assert_eq!(
        engine.run(),
        Err("trap in callback 'Sum': not today".to_string())
    );
    // Outside a callback, hj_trap does nothing.
    // SAFETY: a C string.
    assert_eq!(unsafe { hj_trap(c"late".as_ptr()) }, -1);
}

#[test]
fn null_arguments_fail_with_a_message_naming_them() {
    // A NULL engine: the message is the thread's, read with a NULL engine.
    // SAFETY: NULL engines are allowed.
    assert_eq!(
        unsafe { hj_engine_add_file(null_mut(), c"x.c".as_ptr()) },
        -1
    );
    assert_eq!(last_error(null()), "hj_engine_add_file: the engine is NULL");
    let engine = Engine::new();
    // SAFETY: a live engine; the NULL pointers are the point.
    unsafe {
        assert_eq!(hj_engine_add_file(engine.0, null()), -1);
        assert_eq!(last_error(engine.0), "the input's path is NULL");
        assert_eq!(
            hj_register_callback(engine.0, c"Sum".as_ptr(), None, null_mut()),
            -1
        );
        assert_eq!(last_error(engine.0), "callback 'Sum' is NULL");
        assert_eq!(
            hj_define_symbol(engine.0, c"table".as_ptr(), null_mut()),
            -1
        );
        assert_eq!(last_error(engine.0), "'table': the address is NULL");
        assert!(hj_engine_lookup(engine.0, null()).is_null());
        assert_eq!(last_error(engine.0), "the symbol's name is NULL");
        assert_eq!(hj_engine_run_main(engine.0, 2, null(), null_mut()), -1);
        assert_eq!(last_error(engine.0), "argv is NULL but argc is 2");
        hj_string_free(null_mut());
        hj_engine_free(null_mut());
    }
}

#[test]
fn bad_settings_and_late_settings_are_refused() {
    let engine = Engine::new();
    // SAFETY: a live engine.
    unsafe {
        assert_eq!(hj_engine_set_opt_level(engine.0, 7), -1);
        assert_eq!(last_error(engine.0), "opt level 7 is out of range 0..=3");
        assert_eq!(hj_engine_set_opt_level(engine.0, 1), 0);
    }
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), 0);
    // SAFETY: a live engine.
    unsafe {
        assert_eq!(hj_engine_set_lazy(engine.0, 1), -1);
        assert!(
            last_error(engine.0).starts_with("settings are made before the engine is first used"),
            "{}",
            last_error(engine.0)
        );
    }
}

#[test]
fn a_cache_that_cannot_be_used_fails_at_first_use_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let engine = Engine::new();
    let path = c(file.to_str().unwrap());
    // SAFETY: a live engine and a C string.
    assert_eq!(unsafe { hj_engine_set_cache(engine.0, path.as_ptr()) }, 0);
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), -1);
    assert_eq!(
        last_error(engine.0),
        format!("invalid setting: cache {}: not a directory", file.display())
    );
    // The settings stay; turning the cache off makes the engine usable.
    // SAFETY: a live engine; NULL turns the cache off.
    assert_eq!(unsafe { hj_engine_set_cache(engine.0, null()) }, 0);
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), 0);
}

#[test]
fn errors_name_the_file_symbol_or_callback_and_the_engine_stays_usable() {
    let engine = Engine::new();
    // SAFETY: a live engine and C strings.
    unsafe {
        assert_eq!(
            hj_engine_add_file(engine.0, c"/nonexistent/prog.c".as_ptr()),
            -1
        );
    }
    assert!(
        last_error(engine.0).starts_with("/nonexistent/prog.c: "),
        "{}",
        last_error(engine.0)
    );
    assert_eq!(engine.add_ir("broken.ll", "define i32 @main( {"), -1);
    assert!(
        last_error(engine.0).starts_with("broken.ll:1:"),
        "{}",
        last_error(engine.0)
    );
    // No callback 'Sum' is registered: the run's link fails, naming it.
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), 0);
    let error = engine.run().unwrap_err();
    assert!(error.contains("Sum"), "{error}");
    // Registering it makes the same engine run the program.
    let mut calls = 0u32;
    assert_eq!(engine.register_sum(&raw mut calls), 0);
    assert_eq!(engine.run(), Ok(42));
}

extern "C" fn twice(x: i32) -> i32 {
    2 * x
}

impl Engine {
    /// Defines `twice` as taking one parameter of type `param`.
    fn define_twice(&self, param: hj_type) -> c_int {
        // SAFETY: a live engine and a C string; the guest's declaration
        // decides whether `param` is the truth, which the engine checks.
        unsafe {
            hj_define_function(
                self.0,
                c"twice".as_ptr(),
                twice as *mut c_void,
                HJ_I32,
                [param].as_ptr(),
                1,
            )
        }
    }
}

#[test]
fn typed_functions_are_checked_against_the_guests_declaration() {
    let ir = "declare i32 @twice(i32)\ndefine i32 @main() {\n  %r = call i32 @twice(i32 21)\n  ret i32 %r\n}\n";
    let engine = Engine::new();
    assert_eq!(engine.define_twice(HJ_I32), 0);
    assert_eq!(engine.add_ir("twice.ll", ir), 0);
    assert_eq!(engine.run(), Ok(42));

    // Declared with another type: the input is refused, saying which.
    let engine = Engine::new();
    assert_eq!(engine.define_twice(HJ_I64), 0);
    assert_eq!(engine.add_ir("twice.ll", ir), -1);
    let error = last_error(engine.0);
    assert!(
        error.contains("twice") && error.contains("twice.ll"),
        "{error}"
    );

    // A type code that is none of HJ_*.
    let engine = Engine::new();
    assert_eq!(engine.define_twice(42), -1);
    assert_eq!(
        last_error(engine.0),
        "'twice': parameter 0 has type code 42, which is not one of HJ_BOOL..HJ_PTR"
    );
}

#[test]
fn lookups_recompiles_and_stats_work_on_the_linked_program() {
    let engine = Engine::new();
    let mut calls = 0u32;
    assert_eq!(engine.register_sum(&raw mut calls), 0);
    assert_eq!(engine.add_ir("sum.ll", CALLS_SUM), 0);
    // SAFETY: a live engine and C strings; `main` has type int(void).
    unsafe {
        let main = hj_engine_lookup(engine.0, c"main".as_ptr());
        assert!(!main.is_null());
        let main: extern "C" fn() -> c_int = std::mem::transmute(main);
        assert_eq!(main(), 42);
        assert_eq!(hj_engine_recompile(engine.0, c"main".as_ptr(), 0), 0);
        assert_eq!(hj_engine_recompile(engine.0, c"nothing".as_ptr(), 0), -1);
        assert!(
            last_error(engine.0).contains("'nothing'"),
            "{}",
            last_error(engine.0)
        );
        assert!(hj_engine_lookup(engine.0, c"nothing".as_ptr()).is_null());
        let stats = hj_engine_stats(engine.0);
        assert!(!stats.is_null());
        let text = CStr::from_ptr(stats).to_string_lossy().into_owned();
        hj_string_free(stats);
        assert!(text.contains("codegen+link"), "{text}");
    }
    assert_eq!(engine.run(), Ok(42));
    assert_eq!(calls, 2);
}

/// The Rust plugin adapter (which cannot depend on this crate) names the
/// same type codes as the header.
#[test]
fn the_rust_plugin_adapter_uses_the_headers_type_codes() {
    use hyperjit_plugin::CType;
    assert_eq!(<() as CType>::CODE, HJ_VOID);
    assert_eq!(<bool as CType>::CODE, HJ_BOOL);
    assert_eq!(<i8 as CType>::CODE, HJ_I8);
    assert_eq!(<u16 as CType>::CODE, HJ_I16);
    assert_eq!(<i32 as CType>::CODE, HJ_I32);
    assert_eq!(<usize as CType>::CODE, HJ_I64);
    assert_eq!(<f32 as CType>::CODE, HJ_F32);
    assert_eq!(<f64 as CType>::CODE, HJ_F64);
    assert_eq!(<*const u8 as CType>::CODE, HJ_PTR);
}

const NESTED: &str = r#"
@outer = private constant [6 x i8] c"Outer\00"
@inner = private constant [6 x i8] c"Inner\00"
declare i64 @PerformCustomCallback(ptr, ptr)
define i64 @inner_entry() {
  %r = call i64 @PerformCustomCallback(ptr @inner, ptr null)
  ret i64 %r
}
define i32 @main() {
  %r = call i64 @PerformCustomCallback(ptr @outer, ptr null)
  %t = trunc i64 %r to i32
  ret i32 %t
}
"#;

unsafe extern "C" fn inner(_args: *mut c_void, _user_data: *mut c_void) -> isize {
    5
}

/// Calls back into the guest (whose callback returns normally), then traps.
unsafe extern "C" fn outer(_args: *mut c_void, engine: *mut c_void) -> isize {
    // SAFETY: the test passes its live engine; inner_entry is `i64 ()`.
    let inner_entry: extern "C" fn() -> i64 = unsafe {
        let address = hj_engine_lookup(engine.cast(), c"inner_entry".as_ptr());
        assert!(!address.is_null());
        std::mem::transmute(address)
    };
    assert_eq!(inner_entry(), 5);
    // Still inside this callback after the nested one returned.
    // SAFETY: a C string.
    assert_eq!(unsafe { hj_trap(c"after the nested call".as_ptr()) }, 0);
    1
}

#[test]
fn hj_trap_after_a_nested_callback_still_stops_the_guest() {
    let engine = Engine::new();
    // SAFETY: a live engine, C strings, callbacks; `outer` gets the engine.
    unsafe {
        assert_eq!(
            hj_register_callback(engine.0, c"Inner".as_ptr(), Some(inner), null_mut()),
            0
        );
        assert_eq!(
            hj_register_callback(engine.0, c"Outer".as_ptr(), Some(outer), engine.0.cast()),
            0
        );
    }
    assert_eq!(engine.add_ir("nested.ll", NESTED), 0);
    assert_eq!(
        engine.run(),
        Err("trap in callback 'Outer': after the nested call".to_string())
    );
    // SAFETY: a C string.
    assert_eq!(unsafe { hj_trap(c"late".as_ptr()) }, -1);
}

/// `CALLS_SUM` with a name known only at run time: the call finds "Sum" by
/// name, through the engine.
fn calls_sum_by_runtime_name() -> String {
    let ir = CALLS_SUM
        .replace("declare i64", "@which = global ptr @name\ndeclare i64")
        .replace(
            "call i64 @PerformCustomCallback(ptr @name,",
            "call i64 @PerformCustomCallback(ptr %n,",
        )
        .replace(
            "  %r = call",
            "  %n = load volatile ptr, ptr @which\n  %r = call",
        );
    assert!(ir.contains("(ptr %n,") && ir.contains("@which = global"));
    ir
}

/// hj_trap stops the guest whichever way the callback was reached: a
/// constant name (a direct call), a run-time name, and with calls counted
/// (both through the engine's trampoline).
#[test]
fn hj_trap_stops_the_guest_on_every_path_to_the_callback() {
    let by_runtime_name = calls_sum_by_runtime_name();
    for (ir, count_calls) in [
        (CALLS_SUM, false),
        (by_runtime_name.as_str(), false),
        (CALLS_SUM, true),
        (by_runtime_name.as_str(), true),
    ] {
        let engine = Engine::new();
        // SAFETY: a live engine, a C string, a callback without user data.
        unsafe {
            assert_eq!(
                hj_engine_set_count_callback_calls(engine.0, count_calls.into()),
                0
            );
            assert_eq!(
                hj_register_callback(engine.0, c"Sum".as_ptr(), Some(refuse), null_mut()),
                0
            );
        }
        assert_eq!(engine.add_ir("sum.ll", ir), 0);
        assert_eq!(
            engine.run(),
            Err("trap in callback 'Sum': not today".to_string()),
            "counting calls: {count_calls}"
        );
        // The request was used up: this thread's next callback returns.
        let next = Engine::new();
        let mut calls = 0u32;
        assert_eq!(next.register_sum(&raw mut calls), 0);
        assert_eq!(next.add_ir("sum.ll", ir), 0);
        assert_eq!(next.run(), Ok(42));
        assert_eq!(calls, 1);
    }
}

/// An input that defines what a pending one defines is refused when added;
/// inputs that lack a symbol stay pending, failing every run with the same
/// error, until the host discards them.
#[test]
fn pending_inputs_can_be_discarded() {
    let engine = Engine::new();
    let main = |value: i32| format!("define i32 @main() {{\n  ret i32 {value}\n}}\n");
    assert_eq!(engine.add_ir("a.ll", &main(1)), 0);
    assert_eq!(engine.add_ir("b.ll", &main(2)), -1);
    assert_eq!(
        last_error(engine.0),
        "b.ll: link error: 'main' is defined in a.ll and again here"
    );
    let uses =
        "declare i32 @absent()\ndefine i32 @user() {\n  %r = call i32 @absent()\n  ret i32 %r\n}\n";
    assert_eq!(engine.add_ir("user.ll", uses), 0);
    for _ in 0..2 {
        assert_eq!(
            engine.run(),
            Err("unresolved external symbols:\n  'absent' (referenced by user.ll)".to_string())
        );
    }
    // SAFETY: a live engine.
    assert_eq!(unsafe { hj_engine_discard_pending(engine.0) }, 2);
    assert_eq!(engine.add_ir("c.ll", &main(3)), 0);
    assert_eq!(engine.run(), Ok(3));
    // SAFETY: NULL engines are allowed.
    assert_eq!(unsafe { hj_engine_discard_pending(null_mut()) }, -1);
}

/// The sandbox through the C API: a symbol the list lacks is refused,
/// listed with its user; a listed one links.
#[test]
fn the_sandbox_refuses_what_its_list_lacks() {
    let uses_abs = "declare i64 @labs(i64)\ndefine i32 @main() {\n  %r = call i64 @labs(i64 -6)\n\
                    \x20 %t = trunc i64 %r to i32\n  ret i32 %t\n}\n";
    let refused = Engine::new();
    // SAFETY: a live engine, an empty list.
    assert_eq!(unsafe { hj_engine_set_sandbox(refused.0, null(), 0) }, 0);
    assert_eq!(refused.add_ir("abs.ll", uses_abs), 0);
    assert_eq!(
        refused.run(),
        Err(
            "symbols the symbol policy does not allow:\n  'labs' (referenced by abs.ll)"
                .to_string()
        )
    );
    let allowed = Engine::new();
    let names = [c"labs".as_ptr()];
    // SAFETY: a live engine, one C string.
    assert_eq!(
        unsafe { hj_engine_set_sandbox(allowed.0, names.as_ptr(), 1) },
        0
    );
    assert_eq!(allowed.add_ir("abs.ll", uses_abs), 0);
    assert_eq!(allowed.run(), Ok(6));
    let fresh = Engine::new();
    // SAFETY: a live engine; NULL with a count is the point.
    assert_eq!(unsafe { hj_engine_set_sandbox(fresh.0, null(), 2) }, -1);
    assert_eq!(last_error(fresh.0), "names is NULL but count is 2");
}

/// `ir` (IR text) as bitcode, by llvm-as-19.
fn bitcode_of(ir: &str) -> Vec<u8> {
    let mut child = std::process::Command::new("llvm-as-19")
        .args(["-", "-o", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ir.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// A C host adds, loads and swaps code held in memory, text or bitcode.
#[test]
fn code_in_memory_is_added_loaded_and_swapped_without_files() {
    let engine = Engine::new();
    let square =
        bitcode_of("define i32 @square(i32 %x) {\n  %y = mul i32 %x, %x\n  ret i32 %y\n}\n");
    let name = c("square.bc");
    // SAFETY: a live engine, a C string and the bitcode's bytes.
    let added = unsafe {
        hj_engine_add_ir_bytes(
            engine.0,
            name.as_ptr(),
            square.as_ptr().cast(),
            square.len(),
        )
    };
    assert_eq!(added, 0);
    let function = c("square");
    // SAFETY: a live engine and a C string.
    let address = unsafe { hj_engine_lookup(engine.0, function.as_ptr()) };
    assert!(!address.is_null());
    // SAFETY: `square` is `i32 (i32)`, alive with the engine.
    let call = unsafe { std::mem::transmute::<*mut c_void, extern "C" fn(i32) -> i32>(address) };
    assert_eq!(call(5), 25);
    let plus = "define i32 @square(i32 %x) {\n  %y = add i32 %x, 1\n  ret i32 %y\n}\n";
    let plus_name = c("plus.ll");
    // SAFETY: as above; the text's bytes.
    let swapped = unsafe {
        hj_engine_redefine_ir(
            engine.0,
            function.as_ptr(),
            plus_name.as_ptr(),
            plus.as_ptr().cast(),
            plus.len(),
        )
    };
    assert_eq!(swapped, 0);
    assert_eq!(call(5), 6);
    let extra = bitcode_of("define i32 @extra() {\n  ret i32 9\n}\n");
    let extra_name = c("extra.bc");
    // SAFETY: as above.
    let loaded = unsafe {
        hj_engine_load_ir(
            engine.0,
            extra_name.as_ptr(),
            extra.as_ptr().cast(),
            extra.len(),
        )
    };
    assert_eq!(loaded, 0);
    let broken = c("broken.ll");
    // SAFETY: as above; NULL bytes with a length are refused.
    let refused = unsafe { hj_engine_load_ir(engine.0, broken.as_ptr(), null(), 4) };
    assert_eq!(refused, -1);
    assert_eq!(last_error(engine.0), "the IR is NULL");
    let text = "define i32 @square(";
    // SAFETY: as above.
    let refused = unsafe {
        hj_engine_redefine_ir(
            engine.0,
            function.as_ptr(),
            broken.as_ptr(),
            text.as_ptr().cast(),
            text.len(),
        )
    };
    assert_eq!(refused, -1);
    assert!(
        last_error(engine.0).starts_with("broken.ll:1:"),
        "{}",
        last_error(engine.0)
    );
    assert_eq!(call(5), 6);
}

impl Engine {
    fn redefine_ir(&self, function: &str, ir: &str) -> c_int {
        let (function, name) = (c(function), c("new.ll"));
        // SAFETY: a live engine, C strings and the text's bytes.
        unsafe {
            hj_engine_redefine_ir(
                self.0,
                function.as_ptr(),
                name.as_ptr(),
                ir.as_ptr().cast(),
                ir.len(),
            )
        }
    }

    fn committed_bytes(&self) -> usize {
        // SAFETY: a live engine.
        let stats = unsafe { hj_engine_stats(self.0) };
        // SAFETY: a C string from hj_engine_stats, freed once below.
        let text = unsafe { CStr::from_ptr(stats) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: from hj_engine_stats.
        unsafe { hj_string_free(stats) };
        let line = text
            .lines()
            .find(|line| line.starts_with("JIT'd code+data"))
            .unwrap_or_else(|| panic!("no memory line in {text}"));
        line.split_whitespace()
            .find_map(|word| word.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no figure in {line}"))
            * 1024
    }
}

/// A C host frees the bodies its swaps left behind: one function's, or
/// every function's; the current bodies keep working.
#[test]
fn the_code_of_earlier_bodies_is_reclaimed() {
    let engine = Engine::new();
    let two = "define i32 @f() {\n  ret i32 0\n}\ndefine i32 @g() {\n  ret i32 0\n}\n";
    assert_eq!(engine.add_ir("two.ll", two), 0);
    let f = c("f");
    // SAFETY: a live engine and a C string.
    let address = unsafe { hj_engine_lookup(engine.0, f.as_ptr()) };
    // SAFETY: `f` is `i32 ()`, alive with the engine.
    let call_f = unsafe { std::mem::transmute::<*mut c_void, extern "C" fn() -> i32>(address) };
    let before = engine.committed_bytes();
    for n in 1..=200 {
        let body = format!("define i32 @f() {{\n  ret i32 {n}\n}}\n");
        assert_eq!(
            engine.redefine_ir("f", &body),
            0,
            "{}",
            last_error(engine.0)
        );
        let body = format!("define i32 @g() {{\n  ret i32 {n}\n}}\n");
        assert_eq!(
            engine.redefine_ir("g", &body),
            0,
            "{}",
            last_error(engine.0)
        );
    }
    let grown = engine.committed_bytes();
    assert!(grown > before, "{before} -> {grown}");
    // The first body came with g's in two.ll, and stays.
    // SAFETY: a live engine, a C string; no earlier body of `f` runs.
    assert_eq!(
        unsafe { hj_engine_reclaim_function(engine.0, f.as_ptr()) },
        199
    );
    // SAFETY: as above.
    assert_eq!(
        unsafe { hj_engine_reclaim_function(engine.0, f.as_ptr()) },
        0
    );
    let none = c("none");
    // SAFETY: as above.
    assert_eq!(
        unsafe { hj_engine_reclaim_function(engine.0, none.as_ptr()) },
        -1
    );
    assert_eq!(last_error(engine.0), "unknown symbol 'none'");
    // SAFETY: a live engine; no earlier body runs.
    assert_eq!(unsafe { hj_engine_reclaim(engine.0) }, 199);
    let reclaimed = engine.committed_bytes();
    assert!(reclaimed < grown, "{grown} -> {reclaimed}");
    assert_eq!(call_f(), 200);
    // SAFETY: a live engine.
    assert_eq!(unsafe { hj_engine_reclaim(engine.0) }, 0);
}

/// Another entry than `main`; failures return the code of their kind,
/// and a success forgets the thread's last error.
#[test]
fn run_entry_and_status_codes() {
    let engine = Engine::new();
    let ir = "declare void @exit(i32)\ndeclare i64 @PerformCustomCallback(ptr, ptr)\n\
              @name = private constant [4 x i8] c\"Sum\\00\"\n\
              define i32 @start(i32 %argc) {\n  %r = add i32 %argc, 10\n  ret i32 %r\n}\n\
              define i32 @quit() {\n  call void @exit(i32 4)\n  ret i32 0\n}\n\
              define i32 @stop() {\n  %r = call i64 @PerformCustomCallback(ptr @name, ptr null)\n  ret i32 0\n}\n";
    // SAFETY: a live engine, a C string, a callback without user data.
    let registered =
        unsafe { hj_register_callback(engine.0, c"Sum".as_ptr(), Some(refuse), null_mut()) };
    assert_eq!(registered, 0);
    assert_eq!(engine.add_ir("entries.ll", ir), 0);
    let run = |entry: &str| {
        let (entry, name) = (c(entry), c("prog"));
        let argv = [name.as_ptr(), name.as_ptr()];
        let mut status = -1;
        // SAFETY: a live engine, two arguments, a writable status.
        let code =
            unsafe { hj_engine_run_entry(engine.0, entry.as_ptr(), 2, argv.as_ptr(), &mut status) };
        (code, status)
    };
    assert_eq!(run("start"), (HJ_OK, 12));
    // SAFETY: a live engine.
    assert!(unsafe { hj_engine_last_error(engine.0) }.is_null());
    assert_eq!(run("quit"), (HJ_OK, 4));
    assert_eq!(run("stop").0, HJ_TRAP);
    assert_eq!(last_error(engine.0), "trap in callback 'Sum': not today");
    assert_eq!(run("nothing").0, HJ_ERROR);
    assert_eq!(
        last_error(engine.0),
        "entry function 'nothing' is not defined by the program"
    );
    assert_eq!(run("start"), (HJ_OK, 12));
    // SAFETY: a live engine.
    assert!(unsafe { hj_engine_last_error(engine.0) }.is_null());
    // A NULL engine's error is the thread's, kept apart from the engine's.
    // SAFETY: NULL is allowed.
    assert_eq!(unsafe { hj_engine_reclaim(null_mut()) }, HJ_ERROR);
    assert_eq!(last_error(null()), "hj_engine_reclaim: the engine is NULL");
    // SAFETY: a live engine.
    assert!(unsafe { hj_engine_last_error(engine.0) }.is_null());
}

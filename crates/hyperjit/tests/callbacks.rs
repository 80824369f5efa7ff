//! Host callbacks: typed closures, raw symbols, the seed's multiplexed
//! callbacks, dynamic signatures, Caller, traps and threads.

mod support;

use support::*;

use hyperjit::{Caller, Engine, Error, Signature, Trap, Ty, Value};
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[test]
fn typed_closure_with_state() {
    let engine = engine();
    let scale = 100;
    engine
        .define("Callback1", move |a: i32, b: i32| -> i32 { a * scale + b })
        .unwrap();
    let _dir = add_source(
        &engine,
        "guest.c",
        "int Callback1(int, int);\nint main(void) { return Callback1(10, 20) == 1020 ? 7 : 1; }\n",
    );
    assert_eq!(engine.run_main(&["guest"]).unwrap(), 7);
}

#[test]
fn small_integers_floats_and_bools_cross_with_their_c_widening() {
    let engine = engine();
    engine
        .define(
            "mix",
            |a: i8, b: u8, c: bool, d: f32, e: i16, f: u16| -> f64 {
                f64::from(a) * 1000.0
                    + f64::from(b)
                    + if c { 0.5 } else { 0.0 }
                    + f64::from(d) * 2.0
                    + f64::from(e) * 10.0
                    + f64::from(f) * 100_000.0
            },
        )
        .unwrap();
    engine
        .define("narrow", |x: i32| -> u8 { (x & 0xff) as u8 })
        .unwrap();
    engine
        .define("negative", |x: i32| -> i8 { -(x as i8) })
        .unwrap();
    engine.define("truth", |x: i32| -> bool { x > 5 }).unwrap();
    let _dir = add_source(
        &engine,
        "guest.c",
        r#"#include <stdio.h>
#include <stdbool.h>
double mix(signed char, unsigned char, bool, float, short, unsigned short);
unsigned char narrow(int);
signed char negative(int);
bool truth(int);
char out[64];
int main(void) {
    snprintf(out, sizeof out, "%.2f %d %d %d %d", mix(-3, 200, true, 1.25f, -7, 65535),
             narrow(0x1ff), negative(100), truth(6), truth(5));
    return 0;
}
"#,
    );
    assert_eq!(engine.run_main(&["guest"]).unwrap(), 0);
    let out = engine.lookup("out").unwrap();
    // SAFETY: `out` is the guest's NUL-terminated char array.
    let text = unsafe { std::ffi::CStr::from_ptr(out.cast()) };
    assert_eq!(text.to_str().unwrap(), "6553497133.00 255 -100 1 0");
}

#[test]
fn a_mismatched_declaration_is_a_link_error_naming_both_types() {
    let engine = engine();
    engine.define("Callback1", |a: i32, b: i32| a + b).unwrap();
    // Refused when added: it could never link, and would block the rest.
    let (dir, error) = refused_source(
        &engine,
        "wrong.c",
        "long Callback1(long);\nint main(void) { return (int)Callback1(1); }\n",
    );
    match &error {
        Error::CallbackSignature {
            callback,
            expected,
            found,
            file,
        } => {
            assert_eq!(callback, "Callback1");
            assert_eq!(expected, "i32 (i32, i32)");
            assert_eq!(found, "i64 (i64)");
            assert!(file.ends_with("wrong.c"), "{file}");
        }
        other => panic!("expected a signature error, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains(&format!("{}", dir.path().join("wrong.c").display()))
            && text.contains("callback 'Callback1' is declared as i64 (i64), but the host registered it as i32 (i32, i32)"),
        "{text}"
    );
}

#[test]
fn seed_perform_custom_callback_with_a_constant_name() {
    let engine = engine();
    engine
        .register_callback("Callback1", |_caller, args| {
            // SAFETY: the guest passes `struct arg { int arg1; int arg2; }`.
            let arg = unsafe { &*(args as *const [i32; 2]) };
            Ok((arg[0] * 1000 + arg[1]) as isize)
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "seed.c",
        r#"#include <hyperjit.h>
struct arg { int arg1; int arg2; } Arg;
int main(void) {
    Arg.arg1 = 10;
    Arg.arg2 = 20;
    return PerformCustomCallback("Callback1", &Arg) == 10020 ? 3 : 1;
}
"#,
    );
    assert_eq!(engine.run_main(&["seed"]).unwrap(), 3);
}

#[test]
fn perform_custom_callback_with_a_run_time_name() {
    let engine = engine();
    for (name, value) in [("first", 1isize), ("second", 2), ("third", 3)] {
        engine
            .register_callback(name, move |caller, args| {
                assert_eq!(caller.callback(), name);
                Ok(value * 10 + args as isize)
            })
            .unwrap();
    }
    let _dir = add_source(
        &engine,
        "names.c",
        r#"#include <hyperjit.h>
#include <stdio.h>
int main(int argc, char **argv) {
    char name[16];
    long total = 0;
    const char *names[] = {"first", "second", "third"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "%s", names[i]);
        total = total * 100 + PerformCustomCallback(name, (void *)(long)i);
    }
    return total == 102132 ? 0 : 1;
}
"#,
    );
    assert_eq!(engine.run_main(&["names"]).unwrap(), 0);
}

unsafe extern "C" fn c_times_ten(args: *mut c_void, _user_data: *mut c_void) -> isize {
    args as isize * 10
}

/// A run-time name is found by its text, wherever it is and however often
/// it changes: the same buffer holds names in turn, repeated (the engine
/// keeps the last one found aside), prefixes of each other, a C
/// function's among them, and finally names no callback has.
#[test]
fn run_time_names_are_found_by_their_text() {
    let engine = engine();
    engine
        .register_callback("first", |_, args| Ok(1 + args as isize))
        .unwrap();
    engine
        .register_callback("first2", |_, args| Ok(2 + args as isize))
        .unwrap();
    // SAFETY: c_times_ten takes any args, on any thread.
    unsafe { engine.register_callback_fn("c_fn", c_times_ten, std::ptr::null_mut()) }.unwrap();
    let _dir = add_source(
        &engine,
        "names.c",
        r#"#include <hyperjit.h>
#include <string.h>
int main(int argc, char **argv) {
    char name[16];
    const char *order[] = {"first", "first", "first2", "first2", "c_fn", "c_fn", "first"};
    long total = 0;
    for (int i = 0; i < 7; i++) {
        strcpy(name, order[i]);
        total = total * 100 + PerformCustomCallback(name, (void *)(long)(i % 2));
    }
    if (argc > 1) {
        strcpy(name, argv[1]);
        PerformCustomCallback(name, 0);
    }
    return total == 1020203001001L ? 0 : 1;
}
"#,
    );
    // Two digits a call: "first" gives 1 + i%2, "first2" 2 + i%2, c_fn
    // 10 * (i%2): 01 02 02 03 00 10 01.
    assert_eq!(engine.run_main(&["names"]).unwrap(), 0);
    for unknown in ["firs", "first23", "c_f", ""] {
        let error = engine.run_main(&["names", unknown]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("trap: unknown callback '{unknown}'")
        );
    }
}

#[test]
fn an_unknown_callback_name_traps() {
    let engine = engine();
    let _dir = add_source(
        &engine,
        "unknown.c",
        r#"#include <hyperjit.h>
#include <stdio.h>
int main(void) {
    char name[] = "NoSuchCallback";
    PerformCustomCallback(name, 0);
    puts("not reached");
    return 0;
}
"#,
    );
    let error = engine.run_main(&["unknown"]).unwrap_err();
    assert_eq!(error.to_string(), "trap: unknown callback 'NoSuchCallback'");
}

#[test]
fn panics_and_errors_stop_the_guest_and_the_engine_keeps_working() {
    let engine = engine();
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    engine
        .define("checked", move |x: i32| -> Result<i32, Trap> {
            counter.fetch_add(1, Ordering::SeqCst);
            match x {
                1 => Err(Trap::new("x must not be 1")),
                2 => panic!("boom at {x}"),
                _ => Ok(x * 2),
            }
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "traps.c",
        r#"int checked(int);
int after;
int main(int argc, char **argv) {
    int r = checked(argc);
    after = 1;
    return r;
}
"#,
    );
    let error = engine.run_main(&["traps"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'checked': x must not be 1"
    );
    match &error {
        Error::Trap(trap) => {
            assert_eq!(trap.callback(), Some("checked"));
            assert_eq!(trap.message(), "x must not be 1");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let error = engine.run_main(&["traps", "x"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'checked': panicked: boom at 2"
    );
    // The engine still runs the program, and the guest never saw a return
    // from the trapping calls (it would have set `after`).
    assert_eq!(engine.run_main(&["traps", "x", "y"]).unwrap(), 6);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let after = engine.lookup("after").unwrap() as *const i32;
    // SAFETY: `after` is the guest's int, alive while the engine is.
    assert_eq!(unsafe { *after }, 1, "only the third run got past the call");
}

extern "C" fn native_add(a: i64, b: i64) -> i64 {
    a + b
}

#[test]
fn define_symbol_binds_a_raw_address() {
    let engine = engine();
    engine
        .define_symbol(
            "native_add",
            native_add as *const () as *const u8,
            Signature::new([Ty::I64, Ty::I64], Ty::I64),
        )
        .unwrap();
    let _dir = add_source(
        &engine,
        "raw.c",
        "long native_add(long, long);\nint main(void) { return (int)native_add(40, 2); }\n",
    );
    assert_eq!(engine.run_main(&["raw"]).unwrap(), 42);
    assert_eq!(
        engine.lookup("native_add").unwrap() as usize,
        native_add as *const () as usize
    );
}

#[test]
fn define_symbol_checks_the_declaration() {
    let engine = engine();
    engine
        .define_symbol(
            "native_add",
            native_add as *const () as *const u8,
            Signature::new([Ty::I64, Ty::I64], Ty::I64),
        )
        .unwrap();
    let (_dir, error) = refused_source(
        &engine,
        "raw.c",
        "int native_add(int);\nint main(void) { return native_add(1); }\n",
    );
    assert!(matches!(error, Error::CallbackSignature { .. }), "{error}");
}

/// Without a signature, a raw symbol is what the guest declares it to be:
/// a function it calls directly, or data it reads and writes in place.
#[test]
fn define_symbol_without_a_signature_trusts_the_declaration() {
    static mut SHARED: [i64; 2] = [5, 0];
    let engine = engine();
    engine
        .define_symbol("native_add", native_add as *const () as *const u8, None)
        .unwrap();
    engine
        .define_symbol("shared", std::ptr::addr_of_mut!(SHARED) as *const u8, None)
        .unwrap();
    let _dir = add_source(
        &engine,
        "raw.c",
        "long native_add(long, long);\nextern long shared[2];\n\
         int main(void) { shared[1] = native_add(shared[0], 37); return (int)shared[1]; }\n",
    );
    assert_eq!(engine.run_main(&["raw"]).unwrap(), 42);
    // SAFETY: the guest has returned; nothing else writes `SHARED`.
    assert_eq!(unsafe { SHARED[1] }, 42, "the guest wrote the host's data");
    let add = engine
        .lookup_fn::<extern "C" fn(i64, i64) -> i64>("native_add")
        .unwrap();
    assert_eq!(add.call((2, 3)).unwrap(), 5);
}

#[test]
fn dynamic_signature_callbacks() {
    let engine = engine();
    let signature = Signature::new([Ty::I32, Ty::F64, Ty::Ptr, Ty::I8, Ty::F32], Ty::F64);
    engine
        .define_dynamic("weigh", signature, |caller, args| {
            assert_eq!(caller.callback(), "weigh");
            let [Value::I32(n), Value::F64(w), Value::Ptr(text), Value::I8(small), Value::F32(f)] =
                args
            else {
                return Err(Trap::new(format!("unexpected arguments {args:?}")));
            };
            // SAFETY: the guest passes a C string.
            let text = unsafe { std::ffi::CStr::from_ptr(*text as *const std::ffi::c_char) };
            let len = text.to_bytes().len() as f64;
            Ok(Value::F64(
                f64::from(*n) * w + len + f64::from(*small) + f64::from(*f),
            ))
        })
        .unwrap();
    engine
        .define_dynamic("bad_result", Signature::new([], Ty::I32), |_, _| {
            Ok(Value::F64(1.0))
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "dyn.c",
        r#"double weigh(int, double, const char *, signed char, float);
int bad_result(void);
int main(int argc, char **argv) {
    if (argc > 1) return bad_result();
    double r = weigh(3, 1.5, "hello", -2, 0.25f);
    return r == 7.75 ? 0 : 1;
}
"#,
    );
    assert_eq!(engine.run_main(&["dyn"]).unwrap(), 0);
    let error = engine.run_main(&["dyn", "bad"]).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("trap in callback 'bad_result': returned a F64 value"),
        "{error}"
    );
}

#[test]
fn caller_looks_up_the_running_program_re_entrantly() {
    let engine = Engine::builder()
        .host_data(String::from("host state"))
        .build()
        .unwrap();
    engine
        .define(
            "probe",
            |caller: &Caller<'_>, which: i32| -> Result<i64, Trap> {
                assert_eq!(
                    caller.data::<String>().map(String::as_str),
                    Some("host state")
                );
                assert!(caller.data::<u32>().is_none());
                let name = if which == 0 {
                    "guest_counter"
                } else {
                    "guest_square"
                };
                // An engine error becomes the callback's trap with `?`.
                if which == 0 {
                    let address = caller.lookup(name)?;
                    // SAFETY: guest_counter is the guest's long.
                    Ok(unsafe { *(address as *const i64) })
                } else {
                    let square = caller.lookup_fn::<extern "C" fn(i64) -> i64>(name)?;
                    Ok(square.call(9)?)
                }
            },
        )
        .unwrap();
    engine
        .define("missing", |caller: &Caller<'_>| -> Result<i64, Trap> {
            caller.lookup("no_such_symbol")?;
            Ok(0)
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "reenter.c",
        r#"long probe(int);
long missing(void);
long guest_counter = 41;
long guest_square(long x) { return x * x; }
int main(int argc, char **argv) {
    if (argc > 1) return (int)missing();
    return probe(0) == 41 && probe(1) == 81 ? 0 : 1;
}
"#,
    );
    assert_eq!(engine.run_main(&["reenter"]).unwrap(), 0);
    let error = engine.run_main(&["reenter", "x"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'missing': unknown symbol 'no_such_symbol'"
    );
}

#[test]
fn four_threads_call_a_callback_a_million_times_each() {
    let engine = Engine::builder()
        .count_callback_calls(true)
        .build()
        .unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    engine
        .define("tick", move |n: i64| {
            counter.fetch_add(1, Ordering::Relaxed);
            n + 1
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "threads.c",
        r#"#include <pthread.h>
long tick(long);
static void *work(void *arg) {
    long sum = 0;
    for (long i = 0; i < 1000000; i++) sum += tick(i) - i;
    return (void *)sum;
}
int main(void) {
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) pthread_create(&threads[i], 0, work, 0);
    long total = 0;
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(threads[i], &r);
        total += (long)r;
    }
    return total == 4000000 ? 0 : 1;
}
"#,
    );
    assert_eq!(engine.run_main(&["threads"]).unwrap(), 0);
    assert_eq!(count.load(Ordering::Relaxed), 4_000_000);
    let stats = engine.stats();
    let tick = stats
        .callbacks
        .iter()
        .find(|c| c.name == "tick")
        .expect("tick stats");
    assert_eq!(tick.calls, 4_000_000);
    assert!(stats.to_string().contains("tick"), "{stats}");
}

#[test]
fn a_trap_on_a_guest_thread_ends_that_thread_and_the_run_reports_it() {
    let engine = engine();
    engine
        .define("fail_on_thread", |_: i32| -> Result<i32, Trap> {
            Err(Trap::new("thread trap"))
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "thread_trap.c",
        r#"#include <pthread.h>
int fail_on_thread(int);
static void *work(void *arg) { fail_on_thread(1); return (void *)1; }
int main(void) {
    pthread_t t;
    void *r = 0;
    pthread_create(&t, 0, work, 0);
    pthread_join(t, &r);
    return r == 0 ? 0 : 1;
}
"#,
    );
    let error = engine.run_main(&["thread_trap"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'fail_on_thread': thread trap"
    );
}

#[test]
fn callback_names_and_duplicates_are_checked() {
    let engine = engine();
    engine.define("once", || 1i32).unwrap();
    let error = engine.define("once", || 2i32).unwrap_err();
    assert_eq!(error.to_string(), "'once' is already defined by the host");
    let error = engine.define("not a name", || 2i32).unwrap_err();
    assert!(matches!(error, Error::InvalidName { .. }), "{error}");
    engine
        .register_callback("any name works", |_, _| Ok(0))
        .unwrap();
    let error = engine
        .register_callback("any name works", |_, _| Ok(0))
        .unwrap_err();
    assert!(matches!(error, Error::AlreadyDefined { .. }), "{error}");
}

#[test]
fn a_program_defining_a_callbacks_name_is_refused() {
    let engine = engine();
    engine.define("shared_name", || 1i32).unwrap();
    let (_dir, error) = refused_source(
        &engine,
        "clash.c",
        "int shared_name(void) { return 2; }\nint main(void) { return shared_name(); }\n",
    );
    assert!(
        error
            .to_string()
            .starts_with("'shared_name' is already defined by the host and by "),
        "{error}"
    );
}

#[test]
fn callbacks_may_be_called_through_function_pointers() {
    let engine = engine();
    engine.define("twice", |x: i32| x * 2).unwrap();
    let _dir = add_source(
        &engine,
        "pointer.c",
        "int twice(int);\nint apply(int (*f)(int), int x) { return f(x); }\n\
         int main(void) { int (*volatile f)(int) = twice; return apply(f, 21); }\n",
    );
    assert_eq!(engine.run_main(&["pointer"]).unwrap(), 42);
}

#[allow(dead_code)]
fn _signature_of_register_callback(engine: &Engine) {
    let _ = engine.register_callback("Log", move |_caller: &Caller, args: *mut c_void| {
        if args.is_null() {
            return Err(Trap::new("Log needs arguments"));
        }
        Ok(0)
    });
}

#[test]
fn the_host_can_look_up_and_call_a_callback_by_name() {
    let engine = engine();
    engine.define("triple", |x: i32| x * 3).unwrap();
    engine
        .define_dynamic(
            "negate",
            Signature::new([Ty::I64], Ty::I64),
            |_, args| match args {
                [Value::I64(x)] => Ok(Value::I64(-x)),
                _ => Err(Trap::new("negate takes one long")),
            },
        )
        .unwrap();
    engine
        .add_ir("empty.ll", "define i32 @main() {\n  ret i32 0\n}\n")
        .unwrap();
    let triple = engine.lookup_fn::<extern "C" fn(i32) -> i32>("triple");
    assert_eq!(triple.unwrap().call(14).unwrap(), 42);
    let negate = engine.lookup_fn::<extern "C" fn(i64) -> i64>("negate");
    assert_eq!(negate.unwrap().call(5).unwrap(), -5);
    // A program added later still binds its calls (its own copies give way).
    let _dir = add_source(
        &engine,
        "later.c",
        "int triple(int);\nint (*volatile keep)(int) = triple;\nint use_triple(void) { return keep(2) + triple(1); }\n",
    );
    assert_eq!(engine.run_entry("use_triple", &["later"]).unwrap(), 9);
    assert!(matches!(
        engine.lookup("nothing_here"),
        Err(Error::UnknownSymbol { .. })
    ));
}

/// A function the host calls through its `TypedFn` comes back with the
/// callback's trap (or the guest's exit) as an error, where a direct call
/// through the pointer would have ended the thread; the engine and the
/// thread go on.
#[test]
fn typed_calls_return_traps_and_exits_of_host_calls_as_errors() {
    let engine = engine();
    engine
        .define("checked", |x: i64| -> Result<i64, Trap> {
            match x {
                1 => Err(Trap::new("x must not be 1")),
                2 => panic!("boom at {x}"),
                _ => Ok(x * 10),
            }
        })
        .unwrap();
    let _dir = add_source(
        &engine,
        "called.c",
        r#"#include <stdlib.h>
long checked(long);
long returned;
long scaled(long x) {
    if (x == 3) exit(7);
    if (x == 4) _Exit(8);
    long r = checked(x);
    returned = r;
    return r + 1;
}
void nothing(void) {}
"#,
    );
    let scaled = engine
        .lookup_fn::<extern "C" fn(i64) -> i64>("scaled")
        .unwrap();
    assert_eq!(scaled.call(5).unwrap(), 51);
    let error = scaled.call(1).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'checked': x must not be 1"
    );
    let error = scaled.call(2).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'checked': panicked: boom at 2"
    );
    let error = scaled.call(3).unwrap_err();
    assert!(matches!(error, Error::GuestExit { status: 7 }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the guest called exit(7) in a call from the host"
    );
    let error = scaled.call(4).unwrap_err();
    assert!(matches!(error, Error::GuestExit { status: 8 }), "{error:?}");
    // The trapping calls never returned into the guest.
    let returned = engine.lookup("returned").unwrap() as *const i64;
    // SAFETY: the guest's long, alive while the engine is.
    assert_eq!(unsafe { *returned }, 50);
    assert_eq!(scaled.call(6).unwrap(), 61);
    // SAFETY: the engine lives, and scaled(7) neither traps nor exits.
    let direct = unsafe { scaled.as_raw() };
    assert_eq!(direct(7), 71, "direct calls still work");
    let nothing = engine.lookup_fn::<extern "C" fn()>("nothing").unwrap();
    nothing.call(()).unwrap();
}

extern "C" fn add_one(x: i64) -> i64 {
    x + 1
}

unsafe extern "C" fn c_add_one(args: *mut c_void, _user_data: *mut c_void) -> isize {
    args as isize + 1
}

extern "C" {
    /// From libc, a shared library mapped far from this executable.
    fn labs(x: std::ffi::c_long) -> std::ffi::c_long;
}

/// The machine code at `entry`, after the jump a swappable function's
/// entry may hold (a 5-byte no-op, then `jmp rel32`), and its address.
///
/// # Safety
/// `entry` is JIT'd code at least `len` bytes long, alive while the result is.
unsafe fn function_code(entry: usize, len: usize) -> (usize, &'static [u8]) {
    // SAFETY: per the contract; a stub is at least 10 bytes.
    let stub = unsafe { std::slice::from_raw_parts(entry as *const u8, 10) };
    let body = if stub[5] == 0xe9 {
        let rel = i32::from_le_bytes(stub[6..10].try_into().unwrap());
        (entry as isize + 10 + rel as isize) as usize
    } else {
        entry
    };
    // SAFETY: per the contract.
    (body, unsafe {
        std::slice::from_raw_parts(body as *const u8, len)
    })
}

/// The targets of what decodes as `call rel32` (0xe8) in `code` at `address`.
fn direct_call_targets((address, code): (usize, &[u8])) -> Vec<usize> {
    (0..code.len().saturating_sub(5))
        .filter(|&i| code[i] == 0xe8)
        .map(|i| {
            let rel = i32::from_le_bytes(code[i + 1..i + 5].try_into().unwrap());
            (address as isize + i as isize + 5 + rel as isize) as usize
        })
        .collect()
}

/// Host functions near the JIT's code are called with the instruction a
/// native direct call uses (`call rel32`), not through a register or a
/// stub; a far one is still called correctly.
#[test]
fn host_functions_near_the_jit_are_called_with_direct_calls() {
    let engine = Engine::builder()
        .opt_level(2)
        .lazy(false)
        .tier(false)
        .build()
        .unwrap();
    let symbols = [
        ("add_one", add_one as *const ()),
        ("far_labs", labs as *const ()),
    ];
    for (name, address) in symbols {
        engine
            .define_symbol(name, address.cast(), Signature::new([Ty::I64], Ty::I64))
            .unwrap();
    }
    engine.define("typed_add_one", |x: i64| x + 1).unwrap();
    engine
        .register_callback("multiplexed_add_one", |_, args| Ok(args as isize + 1))
        .unwrap();
    // SAFETY: c_add_one takes any args and user data, on any thread.
    unsafe { engine.register_callback_fn("c_add_one", c_add_one, std::ptr::null_mut()) }.unwrap();
    let _dir = add_source(
        &engine,
        "loops.c",
        r#"#include <hyperjit.h>
long add_one(long);
long far_labs(long);
long typed_add_one(long);
/* First: 128 bytes read from its entry stay within the object's code. */
long loop_c_function(long n) {
    long s = 0;
    for (long i = 0; i < n; i++) s += PerformCustomCallback("c_add_one", (void *)i);
    return s;
}
long loop_symbol(long n) { long s = 0; for (long i = 0; i < n; i++) s += add_one(i); return s; }
long loop_far(long n) { long s = 0; for (long i = 0; i < n; i++) s += far_labs(-i); return s; }
long loop_typed(long n) { long s = 0; for (long i = 0; i < n; i++) s += typed_add_one(i); return s; }
long loop_multiplexed(long n) {
    long s = 0;
    for (long i = 0; i < n; i++) s += PerformCustomCallback("multiplexed_add_one", (void *)i);
    return s;
}
"#,
    );
    let loops = [
        "loop_symbol",
        "loop_far",
        "loop_typed",
        "loop_multiplexed",
        "loop_c_function",
    ];
    let mut code = Vec::new();
    for name in loops {
        let function = engine.lookup_fn::<extern "C" fn(i64) -> i64>(name).unwrap();
        assert_eq!(
            function.call(100).unwrap(),
            if name == "loop_far" { 4950 } else { 5050 }
        );
        // Enough to reach the loop's calls (loop_c_function's come late).
        let len = if name == "loop_c_function" { 128 } else { 64 };
        // SAFETY: the loops are JIT'd functions of more than 64 bytes, and
        // loop_c_function is followed by the others; alive as long as the
        // engine.
        code.push(unsafe { function_code(function.as_raw() as usize, len) });
    }
    let [symbol, far, typed, multiplexed, c_function] =
        [0, 1, 2, 3, 4].map(|i| direct_call_targets(code[i]));
    assert!(
        symbol.contains(&(add_one as *const () as usize)),
        "loop_symbol calls add_one directly: {:02x?}",
        code[0].1
    );
    assert!(
        !far.contains(&(labs as *const () as usize)),
        "labs is out of a direct call's reach"
    );
    // A C function's constant-name calls call it, not a trampoline (the
    // engine is called only when a trap was requested).
    assert!(
        c_function.contains(&(c_add_one as *const () as usize)),
        "loop_c_function calls c_add_one directly: {:02x?}",
        code[4].1
    );
    // The trampolines live in this executable, as add_one does.
    let in_this_executable =
        |target: &usize| target.abs_diff(add_one as *const () as usize) < 1 << 28;
    for (name, targets, index) in [
        ("loop_typed", &typed, 2),
        ("loop_multiplexed", &multiplexed, 3),
    ] {
        assert!(
            targets.iter().any(in_this_executable),
            "{name} calls its trampoline directly: {:02x?}",
            code[index].1
        );
    }
}

/// A C callback that asks for a trap when its argument is negative.
unsafe extern "C" fn refuse_negative(args: *mut c_void, _user_data: *mut c_void) -> isize {
    let value = args as isize;
    if value < 0 {
        assert!(hyperjit::request_trap(format!("{value} is negative")));
    }
    value
}

/// A C callback stops the guest by asking for a trap before it returns:
/// on the run's thread, and on a thread the guest created (which the
/// engine did not enter: it finds the guest's frames on the stack).
#[test]
fn a_c_callback_requests_a_trap_on_any_thread_the_guest_runs_on() {
    for (file, source) in [
        (
            "main_thread.c",
            r#"#include <hyperjit.h>
int main(void) {
    long s = 0;
    for (long i = 5; i > -5; i--) s += PerformCustomCallback("check", (void *)i);
    return (int)s;
}
"#,
        ),
        (
            "guest_thread.c",
            r#"#include <hyperjit.h>
#include <pthread.h>
static void *work(void *arg) { return (void *)PerformCustomCallback("check", arg); }
int main(void) {
    pthread_t t;
    void *r = 0;
    pthread_create(&t, 0, work, (void *)-3L);
    pthread_join(t, &r);
    return r == 0 ? 0 : 1;
}
"#,
        ),
    ] {
        let engine = engine();
        register_check(&engine);
        let _dir = add_source(&engine, file, source);
        let error = engine.run_main(&[file]).unwrap_err();
        let expected = if file == "main_thread.c" { -1 } else { -3 };
        assert_eq!(
            error.to_string(),
            format!("trap in callback 'check': {expected} is negative"),
            "{file}"
        );
    }
    // Outside guest code, nothing is requested.
    assert!(!hyperjit::request_trap("too late"));
}

/// A typed host function asking for a C callback's trap: the guest stops
/// when the next C callback returns, and a request nothing honored ends
/// with its run.
#[test]
fn a_trap_request_outside_a_c_callback_waits_for_one_or_ends_with_the_run() {
    let engine = engine();
    engine
        .define("ask", |then_call: i32| -> i32 {
            assert!(hyperjit::request_trap("asked by a typed function"));
            then_call
        })
        .unwrap();
    register_check(&engine);
    let _dir = add_source(
        &engine,
        "ask.c",
        r#"#include <hyperjit.h>
int ask(int);
int main(int argc, char **argv) {
    if (ask(argc > 1)) PerformCustomCallback("check", (void *)1);
    return 9;
}
"#,
    );
    let error = engine.run_main(&["ask", "then call check"]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "trap in callback 'check': asked by a typed function"
    );
    // Unhonored, the request ends with the run: the next run's C callback
    // returns.
    assert_eq!(engine.run_main(&["ask"]).unwrap(), 9);
    let next = support::engine();
    register_check(&next);
    let _next_dir = add_source(
        &next,
        "check.c",
        "#include <hyperjit.h>\nint main(void) { return (int)PerformCustomCallback(\"check\", (void *)2); }\n",
    );
    assert_eq!(next.run_main(&["check"]).unwrap(), 2);
}

/// Registers `refuse_negative` as the C callback "check".
fn register_check(engine: &Engine) {
    // SAFETY: refuse_negative takes any args, on any thread.
    unsafe { engine.register_callback_fn("check", refuse_negative, std::ptr::null_mut()) }.unwrap();
}

/// A callback's failure converts into its trap with `?`: a message (`&str`
/// or `String`), or an engine error; a trap nested inside stays that trap.
#[test]
fn question_marks_turn_messages_and_errors_into_traps() {
    let engine = engine();
    engine
        .define("check", |x: i32| -> Result<i32, Trap> {
            if x < 0 {
                Err("negative input")?;
            }
            if x > 100 {
                Err(format!("{x} is too large"))?;
            }
            Ok(x)
        })
        .unwrap();
    engine
        .define(
            "nested",
            |caller: &Caller<'_>, x: i32| -> Result<i32, Trap> {
                let check = caller.lookup_fn::<extern "C" fn(i32) -> i32>("check_in_guest")?;
                Ok(check.call(x)?)
            },
        )
        .unwrap();
    let _dir = add_source(
        &engine,
        "checks.c",
        "int check(int);\nint nested(int);\nint check_in_guest(int x) { return check(x); }\n\
         int main(int argc, char **argv) {\n\
           if (argc == 1) return check(5);\n\
           if (argv[1][0] == 'n') return check(-1);\n\
           if (argv[1][0] == 'l') return check(1000);\n\
           return nested(-2);\n}\n",
    );
    assert_eq!(engine.run_main(&["checks"]).unwrap(), 5);
    for (argument, callback, message) in [
        ("n", "check", "negative input"),
        ("l", "check", "1000 is too large"),
        ("x", "check", "negative input"),
    ] {
        match engine.run_main(&["checks", argument]).unwrap_err() {
            Error::Trap(trap) => {
                assert_eq!(trap.callback(), Some(callback), "{argument}");
                assert_eq!(trap.message(), message, "{argument}");
            }
            other => panic!("{argument}: expected a trap, got {other:?}"),
        }
    }
}

/// `lookup_fn` takes the `unsafe extern "C" fn` form of a C type too.
#[test]
fn typed_lookups_take_unsafe_function_types() {
    let engine = engine();
    engine
        .add_ir(
            "twice.ll",
            "define i32 @twice(i32 %x) {\n  %y = mul i32 %x, 2\n  ret i32 %y\n}\n",
        )
        .unwrap();
    let twice = engine
        .lookup_fn::<unsafe extern "C" fn(i32) -> i32>("twice")
        .unwrap();
    assert_eq!(twice.call(21).unwrap(), 42);
    let wrong = engine.lookup_fn::<unsafe extern "C" fn(i64) -> i32>("twice");
    assert_eq!(
        wrong.unwrap_err().to_string(),
        "'twice' has type i32 (i32), not the requested i32 (i64)"
    );
    // SAFETY: the engine outlives the call, and `twice` calls no callback.
    assert_eq!(unsafe { twice.as_raw()(4) }, 8);
}

/// An engine prints its settings and what it holds.
#[test]
fn an_engine_is_debug() {
    let engine = Engine::builder().opt_level(1).build().unwrap();
    engine.add_ir("empty.ll", "@x = global i32 1\n").unwrap();
    assert_eq!(
        format!("{engine:?}"),
        "Engine { opt_level: 1, lazy: false, tiered: false, pending_inputs: 1, linked_batches: 0, .. }"
    );
}

//! Fault reports for a library host, and what a fault or a trap does in
//! a call from the host. The tests that die run in a child process: this
//! binary again, told by an environment variable.

mod support;

use hyperjit::{Engine, Error, Trap, Value};
use std::ffi::c_void;
use std::os::unix::process::ExitStatusExt;
use support::write;

/// Set in the child process, which runs the guest that dies.
const CHILD: &str = "HYPERJIT_FAULTS_CHILD";

/// Recursion without end: the volatile load after the call keeps LLVM from
/// turning it into a loop.
const OVERFLOW: &str = "define i32 @recurse(i32 %n) noinline {
  %pad = alloca [256 x i8]
  store volatile i8 1, ptr %pad
  %m = add i32 %n, 1
  %r = call i32 @recurse(i32 %m)
  %v = load volatile i8, ptr %pad
  %w = zext i8 %v to i32
  %s = add i32 %r, %w
  ret i32 %s
}
define i32 @main() {
  %r = call i32 @recurse(i32 0)
  ret i32 %r
}
";

extern "C" fn run_guest(engine: *mut c_void) -> *mut c_void {
    // SAFETY: the engine outlives the thread, which is joined before the
    // engine is dropped.
    let engine = unsafe { &*(engine as *const Engine) };
    let status = engine.run_main(&["overflow"]);
    eprintln!("the guest returned: {status:?}");
    std::ptr::null_mut()
}

/// In the child: a guest overflows its stack on a thread the host creates
/// with pthread_create (no alternate stack of its own, unlike Rust's
/// threads), not the one that built the engine.
fn overflow_on_a_host_thread() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::builder().fault_reports(true).build().unwrap();
    engine
        .add_file(write(dir.path(), "overflow.ll", OVERFLOW))
        .unwrap();
    let mut thread: libc::pthread_t = 0;
    // SAFETY: `run_guest` takes the engine, alive until after the join.
    let created = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            run_guest,
            &engine as *const Engine as *mut c_void,
        )
    };
    assert_eq!(created, 0);
    // SAFETY: a thread just created, joined once.
    unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
}

/// Every host thread that calls into guest code gets an alternate signal
/// stack when fault reports are on, so a stack overflow there is reported.
#[test]
fn a_stack_overflow_on_another_host_thread_is_reported() {
    if std::env::var_os(CHILD).is_some() {
        overflow_on_a_host_thread();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_stack_overflow_on_another_host_thread_is_reported",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(libc::SIGSEGV), "{stderr}");
    assert!(
        stderr
            .contains("hyperjit: the program was killed by SIGSEGV (stack overflow) at address 0x"),
        "{stderr}"
    );
    assert!(stderr.contains("\n  in recurse+0x"), "{stderr}");
}

/// Runs the test `name` again in a child process with [`CHILD`] set.
fn in_child(name: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap()
}

/// A guest function that writes through a null pointer, one that divides
/// by its argument, one that overflows its stack, and one that works.
const FAULTS: &str = "define i32 @crash(ptr %p) noinline {
  store volatile i32 1, ptr %p
  ret i32 0
}
define i32 @divide(i32 %n) noinline {
  %q = sdiv i32 100, %n
  ret i32 %q
}
define i32 @add(i32 %a, i32 %b) {
  %s = add i32 %a, %b
  ret i32 %s
}
";

/// With fault reports on, a fault in JIT'd code in a host's call fails
/// that call, names the signal and the function, and the engine (and the
/// thread) go on: the next call, a stack overflow's, and a run all work.
#[test]
fn a_fault_in_a_call_from_the_host_is_an_error_and_the_host_goes_on() {
    let engine = Engine::builder().fault_reports(true).build().unwrap();
    engine.add_ir("faults.ll", FAULTS).unwrap();
    engine.add_ir("overflow.ll", OVERFLOW).unwrap();
    let crash = engine
        .lookup_fn::<extern "C" fn(*mut i32) -> i32>("crash")
        .unwrap();
    match crash.call(std::ptr::null_mut()) {
        Err(Error::GuestFault { report }) => {
            assert!(
                report.starts_with("SIGSEGV at address 0x0 in crash+0x"),
                "{report}"
            )
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    match engine.call("divide", &[Value::I32(0)]) {
        Err(error @ Error::GuestFault { .. }) => assert!(
            error.to_string().starts_with(
                "the guest faulted in a call from the host: SIGFPE (arithmetic error) at 0x"
            ),
            "{error}"
        ),
        other => panic!("expected a fault, got {other:?}"),
    }
    assert_eq!(
        engine.call("divide", &[Value::I32(4)]).unwrap(),
        Value::I32(25)
    );
    let recurse = engine
        .lookup_fn::<extern "C" fn(i32) -> i32>("recurse")
        .unwrap();
    match recurse.call(0) {
        Err(Error::GuestFault { report }) => assert!(
            report.starts_with("SIGSEGV (stack overflow) at address 0x"),
            "{report}"
        ),
        other => panic!("expected a stack overflow, got {other:?}"),
    }
    // The signal is not left blocked: the next fault is caught too.
    assert!(matches!(
        crash.call(std::ptr::null_mut()),
        Err(Error::GuestFault { .. })
    ));
    let add = engine
        .lookup_fn::<extern "C" fn(i32, i32) -> i32>("add")
        .unwrap();
    assert_eq!(add.call((40, 2)).unwrap(), 42);
}

/// A fault in a run is not caught: the program dies by the signal,
/// reported, as it would natively.
#[test]
fn a_fault_in_a_run_still_kills_the_program() {
    if std::env::var_os(CHILD).is_some() {
        let engine = Engine::builder().fault_reports(true).build().unwrap();
        engine.add_ir("faults.ll", FAULTS).unwrap();
        engine
            .add_ir(
                "main.ll",
                "declare i32 @crash(ptr)\ndefine i32 @main() {\n  %r = call i32 @crash(ptr null)\n  ret i32 %r\n}\n",
            )
            .unwrap();
        let status = engine.run_main(&["crash"]);
        eprintln!("the run returned: {status:?}");
        return;
    }
    let output = in_child("a_fault_in_a_run_still_kills_the_program");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(libc::SIGSEGV), "{stderr}");
    assert!(
        stderr
            .contains("hyperjit: the program was killed by SIGSEGV at address 0x0\n  in crash+0x"),
        "{stderr}"
    );
}

/// A guest that calls a callback that traps, for the direct-call tests.
const CALLS_REFUSE: &str = "declare i32 @refuse()
define i32 @user() {
  %r = call i32 @refuse()
  %s = add i32 %r, 1
  ret i32 %s
}
";

/// A trap where nothing can stop the guest — JIT'd code the host called
/// by its address — is never silent: hyperjit says so and aborts.
#[test]
fn a_trap_in_a_direct_call_aborts_with_a_message() {
    if std::env::var_os(CHILD).is_some() {
        let engine = Engine::new().unwrap();
        engine
            .define("refuse", || -> Result<i32, Trap> { Err("no".into()) })
            .unwrap();
        engine.add_ir("user.ll", CALLS_REFUSE).unwrap();
        let user = engine.lookup_fn::<extern "C" fn() -> i32>("user").unwrap();
        // Through the safe handle the trap is an error...
        let error = user.call(()).unwrap_err();
        eprintln!("call: {error}");
        // ... through the raw pointer nothing can return it.
        // SAFETY: the engine outlives the call.
        let raw = unsafe { user.as_raw() };
        let result = raw();
        eprintln!("the direct call returned {result}");
        return;
    }
    let output = in_child("a_trap_in_a_direct_call_aborts_with_a_message");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains("call: trap in callback 'refuse': no\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "hyperjit: error: trap in callback 'refuse': no, in guest code the host called \
             directly (not through TypedFn::call or hj_engine_call), where nothing can stop it: \
             aborting"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("the direct call returned"), "{stderr}");
}

/// `request_trap` (C's `hj_trap`) in a direct call refuses and says so by
/// its result; the callback then returns normally.
#[test]
fn request_trap_in_a_direct_call_returns_false() {
    let engine = Engine::new().unwrap();
    engine
        .define("refuse", || -> i32 {
            if hyperjit::request_trap("no") {
                0
            } else {
                41
            }
        })
        .unwrap();
    engine.add_ir("user.ll", CALLS_REFUSE).unwrap();
    let user = engine.lookup_fn::<extern "C" fn() -> i32>("user").unwrap();
    // SAFETY: the engine outlives the call.
    let raw = unsafe { user.as_raw() };
    assert_eq!(raw(), 42);
}

//! Fault reports for a library host. The test that dies runs in a child
//! process: this binary again, told by an environment variable.

mod support;

use hyperjit::Engine;
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

//! Per-call cost of host callbacks registered through the C API
//! (`include/hyperjit_host.h`), beside a native direct call to an extern C
//! function in another translation unit (clang-19 -O2), measured in this
//! same run and printed as a ratio to it. The callees are `extern "C"`
//! functions of this program, as a C host's would be. The Rust API's rows:
//! `cargo bench -p hyperjit --bench callbacks`.
//!
//! `cargo bench -p hyperjit-capi --bench callbacks`

#[path = "../../hyperjit/benches/support/mod.rs"]
mod support;

use hyperjit::Engine;
use hyperjit_capi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use support::per_call::{padding, run, Case, LAYOUTS};
use support::{native_baseline, Loop};

type NamedLoop = extern "C" fn(i64, *const c_char) -> i64;

/// What `hj_define_function` and `hj_define_symbol` register.
extern "C" fn c_target(x: i64) -> i64 {
    x + 1
}

/// What `hj_register_callback` registers: the seed's callback shape.
unsafe extern "C" fn c_callback(args: *mut c_void, _user_data: *mut c_void) -> isize {
    args as isize + 1
}

struct Fixture {
    engine: *mut hj_engine,
    _native: libloading::Library,
    _dir: tempfile::TempDir,
    native: Loop,
    function: Loop,
    symbol: Loop,
    callback_constant: Loop,
    callback_runtime: NamedLoop,
}

/// Fails with the engine's last error unless `status` is 0.
fn check(engine: *mut hj_engine, status: i32, what: &str) {
    if status != 0 {
        // SAFETY: a live engine; the message is the engine's, read at once.
        let message = unsafe { CStr::from_ptr(hj_engine_last_error(engine)) };
        panic!("{what}: {}", message.to_string_lossy());
    }
}

fn c_path(path: &Path) -> CString {
    CString::new(path.to_str().expect("a UTF-8 path")).expect("no NUL in the path")
}

impl Fixture {
    /// A fixture whose guest loops sit `pad` x 16 bytes further into the
    /// code.
    fn new(pad: u32) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let (native, native_loop) = native_baseline(dir.path());
        let engine = Box::into_raw(hj_engine::wrap(
            Engine::builder().opt_level(2).build().expect("engine"),
        ));
        let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/capi_guest.c");
        let params = [HJ_I64];
        // SAFETY: a live engine, NUL-terminated names and paths, functions
        // of the registered types.
        unsafe {
            let target = c_target as *const () as *mut c_void;
            let status = hj_define_function(
                engine,
                c"c_function".as_ptr(),
                target,
                HJ_I64,
                params.as_ptr(),
                1,
            );
            check(engine, status, "hj_define_function");
            let status = hj_define_symbol(engine, c"c_symbol".as_ptr(), target);
            check(engine, status, "hj_define_symbol");
            let status = hj_register_callback(
                engine,
                c"c_callback".as_ptr(),
                Some(c_callback),
                std::ptr::null_mut(),
            );
            check(engine, status, "hj_register_callback");
            let status = hj_engine_add_file(engine, c_path(&padding(dir.path(), pad)).as_ptr());
            check(engine, status, "adding the padding");
            let status = hj_engine_add_file(engine, c_path(&guest).as_ptr());
            check(engine, status, "adding the guest");
        }
        let function = |name: &CStr| {
            // SAFETY: a live engine and a NUL-terminated name.
            let address = unsafe { hj_engine_lookup(engine, name.as_ptr()) };
            assert!(!address.is_null(), "{name:?} not found");
            address
        };
        // SAFETY (for every loop): a function of that type, alive while the
        // fixture keeps the engine; the loops neither trap nor exit.
        let as_loop =
            |name: &CStr| unsafe { std::mem::transmute::<*mut c_void, Loop>(function(name)) };
        Fixture {
            function: as_loop(c"loop_function"),
            symbol: as_loop(c"loop_symbol"),
            callback_constant: as_loop(c"loop_callback_constant"),
            // SAFETY: as above.
            callback_runtime: unsafe {
                std::mem::transmute::<*mut c_void, NamedLoop>(function(c"loop_callback_runtime"))
            },
            engine,
            _native: native,
            _dir: dir,
            native: native_loop,
        }
    }

    /// The cases, as closures running `n` calls.
    fn cases(&self) -> Vec<Case<'_>> {
        let name = c"c_callback";
        vec![
            Case::new("native direct call", "-", move |n| (self.native)(n)),
            Case::new("hj_define_function", "<= 1.2x", move |n| (self.function)(n)),
            Case::new("hj_define_symbol", "<= 1.2x", move |n| (self.symbol)(n)),
            Case::new("hj_register_callback, constant name", "<= 1.2x", move |n| {
                (self.callback_constant)(n)
            }),
            Case::new(
                "hj_register_callback, run-time name",
                "< 10 ns",
                // The loop reads the NUL-terminated name it is given.
                move |n| (self.callback_runtime)(n, name.as_ptr()),
            ),
        ]
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // SAFETY: from Box::into_raw in `new`, freed once; no loop runs.
        unsafe { hj_engine_free(self.engine) };
    }
}

fn main() {
    let fixtures: Vec<Fixture> = (0..LAYOUTS).map(Fixture::new).collect();
    let layouts: Vec<Vec<Case<'_>>> = fixtures.iter().map(Fixture::cases).collect();
    run("C API callback per call", &layouts);
}

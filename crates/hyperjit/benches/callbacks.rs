//! Per-call cost of each kind of host callback of the Rust API, beside the
//! limit: a native direct call to an extern C function in another
//! translation unit (clang-19 -O2). Criterion measures each; the closing
//! table measures them again in this same run and prints each as a ratio
//! to the native call. The C API's rows: `cargo bench -p hyperjit-capi`.
//!
//! `cargo bench -p hyperjit --bench callbacks`

#[path = "support/mod.rs"]
mod support;

use hyperjit::{Engine, Signature, Ty, Value};
use support::per_call::{padding, run, Case, LAYOUTS};
use support::{benches_dir, native_baseline, Loop};

type NamedLoop = extern "C" fn(i64, *const std::ffi::c_char) -> i64;

extern "C" fn symbol_target(x: i64) -> i64 {
    x + 1
}

struct Fixture {
    _engine: Engine,
    _native: libloading::Library,
    _dir: tempfile::TempDir,
    native: Loop,
    typed: Loop,
    typed_again: Loop,
    symbol: Loop,
    multiplexed_constant: Loop,
    multiplexed_runtime: NamedLoop,
    dynamic: Loop,
}

impl Fixture {
    /// A fixture whose guest loops sit `pad` x 16 bytes further into the
    /// code.
    fn new(pad: u32) -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let (native, native_loop) = native_baseline(dir.path());

        let engine = Engine::builder().opt_level(2).build().expect("engine");
        engine
            .define("typed_target", |x: i64| x + 1)
            .expect("define");
        engine
            .define("typed_target_again", |x: i64| 1 + x)
            .expect("define");
        engine
            .define_symbol(
                "symbol_target",
                symbol_target as *const () as *const u8,
                Signature::new([Ty::I64], Ty::I64),
            )
            .expect("define_symbol");
        engine
            .register_callback("multiplexed_target", |_, args| Ok(args as isize + 1))
            .expect("register_callback");
        engine
            .define_dynamic(
                "dynamic_target",
                Signature::new([Ty::I64], Ty::I64),
                |_, args| match args {
                    [Value::I64(x)] => Ok(Value::I64(x + 1)),
                    _ => Ok(Value::I64(0)),
                },
            )
            .expect("define_dynamic");
        engine.add_file(padding(dir.path(), pad)).expect("padding");
        engine
            .add_file(benches_dir().join("callback_guest.c"))
            .expect("guest");
        // SAFETY (for every loop): the fixture keeps the engine alive while
        // the loops run, and they neither trap nor exit.
        let function = |name: &str| unsafe { engine.lookup_fn::<Loop>(name).expect(name).as_raw() };
        let typed = function("loop_typed");
        let typed_again = function("loop_typed_again");
        let symbol = function("loop_symbol");
        let multiplexed_constant = function("loop_multiplexed_constant");
        let dynamic = function("loop_dynamic");
        let multiplexed_runtime = engine.lookup_fn::<NamedLoop>("loop_multiplexed_runtime");
        // SAFETY: as above.
        let multiplexed_runtime = unsafe { multiplexed_runtime.expect("lookup").as_raw() };
        Fixture {
            _engine: engine,
            _native: native,
            _dir: dir,
            native: native_loop,
            typed,
            typed_again,
            symbol,
            multiplexed_constant,
            multiplexed_runtime,
            dynamic,
        }
    }

    /// The cases, as closures running `n` calls.
    fn cases(&self) -> Vec<Case<'_>> {
        let name = c"multiplexed_target";
        // The JIT'd loops live as long as the fixture's engine.
        vec![
            Case::new("native direct call", "-", move |n| (self.native)(n)),
            Case::new("typed closure", "<= 1.2x", move |n| (self.typed)(n)),
            Case::new("typed closure, second instance", "<= 1.2x", move |n| {
                (self.typed_again)(n)
            }),
            Case::new("define_symbol", "<= 1.2x", move |n| (self.symbol)(n)),
            Case::new(
                "PerformCustomCallback, constant name",
                "<= 1.2x",
                move |n| (self.multiplexed_constant)(n),
            ),
            Case::new(
                "PerformCustomCallback, run-time name",
                "< 10 ns",
                // The loop reads the NUL-terminated name it is given.
                move |n| (self.multiplexed_runtime)(n, name.as_ptr()),
            ),
            Case::new("dynamic signature", "< 25 ns", move |n| (self.dynamic)(n)),
        ]
    }
}

fn main() {
    let fixtures: Vec<Fixture> = (0..LAYOUTS).map(Fixture::new).collect();
    let layouts: Vec<Vec<Case<'_>>> = fixtures.iter().map(Fixture::cases).collect();
    run("callback per call", &layouts);
}

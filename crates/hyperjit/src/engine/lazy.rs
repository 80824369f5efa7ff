//! Lazy compilation, the engine's side: where a function's stub lands on
//! its first call (through the runtime's lazy entry). The body is moved out
//! of its batch's source module, linked as the function's new body (as a
//! swap links one) and the stub redirected to it. Under the engine's lock:
//! when several threads call an uncompiled function at once, one compiles
//! it and the others find it compiled; nobody runs half-linked code, as the
//! stub is redirected only once the body is linked.

use super::plan::{plan, Unit};
use super::{Core, State};
use crate::callback::raise_with;
use crate::compile::starts_at_baseline;
use crate::error::Result;
use crate::link::{glue, Counter, LazyRecord, NewBody};
use crate::runtime;
use crate::Trap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// Compiles the function `record` stands for and returns its code's
/// address; traps the guest if that fails. Called by the runtime's lazy
/// entry, from guest code.
// "C-unwind": a trap on a thread the guest created ends that thread with
// pthread_exit, whose forced unwinding passes through this frame.
pub(super) extern "C-unwind" fn compile_on_first_call(record: *const LazyRecord) -> u64 {
    // SAFETY: stubs pass records their engine's linker made and keeps for
    // as long as the JIT (so the engine) lives.
    let record = unsafe { &*record };
    // SAFETY: the record's engine is the `Core` whose glue made it
    // (`Core::glue`), at a fixed address for the engine's life.
    let core = unsafe { &*(record.engine() as *const Core) };
    let compiled = catch_unwind(AssertUnwindSafe(|| core.compile_lazy(record.function())));
    let trap = match compiled {
        Ok(Ok(address)) => return address,
        Ok(Err(error)) => Trap::new(error.to_string()),
        Err(_) => Trap::new("compiling a function on its first call panicked"),
    };
    raise_with(core, trap)
}

impl Core {
    /// The code of lazy function number `index`, compiled now if it was not.
    fn compile_lazy(&self, index: usize) -> Result<u64> {
        let mut state = self.lock();
        let Some(function) = state.linker.lazy_function(index).map(str::to_string) else {
            return Err(crate::error::Error::UnknownSymbol {
                name: format!("<lazy function {index}>"),
            });
        };
        // Reading the body out of its bitcode is LLVM's work too: a crash
        // there is hyperjit's error, not the program's.
        let _phase = runtime::Phase::enter(&format!("compiling {function} on its first call"));
        match state.linker.current_body(&function)? {
            Some(address) => Ok(address),
            None => self.compile_uncompiled(&mut state, &function),
        }
    }

    /// Compiles `function`, which waits for its first call, and points its
    /// stub at the code; returns the code's address.
    pub(super) fn compile_uncompiled(&self, state: &mut State, function: &str) -> Result<u64> {
        let version = glue::first_body(function);
        let started = Instant::now();
        let mut input = state.linker.take_uncompiled(function, &version)?;
        // Reading the body from the bitcode, moving it out: parsing.
        state.stats.parse += started.elapsed();
        let tiered = self.tiering.is_some();
        let baseline_pays = tiered && starts_at_baseline(&input.module, &version);
        let build = plan(
            Unit::FirstCall { baseline_pays },
            tiered,
            self.config.opt_level,
        );
        if let Some(tiering) = self.tiering.as_ref().filter(|_| build.counted) {
            input.counter = Some(Counter {
                function: version.clone(),
                symbol: glue::counter_symbol(function),
                address: tiering.watch(self, function),
            });
        }
        let address = self.replace_body(
            state,
            NewBody {
                function,
                version: &version,
                input,
                level: build.level,
            },
        )?;
        state.stats.functions_compiled_lazily += 1;
        Ok(address)
    }
}

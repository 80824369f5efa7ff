//! The guest's C runtime: entering guest code, `exit`/`atexit`, static
//! destructors, thread-locals, fault reports — the second FFI area of the
//! crate, after the LLVM layer: `shim.c`, `faults.c` and the declarations
//! of them below.
//!
//! A native program gets these from crt0 and libc; a JIT'd program running
//! inside a host must not end the host's process when it calls `exit`, and
//! its `atexit` handlers must run when *its* run ends, not when the host
//! exits. So the guest's references to those libc functions are bound (by
//! the link layer's glue, which owns every name) to the functions in
//! [`Functions`], which return to the engine instead.
//!
//! The codes and layouts the two languages share are `shim.c`'s; the
//! contract test below fails if this side disagrees.

mod call;
mod exit_handlers;
mod faults;

pub(crate) use call::{
    abandon_guest, call_entry, call_handler, can_stop_guest, fault_report, flush_stdio, guarded,
    Outcome,
};
pub(crate) use exit_handlers::{ExitHandlers, RunThread};
pub(crate) use faults::{install_fault_reports, Phase};

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    extern "C" {
        pub(super) fn hj_rt_call(
            function: *const c_void,
            kind: c_int,
            arg: *mut c_void,
            argc: c_int,
            argv: *const *const c_char,
            envp: *const *const c_char,
            status: *mut c_int,
        ) -> c_int;
        pub(super) fn hj_rt_guard_next(target: *const c_void) -> *const c_void;
        pub(super) fn hj_rt_exit(status: c_int) -> !;
        pub(super) fn hj_rt__exit(status: c_int) -> !;
        pub(super) fn hj_rt_state_new() -> *mut c_void;
        pub(super) fn hj_rt_state_free(state: *mut c_void);
        pub(super) fn hj_rt_atexit(state: *mut c_void, handler: *const c_void) -> c_int;
        pub(super) fn hj_rt_cxa_atexit(
            state: *mut c_void,
            handler: *const c_void,
            arg: *mut c_void,
            dso_handle: *mut c_void,
        ) -> c_int;
        pub(super) fn hj_rt_run_exit_handlers(state: *mut c_void, status: *mut c_int) -> c_int;
        pub(super) fn hj_rt_clear_exit_handlers(state: *mut c_void);
        pub(super) fn hj_rt_flush_stdio();
        pub(super) fn hj_rt_can_stop_guest() -> c_int;
        pub(super) fn hj_rt_fault_report() -> *const c_char;
        pub(super) fn hj_rt_cpu_symbols(
            model: *mut *mut c_void,
            indicator_init: *mut *mut c_void,
            features2: *mut *mut c_void,
        );
        pub(super) fn hj_rt_install_fault_reports() -> c_int;
        pub(super) fn hj_rt_set_phase(what: *const c_char) -> *const c_char;
        pub(super) fn hj_rt_cxa_thread_atexit(
            handler: *const c_void,
            object: *mut c_void,
            dso_handle: *mut c_void,
        ) -> c_int;
        pub(super) fn hj_rt_begin_run();
        pub(super) fn hj_rt_end_run(run_them: c_int, status: *mut c_int) -> c_int;
        pub(super) fn hj_rt_tls_address(control: *mut c_void) -> *mut c_void;
        pub(super) fn hj_rt_pthread_atfork(
            prepare: *const c_void,
            parent: *const c_void,
            child: *const c_void,
        ) -> c_int;
        pub(super) fn hj_rt_at_quick_exit(handler: *const c_void) -> c_int;
        pub(super) fn hj_rt_pthread_create(
            id: *mut c_void,
            attributes: *const c_void,
            start: *const c_void,
            arg: *mut c_void,
        ) -> c_int;
        /// Not a C function: the target of lazy stubs (see shim.c).
        pub(super) fn hj_rt_lazy_entry();
        #[cfg(test)]
        pub(super) static hj_rt_lazy_contract: super::LazyEntryContract;
        #[cfg(test)]
        pub(super) static hj_rt_contract: super::tests::Contract;
    }

    // On a thread the guest created, a trap ends the thread with
    // pthread_exit, whose forced unwinding passes through the Rust frames
    // that raised it (they hold nothing to drop).
    extern "C-unwind" {
        pub(super) fn hj_rt_trap() -> !;
    }
}

/// The runtime's functions that JIT'd code calls, by what they replace.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Functions {
    /// `void exit(int)`: returns to the engine, which runs exit handlers.
    pub(crate) exit: usize,
    /// `void _exit(int)` and `_Exit`: returns to the engine at once.
    pub(crate) exit_immediately: usize,
    /// `int atexit(state, handler)`, state an [`ExitHandlers`] address.
    pub(crate) atexit: usize,
    /// `int __cxa_atexit(state, handler, arg, dso)`.
    pub(crate) cxa_atexit: usize,
    /// `int __cxa_thread_atexit(dtor, object, dso)`: C++ `thread_local`
    /// destructors, run when a run ends on its own thread (see
    /// [`RunThread`]).
    pub(crate) cxa_thread_atexit: usize,
    /// `ptr tls_address(control)`: a lowered thread-local's address.
    pub(crate) tls_address: usize,
    /// `pthread_atfork` (in libc_nonshared.a, which the process lacks).
    pub(crate) pthread_atfork: usize,
    /// `at_quick_exit` (likewise).
    pub(crate) at_quick_exit: usize,
    /// `pthread_create`: libc's, but the thread gets an alternate signal
    /// stack when fault reports are on (a stack overflow there is reported).
    pub(crate) pthread_create: usize,
    /// Where the stub of a function not compiled yet jumps, with its
    /// record's address in `r11`; the record starts with the address of an
    /// `extern "C" fn(record) -> u64` that compiles the function and returns
    /// its code's address (or traps). Called with every argument register
    /// saved, it enters that code as if called directly.
    pub(crate) lazy_entry: usize,
}

/// What the lazy entry (`Functions::lazy_entry`) expects, as shim.c
/// defines it: the stub's instruction that puts the record's address in
/// r11, and where in the record the compiling function's address is. The
/// stub's writer (`llvm/patchable.rs`) and the record (`link/lazy.rs`) are
/// checked against it by a test.
#[cfg(test)]
#[repr(C)]
pub(crate) struct LazyEntryContract {
    /// The opcode bytes of `movabs $imm64, %r11`; the record's address
    /// follows them.
    pub(crate) stub_record_load: [u8; 2],
    /// The offset of the compiling function's address in a record.
    pub(crate) record_compile_offset: usize,
}

/// shim.c's lazy-entry contract.
#[cfg(test)]
pub(crate) fn lazy_entry_contract() -> &'static LazyEntryContract {
    // SAFETY: an immutable constant defined in shim.c, of this layout.
    unsafe { &ffi::hj_rt_lazy_contract }
}

/// The CPU model clang's `target_clones` resolvers read:
/// `__cpu_model`, `__cpu_indicator_init` and `__cpu_features2` (libgcc's,
/// or stand-ins that report no feature).
pub(crate) fn cpu_symbols() -> [usize; 3] {
    let mut addresses = [std::ptr::null_mut(); 3];
    let [model, init, features2] = &mut addresses;
    // SAFETY: writes three pointers; looks symbols up, no other effect.
    unsafe { ffi::hj_rt_cpu_symbols(model, init, features2) };
    addresses.map(|address| address as usize)
}

/// The addresses of the runtime's functions.
pub(crate) fn functions() -> Functions {
    Functions {
        exit: ffi::hj_rt_exit as *const () as usize,
        exit_immediately: ffi::hj_rt__exit as *const () as usize,
        atexit: ffi::hj_rt_atexit as *const () as usize,
        cxa_atexit: ffi::hj_rt_cxa_atexit as *const () as usize,
        cxa_thread_atexit: ffi::hj_rt_cxa_thread_atexit as *const () as usize,
        tls_address: ffi::hj_rt_tls_address as *const () as usize,
        pthread_atfork: ffi::hj_rt_pthread_atfork as *const () as usize,
        at_quick_exit: ffi::hj_rt_at_quick_exit as *const () as usize,
        pthread_create: ffi::hj_rt_pthread_create as *const () as usize,
        lazy_entry: ffi::hj_rt_lazy_entry as *const () as usize,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::call;
    use crate::llvm::{Context, TargetMachine};
    use std::ffi::c_int;
    use std::sync::Arc;

    /// shim.c's `struct hj_rt_contract`.
    #[repr(C)]
    pub(crate) struct Contract {
        call_entry: c_int,
        call_handler: c_int,
        returned: c_int,
        exited: c_int,
        exited_immediately: c_int,
        trapped: c_int,
        faulted: c_int,
        guard_stack_slots: c_int,
        tls_var_size: usize,
        tls_offsets: [usize; 4],
    }

    /// The codes `call.rs` mirrors and the thread-local control block the
    /// LLVM layer emits are what `shim.c` defines.
    #[test]
    fn rust_and_c_agree_on_the_runtime_contract() {
        // SAFETY: an immutable constant defined in shim.c.
        let c = unsafe { &super::ffi::hj_rt_contract };
        let codes = [
            c.call_entry,
            c.call_handler,
            c.returned,
            c.exited,
            c.exited_immediately,
            c.trapped,
            c.faulted,
        ];
        let mirrored = [
            call::CALL_ENTRY,
            call::CALL_HANDLER,
            call::RETURNED,
            call::EXITED,
            call::EXITED_IMMEDIATELY,
            call::TRAPPED,
            call::FAULTED,
        ];
        assert_eq!(codes, mirrored);
        assert_eq!(c.guard_stack_slots as usize, call::GUARD_STACK_SLOTS);
        assert_eq!(call::outcome_of(call::TRAPPED, 0), call::Outcome::Trapped);

        let context = Arc::new(Context::new());
        let ir = "@counter = thread_local global i64 5\n\
                  define i64 @get() {\n  %v = load i64, ptr @counter\n  ret i64 %v\n}\n";
        let machine = TargetMachine::host(0).unwrap();
        let mut module = machine.parse_ir(&context, "tls.ll", ir);
        assert_eq!(
            module.lower_thread_locals("tls_address", "tls.").unwrap(),
            1
        );
        let (size, offsets) = module.struct_global_layout("tls.counter").unwrap();
        let offsets: Vec<usize> = offsets.into_iter().map(|o| o as usize).collect();
        assert_eq!(size as usize, c.tls_var_size);
        assert_eq!(offsets, c.tls_offsets);
    }
}

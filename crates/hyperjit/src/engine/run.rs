//! Running a program: static constructors, the entry with `argv` and
//! `envp`, `atexit` handlers and static destructors in a native program's
//! order, then stdio flushed; and calling single guest functions from the
//! host the same way, so that a trap or the guest's `exit` comes back as an
//! error.

use super::{Core, Engine, RunInProgress};
use crate::callback;
use crate::error::{Error, Result};
use crate::link::Batch;
use crate::llvm::TypeKind;
use crate::runtime::{self, Outcome, RunThread};
use crate::Trap;
use std::ffi::{c_char, c_void, CString};
use std::time::Instant;

impl Engine {
    /// Runs the program's `main` with `args` as `argv` (`args[0]` is the
    /// program name) and the host's environment as `envp`; returns `main`'s
    /// result or the status the program passed to `exit`.
    ///
    /// Each run is a whole program run: static constructors, the entry,
    /// then `atexit` handlers and static destructors, then stdio is flushed.
    /// Globals keep their values from one run to the next.
    pub fn run_main<S: AsRef<str>>(&self, args: &[S]) -> Result<i32> {
        self.run_entry("main", args)
    }

    /// Like [`run_main`](Self::run_main), with another entry function of
    /// main's type (or a prefix of its parameters, or a void result).
    pub fn run_entry<S: AsRef<str>>(&self, entry: &str, args: &[S]) -> Result<i32> {
        let (address, returns_int, batches, compiling_before) = {
            let mut state = self.core.lock();
            if !state.has_unlinked() && state.linker.batches().is_empty() {
                return Err(match state.dropped.clone() {
                    Some(files) => Error::InputsDropped { files },
                    None => Error::NoProgram,
                });
            }
            self.core.link_pending(&mut state)?;
            let signature = state
                .linker
                .function_signature(entry)
                .cloned()
                .ok_or_else(|| Error::EntryNotFound {
                    name: entry.to_string(),
                })?;
            let main_params = [TypeKind::Int(32), TypeKind::Pointer, TypeKind::Pointer];
            let params_ok = signature.params.len() <= 3
                && signature
                    .params
                    .iter()
                    .zip(&main_params)
                    .all(|(a, b)| a == b)
                && !signature.variadic;
            let returns_int = match signature.ret {
                TypeKind::Int(32) => true,
                TypeKind::Void => false,
                _ => {
                    return Err(Error::EntrySignature {
                        name: entry.to_string(),
                        signature: signature.to_string(),
                    })
                }
            };
            if !params_ok {
                return Err(Error::EntrySignature {
                    name: entry.to_string(),
                    signature: signature.to_string(),
                });
            }
            let address = state.linker.lookup(entry)?;
            let compiling = state.stats.codegen_link + state.stats.parse;
            (
                address,
                returns_int,
                state.linker.batches().to_vec(),
                compiling,
            )
        };

        let started = Instant::now();
        let status = self.run_program(address, returns_int, &batches, args)?;
        let mut state = self.core.lock();
        // Lazy compilation during the run (reading the bodies, compiling
        // them) counts as parsing and compiling, not running.
        let compiling_after = state.stats.codegen_link + state.stats.parse;
        let compiled_meanwhile = compiling_after.saturating_sub(compiling_before);
        state.stats.run += started.elapsed().saturating_sub(compiled_meanwhile);
        Ok(status)
    }

    fn run_program<S: AsRef<str>>(
        &self,
        entry: u64,
        returns_int: bool,
        batches: &[Batch],
        args: &[S],
    ) -> Result<i32> {
        let argv_strings = args
            .iter()
            .map(|a| c_string_arg(a.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let envp_strings: Vec<CString> = std::env::vars_os()
            .filter_map(|(key, value)| {
                use std::os::unix::ffi::OsStrExt;
                let mut entry = key.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                CString::new(entry).ok()
            })
            .collect();
        let argv = null_terminated(&argv_strings);
        let envp = null_terminated(&envp_strings);
        let argc = i32::try_from(argv_strings.len())
            .map_err(|_| Error::InvalidSetting("too many arguments".to_string()))?;

        self.core.exit_handlers.clear();
        self.core.take_trap();
        let _in_progress = RunInProgress::enter(&self.core.runs_in_progress);
        let call = |address: u64| {
            // SAFETY: `address` is JIT'd code of a function linked by this
            // engine (a constructor, destructor or the checked entry), whose
            // parameters are a prefix of main's; argv/envp are
            // null-terminated and outlive the call.
            unsafe { runtime::call_entry(address, argc, argv.as_ptr(), envp.as_ptr()) }
        };
        let status = self.run_to_exit(&call, entry, returns_int, batches);
        // A trap request no C callback returned to honor ends with the run.
        callback::drop_trap_request();
        runtime::flush_stdio();
        // A trap on a thread the guest created ends that thread only; the run
        // still reports it.
        match (self.core.take_trap(), status) {
            (Some(trap), _) => Err(Error::Trap(trap)),
            (None, Some(status)) => Ok(status),
            (None, None) => Err(Error::Trap(Trap::new("the guest was stopped"))),
        }
    }

    /// Constructors, the entry, exit handlers, destructors: the exit status,
    /// or None if a callback trapped.
    fn run_to_exit(
        &self,
        call: &dyn Fn(u64) -> Outcome,
        entry: u64,
        returns_int: bool,
        batches: &[Batch],
    ) -> Option<i32> {
        let run_thread = RunThread::begin();
        let mut outcome = Outcome::Returned(0);
        'constructors: for batch in batches {
            for constructor in batch.constructors.entries() {
                outcome = call(constructor);
                if !matches!(outcome, Outcome::Returned(_)) {
                    break 'constructors;
                }
            }
        }
        if matches!(outcome, Outcome::Returned(_)) {
            outcome = match call(entry) {
                Outcome::Returned(_) if !returns_int => Outcome::Returned(0),
                other => other,
            };
        }
        let mut status = match outcome {
            Outcome::Returned(status) | Outcome::Exited(status) => {
                let status = match run_thread.end(status) {
                    Outcome::Exited(status) => status,
                    _ => return None,
                };
                match self.core.exit_handlers.run(status) {
                    Outcome::Exited(status) => status,
                    _ => return None,
                }
            }
            Outcome::ExitedImmediately(status) => return Some(status),
            Outcome::Trapped | Outcome::Faulted => return None,
        };
        for batch in batches.iter().rev() {
            for destructor in batch.destructors.entries().into_iter().rev() {
                match call(destructor) {
                    Outcome::Returned(_) => {}
                    Outcome::Exited(new_status) | Outcome::ExitedImmediately(new_status) => {
                        status = new_status
                    }
                    Outcome::Trapped | Outcome::Faulted => return None,
                }
            }
        }
        Some(status)
    }
}

impl Core {
    /// Calls `handler(payload)` as a run calls its entry (see
    /// [`EngineServices::call_guest`](crate::callback::EngineServices)).
    ///
    /// # Safety
    /// As for `EngineServices::call_guest`.
    pub(super) unsafe fn call_guest(
        &self,
        handler: extern "C" fn(*mut c_void),
        payload: *mut c_void,
    ) -> Result<()> {
        self.take_trap();
        let outcome = {
            let _in_progress = RunInProgress::enter(&self.runs_in_progress);
            // SAFETY: per this function's contract.
            unsafe { runtime::call_handler(handler, payload) }
        };
        match outcome {
            Outcome::Returned(_) => Ok(()),
            Outcome::Exited(status) | Outcome::ExitedImmediately(status) => {
                Err(Error::GuestExit { status })
            }
            Outcome::Trapped => Err(Error::Trap(
                self.take_trap()
                    .unwrap_or_else(|| Trap::new("the guest was stopped")),
            )),
            Outcome::Faulted => Err(Error::GuestFault {
                report: runtime::fault_report(),
            }),
        }
    }
}

fn c_string_arg(arg: &str) -> Result<CString> {
    CString::new(arg)
        .map_err(|_| Error::InvalidSetting(format!("argument contains a NUL byte: {arg:?}")))
}

fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

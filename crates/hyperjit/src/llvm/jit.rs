//! ORC's LLJIT through the C API: the JIT linker and symbol tables.
//!
//! hyperjit generates object code itself (see `target.rs`) and hands LLJIT
//! finished objects: that keeps code generation under our control (levels,
//! caching, threads) and leaves LLJIT the linking and the lookup of process
//! symbols. Memory comes from our own manager (`near_memory.c`), through
//! RuntimeDyld, the one object layer whose memory the C API lets us place.

use super::cpp::{hj_code_map_listener, hj_jit_unlink_process_symbols, hj_perf_map_listener};
use super::{c_string, check_error, initialize_native_target, ObjectCode};
use llvm_sys::error::LLVMErrorRef;
use llvm_sys::orc2::ee::LLVMOrcCreateRTDyldObjectLinkingLayerWithMCJITMemoryManagerLikeCallbacks;
use llvm_sys::orc2::lljit::*;
use llvm_sys::orc2::*;
use std::collections::HashSet;
use std::ffi::{c_char, c_uint, c_void};
use std::sync::RwLock;

use super::{near_calls, near_memory};

/// Creates LLJIT's object layer: RuntimeDyld with our near-memory manager,
/// so that JIT'd code lies within 2 GiB of the host's code (see
/// `near_memory.c` for why).
extern "C" fn create_object_layer(
    arena: *mut c_void,
    session: LLVMOrcExecutionSessionRef,
    _triple: *const c_char,
) -> LLVMOrcObjectLayerRef {
    // SAFETY: the callbacks match the C API's types (checked by the casts'
    // signatures below); `arena` is the arena created for this JIT, which
    // the layer owns from here on (notify_terminating frees it).
    unsafe {
        LLVMOrcCreateRTDyldObjectLinkingLayerWithMCJITMemoryManagerLikeCallbacks(
            session,
            arena,
            create_context,
            notify_terminating,
            allocate_code,
            allocate_data,
            finalize,
            Some(destroy),
        )
    }
}

// Adapters from the C API's callback types to near_memory.c's functions.
extern "C" fn create_context(arena: *mut c_void) -> *mut c_void {
    // SAFETY: forwarding RuntimeDyld's arguments unchanged.
    unsafe { near_memory::hj_memory_create_context(arena) }
}

extern "C" fn notify_terminating(arena: *mut c_void) {
    // SAFETY: forwarding RuntimeDyld's arguments unchanged.
    unsafe { near_memory::hj_memory_notify_terminating(arena) }
}

extern "C" fn destroy(memory: *mut c_void) {
    // SAFETY: forwarding RuntimeDyld's arguments unchanged.
    unsafe { near_memory::hj_memory_destroy(memory) }
}

extern "C" fn allocate_code(
    memory: *mut c_void,
    size: usize,
    alignment: c_uint,
    section_id: c_uint,
    name: *const c_char,
) -> *mut u8 {
    // SAFETY: forwarding RuntimeDyld's arguments unchanged.
    unsafe { near_memory::hj_memory_allocate_code(memory, size, alignment, section_id, name) }
}

extern "C" fn allocate_data(
    memory: *mut c_void,
    size: usize,
    alignment: c_uint,
    section_id: c_uint,
    name: *const c_char,
    read_only: llvm_sys::prelude::LLVMBool,
) -> *mut u8 {
    // SAFETY: forwarding RuntimeDyld's arguments unchanged.
    unsafe {
        near_memory::hj_memory_allocate_data(memory, size, alignment, section_id, name, read_only)
    }
}

extern "C" fn finalize(
    memory: *mut c_void,
    error: *mut *mut c_char,
) -> llvm_sys::prelude::LLVMBool {
    // SAFETY: forwarding RuntimeDyld's arguments unchanged.
    unsafe { near_memory::hj_memory_finalize(memory, error) }
}

/// An LLJIT instance with its main JITDylib.
pub(crate) struct Jit {
    raw: LLVMOrcLLJITRef,
    main: LLVMOrcJITDylibRef,
    /// Our memory manager's arena, owned by the object layer: valid while
    /// `raw` is.
    arena: *mut c_void,
    /// The absolute symbols within a direct call's reach of all JIT'd code
    /// (`near_calls.rs`).
    near: RwLock<HashSet<Vec<u8>>>,
}

/// The code and data of one object added to the JIT, which can be removed
/// as a whole. Dropping the tracker keeps the code.
pub(crate) struct Tracker {
    raw: LLVMOrcResourceTrackerRef,
}

// SAFETY: resource trackers are reference-counted and ORC synchronizes
// their use through the execution session.
unsafe impl Send for Tracker {}

impl Tracker {
    /// Removes the object's symbols from the JIT and frees its memory.
    /// Whoever calls this knows that no thread runs or will call the code.
    pub(crate) fn remove(self) -> Result<(), String> {
        // SAFETY: the tracker is live; removal leaves it defunct, and Drop
        // then releases our reference.
        unsafe { check_error(LLVMOrcResourceTrackerRemove(self.raw)) }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // SAFETY: we own one reference, released once.
        unsafe { LLVMOrcReleaseResourceTracker(self.raw) };
    }
}

// SAFETY: LLJIT's ExecutionSession is internally synchronized; adding objects
// and looking up symbols may happen from any thread.
unsafe impl Send for Jit {}
// SAFETY: as above: every method takes &self and LLJIT locks internally.
unsafe impl Sync for Jit {}

extern "C" fn report_session_error(_context: *mut c_void, error: LLVMErrorRef) {
    // SAFETY: ORC hands us ownership of `error`; check_error consumes it.
    if let Err(message) = unsafe { check_error(error) } {
        tracing::warn!(target: "hyperjit", "JIT session error: {message}");
    }
}

impl Jit {
    pub(crate) fn new() -> Result<Jit, String> {
        initialize_native_target()?;
        let mut machine_builder = std::ptr::null_mut();
        let mut raw = std::ptr::null_mut();
        // SAFETY: DetectHost fills an owned builder on success; the LLJIT
        // builder takes ownership of it, and LLVMOrcCreateLLJIT takes
        // ownership of the LLJIT builder whatever the outcome.
        unsafe {
            check_error(LLVMOrcJITTargetMachineBuilderDetectHost(
                &mut machine_builder,
            ))?;
            let builder = LLVMOrcCreateLLJITBuilder();
            LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, machine_builder);
            let arena =
                near_memory::hj_arena_new(create_object_layer as *const () as *const c_void);
            if arena.is_null() {
                LLVMOrcDisposeLLJITBuilder(builder);
                return Err("cannot reserve address space for JIT'd code".to_string());
            }
            LLVMOrcLLJITBuilderSetObjectLinkingLayerCreator(builder, create_object_layer, arena);
            check_error(LLVMOrcCreateLLJIT(&mut raw, builder))?;
            LLVMOrcExecutionSessionSetErrorReporter(
                LLVMOrcLLJITGetExecutionSession(raw),
                report_session_error,
                std::ptr::null_mut(),
            );
            let main = LLVMOrcLLJITGetMainJITDylib(raw);
            Ok(Jit {
                raw,
                main,
                arena,
                near: RwLock::default(),
            })
        }
    }

    /// Links an object file into the main JITDylib. Its symbols resolve
    /// lazily, at the first lookup that needs them. Its calls of near
    /// absolute symbols become direct calls.
    pub(crate) fn add_object(&self, object: ObjectCode) -> Result<Tracker, String> {
        let object = self.bind_near_calls(object);
        // SAFETY: the tracker is created for our live JITDylib (we own the
        // returned reference); LLJIT takes ownership of the buffer, which
        // into_raw gave up.
        unsafe {
            let tracker = Tracker {
                raw: LLVMOrcJITDylibCreateResourceTracker(self.main),
            };
            check_error(LLVMOrcLLJITAddObjectFileWithRT(
                self.raw,
                tracker.raw,
                object.into_raw(),
            ))?;
            Ok(tracker)
        }
    }

    fn bind_near_calls(&self, object: ObjectCode) -> ObjectCode {
        let near = self
            .near
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if near.is_empty() {
            return object;
        }
        match near_calls::bind_near_calls(object.bytes(), &|name| near.contains(name)) {
            Some(bytes) => {
                // SAFETY: the arena lives as long as the JIT.
                unsafe { near_memory::hj_arena_note_near_calls(self.arena) };
                ObjectCode::from_bytes(&bytes)
            }
            None => object,
        }
    }

    /// Whether code at `address` is within a direct call's reach of all
    /// JIT'd code.
    pub(crate) fn within_call_reach(&self, address: usize) -> bool {
        // SAFETY: the arena lives as long as the JIT; the call only reads it.
        unsafe { near_memory::hj_arena_within_call_reach(self.arena, address) != 0 }
    }

    /// Whether `name` is an absolute symbol calls reach directly.
    pub(crate) fn is_near(&self, name: &str) -> bool {
        let near = self
            .near
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        near.contains(name.as_bytes())
    }

    /// Registers every object linked from now on with debuggers, through
    /// the GDB JIT interface (`__jit_debug_register_code`): gdb then knows
    /// JIT'd functions by name (and their source lines, given debug info).
    pub(crate) fn register_with_debugger(&self) {
        // SAFETY: the object layer is the RuntimeDyld layer
        // `create_object_layer` made, alive as long as the JIT; LLVM's GDB
        // listener is a process-wide singleton that is never freed.
        unsafe {
            let layer = LLVMOrcLLJITGetObjLinkingLayer(self.raw);
            llvm_sys::orc2::ee::LLVMOrcRTDyldObjectLinkingLayerRegisterJITEventListener(
                layer,
                llvm_sys::execution_engine::LLVMCreateGDBRegistrationListener(),
            );
        }
    }

    /// Stops the JIT from searching the host process for symbols: only
    /// what is defined in it by name links (an allow list's symbols).
    pub(crate) fn unlink_process_symbols(&self) -> Result<(), String> {
        // SAFETY: the JIT is live; no object has been linked yet.
        if unsafe { hj_jit_unlink_process_symbols(self.raw) } == 1 {
            Ok(())
        } else {
            Err("the JIT has no process symbols to unlink".to_string())
        }
    }

    /// Records every function of every object linked from now on in the
    /// process's code map (`code_map.cpp`), which fault reports read.
    pub(crate) fn map_code(&self) {
        // SAFETY: as for `register_with_debugger`; the code map listener
        // is a process-wide singleton that is never freed.
        unsafe {
            let layer = LLVMOrcLLJITGetObjLinkingLayer(self.raw);
            llvm_sys::orc2::ee::LLVMOrcRTDyldObjectLinkingLayerRegisterJITEventListener(
                layer,
                hj_code_map_listener(),
            );
        }
    }

    /// Lists every function of every object linked from now on in
    /// `/tmp/perf-PID.map`, for `perf report`.
    pub(crate) fn write_perf_map(&self) -> Result<(), String> {
        // SAFETY: as for `register_with_debugger`; the perf map listener
        // is a process-wide singleton that is never freed.
        unsafe {
            let listener = hj_perf_map_listener();
            if listener.is_null() {
                return Err(format!(
                    "cannot open /tmp/perf-{}.map for writing",
                    std::process::id()
                ));
            }
            let layer = LLVMOrcLLJITGetObjLinkingLayer(self.raw);
            llvm_sys::orc2::ee::LLVMOrcRTDyldObjectLinkingLayerRegisterJITEventListener(
                layer, listener,
            );
        }
        Ok(())
    }

    /// Bytes of memory committed for JIT'd code and data.
    pub(crate) fn committed_bytes(&self) -> usize {
        // SAFETY: the arena lives as long as the JIT (its layer frees it).
        unsafe { near_memory::hj_arena_committed(self.arena) }
    }

    /// Defines symbols at fixed addresses in the main JITDylib (callable,
    /// exported): the C API's `absoluteSymbols`. Calls of those within
    /// reach ([`Jit::within_call_reach`]) will be direct.
    pub(crate) fn define_absolute(&self, symbols: &[(&str, usize)]) -> Result<(), String> {
        if symbols.is_empty() {
            return Ok(());
        }
        let mut pairs = Vec::with_capacity(symbols.len());
        for &(name, address) in symbols {
            let c_name = c_string(name)?;
            // SAFETY: interning copies the name; the returned entry is
            // retained for us, and LLVMOrcAbsoluteSymbols takes it over.
            let interned = unsafe { LLVMOrcLLJITMangleAndIntern(self.raw, c_name.as_ptr()) };
            pairs.push(LLVMOrcCSymbolMapPair {
                Name: interned,
                Sym: LLVMJITEvaluatedSymbol {
                    Address: address as u64,
                    Flags: LLVMJITSymbolFlags {
                        GenericFlags: (LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported
                            as u8)
                            | (LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8),
                        TargetFlags: 0,
                    },
                },
            });
        }
        // SAFETY: the unit takes ownership of the interned names (not the
        // array, which we free); on a failed define the unit stays ours and
        // is disposed here.
        unsafe {
            let unit = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
            let result = check_error(LLVMOrcJITDylibDefine(self.main, unit));
            if result.is_err() {
                LLVMOrcDisposeMaterializationUnit(unit);
            }
            result?;
        }
        let mut near = self
            .near
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for &(name, address) in symbols {
            if self.within_call_reach(address) {
                near.insert(name.as_bytes().to_vec());
            }
        }
        Ok(())
    }

    /// The address of `name` in the main JITDylib (or what it links
    /// against), linking whatever object defines it first.
    pub(crate) fn lookup(&self, name: &str) -> Result<u64, String> {
        let c_name = c_string(name)?;
        let mut address = 0;
        // SAFETY: the name is only read; the error, if any, is owned by us.
        unsafe { check_error(LLVMOrcLLJITLookup(self.raw, &mut address, c_name.as_ptr()))? };
        Ok(address)
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: owned, disposed once; this frees all JIT'd code, so the
        // engine drops the Jit only after no guest code can run.
        if let Err(message) = unsafe { check_error(LLVMOrcDisposeLLJIT(self.raw)) } {
            tracing::warn!(target: "hyperjit", "disposing the JIT: {message}");
        }
    }
}

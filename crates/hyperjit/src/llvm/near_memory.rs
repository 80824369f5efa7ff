//! The declarations of `near_memory.c`: the JIT's memory manager (JIT'd code
//! and data within 2 GiB of the host's code) and the atomic entry patch.
//! `jit.rs` hands the manager to RuntimeDyld; `patchable.rs` owns the entry.

use std::ffi::{c_char, c_int, c_uint, c_void};

extern "C" {
    pub(super) fn hj_arena_new(anchor: *const c_void) -> *mut c_void;
    pub(super) fn hj_memory_create_context(arena: *mut c_void) -> *mut c_void;
    pub(super) fn hj_memory_notify_terminating(arena: *mut c_void);
    pub(super) fn hj_memory_allocate_code(
        memory: *mut c_void,
        size: usize,
        alignment: c_uint,
        section_id: c_uint,
        name: *const c_char,
    ) -> *mut u8;
    pub(super) fn hj_memory_allocate_data(
        memory: *mut c_void,
        size: usize,
        alignment: c_uint,
        section_id: c_uint,
        name: *const c_char,
        read_only: c_int,
    ) -> *mut u8;
    pub(super) fn hj_memory_finalize(memory: *mut c_void, error: *mut *mut c_char) -> c_int;
    pub(super) fn hj_memory_destroy(memory: *mut c_void);
    pub(super) fn hj_arena_committed(arena: *mut c_void) -> usize;
    pub(super) fn hj_arena_within_call_reach(arena: *mut c_void, target: usize) -> c_int;
    pub(super) fn hj_arena_note_near_calls(arena: *mut c_void);
    pub(super) fn hj_redirect_entry(from: *mut c_void, to: *const c_void) -> c_int;
    /// The bytes every patchable function's entry holds.
    pub(super) static hj_patchable_entry: [u8; 5];
    /// The alignment a patchable entry needs.
    pub(super) static hj_patchable_entry_alignment: c_uint;
}

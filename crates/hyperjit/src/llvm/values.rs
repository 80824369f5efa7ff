//! Read-only views of IR values that the rewrites share: walking lists and
//! use lists, names, attributes, constant strings.

use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMAttributeRef, LLVMModuleRef, LLVMValueRef};
use llvm_sys::{LLVMAttributeFunctionIndex, LLVMOpcode};
use std::ffi::c_uint;

/// Iterates a module's functions, global variables or other value lists.
pub(super) fn iterate(
    first: LLVMValueRef,
    next: unsafe extern "C" fn(LLVMValueRef) -> LLVMValueRef,
) -> impl Iterator<Item = LLVMValueRef> {
    std::iter::successors((!first.is_null()).then_some(first), move |&value| {
        // SAFETY: `value` is a live element of the list `first` came from.
        let following = unsafe { next(value) };
        (!following.is_null()).then_some(following)
    })
}

/// The name of a global value, or "" for an unnamed one.
pub(super) fn value_name(value: LLVMValueRef) -> String {
    String::from_utf8_lossy(&value_name_bytes(value)).into_owned()
}

/// The name of a global value as its bytes (bitcode may hold any).
pub(super) fn value_name_bytes(value: LLVMValueRef) -> Vec<u8> {
    let mut len = 0usize;
    // SAFETY: `value` is a live value; the returned pointer is valid for `len`
    // bytes while the value lives, and we copy it at once.
    unsafe {
        let ptr = LLVMGetValueName2(value, &mut len);
        if ptr.is_null() {
            return Vec::new();
        }
        std::slice::from_raw_parts(ptr.cast::<u8>(), len).to_vec()
    }
}

/// Whether an object file can hold `name` as it is: no NUL byte (symbol
/// tables are C strings), and UTF-8 (the engine's tables are `String`s).
pub(super) fn is_object_file_name(name: &[u8]) -> bool {
    !name.contains(&0) && std::str::from_utf8(name).is_ok()
}

/// Renames a live value (LLVM copies the name).
pub(super) fn set_value_name(value: LLVMValueRef, name: &str) {
    // SAFETY: `value` is live; the pointer and length describe `name`.
    unsafe { LLVMSetValueName2(value, name.as_ptr().cast(), name.len()) }
}

pub(super) fn attribute_kind(name: &str) -> c_uint {
    // SAFETY: the pointer and length describe `name`'s bytes.
    unsafe { LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len()) }
}

pub(super) fn has_function_attribute(function: LLVMValueRef, kind: c_uint) -> bool {
    // SAFETY: `function` is a live function; the function index is valid.
    unsafe { !LLVMGetEnumAttributeAtIndex(function, LLVMAttributeFunctionIndex, kind).is_null() }
}

/// The distinct users of `value`, collected before any of them is rewritten.
pub(super) fn users(value: LLVMValueRef) -> Vec<LLVMValueRef> {
    let mut seen = Vec::new();
    // SAFETY: walking the use list of a live value without modifying it.
    unsafe {
        let mut use_ = LLVMGetFirstUse(value);
        while !use_.is_null() {
            let user = LLVMGetUser(use_);
            if !seen.contains(&user) {
                seen.push(user);
            }
            use_ = LLVMGetNextUse(use_);
        }
    }
    seen
}

/// The string a constant pointer argument points at, if it is a constant
/// global holding a NUL-terminated byte array (what clang makes of a string
/// literal), possibly through a zero-index GEP.
pub(super) fn constant_c_string(value: LLVMValueRef) -> Option<String> {
    // SAFETY: only inspecting live constants; LLVMGetAsString returns a
    // pointer into the constant's data, valid for `len` bytes, copied at once.
    unsafe {
        let mut global = value;
        if !LLVMIsAConstantExpr(value).is_null()
            && LLVMGetConstOpcode(value) == LLVMOpcode::LLVMGetElementPtr
        {
            global = LLVMGetOperand(value, 0);
        }
        if LLVMIsAGlobalVariable(global).is_null() || LLVMIsGlobalConstant(global) == 0 {
            return None;
        }
        let initializer = LLVMGetInitializer(global);
        if initializer.is_null() || LLVMIsConstantString(initializer) == 0 {
            return None;
        }
        let mut len = 0usize;
        let data = LLVMGetAsString(initializer, &mut len);
        let bytes = std::slice::from_raw_parts(data.cast::<u8>(), len);
        let end = bytes.iter().position(|&b| b == 0)?;
        String::from_utf8(bytes[..end].to_vec()).ok()
    }
}

/// `function`'s string attribute `key`; null if it has none.
///
/// # Safety
/// `function` must be a live function.
pub(super) unsafe fn string_attribute(function: LLVMValueRef, key: &str) -> LLVMAttributeRef {
    // SAFETY: per this function's contract; the key's bytes are read.
    unsafe {
        LLVMGetStringAttributeAtIndex(
            function,
            LLVMAttributeFunctionIndex,
            key.as_ptr().cast(),
            key.len() as c_uint,
        )
    }
}

/// Gives `to` the attributes of `from` that choose a subtarget (CPU,
/// features, tuning, vector widths), so that both are compiled for one:
/// LLVM builds one per distinct set (a third of a megabyte each), and a
/// stub without them would take the target machine's own.
///
/// # Safety
/// Both must be live functions of one context.
pub(super) unsafe fn copy_target_attributes(from: LLVMValueRef, to: LLVMValueRef) {
    const KEYS: [&str; 5] = [
        "target-cpu",
        "target-features",
        "tune-cpu",
        "min-legal-vector-width",
        "prefer-vector-width",
    ];
    for key in KEYS {
        // SAFETY: per this function's contract; string attributes belong to
        // the shared context.
        unsafe {
            let attribute = string_attribute(from, key);
            if !attribute.is_null() {
                LLVMAddAttributeAtIndex(to, LLVMAttributeFunctionIndex, attribute);
            }
        }
    }
}

/// The global or function `name` of `module`, declared as a byte
/// (`external global i8`) if there is none: a symbol the module needs only
/// the address of.
///
/// # Safety
/// `module` must be live.
pub(super) unsafe fn external_symbol(
    module: LLVMModuleRef,
    name: &str,
) -> Result<LLVMValueRef, String> {
    let c_name = super::c_string(name)?;
    // SAFETY: per this function's contract.
    unsafe {
        let global = LLVMGetNamedGlobal(module, c_name.as_ptr());
        if !global.is_null() {
            return Ok(global);
        }
        let function = LLVMGetNamedFunction(module, c_name.as_ptr());
        if !function.is_null() {
            return Ok(function);
        }
        let byte = LLVMInt8TypeInContext(LLVMGetModuleContext(module));
        Ok(LLVMAddGlobal(module, byte, c_name.as_ptr()))
    }
}

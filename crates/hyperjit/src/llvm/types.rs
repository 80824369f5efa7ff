//! The IR type model hyperjit reasons with: just enough of LLVM's types to
//! check a guest's declaration against a host function, an entry function
//! against `main`'s type, and a new body against the one it replaces.

use super::take_message;
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMTypeRef, LLVMValueRef};
use llvm_sys::LLVMTypeKind;
use std::fmt;

/// The kind of an IR type, as far as hyperjit needs to tell them apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TypeKind {
    Void,
    Int(u32),
    Float,
    Double,
    Pointer,
    /// Anything else, with LLVM's spelling of it.
    Other(String),
}

impl fmt::Display for TypeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeKind::Void => f.write_str("void"),
            TypeKind::Int(bits) => write!(f, "i{bits}"),
            TypeKind::Float => f.write_str("float"),
            TypeKind::Double => f.write_str("double"),
            TypeKind::Pointer => f.write_str("ptr"),
            TypeKind::Other(text) => f.write_str(text),
        }
    }
}

/// A function's IR type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FunctionSignature {
    pub(crate) ret: TypeKind,
    pub(crate) params: Vec<TypeKind>,
    pub(crate) variadic: bool,
}

impl fmt::Display for FunctionSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.ret)?;
        for (i, param) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{param}")?;
        }
        if self.variadic {
            f.write_str(if self.params.is_empty() {
                "..."
            } else {
                ", ..."
            })?;
        }
        f.write_str(")")
    }
}

fn type_kind(ty: LLVMTypeRef) -> TypeKind {
    // SAFETY: `ty` is a live type of a live context; the printed spelling is
    // an owned message, freed by take_message.
    unsafe {
        match LLVMGetTypeKind(ty) {
            LLVMTypeKind::LLVMVoidTypeKind => TypeKind::Void,
            LLVMTypeKind::LLVMIntegerTypeKind => TypeKind::Int(LLVMGetIntTypeWidth(ty)),
            LLVMTypeKind::LLVMFloatTypeKind => TypeKind::Float,
            LLVMTypeKind::LLVMDoubleTypeKind => TypeKind::Double,
            LLVMTypeKind::LLVMPointerTypeKind => TypeKind::Pointer,
            _ => TypeKind::Other(take_message(LLVMPrintTypeToString(ty))),
        }
    }
}

/// The IR type of a live function.
pub(super) fn function_signature(function: LLVMValueRef) -> FunctionSignature {
    // SAFETY: `function` is a live function; its value type is a function
    // type whose parameter list has exactly LLVMCountParamTypes entries.
    unsafe {
        let fn_type = LLVMGlobalGetValueType(function);
        let count = LLVMCountParamTypes(fn_type) as usize;
        let mut params = vec![std::ptr::null_mut(); count];
        LLVMGetParamTypes(fn_type, params.as_mut_ptr());
        FunctionSignature {
            ret: type_kind(LLVMGetReturnType(fn_type)),
            params: params.into_iter().map(type_kind).collect(),
            variadic: LLVMIsFunctionVarArg(fn_type) != 0,
        }
    }
}

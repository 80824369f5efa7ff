//! Callback signatures as data: the types a guest and a host agree on, and
//! the values dynamic callbacks receive.

use crate::llvm::{FunctionSignature, TypeKind};
use std::fmt;

/// A C type at the guest/host boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    /// C `_Bool` / Rust `bool`.
    Bool,
    /// 8-bit integer (`char`, `i8`, `u8`).
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer (`int`).
    I32,
    /// 64-bit integer (`long`, `intptr_t`, `size_t`).
    I64,
    /// `float`.
    F32,
    /// `double`.
    F64,
    /// Any pointer.
    Ptr,
    /// No value (results only).
    Void,
}

impl Ty {
    /// The LLVM IR spelling.
    pub(crate) fn ir(self) -> &'static str {
        match self {
            Ty::Bool => "i1",
            Ty::I8 => "i8",
            Ty::I16 => "i16",
            Ty::I32 => "i32",
            Ty::I64 => "i64",
            Ty::F32 => "float",
            Ty::F64 => "double",
            Ty::Ptr => "ptr",
            Ty::Void => "void",
        }
    }

    fn matches(self, kind: &TypeKind) -> bool {
        matches!(
            (self, kind),
            (Ty::Bool, TypeKind::Int(1))
                | (Ty::I8, TypeKind::Int(8))
                | (Ty::I16, TypeKind::Int(16))
                | (Ty::I32, TypeKind::Int(32))
                | (Ty::I64, TypeKind::Int(64))
                | (Ty::F32, TypeKind::Float)
                | (Ty::F64, TypeKind::Double)
                | (Ty::Ptr, TypeKind::Pointer)
                | (Ty::Void, TypeKind::Void)
        )
    }
}

/// How a small integer is widened when passed (the C ABI's `signext` /
/// `zeroext`): it must match on both sides of a call.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Extension {
    None,
    Sign,
    Zero,
}

impl Extension {
    pub(crate) fn ir(self) -> &'static str {
        match self {
            Extension::None => "",
            Extension::Sign => " signext",
            Extension::Zero => " zeroext",
        }
    }
}

/// A type with how it is widened.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AbiType {
    pub ty: Ty,
    pub extension: Extension,
}

impl AbiType {
    /// The default widening for a type: signed small integers, zero-extended
    /// booleans.
    pub(crate) fn of(ty: Ty) -> AbiType {
        let extension = match ty {
            Ty::Bool => Extension::Zero,
            Ty::I8 | Ty::I16 => Extension::Sign,
            _ => Extension::None,
        };
        AbiType { ty, extension }
    }

    /// `i8 signext` and the like: a parameter in IR.
    pub(crate) fn ir(self) -> String {
        format!("{}{}", self.ty.ir(), self.extension.ir())
    }

    /// `signext i8` and the like: a result in IR (attributes come first).
    pub(crate) fn result_ir(self) -> String {
        format!("{} {}", self.extension.ir().trim_start(), self.ty.ir())
            .trim_start()
            .to_string()
    }
}

/// A function type at the guest/host boundary.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Signature {
    pub(crate) params: Vec<AbiType>,
    pub(crate) result: AbiType,
}

impl Signature {
    /// A signature from parameter types and a result type (`Ty::Void` for
    /// none). Small integers are taken as signed.
    pub fn new(params: impl IntoIterator<Item = Ty>, result: Ty) -> Signature {
        Signature {
            params: params.into_iter().map(AbiType::of).collect(),
            result: AbiType::of(result),
        }
    }

    pub(crate) fn from_abi(params: Vec<AbiType>, result: AbiType) -> Signature {
        Signature { params, result }
    }

    /// The parameter types.
    pub fn params(&self) -> impl ExactSizeIterator<Item = Ty> + '_ {
        self.params.iter().map(|p| p.ty)
    }

    /// The result type.
    pub fn result(&self) -> Ty {
        self.result.ty
    }

    /// The signature of a guest function of IR type `declared`, if every
    /// type in it is one a [`Value`] holds (small integers taken as
    /// signed, as C's are).
    pub(crate) fn of_ir(declared: &FunctionSignature) -> Option<Signature> {
        const TYPES: [Ty; 9] = [
            Ty::Bool,
            Ty::I8,
            Ty::I16,
            Ty::I32,
            Ty::I64,
            Ty::F32,
            Ty::F64,
            Ty::Ptr,
            Ty::Void,
        ];
        let of = |kind: &TypeKind| TYPES.into_iter().find(|ty| ty.matches(kind));
        if declared.variadic {
            return None;
        }
        let params = declared
            .params
            .iter()
            .map(|kind| of(kind).filter(|&ty| ty != Ty::Void))
            .collect::<Option<Vec<Ty>>>()?;
        Some(Signature::new(params, of(&declared.ret)?))
    }

    /// Whether a guest declaration has exactly this type.
    pub(crate) fn matches(&self, declared: &FunctionSignature) -> bool {
        !declared.variadic
            && self.result.ty.matches(&declared.ret)
            && self.params.len() == declared.params.len()
            && self
                .params
                .iter()
                .zip(&declared.params)
                .all(|(p, d)| p.ty.matches(d))
    }
}

impl fmt::Display for Signature {
    /// LLVM's spelling, as in the guest's IR: `i32 (i32, ptr)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (", self.result.ty.ir())?;
        for (i, param) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(param.ty.ir())?;
        }
        f.write_str(")")
    }
}

/// A value passed to or returned from a dynamic callback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// A `Ty::Bool`.
    Bool(bool),
    /// A `Ty::I8`.
    I8(i8),
    /// A `Ty::I16`.
    I16(i16),
    /// A `Ty::I32`.
    I32(i32),
    /// A `Ty::I64`.
    I64(i64),
    /// A `Ty::F32`.
    F32(f32),
    /// A `Ty::F64`.
    F64(f64),
    /// A `Ty::Ptr`, as an address.
    Ptr(usize),
    /// No value (`Ty::Void`).
    Void,
}

impl Value {
    /// This value's type.
    pub fn ty(&self) -> Ty {
        match self {
            Value::Bool(_) => Ty::Bool,
            Value::I8(_) => Ty::I8,
            Value::I16(_) => Ty::I16,
            Value::I32(_) => Ty::I32,
            Value::I64(_) => Ty::I64,
            Value::F32(_) => Ty::F32,
            Value::F64(_) => Ty::F64,
            Value::Ptr(_) => Ty::Ptr,
            Value::Void => Ty::Void,
        }
    }

    /// Decodes a 64-bit slot the dynamic thunk filled (see `thunk.rs`).
    pub(crate) fn from_slot(ty: Ty, slot: u64) -> Value {
        match ty {
            Ty::Bool => Value::Bool(slot & 1 != 0),
            Ty::I8 => Value::I8(slot as i8),
            Ty::I16 => Value::I16(slot as i16),
            Ty::I32 => Value::I32(slot as i32),
            Ty::I64 => Value::I64(slot as i64),
            Ty::F32 => Value::F32(f32::from_bits(slot as u32)),
            Ty::F64 => Value::F64(f64::from_bits(slot)),
            Ty::Ptr => Value::Ptr(slot as usize),
            Ty::Void => Value::Void,
        }
    }

    /// Encodes this value into a 64-bit slot for the dynamic thunk.
    pub(crate) fn to_slot(self) -> u64 {
        match self {
            Value::Bool(v) => u64::from(v),
            Value::I8(v) => v as i64 as u64,
            Value::I16(v) => v as i64 as u64,
            Value::I32(v) => v as i64 as u64,
            Value::I64(v) => v as u64,
            Value::F32(v) => u64::from(v.to_bits()),
            Value::F64(v) => v.to_bits(),
            Value::Ptr(v) => v as u64,
            Value::Void => 0,
        }
    }
}

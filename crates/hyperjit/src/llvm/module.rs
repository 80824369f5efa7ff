//! An owned LLVM module: parsing, verification, linking, and the few IR
//! rewrites the ORC C API leaves to us (static constructor tables,
//! thread-local lowering, interposition of libc's exit functions).

use super::{c_string, take_message, Context};
use llvm_sys::analysis::{LLVMVerifierFailureAction, LLVMVerifyModule};
use llvm_sys::core::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::linker::LLVMLinkModules2;
use llvm_sys::prelude::{LLVMModuleRef, LLVMTypeRef, LLVMValueRef};
use llvm_sys::target::{LLVMABIAlignmentOfType, LLVMABISizeOfType, LLVMGetModuleDataLayout};
use llvm_sys::{
    LLVMAttributeFunctionIndex, LLVMAttributeReturnIndex, LLVMLinkage, LLVMOpcode, LLVMTypeKind,
};
use std::ffi::{c_uint, CStr};
use std::fmt;
use std::sync::Arc;

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

/// A symbol the module uses but does not define.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UndefinedSymbol {
    pub(crate) name: String,
    /// `extern_weak`: may stay unresolved (its address is then null).
    pub(crate) weak: bool,
}

/// An owned LLVM module. It keeps its context alive.
pub(crate) struct Module {
    raw: LLVMModuleRef,
    context: Arc<Context>,
}

// SAFETY: a module belongs to one context and is only used by one thread at a
// time (the engine's lock, or the thread that owns it before it is handed
// over); LLVM has no thread affinity for modules.
unsafe impl Send for Module {}

/// Iterates a module's functions, global variables or other value lists.
fn iterate(
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
fn value_name(value: LLVMValueRef) -> String {
    let mut len = 0usize;
    // SAFETY: `value` is a live value; the returned pointer is valid for `len`
    // bytes while the value lives, and we copy it at once.
    unsafe {
        let ptr = LLVMGetValueName2(value, &mut len);
        if ptr.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(ptr.cast::<u8>(), len)).into_owned()
    }
}

fn type_kind(ty: LLVMTypeRef) -> TypeKind {
    // SAFETY: `ty` is a live type of a live context.
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

fn function_signature(function: LLVMValueRef) -> FunctionSignature {
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

fn attribute_kind(name: &str) -> c_uint {
    // SAFETY: the pointer and length describe `name`'s bytes.
    unsafe { LLVMGetEnumAttributeKindForName(name.as_ptr().cast(), name.len()) }
}

fn has_function_attribute(function: LLVMValueRef, kind: c_uint) -> bool {
    // SAFETY: `function` is a live function; the function index is valid.
    unsafe { !LLVMGetEnumAttributeAtIndex(function, LLVMAttributeFunctionIndex, kind).is_null() }
}

/// The distinct users of `value`, collected before any of them is rewritten.
fn users(value: LLVMValueRef) -> Vec<LLVMValueRef> {
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

/// The constant globals that hold addresses of `function`'s labels (tables
/// for computed goto), found by following those addresses to their users;
/// or, as the error, where they go that a copy of the function could not
/// follow: into memory, a call, a return value or a writable global.
///
/// # Safety
/// `function` must be a live function.
unsafe fn label_tables(function: LLVMValueRef) -> Result<Vec<LLVMValueRef>, String> {
    // SAFETY: users of a live function are live values.
    let mut pending: Vec<LLVMValueRef> = users(function)
        .into_iter()
        .filter(|&user| unsafe { !LLVMIsABlockAddress(user).is_null() })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut tables = Vec::new();
    while let Some(value) = pending.pop() {
        if !seen.insert(value) {
            continue; // phis may go round in a loop
        }
        for user in users(value) {
            // SAFETY: users of a live value are live values.
            unsafe {
                if !LLVMIsAGlobalVariable(user).is_null() {
                    if LLVMIsGlobalConstant(user) == 0 {
                        let global = value_name(user);
                        return Err(format!("are stored in the writable global '{global}'"));
                    }
                    tables.push(user);
                } else if !LLVMIsAInstruction(user).is_null() {
                    match LLVMGetInstructionOpcode(user) {
                        LLVMOpcode::LLVMStore => return Err("are stored to memory".to_string()),
                        LLVMOpcode::LLVMCall | LLVMOpcode::LLVMInvoke | LLVMOpcode::LLVMCallBr => {
                            return Err("are passed to a call".to_string())
                        }
                        LLVMOpcode::LLVMRet => return Err("are returned".to_string()),
                        // Values carrying the address on.
                        LLVMOpcode::LLVMPHI
                        | LLVMOpcode::LLVMSelect
                        | LLVMOpcode::LLVMBitCast
                        | LLVMOpcode::LLVMPtrToInt
                        | LLVMOpcode::LLVMIntToPtr
                        | LLVMOpcode::LLVMAddrSpaceCast
                        | LLVMOpcode::LLVMGetElementPtr => pending.push(user),
                        _ => {}
                    }
                } else if !LLVMIsAConstant(user).is_null() {
                    pending.push(user);
                }
            }
        }
    }
    Ok(tables)
}

/// The string a constant pointer argument points at, if it is a constant
/// global holding a NUL-terminated byte array (what clang makes of a string
/// literal), possibly through a zero-index GEP.
fn constant_c_string(value: LLVMValueRef) -> Option<String> {
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

impl Module {
    /// Parses LLVM IR text or bitcode (told apart by LLVM from the bytes).
    /// Errors carry `name:line:col` for text.
    pub(crate) fn parse(
        context: &Arc<Context>,
        name: &str,
        bytes: &[u8],
    ) -> Result<Module, String> {
        let c_name = c_string(name)?;
        let mut raw = std::ptr::null_mut();
        let mut message = std::ptr::null_mut();
        // SAFETY: the buffer copies `bytes` (and NUL-terminates them);
        // LLVMParseIRInContext takes ownership of the buffer; on failure it
        // sets `message`, which we own.
        let failed = unsafe {
            let buffer = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                bytes.as_ptr().cast(),
                bytes.len(),
                c_name.as_ptr(),
            );
            LLVMParseIRInContext(context.raw(), buffer, &mut raw, &mut message) != 0
        };
        if failed || raw.is_null() {
            // SAFETY: `message` is null or an LLVM-allocated string we own.
            let text = unsafe { take_message(message) };
            let diagnostics = context.take_diagnostics().join("\n");
            return Err(match (text.trim().is_empty(), diagnostics.is_empty()) {
                (false, _) => text.trim_end().to_string(),
                (true, false) => diagnostics,
                (true, true) => format!("{name}: could not be parsed"),
            });
        }
        Ok(Module {
            raw,
            context: Arc::clone(context),
        })
    }

    /// An empty module for the same target as `like`.
    fn empty(context: &Arc<Context>, name: &str, like: &Module) -> Result<Module, String> {
        let c_name = c_string(name)?;
        // SAFETY: the module is created in the live context and owned by the
        // wrapper; the target strings are read from the live `like` and
        // copied by LLVM.
        unsafe {
            let raw = LLVMModuleCreateWithNameInContext(c_name.as_ptr(), context.raw());
            LLVMSetTarget(raw, LLVMGetTarget(like.raw));
            LLVMSetDataLayout(raw, LLVMGetDataLayoutStr(like.raw));
            Ok(Module {
                raw,
                context: Arc::clone(context),
            })
        }
    }

    /// Runs LLVM's verifier.
    pub(crate) fn verify(&self) -> Result<(), String> {
        let mut message = std::ptr::null_mut();
        // SAFETY: `self.raw` is live; `message` is set to an owned string.
        let broken = unsafe {
            LLVMVerifyModule(
                self.raw,
                LLVMVerifierFailureAction::LLVMReturnStatusAction,
                &mut message,
            ) != 0
        };
        // SAFETY: `message` is null or owned by us.
        let text = unsafe { take_message(message) };
        if broken {
            Err(text.trim_end().to_string())
        } else {
            Ok(())
        }
    }

    pub(crate) fn raw(&self) -> LLVMModuleRef {
        self.raw
    }

    /// Links `other` into this module (LLVM's IR linker: the rules of a
    /// static link between the two).
    pub(crate) fn link_in(&mut self, other: Module) -> Result<(), String> {
        let source = other.raw;
        std::mem::forget(other);
        self.context.take_diagnostics();
        // SAFETY: both modules are live and belong to the same context;
        // LLVMLinkModules2 destroys `source` whatever the outcome, which is
        // why `other` was forgotten above.
        let failed = unsafe { LLVMLinkModules2(self.raw, source) != 0 };
        let diagnostics = self.context.take_diagnostics();
        if failed {
            let errors: Vec<_> = diagnostics
                .into_iter()
                .filter(|d| d.starts_with("error"))
                .collect();
            Err(if errors.is_empty() {
                "the IR linker failed".to_string()
            } else {
                errors.join("\n")
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn target_triple(&self) -> String {
        // SAFETY: LLVMGetTarget returns a string owned by the live module.
        unsafe { CStr::from_ptr(LLVMGetTarget(self.raw)) }
            .to_string_lossy()
            .into_owned()
    }

    pub(crate) fn set_target(&mut self, triple: &str, data_layout: &str) -> Result<(), String> {
        let triple = c_string(triple)?;
        let data_layout = c_string(data_layout)?;
        // SAFETY: LLVM copies both strings.
        unsafe {
            LLVMSetTarget(self.raw, triple.as_ptr());
            LLVMSetDataLayout(self.raw, data_layout.as_ptr());
        }
        Ok(())
    }

    fn functions(&self) -> impl Iterator<Item = LLVMValueRef> {
        // SAFETY: `self.raw` is live.
        iterate(
            unsafe { LLVMGetFirstFunction(self.raw) },
            LLVMGetNextFunction,
        )
    }

    fn global_variables(&self) -> impl Iterator<Item = LLVMValueRef> {
        // SAFETY: `self.raw` is live.
        iterate(unsafe { LLVMGetFirstGlobal(self.raw) }, LLVMGetNextGlobal)
    }

    fn aliases(&self) -> impl Iterator<Item = LLVMValueRef> {
        // SAFETY: `self.raw` is live.
        iterate(
            unsafe { LLVMGetFirstGlobalAlias(self.raw) },
            LLVMGetNextGlobalAlias,
        )
    }

    /// How many defined functions carry `optnone` (clang's -O0 marks all).
    pub(crate) fn count_optnone_functions(&self) -> usize {
        let optnone = attribute_kind("optnone");
        self.functions()
            // SAFETY: `f` is a live function of this module.
            .filter(|&f| unsafe { LLVMIsDeclaration(f) } == 0)
            .filter(|&f| has_function_attribute(f, optnone))
            .count()
    }

    /// Drops `optnone` and the `noinline` that comes with it, so the pass
    /// pipeline optimizes those functions. Returns how many were changed.
    pub(crate) fn strip_optnone(&mut self) -> usize {
        let optnone = attribute_kind("optnone");
        let noinline = attribute_kind("noinline");
        let mut changed = 0;
        for function in self.functions().collect::<Vec<_>>() {
            if has_function_attribute(function, optnone) {
                // SAFETY: removing function attributes of a live function.
                unsafe {
                    LLVMRemoveEnumAttributeAtIndex(function, LLVMAttributeFunctionIndex, optnone);
                    LLVMRemoveEnumAttributeAtIndex(function, LLVMAttributeFunctionIndex, noinline);
                }
                changed += 1;
            }
        }
        changed
    }

    /// Functions and variables the module references without defining them
    /// (intrinsics excluded).
    pub(crate) fn undefined_symbols(&self) -> Vec<UndefinedSymbol> {
        let referenced = |value: LLVMValueRef| {
            // SAFETY: `value` is a live global value of this module.
            unsafe { LLVMIsDeclaration(value) != 0 && !LLVMGetFirstUse(value).is_null() }
        };
        let weak = |value: LLVMValueRef| {
            // SAFETY: as above.
            unsafe { LLVMGetLinkage(value) == LLVMLinkage::LLVMExternalWeakLinkage }
        };
        let functions = self
            .functions()
            // SAFETY: `f` is a live function.
            .filter(|&f| unsafe { LLVMGetIntrinsicID(f) } == 0);
        functions
            .chain(self.global_variables())
            .filter(|&v| referenced(v))
            .map(|v| UndefinedSymbol {
                name: value_name(v),
                weak: weak(v),
            })
            .collect()
    }

    /// Names of the externally visible functions, variables and aliases
    /// defined here.
    pub(crate) fn defined_symbols(&self) -> Vec<String> {
        let visible = |value: LLVMValueRef| {
            // SAFETY: `value` is a live global value of this module.
            unsafe {
                LLVMIsDeclaration(value) == 0
                    && !matches!(
                        LLVMGetLinkage(value),
                        LLVMLinkage::LLVMInternalLinkage | LLVMLinkage::LLVMPrivateLinkage
                    )
            }
        };
        self.functions()
            .chain(self.global_variables())
            .chain(self.aliases())
            .filter(|&v| visible(v))
            .map(value_name)
            .collect()
    }

    /// The signature of the function `name`, defined or declared here.
    pub(crate) fn function_signature(&self, name: &str) -> Option<FunctionSignature> {
        let c_name = c_string(name).ok()?;
        // SAFETY: `self.raw` is live; LLVM copies nothing and returns null if
        // there is no such function.
        let function = unsafe { LLVMGetNamedFunction(self.raw, c_name.as_ptr()) };
        (!function.is_null()).then(|| function_signature(function))
    }

    /// Whether `name` is a function defined (not just declared) here.
    pub(crate) fn defines_function(&self, name: &str) -> bool {
        let Ok(c_name) = c_string(name) else {
            return false;
        };
        // SAFETY: as in function_signature.
        unsafe {
            let function = LLVMGetNamedFunction(self.raw, c_name.as_ptr());
            !function.is_null() && LLVMIsDeclaration(function) == 0
        }
    }

    /// Makes every use of the declared function `from` refer to `to` instead
    /// (renaming the declaration, or merging it into an existing `to`).
    /// Does nothing if `from` is not a declaration here.
    pub(crate) fn redirect_declaration(&mut self, from: &str, to: &str) -> Result<bool, String> {
        let c_from = c_string(from)?;
        let c_to = c_string(to)?;
        // SAFETY: `self.raw` is live; renaming copies the new name; with
        // opaque pointers every function value has type `ptr`, so uses of
        // one may be replaced by another before the old one is deleted.
        unsafe {
            let function = LLVMGetNamedFunction(self.raw, c_from.as_ptr());
            if function.is_null() || LLVMIsDeclaration(function) == 0 {
                return Ok(false);
            }
            let existing = LLVMGetNamedFunction(self.raw, c_to.as_ptr());
            if existing.is_null() {
                LLVMSetValueName2(function, to.as_ptr().cast(), to.len());
            } else {
                LLVMReplaceAllUsesWith(function, existing);
                LLVMDeleteFunction(function);
            }
        }
        Ok(true)
    }

    /// For each call of function `callee` whose first argument is a
    /// constant C string, asks `bind(string)` for another function to call
    /// instead (same type) and rebinds the call. Returns the strings bound.
    pub(crate) fn bind_constant_name_calls(
        &mut self,
        callee: &str,
        mut bind: impl FnMut(&str) -> Option<String>,
    ) -> Result<Vec<String>, String> {
        let c_callee = c_string(callee)?;
        let mut bound = Vec::new();
        // SAFETY: walking the users of a live function and rewriting the
        // callee operand (a call's last operand) of call instructions to a
        // function of the same type; users are collected first.
        unsafe {
            let function = LLVMGetNamedFunction(self.raw, c_callee.as_ptr());
            if function.is_null() {
                return Ok(bound);
            }
            let function_type = LLVMGlobalGetValueType(function);
            for user in users(function) {
                if LLVMIsACallInst(user).is_null() || LLVMGetCalledValue(user) != function {
                    continue;
                }
                if LLVMGetNumArgOperands(user) == 0 {
                    continue;
                }
                let Some(name) = constant_c_string(LLVMGetOperand(user, 0)) else {
                    continue;
                };
                let Some(target) = bind(&name) else {
                    continue;
                };
                let c_target = c_string(&target)?;
                let mut replacement = LLVMGetNamedFunction(self.raw, c_target.as_ptr());
                if replacement.is_null() {
                    replacement = LLVMAddFunction(self.raw, c_target.as_ptr(), function_type);
                }
                let callee_index = LLVMGetNumOperands(user) - 1;
                LLVMSetOperand(user, callee_index as c_uint, replacement);
                if !bound.contains(&name) {
                    bound.push(name);
                }
            }
        }
        Ok(bound)
    }

    /// Makes every call of the declared function `name` call `address`
    /// directly (as a constant), leaving other uses with the symbol.
    pub(crate) fn bind_calls_to_address(
        &mut self,
        name: &str,
        address: usize,
    ) -> Result<(), String> {
        let c_name = c_string(name)?;
        // SAFETY: rewriting the callee operand (a call's last operand) of
        // calls of a live function to a constant pointer; users are
        // collected first.
        unsafe {
            let function = LLVMGetNamedFunction(self.raw, c_name.as_ptr());
            if function.is_null() {
                return Ok(());
            }
            let context = LLVMGetModuleContext(self.raw);
            let target = LLVMConstIntToPtr(
                LLVMConstInt(LLVMInt64TypeInContext(context), address as u64, 0),
                self.pointer_type(),
            );
            for user in users(function) {
                if !LLVMIsACallInst(user).is_null() && LLVMGetCalledValue(user) == function {
                    let callee_index = LLVMGetNumOperands(user) - 1;
                    LLVMSetOperand(user, callee_index as c_uint, target);
                }
            }
        }
        Ok(())
    }

    /// Replaces every use of the declared global `name` with null and
    /// deletes the declaration (a weak reference nothing defines).
    pub(crate) fn replace_with_null(&mut self, name: &str) -> Result<(), String> {
        let c_name = c_string(name)?;
        // SAFETY: the value is a live declaration of this module; after RAUW
        // it has no uses and is deleted once.
        unsafe {
            let function = LLVMGetNamedFunction(self.raw, c_name.as_ptr());
            let value = if function.is_null() {
                LLVMGetNamedGlobal(self.raw, c_name.as_ptr())
            } else {
                function
            };
            if value.is_null() || LLVMIsDeclaration(value) == 0 {
                return Ok(());
            }
            LLVMReplaceAllUsesWith(value, LLVMConstNull(self.pointer_type()));
            if function.is_null() {
                LLVMDeleteGlobal(value);
            } else {
                LLVMDeleteFunction(value);
            }
        }
        Ok(())
    }

    /// Gives every internal function and global a unique external (hidden)
    /// name ending in `suffix`, so that code compiled later on its own (a
    /// recompiled or redefined function) can still reach them.
    pub(crate) fn promote_internals(&mut self, suffix: &str) -> Result<usize, String> {
        let mut promoted = 0;
        let values: Vec<LLVMValueRef> = self.functions().chain(self.global_variables()).collect();
        for (index, value) in values.into_iter().enumerate() {
            // SAFETY: renaming and relinking live globals of this module;
            // intrinsics and `llvm.` globals are left alone.
            unsafe {
                if LLVMIsDeclaration(value) != 0 {
                    continue;
                }
                if !matches!(
                    LLVMGetLinkage(value),
                    LLVMLinkage::LLVMInternalLinkage | LLVMLinkage::LLVMPrivateLinkage
                ) {
                    continue;
                }
                let name = value_name(value);
                if name.starts_with("llvm.") {
                    continue;
                }
                let base = if name.is_empty() {
                    format!("__hyperjit.anon.{index}")
                } else {
                    name
                };
                let new_name = format!("{base}{suffix}");
                LLVMSetValueName2(value, new_name.as_ptr().cast(), new_name.len());
                LLVMSetLinkage(value, LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(value, llvm_sys::LLVMVisibility::LLVMHiddenVisibility);
                LLVMSetUnnamedAddress(value, llvm_sys::LLVMUnnamedAddr::LLVMNoUnnamedAddr);
                promoted += 1;
            }
        }
        Ok(promoted)
    }

    /// Makes every defined function's entry patchable: 16-byte aligned and
    /// starting with one 5-byte no-op (`nopl 0(%rax,%rax)`) that a `jmp
    /// rel32` can replace atomically (see `Jit::redirect`). The no-op is the
    /// function's prologue data: LLVM's `patchable-function-entry` would do
    /// the same but adds a section per function, which RuntimeDyld handles
    /// in quadratic time. Returns how many functions were marked.
    pub(crate) fn mark_patchable_entries(&mut self) -> usize {
        const NOP5: [u8; 5] = [0x0f, 0x1f, 0x44, 0x00, 0x00];
        let mut marked = 0;
        for function in self.functions().collect::<Vec<_>>() {
            // SAFETY: setting prologue data (a constant byte array in this
            // module's context) and alignment on a live defined function.
            unsafe {
                if LLVMIsDeclaration(function) != 0 || LLVMGetIntrinsicID(function) != 0 {
                    continue;
                }
                let nop = LLVMConstStringInContext2(
                    LLVMGetModuleContext(self.raw),
                    NOP5.as_ptr().cast(),
                    NOP5.len(),
                    1,
                );
                LLVMSetPrologueData(function, nop);
                if LLVMGetAlignment(function) < 16 {
                    LLVMSetAlignment(function, 16);
                }
                marked += 1;
            }
        }
        marked
    }

    /// The module as bitcode, to keep after code generation: a tenth of the
    /// memory of the module, and untouched by the code generator's IR
    /// passes (CodeGenPrepare and loop strength reduction rewrite the module
    /// they compile; recompiling their output would compound them).
    pub(crate) fn to_bitcode(&self) -> Bitcode {
        // SAFETY: writing a live module; the buffer is owned by us, copied
        // out and disposed here.
        unsafe {
            let buffer = llvm_sys::bit_writer::LLVMWriteBitcodeToMemoryBuffer(self.raw);
            let bytes = std::slice::from_raw_parts(
                LLVMGetBufferStart(buffer).cast::<u8>(),
                LLVMGetBufferSize(buffer),
            )
            .to_vec();
            LLVMDisposeMemoryBuffer(buffer);
            Bitcode(bytes)
        }
    }

    /// Renames the function defined as `from` to `to`.
    pub(crate) fn rename_function(&mut self, from: &str, to: &str) -> Result<(), String> {
        let c_from = c_string(from)?;
        // SAFETY: renaming a live function of this module.
        unsafe {
            let function = LLVMGetNamedFunction(self.raw, c_from.as_ptr());
            if function.is_null() || LLVMIsDeclaration(function) != 0 {
                return Err(format!("no definition of '{from}'"));
            }
            LLVMSetValueName2(function, to.as_ptr().cast(), to.len());
        }
        Ok(())
    }

    fn pointer_type(&self) -> LLVMTypeRef {
        // SAFETY: the module's context is live.
        unsafe { LLVMPointerTypeInContext(LLVMGetModuleContext(self.raw), 0) }
    }

    /// Replaces the appending list `list` (`llvm.global_ctors` or
    /// `llvm.global_dtors`) with a constant table `table` of function
    /// pointers, sorted by priority (stable, so equal priorities keep the
    /// list's order: LLVM's rule). Returns the number of entries.
    pub(crate) fn lower_structor_list(&mut self, list: &str, table: &str) -> Result<usize, String> {
        let c_list = c_string(list)?;
        let c_table = c_string(table)?;
        // SAFETY: reading the initializer of a live global; the list's
        // elements are `{ i32, ptr, ptr }` constants per the LangRef, and we
        // check the operand counts before reading them.
        unsafe {
            let global = LLVMGetNamedGlobal(self.raw, c_list.as_ptr());
            if global.is_null() {
                return Ok(0);
            }
            let mut entries: Vec<(u64, LLVMValueRef)> = Vec::new();
            let initializer = LLVMGetInitializer(global);
            if !initializer.is_null() && LLVMIsAConstantAggregateZero(initializer).is_null() {
                let count = LLVMGetNumOperands(initializer);
                for index in 0..count.max(0) as c_uint {
                    let entry = LLVMGetOperand(initializer, index);
                    if LLVMGetNumOperands(entry) < 2 {
                        continue;
                    }
                    let priority = LLVMGetOperand(entry, 0);
                    let function = LLVMGetOperand(entry, 1);
                    if LLVMIsNull(function) != 0 || LLVMIsAConstantInt(priority).is_null() {
                        continue;
                    }
                    entries.push((LLVMConstIntGetZExtValue(priority), function));
                }
            }
            entries.sort_by_key(|&(priority, _)| priority);
            LLVMDeleteGlobal(global);
            if entries.is_empty() {
                return Ok(0);
            }
            let ptr = self.pointer_type();
            let mut functions: Vec<_> = entries.iter().map(|&(_, f)| f).collect();
            let array = LLVMConstArray2(ptr, functions.as_mut_ptr(), functions.len() as u64);
            let table_global = LLVMAddGlobal(self.raw, LLVMTypeOf(array), c_table.as_ptr());
            LLVMSetInitializer(table_global, array);
            LLVMSetGlobalConstant(table_global, 1);
            Ok(entries.len())
        }
    }

    /// Lowers every thread-local variable to a call of `helper(control)`,
    /// where `control` is `{ i64 size, i64 align, ptr init, i64 key }`: the
    /// JIT linker cannot relocate ELF TLS without LLVM's ORC runtime, which
    /// the C API cannot set up. Returns the number of variables lowered.
    pub(crate) fn lower_thread_locals(&mut self, helper: &str) -> Result<usize, String> {
        let thread_locals: Vec<LLVMValueRef> = self
            .global_variables()
            // SAFETY: `g` is a live global variable.
            .filter(|&g| unsafe { LLVMIsThreadLocal(g) } != 0)
            .collect();
        if thread_locals.is_empty() {
            return Ok(0);
        }
        let c_helper = c_string(helper)?;
        let ptr = self.pointer_type();
        // SAFETY: all values come from this live module and its context; the
        // builder is created and disposed here; every rewritten use is
        // collected before it is changed.
        unsafe {
            let context = LLVMGetModuleContext(self.raw);
            let i64_type = LLVMInt64TypeInContext(context);
            let mut helper_params = [ptr];
            let helper_type = LLVMFunctionType(ptr, helper_params.as_mut_ptr(), 1, 0);
            let mut helper_fn = LLVMGetNamedFunction(self.raw, c_helper.as_ptr());
            if helper_fn.is_null() {
                helper_fn = LLVMAddFunction(self.raw, c_helper.as_ptr(), helper_type);
            }
            let layout = LLVMGetModuleDataLayout(self.raw);
            let mut control_fields = [i64_type, i64_type, ptr, i64_type];
            let control_type = LLVMStructTypeInContext(context, control_fields.as_mut_ptr(), 4, 0);
            let builder = LLVMCreateBuilderInContext(context);
            let result = (|| {
                for &variable in &thread_locals {
                    let name = value_name(variable);
                    if LLVMIsDeclaration(variable) != 0 {
                        if LLVMGetFirstUse(variable).is_null() {
                            continue;
                        }
                        return Err(format!(
                            "thread-local variable '{name}' is defined outside the program; \
                             hyperjit supports thread-locals the program defines"
                        ));
                    }
                    let value_type = LLVMGlobalGetValueType(variable);
                    let size = LLVMABISizeOfType(layout, value_type);
                    let align = (LLVMGetAlignment(variable))
                        .max(LLVMABIAlignmentOfType(layout, value_type))
                        .max(1);
                    let initializer = LLVMGetInitializer(variable);
                    let template = if initializer.is_null() || LLVMIsNull(initializer) != 0 {
                        LLVMConstNull(ptr)
                    } else {
                        let init_name = c_string(&format!("__hyperjit.tls.init.{name}"))?;
                        let template = LLVMAddGlobal(self.raw, value_type, init_name.as_ptr());
                        LLVMSetInitializer(template, initializer);
                        LLVMSetGlobalConstant(template, 1);
                        LLVMSetLinkage(template, LLVMLinkage::LLVMPrivateLinkage);
                        LLVMSetAlignment(template, align);
                        template
                    };
                    let mut fields = [
                        LLVMConstInt(i64_type, size, 0),
                        LLVMConstInt(i64_type, u64::from(align), 0),
                        template,
                        LLVMConstInt(i64_type, 0, 0),
                    ];
                    let control_name = c_string(&format!("__hyperjit.tls.{name}"))?;
                    let control = LLVMAddGlobal(self.raw, control_type, control_name.as_ptr());
                    LLVMSetInitializer(
                        control,
                        LLVMConstNamedStruct(control_type, fields.as_mut_ptr(), 4),
                    );
                    LLVMSetLinkage(control, LLVMLinkage::LLVMPrivateLinkage);
                    LLVMSetAlignment(control, 8);

                    let call_before = |instruction: LLVMValueRef| {
                        LLVMPositionBuilderBefore(builder, instruction);
                        let mut args = [control];
                        LLVMBuildCall2(
                            builder,
                            helper_type,
                            helper_fn,
                            args.as_mut_ptr(),
                            1,
                            c"".as_ptr(),
                        )
                    };
                    for user in users(variable) {
                        if LLVMIsAInstruction(user).is_null() {
                            return Err(format!(
                                "thread-local variable '{name}' is used in a constant expression, \
                                 which hyperjit cannot lower"
                            ));
                        }
                        let called = if LLVMIsACallInst(user).is_null() {
                            std::ptr::null_mut()
                        } else {
                            LLVMGetCalledValue(user)
                        };
                        let is_address_intrinsic = !called.is_null()
                            && LLVMIsAFunction(called) == called
                            && value_name(called).starts_with("llvm.threadlocal.address");
                        if is_address_intrinsic {
                            let address = call_before(user);
                            LLVMReplaceAllUsesWith(user, address);
                            LLVMInstructionEraseFromParent(user);
                        } else if LLVMGetInstructionOpcode(user) == LLVMOpcode::LLVMPHI {
                            for index in 0..LLVMCountIncoming(user) {
                                if LLVMGetIncomingValue(user, index) == variable {
                                    let block = LLVMGetIncomingBlock(user, index);
                                    let address = call_before(LLVMGetBasicBlockTerminator(block));
                                    LLVMSetOperand(user, index, address);
                                }
                            }
                        } else {
                            let address = call_before(user);
                            for index in 0..LLVMGetNumOperands(user).max(0) as c_uint {
                                if LLVMGetOperand(user, index) == variable {
                                    LLVMSetOperand(user, index, address);
                                }
                            }
                        }
                    }
                    LLVMDeleteGlobal(variable);
                }
                Ok(())
            })();
            LLVMDisposeBuilder(builder);
            result.map(|()| thread_locals.len())
        }
    }
}

/// A linked module's IR as bitcode, from which single functions are loaded
/// to be recompiled.
#[derive(Default)]
pub(crate) struct Bitcode(Vec<u8>);

impl Bitcode {
    /// A module with the one function `name` of this bitcode, renamed
    /// `new_name`, and declarations of everything it uses, so it compiles on
    /// its own and links against the code already in the JIT. The bitcode is
    /// read lazily: only that function's body is parsed.
    pub(crate) fn extract_function(
        &self,
        context: &Arc<Context>,
        name: &str,
        new_name: &str,
    ) -> Result<Module, String> {
        let c_name = c_string(name)?;
        context.take_diagnostics();
        let mut raw = std::ptr::null_mut();
        // SAFETY: the buffer refers to our bytes without copying them; the
        // lazy module takes the buffer over on success and lives only within
        // this call (it is linked into a fresh module, which destroys it),
        // while `self` outlives the call. On failure the buffer stays ours.
        let failed = unsafe {
            let buffer = LLVMCreateMemoryBufferWithMemoryRange(
                self.0.as_ptr().cast(),
                self.0.len(),
                c"hyperjit batch".as_ptr(),
                0,
            );
            let failed = llvm_sys::bit_reader::LLVMGetBitcodeModuleInContext2(
                context.raw(),
                buffer,
                &mut raw,
            ) != 0;
            if failed {
                LLVMDisposeMemoryBuffer(buffer);
            }
            failed
        };
        if failed || raw.is_null() {
            return Err(format!(
                "reading kept bitcode: {}",
                context.take_diagnostics().join("\n")
            ));
        }
        let lazy = Module {
            raw,
            context: Arc::clone(context),
        };
        // SAFETY: all values below are live values of the lazy module; the
        // function pass manager is created, run and disposed here (running it
        // materializes the function, which is all it does with no passes).
        unsafe {
            let function = LLVMGetNamedFunction(lazy.raw, c_name.as_ptr());
            if function.is_null() {
                return Err(format!("no definition of '{name}'"));
            }
            let materializer = LLVMCreateFunctionPassManagerForModule(lazy.raw);
            LLVMInitializeFunctionPassManager(materializer);
            LLVMRunFunctionPassManager(materializer, function);
            LLVMFinalizeFunctionPassManager(materializer);
            LLVMDisposePassManager(materializer);
            if LLVMGetFirstBasicBlock(function).is_null() {
                return Err(format!("no definition of '{name}'"));
            }
            let tables = label_tables(function).map_err(|escape| {
                format!(
                    "'{name}' cannot be recompiled: the addresses of its labels {escape}, \
                     where the new body's labels would not replace them"
                )
            })?;
            LLVMSetValueName2(function, new_name.as_ptr().cast(), new_name.len());
            LLVMSetLinkage(function, LLVMLinkage::LLVMExternalLinkage);
            LLVMSetVisibility(function, llvm_sys::LLVMVisibility::LLVMDefaultVisibility);
            llvm_sys::comdat::LLVMSetComdat(function, std::ptr::null_mut());

            for global in lazy.global_variables().collect::<Vec<_>>() {
                if value_name(global).starts_with("llvm.") {
                    LLVMDeleteGlobal(global);
                } else if tables.contains(&global) {
                    // A constant table of the function's own labels (computed
                    // goto): the new body needs one with its own labels, so it
                    // gets a private copy.
                    LLVMSetLinkage(global, LLVMLinkage::LLVMPrivateLinkage);
                } else if LLVMIsDeclaration(global) == 0 {
                    LLVMSetInitializer(global, std::ptr::null_mut());
                    LLVMSetLinkage(global, LLVMLinkage::LLVMExternalLinkage);
                    LLVMSetVisibility(global, llvm_sys::LLVMVisibility::LLVMDefaultVisibility);
                    llvm_sys::comdat::LLVMSetComdat(global, std::ptr::null_mut());
                }
            }
            // An alias is a definition too: what it names is in the JIT
            // already, under its name, so uses of it become a declaration and
            // the alias itself a nameless private one the linker leaves out.
            for alias in lazy.aliases().collect::<Vec<_>>() {
                let alias_name = value_name(alias);
                LLVMSetValueName2(alias, c"".as_ptr(), 0);
                LLVMSetLinkage(alias, LLVMLinkage::LLVMPrivateLinkage);
                if !LLVMGetFirstUse(alias).is_null() {
                    let ty = LLVMGlobalGetValueType(alias);
                    let declaration = if LLVMGetTypeKind(ty) == LLVMTypeKind::LLVMFunctionTypeKind {
                        LLVMAddFunction(lazy.raw, c"".as_ptr(), ty)
                    } else {
                        LLVMAddGlobal(lazy.raw, ty, c"".as_ptr())
                    };
                    LLVMReplaceAllUsesWith(alias, declaration);
                    LLVMSetValueName2(declaration, alias_name.as_ptr().cast(), alias_name.len());
                }
            }
            for other in lazy.functions().collect::<Vec<_>>() {
                if other == function {
                    continue;
                }
                // Deleting a function drops its body whole (the reader loads
                // the body of a function whose labels' addresses it met).
                if LLVMGetFirstUse(other).is_null() {
                    LLVMDeleteFunction(other);
                } else if LLVMIsDeclaration(other) == 0 {
                    declare_instead(lazy.raw, other);
                }
            }
        }
        let mut isolated = Module::empty(context, new_name, &lazy)?;
        isolated.link_in(lazy)?;
        Ok(isolated)
    }

    /// The size of the bitcode in bytes.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// Replaces the defined (or not yet loaded) function `function` of `module`
/// with a declaration of the same name, type and attributes.
///
/// # Safety
/// `function` must be a live function of the live module `module`.
unsafe fn declare_instead(module: LLVMModuleRef, function: LLVMValueRef) {
    // SAFETY: per this function's contract; the attributes are copied from
    // the old function to the new one (same type, so the same indices).
    unsafe {
        let name = value_name(function);
        let ty = LLVMGlobalGetValueType(function);
        let declaration = LLVMAddFunction(module, c"".as_ptr(), ty);
        LLVMSetFunctionCallConv(declaration, LLVMGetFunctionCallConv(function));
        let params = LLVMCountParamTypes(ty);
        let indices = [LLVMAttributeFunctionIndex, LLVMAttributeReturnIndex]
            .into_iter()
            .chain(1..=params);
        for index in indices {
            let count = LLVMGetAttributeCountAtIndex(function, index);
            let mut attributes = vec![std::ptr::null_mut(); count as usize];
            LLVMGetAttributesAtIndex(function, index, attributes.as_mut_ptr());
            for attribute in attributes {
                LLVMAddAttributeAtIndex(declaration, index, attribute);
            }
        }
        // Promoted statics keep their hidden visibility: calls to them stay
        // direct, as in the code they were compiled with.
        LLVMSetVisibility(declaration, LLVMGetVisibility(function));
        LLVMReplaceAllUsesWith(function, declaration);
        LLVMDeleteFunction(function);
        LLVMSetValueName2(declaration, name.as_ptr().cast(), name.len());
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: the module is owned by this wrapper and disposed once; its
        // context is still alive because we hold an Arc to it.
        unsafe { LLVMDisposeModule(self.raw) };
    }
}

#[cfg(test)]
impl Module {
    /// The module as IR text.
    fn to_ir_string(&self) -> String {
        // SAFETY: the module is live; the string is owned by us.
        unsafe { take_message(LLVMPrintModuleToString(self.raw)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALLS: &str = r#"
@.str = private unnamed_addr constant [10 x i8] c"Callback1\00"
@.other = private unnamed_addr constant [6 x i8] c"Other\00"
@buffer = global [10 x i8] zeroinitializer
declare i64 @PerformCustomCallback(ptr, ptr)
define i64 @f(ptr %args) {
  %a = call i64 @PerformCustomCallback(ptr @.str, ptr %args)
  %b = call i64 @PerformCustomCallback(ptr @.other, ptr %args)
  %c = call i64 @PerformCustomCallback(ptr @buffer, ptr %args)
  %ab = add i64 %a, %b
  %abc = add i64 %ab, %c
  ret i64 %abc
}
"#;

    /// Calls with a constant name are rebound when the code is compiled:
    /// the registered one to its thunk; an unknown constant name, and a
    /// name in a mutable buffer, stay with the run-time dispatcher.
    #[test]
    fn constant_name_calls_are_bound_at_compile_time() {
        let context = Arc::new(Context::new());
        let mut module = Module::parse(&context, "calls.ll", CALLS.as_bytes()).unwrap();
        let bound = module
            .bind_constant_name_calls("PerformCustomCallback", |name| {
                (name == "Callback1").then(|| "__hyperjit.pcc.Callback1".to_string())
            })
            .unwrap();
        assert_eq!(bound, ["Callback1"]);
        module.verify().unwrap();
        let ir = module.to_ir_string();
        assert!(
            ir.contains(r#"%a = call i64 @__hyperjit.pcc.Callback1(ptr @.str, ptr %args)"#),
            "{ir}"
        );
        assert!(
            ir.contains("%b = call i64 @PerformCustomCallback(ptr @.other"),
            "{ir}"
        );
        assert!(
            ir.contains("%c = call i64 @PerformCustomCallback(ptr @buffer"),
            "{ir}"
        );
    }

    const PROGRAM: &str = r#"
@counter = global i64 7
@table = global [2 x ptr] [ptr @helper, ptr @divide]
declare i32 @printf(ptr, ...)
define hidden i64 @helper(i64 %x) {
  %y = add i64 %x, 1
  ret i64 %y
}
define i64 @divide(i64 %a, i64 %b) #0 {
  %q = udiv i64 %a, %b
  %c = load i64, ptr @counter
  %h = call i64 @helper(i64 %c)
  %r = add i64 %q, %h
  ret i64 %r
}
define i64 @unrelated() {
  ret i64 0
}
@helper_alias = alias i64 (i64), ptr @helper
@counter_alias = alias i64, ptr @counter
define i64 @through_aliases(i64 %x) {
  %c = load i64, ptr @counter_alias
  %h = call i64 @helper_alias(i64 %x)
  %r = add i64 %c, %h
  ret i64 %r
}
@labels = internal constant [2 x ptr] [ptr blockaddress(@jump, %one), ptr blockaddress(@jump, %two)]
define i64 @jump(i64 %i) {
  %slot = getelementptr [2 x ptr], ptr @labels, i64 0, i64 %i
  %target = load ptr, ptr %slot
  indirectbr ptr %target, [label %one, label %two]
one:
  ret i64 1
two:
  ret i64 2
}
@stored = global ptr null
define i64 @store_label() {
  store ptr blockaddress(@store_label, %target), ptr @stored
  br label %target
target:
  ret i64 0
}
attributes #0 = { "target-cpu"="x86-64" "tune-cpu"="generic" }
"#;

    /// What is kept for recompilation is the IR before code generation, and
    /// a function loaded from it comes alone, with declarations of what it
    /// uses: its callee keeps its attributes and hidden visibility.
    #[test]
    fn kept_bitcode_yields_the_function_as_it_was_before_codegen() {
        let context = Arc::new(Context::new());
        let mut module = Module::parse(&context, "program.ll", PROGRAM.as_bytes()).unwrap();
        let machine = super::super::TargetMachine::host(2).unwrap();
        module
            .set_target(machine.triple(), machine.data_layout())
            .unwrap();
        let kept = module.to_bitcode();
        machine.emit_object(&module).unwrap();
        // The premise: tuned for generic x86-64, the code generator rewrites
        // a 64-bit division into a test and two divisions, in the module.
        let compiled = module.to_ir_string();
        assert_eq!(compiled.matches(" udiv ").count(), 2, "{compiled}");

        for round in 0..3 {
            let new_name = format!("divide.v{round}");
            let extracted = kept
                .extract_function(&context, "divide", &new_name)
                .unwrap();
            extracted.verify().unwrap();
            let ir = extracted.to_ir_string();
            assert_eq!(ir.matches(" udiv ").count(), 1, "{ir}");
            assert!(
                ir.contains(&format!("define i64 @{new_name}(i64 %a, i64 %b) #")),
                "{ir}"
            );
            assert!(ir.contains("declare hidden i64 @helper(i64)"), "{ir}");
            assert!(ir.contains("@counter = external global i64"), "{ir}");
            for absent in [
                "@unrelated",
                "@table",
                "@printf",
                "define i64 @divide(",
                "alias",
            ] {
                assert!(!ir.contains(absent), "{absent} in {ir}");
            }
        }
        // Aliases, defined in the JIT already, become declarations.
        let extracted = kept
            .extract_function(&context, "through_aliases", "through_aliases.v1")
            .unwrap();
        extracted.verify().unwrap();
        let ir = extracted.to_ir_string();
        assert!(ir.contains("declare i64 @helper_alias(i64)"), "{ir}");
        assert!(ir.contains("@counter_alias = external global i64"), "{ir}");
        assert!(!ir.contains(" alias "), "{ir}");
        // A constant table of a function's labels comes along as a private
        // copy holding the new function's labels; stored labels are refused.
        let extracted = kept.extract_function(&context, "jump", "jump.v1").unwrap();
        extracted.verify().unwrap();
        let ir = extracted.to_ir_string();
        assert!(
            ir.contains("private constant [2 x ptr] [ptr blockaddress(@jump.v1, %one), ptr blockaddress(@jump.v1, %two)]"),
            "{ir}"
        );
        let refused = kept.extract_function(&context, "store_label", "store_label.v1");
        assert_eq!(
            refused.err().as_deref(),
            Some(
                "'store_label' cannot be recompiled: the addresses of its labels are stored to \
                 memory, where the new body's labels would not replace them"
            )
        );
        let missing = kept.extract_function(&context, "absent", "absent.v1");
        assert_eq!(missing.err().as_deref(), Some("no definition of 'absent'"));
    }
}

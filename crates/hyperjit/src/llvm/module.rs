//! An owned LLVM module: parsing, verification, IR linking, and the queries
//! the engine asks of it (what it defines and uses, function types, whether
//! it was optimized). The rewrites live beside it, one concept a file:
//! `rebind.rs`, `lower.rs`, `patchable.rs`, `extract.rs`.

use super::cpp::{hj_bitcode_refusal, hj_is_materializable, hj_materialize, hj_materialize_all};
use super::types::function_signature;
use super::values::{
    attribute_kind, has_function_attribute, is_object_file_name, iterate, value_name,
    value_name_bytes,
};
use super::{c_string, take_message, Context, FunctionSignature};
use llvm_sys::analysis::{LLVMVerifierFailureAction, LLVMVerifyModule};
use llvm_sys::bit_reader::LLVMGetBitcodeModuleInContext2;
use llvm_sys::core::*;
use llvm_sys::ir_reader::LLVMParseIRInContext;
use llvm_sys::linker::LLVMLinkModules2;
use llvm_sys::prelude::{LLVMMemoryBufferRef, LLVMModuleRef, LLVMTypeRef, LLVMValueRef};
use llvm_sys::{LLVMAttributeFunctionIndex, LLVMLinkage};
use std::ffi::CStr;
use std::sync::Arc;

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
    pub(super) context: Arc<Context>,
    /// Read lazily, and some function bodies may not be read yet: what
    /// walks uses must read them first (`materialize_all`).
    unread_bodies: bool,
}

/// Whether `bytes` are bitcode, not IR text: raw (`BC` 0xC0DE) or in the
/// wrapper Apple's tools produce (0x0B17C0DE).
pub(crate) fn is_bitcode(bytes: &[u8]) -> bool {
    bytes.starts_with(b"BC\xC0\xDE") || bytes.starts_with(&[0xDE, 0xC0, 0x17, 0x0B])
}

/// Refuses bitcode that LLVM's reader would spend minutes or all memory on
/// before it found it corrupt (`lazy_bitcode.cpp` says which).
fn refuse_unreadable_bitcode(name: &str, bytes: &[u8]) -> Result<(), String> {
    if !is_bitcode(bytes) {
        return Ok(());
    }
    let mut message = std::ptr::null_mut();
    // SAFETY: the scan reads `bytes` within their length and sets `message`,
    // which we own, only when it refuses them.
    let refused = unsafe { hj_bitcode_refusal(bytes.as_ptr(), bytes.len(), &mut message) != 0 };
    match refused {
        // SAFETY: `message` is an LLVM-allocated string we own.
        true => Err(format!("{name}: {}", unsafe { take_message(message) })),
        false => Ok(()),
    }
}

// SAFETY: a module belongs to one context and is only used by one thread at a
// time (the engine's lock, or the thread that owns it before it is handed
// over); LLVM has no thread affinity for modules.
unsafe impl Send for Module {}

impl Module {
    /// Wraps a module LLVM created in `context`.
    ///
    /// # Safety
    /// `raw` must be a live module of `context` that nothing else owns.
    pub(super) unsafe fn from_raw(raw: LLVMModuleRef, context: &Arc<Context>) -> Module {
        Module {
            raw,
            context: Arc::clone(context),
            unread_bodies: false,
        }
    }

    /// Reads bitcode as [`parse`](Self::parse) does, but leaves each
    /// function's body unread until the function is moved out
    /// ([`move_function`](Self::move_function)) or every body is needed
    /// ([`materialize_all`](Self::materialize_all)). IR text is parsed whole.
    pub(crate) fn read_lazily(
        context: &Arc<Context>,
        name: &str,
        bytes: &[u8],
    ) -> Result<Module, String> {
        if !is_bitcode(bytes) {
            return Module::parse(context, name, bytes);
        }
        refuse_unreadable_bitcode(name, bytes)?;
        let c_name = c_string(name)?;
        // SAFETY: the buffer is a copy of `bytes`, so it may outlive them.
        unsafe {
            let buffer = LLVMCreateMemoryBufferWithMemoryRangeCopy(
                bytes.as_ptr().cast(),
                bytes.len(),
                c_name.as_ptr(),
            );
            Module::open_lazily(context, buffer)
        }
        .map_err(|message| format!("{name}: {message}"))
    }

    /// Opens the bitcode in `buffer` with its function bodies unread (see
    /// [`read_lazily`](Self::read_lazily)). The module owns the buffer;
    /// on failure it is disposed of.
    ///
    /// # Safety
    /// `buffer` must be a live memory buffer the caller owns, whose bytes
    /// outlive the module.
    pub(super) unsafe fn open_lazily(
        context: &Arc<Context>,
        buffer: LLVMMemoryBufferRef,
    ) -> Result<Module, String> {
        context.take_diagnostics();
        let mut raw = std::ptr::null_mut();
        // SAFETY: per this function's contract. The reader takes the buffer
        // over on success and leaves it ours on failure.
        let failed = unsafe {
            let failed = LLVMGetBitcodeModuleInContext2(context.raw(), buffer, &mut raw) != 0;
            if failed {
                LLVMDisposeMemoryBuffer(buffer);
            }
            failed
        };
        if failed || raw.is_null() {
            let diagnostics = context.take_diagnostics().join("\n");
            return Err(match diagnostics.trim() {
                "" => "not readable bitcode".to_string(),
                text => text.to_string(),
            });
        }
        // SAFETY: the reader created `raw` in `context` and gave it to us.
        let mut module = unsafe { Module::from_raw(raw, context) };
        module.unread_bodies = true;
        Ok(module)
    }

    /// Records that no body is left unread: every function whose body was
    /// not read has been deleted or made a declaration.
    pub(super) fn forget_unread_bodies(&mut self) {
        self.unread_bodies = false;
    }

    /// Reads every function body not read yet (see
    /// [`read_lazily`](Self::read_lazily)), and verifies them: a body read
    /// now was not verified with its module, and LLVM's passes trust what
    /// they are given (InstCombine looped forever on a fuzzed body whose
    /// instruction used its own value).
    pub(crate) fn materialize_all(&mut self) -> Result<(), String> {
        if !self.unread_bodies {
            return Ok(());
        }
        let mut message = std::ptr::null_mut();
        // SAFETY: a live module; `message` is set to an owned string.
        let failed = unsafe { hj_materialize_all(self.raw, &mut message) != 0 };
        // SAFETY: `message` is null or owned by us.
        let text = unsafe { take_message(message) };
        if failed {
            return Err(format!("reading function bodies: {}", text.trim_end()));
        }
        self.unread_bodies = false;
        self.verify()
    }

    /// Reads `function`'s body if it was not read yet; whether it was
    /// read now.
    ///
    /// # Safety
    /// `function` must be a live function of this module.
    pub(super) unsafe fn materialize(&mut self, function: LLVMValueRef) -> Result<bool, String> {
        // SAFETY: per this function's contract.
        if !self.unread_bodies || unsafe { hj_is_materializable(function) } == 0 {
            return Ok(false);
        }
        let mut message = std::ptr::null_mut();
        // SAFETY: as above; `message` is set to an owned string.
        let failed = unsafe { hj_materialize(function, &mut message) != 0 };
        // SAFETY: `message` is null or owned by us.
        let text = unsafe { take_message(message) };
        if failed {
            return Err(format!(
                "reading the body of '{}': {}",
                value_name(function),
                text.trim_end()
            ));
        }
        Ok(true)
    }

    /// How many functions' bodies are not read yet.
    pub(crate) fn unread_function_count(&self) -> usize {
        if !self.unread_bodies {
            return 0;
        }
        // SAFETY: live functions of this module.
        let unread = |&f: &LLVMValueRef| unsafe { hj_is_materializable(f) } != 0;
        self.functions().filter(unread).count()
    }

    /// Whether some function bodies may not be read yet.
    pub(super) fn has_unread_bodies(&self) -> bool {
        self.unread_bodies
    }

    /// Parses LLVM IR text or bitcode (told apart by LLVM from the bytes).
    /// Errors carry `name:line:col` for text.
    pub(crate) fn parse(
        context: &Arc<Context>,
        name: &str,
        bytes: &[u8],
    ) -> Result<Module, String> {
        refuse_unreadable_bitcode(name, bytes)?;
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
        // SAFETY: the parser created `raw` in `context` and gave it to us.
        Ok(unsafe { Module::from_raw(raw, context) })
    }

    /// An empty module for the same target as `like`.
    pub(super) fn empty(
        context: &Arc<Context>,
        name: &str,
        like: &Module,
    ) -> Result<Module, String> {
        let c_name = c_string(name)?;
        // SAFETY: the module is created in the live context and owned by the
        // wrapper; the target strings are read from the live `like` and
        // copied by LLVM.
        unsafe {
            let raw = LLVMModuleCreateWithNameInContext(c_name.as_ptr(), context.raw());
            LLVMSetTarget(raw, LLVMGetTarget(like.raw));
            LLVMSetDataLayout(raw, LLVMGetDataLayoutStr(like.raw));
            Ok(Module::from_raw(raw, context))
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

    /// Names the module and its source file `name`: what it was read from
    /// then no longer shows in its IR (so the same program read from
    /// another path compiles to the same, reusable, object).
    pub(crate) fn set_name(&mut self, name: &str) {
        // SAFETY: a live module; LLVM copies the name.
        unsafe {
            LLVMSetModuleIdentifier(self.raw, name.as_ptr().cast(), name.len());
            LLVMSetSourceFileName(self.raw, name.as_ptr().cast(), name.len());
        }
    }

    pub(crate) fn raw(&self) -> LLVMModuleRef {
        self.raw
    }

    /// A copy of the module, in its context.
    pub(crate) fn copy(&self) -> Module {
        debug_assert!(!self.unread_bodies, "bodies are copied read");
        // SAFETY: cloning a live, fully read module creates a module in the
        // same context that nothing else owns.
        unsafe { Module::from_raw(LLVMCloneModule(self.raw), &self.context) }
    }

    /// Links `other` into this module (LLVM's IR linker: the rules of a
    /// static link between the two).
    pub(crate) fn link_in(&mut self, mut other: Module) -> Result<(), String> {
        // The IR linker is given whole modules.
        self.materialize_all()?;
        other.materialize_all()?;
        let source = other.into_raw();
        self.context.take_diagnostics();
        // SAFETY: both modules are live and belong to the same context
        // (`self` keeps it alive); LLVMLinkModules2 destroys `source`
        // whatever the outcome, which is why `other` gave it up above.
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

    pub(super) fn functions(&self) -> impl Iterator<Item = LLVMValueRef> {
        // SAFETY: `self.raw` is live.
        iterate(
            unsafe { LLVMGetFirstFunction(self.raw) },
            LLVMGetNextFunction,
        )
    }

    pub(super) fn global_variables(&self) -> impl Iterator<Item = LLVMValueRef> {
        // SAFETY: `self.raw` is live.
        iterate(unsafe { LLVMGetFirstGlobal(self.raw) }, LLVMGetNextGlobal)
    }

    pub(super) fn aliases(&self) -> impl Iterator<Item = LLVMValueRef> {
        // SAFETY: `self.raw` is live.
        iterate(
            unsafe { LLVMGetFirstGlobalAlias(self.raw) },
            LLVMGetNextGlobalAlias,
        )
    }

    /// The function named `name`, defined or declared, or null.
    pub(super) fn named_function(&self, name: &str) -> Result<LLVMValueRef, String> {
        let c_name = c_string(name)?;
        // SAFETY: `self.raw` is live; LLVM copies nothing and returns null if
        // there is no such function.
        Ok(unsafe { LLVMGetNamedFunction(self.raw, c_name.as_ptr()) })
    }

    pub(super) fn pointer_type(&self) -> LLVMTypeRef {
        // SAFETY: the module's context is live.
        unsafe { LLVMPointerTypeInContext(LLVMGetModuleContext(self.raw), 0) }
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

    /// Of the defined functions examined (all read ones, and of a lazily
    /// read module up to `sample` bodies read now), how many hold an
    /// alloca that `mem2reg` would promote: what a front end emits and the
    /// optimizer removes first. Returns (such functions, functions
    /// examined).
    pub(crate) fn count_functions_with_promotable_allocas(
        &mut self,
        sample: usize,
    ) -> Result<(usize, usize), String> {
        let mut read_now = 0;
        let (mut promotable, mut examined) = (0, 0);
        for function in self.functions().collect::<Vec<_>>() {
            // SAFETY: a live function of this module.
            if self.unread_bodies && unsafe { hj_is_materializable(function) } != 0 {
                if read_now == sample {
                    continue;
                }
                // SAFETY: as above.
                unsafe { self.materialize(function) }?;
                read_now += 1;
            }
            // SAFETY: as above.
            if unsafe { LLVMIsDeclaration(function) } != 0 {
                continue;
            }
            examined += 1;
            // SAFETY: a live function of this module, read.
            if unsafe { has_promotable_alloca(function) } {
                promotable += 1;
            }
        }
        Ok((promotable, examined))
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

    /// How many instructions the module's function bodies hold.
    pub(crate) fn instruction_count(&self) -> usize {
        let mut count = 0;
        for function in self.functions() {
            // SAFETY: walking the blocks and instructions of a live function
            // without modifying them.
            unsafe {
                let mut block = LLVMGetFirstBasicBlock(function);
                while !block.is_null() {
                    count +=
                        iterate(LLVMGetFirstInstruction(block), LLVMGetNextInstruction).count();
                    block = LLVMGetNextBasicBlock(block);
                }
            }
        }
        count
    }

    /// Functions and variables the module references without defining them
    /// (intrinsics excluded).
    pub(crate) fn undefined_symbols(&self) -> Vec<UndefinedSymbol> {
        let referenced = |value: LLVMValueRef| {
            // SAFETY: `value` is a live global value of this module.
            // Uses in bodies not read yet are not known: every declaration
            // of a lazily read module counts.
            unsafe {
                LLVMIsDeclaration(value) != 0
                    && (self.unread_bodies || !LLVMGetFirstUse(value).is_null())
            }
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

    /// Externally visible names (defined or referenced) that an object
    /// file cannot hold, escaped: a local one is renamed when it is
    /// promoted, but a symbol cut at a NUL byte would link to another.
    pub(crate) fn unlinkable_names(&self) -> Vec<String> {
        self.functions()
            .chain(self.global_variables())
            .chain(self.aliases())
            .filter(|&value| {
                // SAFETY: `value` is a live global value of this module.
                let linkage = unsafe { LLVMGetLinkage(value) };
                !matches!(
                    linkage,
                    LLVMLinkage::LLVMInternalLinkage | LLVMLinkage::LLVMPrivateLinkage
                )
            })
            .map(value_name_bytes)
            .filter(|name| !is_object_file_name(name))
            .map(|name| name.escape_ascii().to_string())
            .collect()
    }

    /// Where the module holds inline assembly, if it does: "module-level
    /// assembly" or "function 'NAME'". Reads every body.
    pub(crate) fn inline_assembly(&mut self) -> Result<Option<String>, String> {
        let mut len = 0;
        // SAFETY: the module is live; the string is owned by it and only
        // its length is read.
        unsafe { LLVMGetModuleInlineAsm(self.raw, &mut len) };
        if len > 0 {
            return Ok(Some("module-level assembly".to_string()));
        }
        self.materialize_all()?;
        for function in self.functions() {
            // SAFETY: walking the blocks and instructions of a live,
            // materialized function; the called operand is read only from
            // calls.
            unsafe {
                let mut block = LLVMGetFirstBasicBlock(function);
                while !block.is_null() {
                    let calls_assembly = iterate(
                        LLVMGetFirstInstruction(block),
                        LLVMGetNextInstruction,
                    )
                    .any(|instruction| {
                        let is_call = !LLVMIsACallInst(instruction).is_null()
                            || !LLVMIsAInvokeInst(instruction).is_null()
                            || !LLVMIsACallBrInst(instruction).is_null();
                        is_call && !LLVMIsAInlineAsm(LLVMGetCalledValue(instruction)).is_null()
                    });
                    if calls_assembly {
                        return Ok(Some(format!("function '{}'", value_name(function))));
                    }
                    block = LLVMGetNextBasicBlock(block);
                }
            }
        }
        Ok(None)
    }

    /// Names of the functions, variables and aliases defined here that no
    /// other definition may join (external linkage: not weak, `linkonce`
    /// or common): two of them are a link error.
    pub(crate) fn strong_definitions(&self) -> Vec<String> {
        self.functions()
            .chain(self.global_variables())
            .chain(self.aliases())
            .filter(|&value| {
                // SAFETY: `value` is a live global value of this module.
                unsafe {
                    LLVMIsDeclaration(value) == 0
                        && LLVMGetLinkage(value) == LLVMLinkage::LLVMExternalLinkage
                }
            })
            .map(value_name)
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

    /// The signature of the function `name`, defined or declared here, or
    /// of the function an alias `name` stands for.
    pub(crate) fn function_signature(&self, name: &str) -> Option<FunctionSignature> {
        let function = self.named_function(name).ok()?;
        if !function.is_null() {
            return Some(function_signature(function));
        }
        // SAFETY: `self.raw` is live; the name is read for `len` bytes; a
        // non-null result is a live alias of this module.
        unsafe {
            let alias = LLVMGetNamedGlobalAlias(self.raw, name.as_ptr().cast(), name.len());
            let is_function = !alias.is_null()
                && LLVMGetTypeKind(LLVMGlobalGetValueType(alias))
                    == llvm_sys::LLVMTypeKind::LLVMFunctionTypeKind;
            is_function.then(|| function_signature(alias))
        }
    }

    /// Whether `name` is a function defined (not just declared) here.
    pub(crate) fn defines_function(&self, name: &str) -> bool {
        self.function_is_declaration(name) == Some(false)
    }

    /// Whether `name` is a function declared (used, not defined) here.
    pub(crate) fn declares_function(&self, name: &str) -> bool {
        self.function_is_declaration(name) == Some(true)
    }

    /// Whether function `name` is only declared here; `None` if there is
    /// no such function.
    fn function_is_declaration(&self, name: &str) -> Option<bool> {
        let function = self.named_function(name).ok()?;
        // SAFETY: a non-null result is a live function of this module.
        (!function.is_null()).then(|| unsafe { LLVMIsDeclaration(function) } != 0)
    }

    /// Renames the function defined as `from` to `to`.
    pub(crate) fn rename_function(&mut self, from: &str, to: &str) -> Result<(), String> {
        let function = self.named_function(from)?;
        // SAFETY: a non-null result is a live function of this module.
        if function.is_null() || unsafe { LLVMIsDeclaration(function) } != 0 {
            return Err(format!("no definition of '{from}'"));
        }
        super::values::set_value_name(function, to);
        Ok(())
    }

    /// Gives the functions `names` (those defined here without a target
    /// CPU of their own: code the engine adds) the target attributes of the
    /// first function that has some, so that the module is compiled for
    /// one subtarget, not for that and the target machine's own.
    pub(crate) fn adopt_target_attributes(&mut self, names: &[&str]) {
        let has_cpu = |function| {
            // SAFETY: callers pass live functions of this module.
            let cpu = unsafe { super::values::string_attribute(function, "target-cpu") };
            !cpu.is_null()
        };
        let Some(model) = self.functions().find(|&function| has_cpu(function)) else {
            return;
        };
        for name in names {
            let Ok(function) = self.named_function(name) else {
                continue;
            };
            if !function.is_null() && !has_cpu(function) {
                // SAFETY: two live functions of this module.
                unsafe { super::values::copy_target_attributes(model, function) };
            }
        }
    }

    /// The module as IR text.
    #[cfg(test)]
    pub(crate) fn to_ir_string(&self) -> String {
        // SAFETY: the module is live; the string is owned by us.
        unsafe { take_message(LLVMPrintModuleToString(self.raw)) }
    }
}

impl Module {
    /// The module, no longer disposed of by this wrapper: for an LLVM call
    /// that takes it over. Its hold on the context is let go (forgetting the
    /// whole wrapper leaked every engine's context, 60 KB and up).
    fn into_raw(self) -> LLVMModuleRef {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the Arc is read out once, and `this` is never used or
        // dropped again.
        drop(unsafe { std::ptr::read(&this.context) });
        this.raw
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // SAFETY: the module is owned by this wrapper and disposed once; its
        // context is still alive because we hold an Arc to it.
        unsafe { LLVMDisposeModule(self.raw) };
    }
}

/// Whether `function`'s entry block allocates a single scalar that is only
/// loaded and stored whole (not volatile), as a front end spills each local
/// and parameter: `mem2reg` would make it a register.
///
/// # Safety
/// `function` must be a live function whose body is read.
unsafe fn has_promotable_alloca(function: LLVMValueRef) -> bool {
    use llvm_sys::LLVMTypeKind::*;
    // SAFETY: per this function's contract; every value walked is live.
    unsafe {
        let entry = LLVMGetFirstBasicBlock(function);
        if entry.is_null() {
            return false;
        }
        let mut instruction = LLVMGetFirstInstruction(entry);
        while !instruction.is_null() {
            if !LLVMIsAAllocaInst(instruction).is_null() {
                let ty = LLVMGetAllocatedType(instruction);
                let scalar = matches!(
                    LLVMGetTypeKind(ty),
                    LLVMIntegerTypeKind
                        | LLVMFloatTypeKind
                        | LLVMDoubleTypeKind
                        | LLVMPointerTypeKind
                );
                let count = LLVMGetOperand(instruction, 0);
                let single =
                    !LLVMIsAConstantInt(count).is_null() && LLVMConstIntGetZExtValue(count) == 1;
                if scalar && single && only_loaded_and_stored(instruction, ty) {
                    return true;
                }
            }
            instruction = LLVMGetNextInstruction(instruction);
        }
        false
    }
}

/// Whether every use of the alloca `slot` of type `ty` is a plain load of
/// a `ty` from it or a store of a `ty` to it.
///
/// # Safety
/// `slot` must be a live alloca.
unsafe fn only_loaded_and_stored(slot: LLVMValueRef, ty: LLVMTypeRef) -> bool {
    // SAFETY: per this function's contract; users of a live value are live.
    unsafe {
        let mut used = LLVMGetFirstUse(slot);
        if used.is_null() {
            return false;
        }
        while !used.is_null() {
            let user = LLVMGetUser(used);
            let plain = if !LLVMIsALoadInst(user).is_null() {
                LLVMGetVolatile(user) == 0 && LLVMTypeOf(user) == ty
            } else if !LLVMIsAStoreInst(user).is_null() {
                let value = LLVMGetOperand(user, 0);
                LLVMGetVolatile(user) == 0 && value != slot && LLVMTypeOf(value) == ty
            } else {
                false
            };
            if !plain {
                return false;
            }
            used = LLVMGetNextUse(used);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitcode declaring a function of `parameters` parameters, the last
    /// one with an attribute (an attribute group for that parameter).
    fn attribute_on_last_of(parameters: usize) -> Vec<u8> {
        let context = Arc::new(Context::new());
        let list = format!("{}i32 noundef", "i32, ".repeat(parameters - 1));
        let ir = format!("declare void @f({list})\ndefine i32 @main() {{\n  ret i32 0\n}}\n");
        let module = Module::parse(&context, "wide.ll", ir.as_bytes()).unwrap();
        module.to_bitcode().bytes().to_vec()
    }

    /// Attribute groups are refused past the parameters clang allows, and
    /// only there: bitcode LLVM wrote reads as it did.
    #[test]
    fn attribute_groups_are_refused_past_65535_parameters() {
        let context = Arc::new(Context::new());
        let widest = attribute_on_last_of(65535);
        assert!(Module::read_lazily(&context, "widest.bc", &widest).is_ok());
        assert!(Module::parse(&context, "widest.bc", &widest).is_ok());
        let wider = attribute_on_last_of(65536);
        let expected = "wider.bc: attribute group 1 is for parameter 65535, beyond the 65535 \
                        parameters a function may have (corrupt bitcode?)";
        let lazily = Module::read_lazily(&context, "wider.bc", &wider).err();
        assert_eq!(lazily.as_deref(), Some(expected));
        let whole = Module::parse(&context, "wider.bc", &wider).err();
        assert_eq!(whole.as_deref(), Some(expected));
    }
}

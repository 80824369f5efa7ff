//! Single-function extraction: a batch's IR is kept as bitcode from before
//! code generation, and recompiling a function reads back just that
//! function, with declarations of everything it uses, so it compiles on its
//! own and links against the code already in the JIT.

use super::values::{set_value_name, users, value_name};
use super::{c_string, Context, Module};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMModuleRef, LLVMValueRef};
use llvm_sys::{
    LLVMAttributeFunctionIndex, LLVMAttributeReturnIndex, LLVMLinkage, LLVMOpcode, LLVMTypeKind,
};
use std::collections::HashSet;
use std::sync::Arc;

/// The constant globals that hold addresses of `function`'s labels (tables
/// for computed goto), found by following those addresses to their users;
/// or, as the error, where they go that a copy of the function could not
/// follow: into memory, a call, a return value or a writable global.
///
/// # Safety
/// `function` must be a live function.
pub(super) unsafe fn label_tables(function: LLVMValueRef) -> Result<Vec<LLVMValueRef>, String> {
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

/// A linked module's IR as bitcode, from which single functions are loaded
/// to be recompiled.
#[derive(Clone, Default)]
pub(crate) struct Bitcode(Arc<[u8]>);

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
        // SAFETY: the buffer refers to our bytes without copying them; the
        // lazy module lives only within this call (it is linked into a
        // fresh module, which destroys it), while `self` outlives the call.
        let mut lazy = unsafe {
            let buffer = LLVMCreateMemoryBufferWithMemoryRange(
                self.0.as_ptr().cast(),
                self.0.len(),
                c"hyperjit batch".as_ptr(),
                0,
            );
            Module::open_lazily(context, buffer)
        }
        .map_err(|message| format!("reading kept bitcode: {message}"))?;
        // SAFETY: a null or live function of the lazy module.
        unsafe {
            let function = LLVMGetNamedFunction(lazy.raw(), c_name.as_ptr());
            if function.is_null() {
                return Err(format!("no definition of '{name}'"));
            }
            lazy.materialize(function)?;
        }
        isolate(&lazy, name, new_name, &HashSet::new())?;
        // Every other function is gone or a declaration now.
        lazy.forget_unread_bodies();
        let mut isolated = Module::empty(context, new_name, &lazy)?;
        isolated.link_in(lazy)?;
        Ok(isolated)
    }

    /// [`extract_function`](Self::extract_function) from IR as it was
    /// before the engine optimized it (kept because the optimizer inlined
    /// functions into `name`): the internal functions and globals it uses
    /// are declared under the names `linked_name` gives them in the JIT
    /// (where linking promoted them); one it gives none (the optimizer
    /// removed it, or it has no name) is kept, a private copy.
    pub(crate) fn extract_unoptimized(
        &self,
        context: &Arc<Context>,
        name: &str,
        new_name: &str,
        linked_name: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Module, String> {
        // SAFETY: as in `extract_function`: the buffer refers to our bytes,
        // which outlive the lazy module (linked into a fresh one below).
        let mut lazy = unsafe {
            let buffer = LLVMCreateMemoryBufferWithMemoryRange(
                self.0.as_ptr().cast(),
                self.0.len(),
                c"hyperjit unoptimized".as_ptr(),
                0,
            );
            Module::open_lazily(context, buffer)
        }
        .map_err(|message| format!("reading unoptimized bitcode: {message}"))?;
        lazy.materialize_all()?;
        let mut keep = HashSet::new();
        let mut renames = Vec::new();
        let internals = lazy.functions().chain(lazy.global_variables());
        for value in internals.collect::<Vec<_>>() {
            // SAFETY: a live global value of the live, fully read module.
            let internal = unsafe {
                LLVMIsDeclaration(value) == 0
                    && matches!(
                        LLVMGetLinkage(value),
                        LLVMLinkage::LLVMInternalLinkage | LLVMLinkage::LLVMPrivateLinkage
                    )
            };
            let original = value_name(value);
            if !internal || original == name || original.starts_with("llvm.") {
                continue;
            }
            match (!original.is_empty())
                .then(|| linked_name(&original))
                .flatten()
            {
                Some(linked) => renames.push((original, linked)),
                None => {
                    keep.insert(value);
                }
            }
        }
        isolate(&lazy, name, new_name, &keep)?;
        for (original, linked) in renames {
            let c_original = c_string(&original)?;
            // SAFETY: looking up and renaming declarations of the live
            // module; isolate kept each name on its declaration.
            unsafe {
                let mut value = LLVMGetNamedFunction(lazy.raw(), c_original.as_ptr());
                if value.is_null() {
                    value = LLVMGetNamedGlobal(lazy.raw(), c_original.as_ptr());
                }
                if !value.is_null() {
                    set_value_name(value, &linked);
                    LLVMSetVisibility(value, llvm_sys::LLVMVisibility::LLVMHiddenVisibility);
                }
            }
        }
        lazy.forget_unread_bodies();
        let mut isolated = Module::empty(context, new_name, &lazy)?;
        isolated.link_in(lazy)?;
        Ok(isolated)
    }

    /// Bitcode written earlier (kept in the object cache); read only when
    /// a function of it is extracted.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Bitcode {
        Bitcode(Arc::from(bytes))
    }

    /// The bitcode's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The IR a linked module was compiled from, kept to recompile its
/// functions.
pub(crate) enum KeptIr {
    /// As bitcode: a tenth of the module's memory; a function is read back
    /// lazily. What batches and first calls keep.
    Bitcode(Bitcode),
    /// As a module in memory: what a body swapped in alone keeps, as it is
    /// likely swapped again, and copying it back costs less than reading
    /// its bitcode (a 50-line function: ~0.1 ms against ~0.25 ms, and
    /// nothing to write).
    Module(Module),
}

impl Default for KeptIr {
    fn default() -> KeptIr {
        KeptIr::Bitcode(Bitcode::default())
    }
}

impl KeptIr {
    /// A module with the one function `name` of this IR, renamed
    /// `new_name`, as [`Bitcode::extract_function`] makes it.
    pub(crate) fn extract_function(
        &self,
        context: &Arc<Context>,
        name: &str,
        new_name: &str,
    ) -> Result<Module, String> {
        match self {
            KeptIr::Bitcode(bitcode) => bitcode.extract_function(context, name, new_name),
            KeptIr::Module(module) => {
                let copy = module.copy();
                isolate(&copy, name, new_name, &HashSet::new())?;
                Ok(copy)
            }
        }
    }

    /// The IR as bitcode (written now, for one kept as a module).
    pub(crate) fn to_bitcode(&self) -> Bitcode {
        match self {
            KeptIr::Bitcode(bitcode) => bitcode.clone(),
            KeptIr::Module(module) => module.to_bitcode(),
        }
    }

    /// The bitcode, if the IR is kept as bitcode.
    pub(crate) fn as_bitcode(&self) -> Option<&Bitcode> {
        match self {
            KeptIr::Bitcode(bitcode) => Some(bitcode),
            KeptIr::Module(_) => None,
        }
    }
}

/// Makes `module`'s function `name` the body `new_name` standing alone:
/// everything else it defines becomes a declaration (or goes, if unused), so
/// it compiles on its own and links against the code already in the JIT.
fn isolate(
    module: &Module,
    name: &str,
    new_name: &str,
    keep: &HashSet<LLVMValueRef>,
) -> Result<(), String> {
    let c_name = c_string(name)?;
    // SAFETY: all values below are live values of the module, which is
    // fully read (at least the function's body, for a lazy one).
    unsafe {
        let function = LLVMGetNamedFunction(module.raw(), c_name.as_ptr());
        if function.is_null() {
            return Err(format!("no definition of '{name}'"));
        }
        if LLVMGetFirstBasicBlock(function).is_null() {
            return Err(format!("no definition of '{name}'"));
        }
        let tables = label_tables(function).map_err(|escape| {
            format!(
                "'{name}' cannot be recompiled: the addresses of its labels {escape}, \
                 where the new body's labels would not replace them"
            )
        })?;
        set_value_name(function, new_name);
        LLVMSetLinkage(function, LLVMLinkage::LLVMExternalLinkage);
        LLVMSetVisibility(function, llvm_sys::LLVMVisibility::LLVMDefaultVisibility);
        llvm_sys::comdat::LLVMSetComdat(function, std::ptr::null_mut());

        for global in module.global_variables().collect::<Vec<_>>() {
            if keep.contains(&global) {
                continue;
            }
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
        for alias in module.aliases().collect::<Vec<_>>() {
            let alias_name = value_name(alias);
            LLVMSetValueName2(alias, c"".as_ptr(), 0);
            LLVMSetLinkage(alias, LLVMLinkage::LLVMPrivateLinkage);
            if !LLVMGetFirstUse(alias).is_null() {
                let ty = LLVMGlobalGetValueType(alias);
                let declaration = if LLVMGetTypeKind(ty) == LLVMTypeKind::LLVMFunctionTypeKind {
                    LLVMAddFunction(module.raw(), c"".as_ptr(), ty)
                } else {
                    LLVMAddGlobal(module.raw(), ty, c"".as_ptr())
                };
                LLVMReplaceAllUsesWith(alias, declaration);
                set_value_name(declaration, &alias_name);
            }
        }
        for other in module.functions().collect::<Vec<_>>() {
            if other == function || keep.contains(&other) {
                continue;
            }
            // Deleting a function drops its body whole (the reader loads
            // the body of a function whose labels' addresses it met).
            if LLVMGetFirstUse(other).is_null() {
                LLVMDeleteFunction(other);
            } else if LLVMIsDeclaration(other) == 0 {
                declare_instead(module.raw(), other);
            }
        }
    }
    Ok(())
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
        copy_function_attributes(function, declaration);
        // Promoted statics keep their hidden visibility: calls to them stay
        // direct, as in the code they were compiled with.
        LLVMSetVisibility(declaration, LLVMGetVisibility(function));
        LLVMReplaceAllUsesWith(function, declaration);
        LLVMDeleteFunction(function);
        set_value_name(declaration, &name);
    }
}

/// Gives `to` the calling convention and the function, return and
/// parameter attributes of `from`, a function of the same type.
///
/// # Safety
/// Both must be live functions of one context, of the same type.
pub(super) unsafe fn copy_function_attributes(from: LLVMValueRef, to: LLVMValueRef) {
    // SAFETY: per this function's contract: the same type has the same
    // attribute indices, and attributes belong to the shared context.
    unsafe {
        LLVMSetFunctionCallConv(to, LLVMGetFunctionCallConv(from));
        let params = LLVMCountParamTypes(LLVMGlobalGetValueType(from));
        let indices = [LLVMAttributeFunctionIndex, LLVMAttributeReturnIndex]
            .into_iter()
            .chain(1..=params);
        for index in indices {
            let count = LLVMGetAttributeCountAtIndex(from, index);
            let mut attributes = vec![std::ptr::null_mut(); count as usize];
            LLVMGetAttributesAtIndex(from, index, attributes.as_mut_ptr());
            for attribute in attributes {
                LLVMAddAttributeAtIndex(to, index, attribute);
            }
        }
    }
}

impl Module {
    /// The module as bitcode, to keep after code generation: a tenth of the
    /// memory of the module, and untouched by the code generator's IR
    /// passes (CodeGenPrepare and loop strength reduction rewrite the module
    /// they compile; recompiling their output would compound them).
    pub(crate) fn to_bitcode(&self) -> Bitcode {
        debug_assert!(!self.has_unread_bodies(), "bodies are written read");
        // SAFETY: writing a live module; the buffer is owned by us, copied
        // out and disposed here.
        unsafe {
            let buffer = llvm_sys::bit_writer::LLVMWriteBitcodeToMemoryBuffer(self.raw());
            let bytes = std::slice::from_raw_parts(
                LLVMGetBufferStart(buffer).cast::<u8>(),
                LLVMGetBufferSize(buffer),
            )
            .into();
            LLVMDisposeMemoryBuffer(buffer);
            Bitcode(bytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let machine = crate::llvm::TargetMachine::host(2).unwrap();
        let module = machine.parse_ir(&context, "program.ll", PROGRAM);
        let kept = module.to_bitcode();
        machine.emit_object_at(&module, 2).unwrap();
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

//! Making compiled code replaceable while it runs: every function gets a
//! patchable entry that a swap redirects atomically, and every internal
//! symbol a name that separately compiled code (a new body) can link to.
//!
//! The entry's bytes belong to `near_memory.c`, which also writes the patch;
//! this side reads them from there, so the two cannot disagree.

use super::near_memory;
use super::values::{
    attribute_kind, copy_target_attributes, is_object_file_name, set_value_name, users, value_name,
    value_name_bytes,
};
use super::{Jit, Module};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMModuleRef, LLVMValueRef};
use llvm_sys::LLVMLinkage;
use std::ffi::c_void;

/// The bytes a patchable entry starts with and the alignment it needs.
fn patchable_entry() -> (&'static [u8; 5], u32) {
    // SAFETY: both are immutable constants defined in near_memory.c.
    unsafe {
        (
            &near_memory::hj_patchable_entry,
            near_memory::hj_patchable_entry_alignment,
        )
    }
}

/// The name [`Module::promote_internals`] gives the internal symbol `name`
/// (with `suffix`), or `None` if it has none that follows from `name`
/// alone: an empty name, or one an object file cannot hold (bitcode allows
/// a NUL: cut there, two names could become one), is numbered instead.
pub(crate) fn promoted_name(name: &[u8], suffix: &str, anonymous: &str) -> Option<String> {
    if name.is_empty() || !is_object_file_name(name) {
        return None;
    }
    let name = String::from_utf8_lossy(name);
    Some(if name.starts_with(".L") {
        // An assembler-local name on ELF: another module's reference to it
        // would be an undefined temporary.
        format!("{anonymous}{name}{suffix}")
    } else {
        format!("{name}{suffix}")
    })
}

impl Module {
    /// Gives every internal function, global and alias (C++'s thread_local
    /// init functions are internal aliases) a unique external (hidden)
    /// name ending in `suffix` (unnamed ones become `{anonymous}INDEX`,
    /// assembler-local `.L` ones `{anonymous}.L...`), so
    /// that code compiled later on its own (a recompiled or redefined
    /// function) can still reach them. Returns how many were promoted.
    pub(crate) fn promote_internals(&mut self, suffix: &str, anonymous: &str) -> usize {
        let mut promoted = 0;
        let values: Vec<LLVMValueRef> = self
            .functions()
            .chain(self.global_variables())
            .chain(self.aliases())
            .collect();
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
                let name = value_name_bytes(value);
                if name.starts_with(b"llvm.") {
                    continue;
                }
                let renamed = promoted_name(&name, suffix, anonymous)
                    .unwrap_or_else(|| format!("{anonymous}{index}{suffix}"));
                set_value_name(value, &renamed);
                LLVMSetLinkage(value, LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(value, llvm_sys::LLVMVisibility::LLVMHiddenVisibility);
                LLVMSetUnnamedAddress(value, llvm_sys::LLVMUnnamedAddr::LLVMNoUnnamedAddr);
                promoted += 1;
            }
        }
        promoted
    }

    /// Separates each defined function's entry from its body: the body is
    /// renamed `name{suffix}` and a stub takes the function's name, linkage
    /// and every use of it, jumping to the body. Swaps patch the stub, so
    /// the body is laid out as the compiler lays it out (a patchable entry
    /// at the top of a body shifts its loops, which costs some programs a
    /// quarter of their speed). Functions `skip` names, and functions whose
    /// labels' addresses are taken (a stub cannot stand for their blocks),
    /// keep their entry. Returns each function stubbed with its body.
    pub(crate) fn add_entry_stubs(
        &mut self,
        suffix: &str,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, String)>, String> {
        let mut stubbed = Vec::new();
        // SAFETY: creating functions in this live module and rewriting uses
        // of its live functions.
        unsafe {
            for function in self.functions().collect::<Vec<_>>() {
                let name = value_name(function);
                if LLVMIsDeclaration(function) != 0
                    || LLVMGetIntrinsicID(function) != 0
                    || LLVMGetLinkage(function) == LLVMLinkage::LLVMAvailableExternallyLinkage
                    || name.is_empty()
                    || skip(&name)
                    || users(function)
                        .iter()
                        .any(|&u| !LLVMIsABlockAddress(u).is_null())
                {
                    continue;
                }
                let body = format!("{name}{suffix}");
                // Named once the body has given the name up.
                let stub = add_stub(self.raw(), function, "")?;
                llvm_sys::comdat::LLVMSetComdat(stub, llvm_sys::comdat::LLVMGetComdat(function));
                LLVMReplaceAllUsesWith(function, stub);
                // After the uses moved: the stub's jump is one of them.
                set_stub_jump(stub, StubJump::To(function));
                set_value_name(function, &body);
                set_value_name(stub, &name);
                LLVMSetLinkage(function, LLVMLinkage::LLVMExternalLinkage);
                LLVMSetVisibility(function, llvm_sys::LLVMVisibility::LLVMHiddenVisibility);
                LLVMSetUnnamedAddress(function, llvm_sys::LLVMUnnamedAddr::LLVMNoUnnamedAddr);
                llvm_sys::comdat::LLVMSetComdat(function, std::ptr::null_mut());
                stubbed.push((name, body));
            }
        }
        Ok(stubbed)
    }

    /// Makes every defined function's entry patchable: aligned and starting
    /// with the one no-op instruction that [`Jit::redirect`] replaces. The
    /// no-op is the function's prologue data: LLVM's
    /// `patchable-function-entry` would do the same but adds a section per
    /// function, which RuntimeDyld handles in quadratic time. Returns how
    /// many functions were marked.
    /// Functions `skip` names are left as they are: new bodies of a
    /// function, which a swap never patches (it patches the function's own
    /// entry), so that their code lies as a compiler lays it out. So are
    /// functions with prologue data: stubs, which start with the entry
    /// already, and functions whose own data must stay (their stubs are
    /// their entries).
    pub(crate) fn mark_patchable_entries(&mut self, skip: impl Fn(&str) -> bool) -> usize {
        let mut marked = 0;
        for function in self.functions().collect::<Vec<_>>() {
            if skip(&value_name(function)) {
                continue;
            }
            // SAFETY: a live function of this module.
            unsafe {
                if LLVMIsDeclaration(function) != 0
                    || LLVMGetIntrinsicID(function) != 0
                    || LLVMHasPrologueData(function) != 0
                {
                    continue;
                }
                set_entry(function, None);
                marked += 1;
            }
        }
        marked
    }
}

/// `movabs $imm64, %r11`, a lazy stub's load of its record's address: what
/// the runtime's lazy entry reads (shim.c owns it; a test in `link/lazy.rs`
/// compares the two).
pub(crate) const STUB_RECORD_LOAD: [u8; 2] = [0x49, 0xbb];

/// Where a stub goes once past its patchable entry.
pub(super) enum StubJump {
    /// `jmp` to this function of the stub's module.
    To(LLVMValueRef),
    /// `movabs $record, %r11` then `jmp *entry`, both absolute symbols
    /// (globals of the stub's module).
    WithRecord {
        record: LLVMValueRef,
        entry: LLVMValueRef,
    },
}

/// Adds to `module` a stub for the function `like` — its type, calling
/// convention, linkage, visibility and target attributes — named `name`
/// ("" for none yet), with no code until [`set_stub_jump`] gives it some.
/// Naked: without a prologue, every argument register reaches whatever the
/// stub jumps to.
///
/// # Safety
/// `module` must be live and `like` a live function of its context.
pub(super) unsafe fn add_stub(
    module: LLVMModuleRef,
    like: LLVMValueRef,
    name: &str,
) -> Result<LLVMValueRef, String> {
    let c_name = super::c_string(name)?;
    // SAFETY: per this function's contract; the builder is disposed here.
    unsafe {
        let context = LLVMGetModuleContext(module);
        let stub = LLVMAddFunction(module, c_name.as_ptr(), LLVMGlobalGetValueType(like));
        LLVMSetFunctionCallConv(stub, LLVMGetFunctionCallConv(like));
        LLVMSetLinkage(stub, LLVMGetLinkage(like));
        LLVMSetVisibility(stub, LLVMGetVisibility(like));
        for attribute in ["naked", "noinline", "nounwind"] {
            let attribute = LLVMCreateEnumAttribute(context, attribute_kind(attribute), 0);
            LLVMAddAttributeAtIndex(stub, llvm_sys::LLVMAttributeFunctionIndex, attribute);
        }
        copy_target_attributes(like, stub);
        let builder = LLVMCreateBuilderInContext(context);
        LLVMPositionBuilderAtEnd(
            builder,
            LLVMAppendBasicBlockInContext(context, stub, c"".as_ptr()),
        );
        LLVMBuildUnreachable(builder);
        LLVMDisposeBuilder(builder);
        Ok(stub)
    }
}

/// Gives `stub` (made by [`add_stub`]) its code: the patchable entry, then
/// `jump`.
///
/// # Safety
/// `stub` must be a live stub from [`add_stub`], and `jump`'s values live
/// globals of its module.
pub(super) unsafe fn set_stub_jump(stub: LLVMValueRef, jump: StubJump) {
    // SAFETY: per this function's contract.
    unsafe { set_entry(stub, Some(jump)) }
}

/// Starts `function` with the patchable entry, aligned as it needs, and
/// `jump` after it if any. Both are the function's prologue data: machine
/// code as constant bytes and relocated addresses, so that no inline
/// assembly is parsed (LLVM's assembler parser and its tables are a
/// megabyte of memory and a parse per stub).
///
/// # Safety
/// `function` must be a live defined function, and `jump`'s values live
/// globals of its module.
unsafe fn set_entry(function: LLVMValueRef, jump: Option<StubJump>) {
    let (entry, alignment) = patchable_entry();
    // SAFETY: per this function's contract: constants of the function's
    // context over globals of its module.
    unsafe {
        let context = LLVMGetModuleContext(LLVMGetGlobalParent(function));
        let i8_type = LLVMInt8TypeInContext(context);
        let i32_type = LLVMInt32TypeInContext(context);
        let i64_type = LLVMInt64TypeInContext(context);
        let bytes = |bytes: &[u8]| {
            LLVMConstStringInContext2(context, bytes.as_ptr().cast(), bytes.len(), 1)
        };
        let address = |global| LLVMConstPtrToInt(global, i64_type);
        let mut code = vec![bytes(entry)];
        match jump {
            None => {}
            Some(StubJump::To(target)) => {
                // jmp rel32, relative to the end of the instruction.
                let end = (entry.len() + 5) as u64;
                let from = LLVMConstAdd(address(function), LLVMConstInt(i64_type, end, 0));
                let offset = LLVMConstSub(address(target), from);
                code.push(LLVMConstInt(i8_type, 0xe9, 0));
                code.push(LLVMConstTrunc(offset, i32_type));
            }
            Some(StubJump::WithRecord { record, entry }) => {
                code.push(bytes(&STUB_RECORD_LOAD));
                code.push(address(record));
                // jmp *0(%rip), the address following
                code.push(bytes(&[0xff, 0x25, 0, 0, 0, 0]));
                code.push(address(entry));
            }
        }
        let code = LLVMConstStructInContext(context, code.as_mut_ptr(), code.len() as u32, 1);
        LLVMSetPrologueData(function, code);
        if LLVMGetAlignment(function) < alignment {
            LLVMSetAlignment(function, alignment);
        }
    }
}

impl Jit {
    /// Makes the JIT'd function at `from` (compiled with a patchable entry,
    /// see [`Module::mark_patchable_entries`]) continue at `to`, atomically
    /// for every caller; the old code stays mapped.
    pub(crate) fn redirect(&self, from: u64, to: u64) -> Result<(), String> {
        // SAFETY: `from` is the entry of a function this JIT compiled with a
        // patchable entry in memory of our arena; hj_redirect_entry checks
        // the entry's bytes before writing and writes 8 aligned bytes.
        let result = unsafe {
            near_memory::hj_redirect_entry(
                from as usize as *mut c_void,
                to as usize as *const c_void,
            )
        };
        match result {
            0 => Ok(()),
            -1 => Err("the function's entry cannot be patched".to_string()),
            -2 => Err("the new code is out of a jump's reach".to_string()),
            _ => Err("the function's code page cannot be made writable".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llvm::{Context, TargetMachine};
    use std::sync::Arc;

    /// The two halves of the entry contract agree: code generation puts the
    /// entry `near_memory.c` expects at an aligned address, and its patch
    /// sends every later call to the new code.
    #[test]
    fn emitted_entries_are_the_ones_the_patch_expects() {
        let ir = "define i32 @one() {\n  ret i32 1\n}\ndefine i32 @two() {\n  ret i32 2\n}\n";
        let context = Arc::new(Context::new());
        let machine = TargetMachine::host(2).unwrap();
        let mut module = machine.parse_ir(&context, "entries.ll", ir);
        assert_eq!(module.mark_patchable_entries(|name| name == "none"), 2);
        let jit = Jit::new().unwrap();
        let _code = jit
            .add_object(machine.emit_object_at(&module, 2).unwrap())
            .unwrap();
        let (one, two) = (jit.lookup("one").unwrap(), jit.lookup("two").unwrap());
        let (entry, alignment) = patchable_entry();
        for address in [one, two] {
            assert_eq!(address % u64::from(alignment), 0, "{address:#x}");
            // SAFETY: JIT'd code of at least an entry and a return.
            let bytes = unsafe { std::slice::from_raw_parts(address as usize as *const u8, 5) };
            assert_eq!(bytes, entry);
        }
        // SAFETY: `one` is JIT'd code of type `i32 ()`, alive with `jit`.
        let call_one =
            unsafe { std::mem::transmute::<usize, extern "C" fn() -> i32>(one as usize) };
        assert_eq!(call_one(), 1);
        jit.redirect(one, two).unwrap();
        assert_eq!(call_one(), 2);
        // An entry that is not patchable is refused, not overwritten.
        assert_eq!(
            jit.redirect(one + 1, two).unwrap_err(),
            "the function's entry cannot be patched"
        );
    }

    /// A stub takes a function's name, uses and subtarget attributes and
    /// jumps to the body; the stub's entry is the patchable one, the body's
    /// is as compiled. Its code is constant bytes, not inline assembly.
    #[test]
    fn entry_stubs_stand_for_their_bodies() {
        let ir = "@table = global ptr @one\n\
                  define i32 @one() #0 {\n  ret i32 1\n}\n\
                  define i32 @calls_one() {\n  %r = call i32 @one()\n  ret i32 %r\n}\n\
                  attributes #0 = { \"target-cpu\"=\"x86-64\" \"min-legal-vector-width\"=\"0\" }\n";
        let context = Arc::new(Context::new());
        let machine = TargetMachine::host(2).unwrap();
        let mut module = machine.parse_ir(&context, "stubs.ll", ir);
        let stubbed = module.add_entry_stubs(".b", |_| false).unwrap();
        let pairs = [("one", "one.b"), ("calls_one", "calls_one.b")];
        let expected: Vec<(String, String)> = pairs
            .iter()
            .map(|(f, b)| (f.to_string(), b.to_string()))
            .collect();
        assert_eq!(stubbed, expected);
        assert_eq!(
            module.mark_patchable_entries(|name| name.ends_with(".b")),
            0,
            "stubs come with their entry"
        );
        module.verify().unwrap();
        let text = module.to_ir_string();
        assert!(text.contains("@table = global ptr @one"), "{text}");
        assert!(text.contains("call i32 @one()"), "{text}");
        assert!(!text.contains("asm"), "{text}");
        let stub_line = text
            .lines()
            .find(|line| line.starts_with("define i32 @one()"))
            .unwrap();
        let stub_attributes = stub_line
            .split('#')
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let group = format!("attributes #{stub_attributes} = ");
        let group = text.lines().find(|line| line.starts_with(&group)).unwrap();
        assert!(
            group.contains("\"target-cpu\"=\"x86-64\"")
                && group.contains("\"min-legal-vector-width\"=\"0\""),
            "{group}"
        );
        let jit = Jit::new().unwrap();
        let _code = jit
            .add_object(machine.emit_object_at(&module, 2).unwrap())
            .unwrap();
        let (entry, _) = patchable_entry();
        let stub = jit.lookup("one").unwrap();
        let body = jit.lookup("one.b").unwrap();
        // SAFETY: JIT'd code of at least ten and five bytes, alive with `jit`.
        let (stub_bytes, body_bytes) = unsafe {
            (
                std::slice::from_raw_parts(stub as usize as *const u8, 10),
                std::slice::from_raw_parts(body as usize as *const u8, 5),
            )
        };
        assert_eq!(&stub_bytes[..5], entry);
        assert_eq!(stub_bytes[5], 0xe9, "jmp rel32");
        let offset = i32::from_le_bytes(stub_bytes[6..10].try_into().unwrap());
        assert_eq!(
            stub.wrapping_add(10).wrapping_add_signed(offset.into()),
            body
        );
        assert_ne!(body_bytes, entry);
        let calls_one = jit.lookup("calls_one").unwrap();
        // SAFETY: JIT'd code of type `i32 ()`, alive with `jit`.
        let call =
            unsafe { std::mem::transmute::<usize, extern "C" fn() -> i32>(calls_one as usize) };
        assert_eq!(call(), 1);
    }
}

//! Splitting a linked module for lazy compilation, as ORC's
//! CompileOnDemandLayer does (the C API lacks it): the *skeleton* defines
//! the module's data and, at every function's own name, a stub; the bodies
//! stay behind in the *source* module until a function's first call moves
//! its body alone into a module of its own, to be compiled and the stub
//! pointed at it.
//!
//! A move, not a copy: the C API can neither clone a function nor link part
//! of a module, and reading one function back from bitcode parses every
//! declaration of the module (8 ms a function for sqlite3.c) where a move
//! costs what the function holds. Values move between two modules of one
//! context as LLVM's IR linker moves them: the blocks change function, and
//! every reference to a global of the source is remapped to the destination's
//! global of that name (declared there on first use).

use super::cpp::{hj_metadata_constants, hj_remap_metadata};
use super::extract::{copy_function_attributes, label_tables};
use super::patchable::{add_stub, set_stub_jump, StubJump};
use super::values::{external_symbol, set_value_name, users, value_name};
use super::{c_string, Module};
use llvm_sys::core::*;
use llvm_sys::prelude::{LLVMModuleRef, LLVMValueRef};
use llvm_sys::{LLVMLinkage, LLVMOpcode, LLVMTypeKind};
use std::collections::HashMap;

/// The functions of a module split for lazy compilation, and how their
/// stubs reach the engine.
pub(crate) struct Split {
    /// Defines the data, aliases and a stub for every function.
    pub(crate) skeleton: Module,
    /// The functions that got a stub: those whose bodies stayed behind.
    pub(crate) stubbed: Vec<String>,
}

impl Module {
    /// Splits this module: returns the skeleton, which defines every global
    /// variable and alias of this module and, for every function with a
    /// body, a stub of the same name and linkage. Until it is redirected, a
    /// stub loads the address of the symbol `record(name)` into `r11` and
    /// jumps to `entry`, which must preserve every argument register. (A
    /// symbol, not an address: the skeleton's code holds no address of this
    /// process, so another run can reuse it.) This module keeps the bodies (it
    /// is the source [`move_function`](Self::move_function) takes them
    /// from); its global variables become declarations. Fails, changing
    /// nothing, if the addresses of some function's labels escape it (they
    /// could not move with it).
    pub(crate) fn split(
        &mut self,
        name: &str,
        entry: &str,
        mut record: impl FnMut(&str) -> String,
    ) -> Result<Split, String> {
        let functions: Vec<LLVMValueRef> = self
            .functions()
            // SAFETY: live functions of this module.
            .filter(|&f| unsafe { is_movable_body(f) })
            .collect();
        // Tables of labels move with their function, not to the skeleton.
        let mut label_tables_of = Vec::new();
        for &function in &functions {
            // SAFETY: a live function.
            let tables = unsafe { label_tables(function) }.map_err(|escape| {
                format!(
                    "the addresses of '{}' labels {escape}",
                    value_name(function)
                )
            })?;
            label_tables_of.extend(tables);
        }
        let skeleton = Module::empty(&self.context, name, self)?;
        let to = skeleton.raw();
        let mut remap = Remap::new(to, None);
        // SAFETY: creating values in the live skeleton that mirror live
        // values of this module (same context, so types, attributes and
        // plain constants are shared); each is named before any lookup.
        unsafe {
            let globals: Vec<LLVMValueRef> = self
                .global_variables()
                .filter(|&g| {
                    LLVMIsDeclaration(g) == 0
                        && !label_tables_of.contains(&g)
                        && !value_name(g).starts_with("llvm.")
                })
                .collect();
            let mut defined = Vec::with_capacity(globals.len());
            for &global in &globals {
                let copy = declare(to, global, &value_name(global))?;
                copy_global_properties(global, copy);
                defined.push(copy);
            }
            let mut stubbed = Vec::with_capacity(functions.len());
            let entry = external_symbol(to, entry)?;
            for &function in &functions {
                let function_name = value_name(function);
                let stub = add_stub(to, function, &function_name)?;
                let record = external_symbol(to, &record(&function_name))?;
                set_stub_jump(stub, StubJump::WithRecord { record, entry });
                stubbed.push(function_name);
            }
            for alias in self.aliases().collect::<Vec<_>>() {
                let aliasee = remap.constant(LLVMAliasGetAliasee(alias))?;
                let alias_name = c_string(&value_name(alias))?;
                let copy = LLVMAddAlias2(
                    to,
                    LLVMGlobalGetValueType(alias),
                    LLVMGetPointerAddressSpace(LLVMTypeOf(alias)),
                    aliasee,
                    alias_name.as_ptr(),
                );
                LLVMSetLinkage(copy, LLVMGetLinkage(alias));
                LLVMSetVisibility(copy, LLVMGetVisibility(alias));
                if value_name(copy) != value_name(alias) {
                    return Err(format!(
                        "alias '{}' is used before its definition",
                        value_name(alias)
                    ));
                }
            }
            for (&global, &copy) in globals.iter().zip(&defined) {
                let initializer = LLVMGetInitializer(global);
                LLVMSetInitializer(copy, remap.constant(initializer)?);
            }
            // The source's data now lives in the skeleton.
            for &global in &globals {
                LLVMSetInitializer(global, std::ptr::null_mut());
                LLVMSetLinkage(global, LLVMLinkage::LLVMExternalLinkage);
                llvm_sys::comdat::LLVMSetComdat(global, std::ptr::null_mut());
            }
            Ok(Split { skeleton, stubbed })
        }
    }

    /// Moves function `name`'s body, with the constant tables of its labels,
    /// out of this module into a new one that defines it as `new_name` and
    /// declares everything else it uses. The function is left a
    /// declaration here.
    pub(crate) fn move_function(&mut self, name: &str, new_name: &str) -> Result<Module, String> {
        let function = self.named_function(name)?;
        // SAFETY: a null or live function of this module.
        if function.is_null() || unsafe { !is_movable_body(function) } {
            return Err(format!("no body of '{name}' to compile"));
        }
        // SAFETY: a live function of this module.
        let read_now = unsafe { self.materialize(function) }?;
        // SAFETY: a live function.
        let tables = unsafe { label_tables(function) }?;
        let moved = Module::empty(&self.context, new_name, self)?;
        let to = moved.raw();
        // SAFETY: `function` and its blocks, arguments and tables are live
        // values of this module; the new function and tables are created in
        // the live destination module of the same context. Blocks are moved
        // whole (their instructions keep their operands, remapped below),
        // so no value is left referring across the two modules.
        unsafe {
            let ty = LLVMGlobalGetValueType(function);
            let c_new_name = c_string(new_name)?;
            let body = LLVMAddFunction(to, c_new_name.as_ptr(), ty);
            copy_function_attributes(function, body);
            LLVMSetAlignment(body, LLVMGetAlignment(function));
            let gc = LLVMGetGC(function);
            if !gc.is_null() {
                LLVMSetGC(body, gc);
            }
            for index in 0..LLVMCountParams(function) {
                let (old, new) = (LLVMGetParam(function, index), LLVMGetParam(body, index));
                set_value_name(new, &value_name(old));
                LLVMReplaceAllUsesWith(old, new);
            }
            let mut block = LLVMGetFirstBasicBlock(function);
            while !block.is_null() {
                let next = LLVMGetNextBasicBlock(block);
                LLVMRemoveBasicBlockFromParent(block);
                LLVMAppendExistingBasicBlock(body, block);
                block = next;
            }
            let mut remap = Remap::new(to, Some((function, body)));
            for &table in &tables {
                let copy = declare(to, table, &value_name(table))?;
                copy_global_properties(table, copy);
                LLVMSetLinkage(copy, LLVMLinkage::LLVMPrivateLinkage);
                LLVMSetInitializer(copy, remap.constant(LLVMGetInitializer(table))?);
                remap.mapped.insert(table, copy);
            }
            if LLVMHasPersonalityFn(function) != 0 {
                LLVMSetPersonalityFn(body, remap.constant(LLVMGetPersonalityFn(function))?);
                LLVMSetPersonalityFn(function, std::ptr::null_mut());
            }
            let mut block = LLVMGetFirstBasicBlock(body);
            while !block.is_null() {
                let mut instruction = LLVMGetFirstInstruction(block);
                while !instruction.is_null() {
                    for index in 0..LLVMGetNumOperands(instruction).max(0) as u32 {
                        let operand = LLVMGetOperand(instruction, index);
                        if operand.is_null() || LLVMIsAConstant(operand).is_null() {
                            continue;
                        }
                        let mapped = remap.constant(operand)?;
                        if mapped != operand {
                            LLVMSetOperand(instruction, index, mapped);
                        }
                    }
                    instruction = LLVMGetNextInstruction(instruction);
                }
                block = LLVMGetNextBasicBlock(block);
            }
            move_metadata(function, body, &mut remap)?;
            // The source's tables held the moved labels; only the moved
            // function used them.
            for table in tables {
                if users(table).is_empty() {
                    LLVMDeleteGlobal(table);
                }
            }
            LLVMSetLinkage(function, LLVMLinkage::LLVMExternalLinkage);
        }
        // A body read only now was not verified with its module.
        if read_now {
            moved.verify()?;
        }
        Ok(moved)
    }

    /// Strips debug information (a moved body's locations would refer to
    /// the source's compile unit). Returns whether there was any.
    pub(crate) fn strip_debug_info(&mut self) -> bool {
        // SAFETY: a live module.
        unsafe { llvm_sys::debuginfo::LLVMStripModuleDebugInfo(self.raw()) != 0 }
    }
}

/// Gives `body` the metadata `function` had attached, and makes every
/// metadata in `body` that names a global of the source (`!callees`, an
/// attachment of the front end's, a debug record's location) name the
/// destination's instead: the bitcode writer would crash on a value of
/// another module.
///
/// # Safety
/// `function` must be a live function of the source and `body` the live
/// function its blocks moved to, in `remap`'s destination.
unsafe fn move_metadata(
    function: LLVMValueRef,
    body: LLVMValueRef,
    remap: &mut Remap,
) -> Result<(), String> {
    // SAFETY: per this function's contract; the entries are read, then
    // disposed once; the constant buffers are sized by the first call.
    unsafe {
        let mut count = 0;
        let entries = LLVMGlobalCopyAllMetadata(function, &mut count);
        for index in 0..count as u32 {
            let kind = LLVMValueMetadataEntriesGetKind(entries, index);
            LLVMGlobalSetMetadata(
                body,
                kind,
                LLVMValueMetadataEntriesGetMetadata(entries, index),
            );
        }
        if !entries.is_null() {
            LLVMDisposeValueMetadataEntries(entries);
        }
        LLVMGlobalClearMetadata(function);
        let total = hj_metadata_constants(body, std::ptr::null_mut(), 0);
        if total == 0 {
            return Ok(());
        }
        let mut from = vec![std::ptr::null_mut(); total];
        let written = hj_metadata_constants(body, from.as_mut_ptr(), total);
        from.truncate(written.min(total));
        let mut to = Vec::with_capacity(from.len());
        for &constant in &from {
            to.push(remap.constant(constant)?);
        }
        hj_remap_metadata(body, from.as_ptr(), to.as_ptr(), from.len());
    }
    Ok(())
}

/// Whether `function` has a body a stub can stand for.
///
/// # Safety
/// `function` must be a live function.
unsafe fn is_movable_body(function: LLVMValueRef) -> bool {
    // SAFETY: per this function's contract.
    unsafe {
        LLVMIsDeclaration(function) == 0
            && LLVMGetIntrinsicID(function) == 0
            && LLVMGetLinkage(function) != LLVMLinkage::LLVMAvailableExternallyLinkage
    }
}

/// Declares in `module` a global like `global` (a function if its value is
/// one), named `name`, with its visibility and, for functions, attributes.
///
/// # Safety
/// `module` and `global` must be live and of one context.
unsafe fn declare(
    module: LLVMModuleRef,
    global: LLVMValueRef,
    name: &str,
) -> Result<LLVMValueRef, String> {
    let c_name = c_string(name)?;
    // SAFETY: per this function's contract.
    unsafe {
        let ty = LLVMGlobalGetValueType(global);
        let declaration = if LLVMGetTypeKind(ty) == LLVMTypeKind::LLVMFunctionTypeKind {
            let function = LLVMAddFunction(module, c_name.as_ptr(), ty);
            if !LLVMIsAFunction(global).is_null() {
                copy_function_attributes(global, function);
            }
            function
        } else {
            let address_space = LLVMGetPointerAddressSpace(LLVMTypeOf(global));
            let variable = LLVMAddGlobalInAddressSpace(module, ty, c_name.as_ptr(), address_space);
            if !LLVMIsAGlobalVariable(global).is_null() {
                LLVMSetGlobalConstant(variable, LLVMIsGlobalConstant(global));
                LLVMSetAlignment(variable, LLVMGetAlignment(global));
                LLVMSetThreadLocalMode(variable, LLVMGetThreadLocalMode(global));
            }
            variable
        };
        LLVMSetVisibility(declaration, LLVMGetVisibility(global));
        if LLVMGetLinkage(global) == LLVMLinkage::LLVMExternalWeakLinkage {
            LLVMSetLinkage(declaration, LLVMLinkage::LLVMExternalWeakLinkage);
        }
        Ok(declaration)
    }
}

/// Gives the definition `to` the linkage and storage properties of the
/// global variable `from` (not its initializer or comdat).
///
/// # Safety
/// Both must be live global variables.
unsafe fn copy_global_properties(from: LLVMValueRef, to: LLVMValueRef) {
    // SAFETY: per this function's contract.
    unsafe {
        LLVMSetLinkage(to, LLVMGetLinkage(from));
        LLVMSetUnnamedAddress(to, LLVMGetUnnamedAddress(from));
        LLVMSetExternallyInitialized(to, LLVMIsExternallyInitialized(from));
        let section = LLVMGetSection(from);
        if !section.is_null() && *section != 0 {
            LLVMSetSection(to, section);
        }
    }
}

/// Maps constants of a source module to a destination module: each global
/// of the source becomes the destination's global of the same name.
struct Remap {
    to: LLVMModuleRef,
    mapped: HashMap<LLVMValueRef, LLVMValueRef>,
    /// A function whose blocks moved, and the function they moved to.
    blocks_of: Option<(LLVMValueRef, LLVMValueRef)>,
}

impl Remap {
    fn new(to: LLVMModuleRef, blocks_of: Option<(LLVMValueRef, LLVMValueRef)>) -> Remap {
        Remap {
            to,
            mapped: HashMap::new(),
            blocks_of,
        }
    }

    /// `value` with every global in it replaced by the destination's.
    ///
    /// # Safety
    /// `value` must be a live constant of the destination's context.
    unsafe fn constant(&mut self, value: LLVMValueRef) -> Result<LLVMValueRef, String> {
        if let Some(&mapped) = self.mapped.get(&value) {
            return Ok(mapped);
        }
        // SAFETY: per this function's contract; operands of a constant are
        // constants.
        let mapped = unsafe {
            if !LLVMIsAGlobalValue(value).is_null() {
                self.global(value)?
            } else if !LLVMIsABlockAddress(value).is_null() {
                let function = LLVMGetBlockAddressFunction(value);
                match self.blocks_of {
                    Some((from, to)) if from == function => {
                        LLVMBlockAddress(to, LLVMGetBlockAddressBasicBlock(value))
                    }
                    _ => {
                        return Err(format!(
                            "the address of a label of '{}' is used outside it",
                            value_name(function)
                        ))
                    }
                }
            } else {
                let count = LLVMGetNumOperands(value).max(0) as u32;
                let mut operands = Vec::with_capacity(count as usize);
                let mut changed = false;
                for index in 0..count {
                    let operand = LLVMGetOperand(value, index);
                    let mapped = self.constant(operand)?;
                    changed |= mapped != operand;
                    operands.push(mapped);
                }
                if changed {
                    rebuild(value, &mut operands)?
                } else {
                    value
                }
            }
        };
        self.mapped.insert(value, mapped);
        Ok(mapped)
    }

    /// The destination's global named as `global`, declared if new.
    ///
    /// # Safety
    /// `global` must be a live global value of the destination's context.
    unsafe fn global(&mut self, global: LLVMValueRef) -> Result<LLVMValueRef, String> {
        let name = value_name(global);
        if name.is_empty() {
            return Err("an unnamed global cannot be referred to from another module".to_string());
        }
        let c_name = c_string(&name)?;
        // SAFETY: per this function's contract; lookups in a live module.
        unsafe {
            let existing = [
                LLVMGetNamedFunction(self.to, c_name.as_ptr()),
                LLVMGetNamedGlobal(self.to, c_name.as_ptr()),
                LLVMGetNamedGlobalAlias(self.to, c_name.as_ptr(), name.len()),
            ]
            .into_iter()
            .find(|value| !value.is_null());
            match existing {
                Some(value) => Ok(value),
                None => declare(self.to, global, &name),
            }
        }
    }
}

/// A constant like `value` with `operands` instead of its own.
///
/// # Safety
/// `value` must be a live constant with as many operands, all constants.
unsafe fn rebuild(
    value: LLVMValueRef,
    operands: &mut [LLVMValueRef],
) -> Result<LLVMValueRef, String> {
    // SAFETY: per this function's contract.
    unsafe {
        let ty = LLVMTypeOf(value);
        let count = operands.len() as u32;
        if !LLVMIsAConstantExpr(value).is_null() {
            use LLVMOpcode::*;
            let first = operands[0];
            return Ok(match LLVMGetConstOpcode(value) {
                LLVMGetElementPtr => LLVMConstGEPWithNoWrapFlags(
                    LLVMGetGEPSourceElementType(value),
                    first,
                    operands[1..].as_mut_ptr(),
                    count - 1,
                    LLVMGEPGetNoWrapFlags(value),
                ),
                LLVMBitCast => LLVMConstBitCast(first, ty),
                LLVMPtrToInt => LLVMConstPtrToInt(first, ty),
                LLVMIntToPtr => LLVMConstIntToPtr(first, ty),
                LLVMAddrSpaceCast => LLVMConstAddrSpaceCast(first, ty),
                LLVMTrunc => LLVMConstTrunc(first, ty),
                LLVMAdd => LLVMConstAdd(first, operands[1]),
                LLVMSub => LLVMConstSub(first, operands[1]),
                LLVMMul => LLVMConstMul(first, operands[1]),
                LLVMXor => LLVMConstXor(first, operands[1]),
                opcode => {
                    return Err(format!(
                        "a constant expression ({opcode:?}) refers to a global"
                    ))
                }
            });
        }
        if !LLVMIsAConstantStruct(value).is_null() {
            return Ok(if LLVMGetStructName(ty).is_null() {
                LLVMConstStructInContext(
                    LLVMGetTypeContext(ty),
                    operands.as_mut_ptr(),
                    count,
                    LLVMIsPackedStruct(ty),
                )
            } else {
                LLVMConstNamedStruct(ty, operands.as_mut_ptr(), count)
            });
        }
        if !LLVMIsAConstantArray(value).is_null() {
            return Ok(LLVMConstArray2(
                LLVMGetElementType(ty),
                operands.as_mut_ptr(),
                u64::from(count),
            ));
        }
        if !LLVMIsAConstantVector(value).is_null() {
            return Ok(LLVMConstVector(operands.as_mut_ptr(), count));
        }
        Err("a constant of a kind that cannot move between modules refers to a global".to_string())
    }
}

#[cfg(test)]
mod tests {
    use crate::llvm::{Context, TargetMachine};
    use std::sync::Arc;

    /// A moved body keeps its metadata, and every global that metadata
    /// names is the new module's: its bitcode can be written (LLVM's writer
    /// crashed on a `!callees` naming the source's functions) and read back.
    #[test]
    fn a_moved_body_takes_its_metadata_naming_the_new_modules_globals() {
        let program = include_str!("../../../../tests/programs/metadata_globals.ll");
        let context = Arc::new(Context::new());
        let machine = TargetMachine::host(2).unwrap();
        let mut source = machine.parse_ir(&context, "metadata_globals.ll", program);
        let split = source
            .split("skeleton", "lazy_entry", |name| format!("{name}.record"))
            .unwrap();
        assert!(split.stubbed.contains(&"dispatch".to_string()));
        let moved = source.move_function("dispatch", "dispatch.v1").unwrap();
        moved.verify().unwrap();
        let ir = moved.to_ir_string();
        assert!(ir.contains(", !tbaa !"), "{ir}");
        assert!(ir.contains(" = !{ptr @parser, ptr @undump}"), "{ir}");
        assert!(ir.contains("declare i32 @parser(ptr)"), "{ir}");
        let reread = moved
            .to_bitcode()
            .extract_function(&context, "dispatch.v1", "dispatch.v2");
        assert!(reread.unwrap().to_ir_string().contains("!callees !"));

        let moved = source.move_function("sum", "sum.v1").unwrap();
        moved.verify().unwrap();
        let ir = moved.to_ir_string();
        for expected in [
            "define i32 @sum.v1(i32 %n) !hj.owner ",
            " = !{ptr @main, ptr @data}",
            "!hj.source ",
            " = !{ptr getelementptr (i8, ptr @data, i64 4), !\"data+4\"}",
            " = distinct !{ptr @sum, ptr @dispatch}",
            "!llvm.loop ",
            " = !{!\"llvm.loop.mustprogress\", ptr @sum}",
        ] {
            assert!(ir.contains(expected), "{expected} not in\n{ir}");
        }
        // The loop's node still refers to itself.
        let loop_node = ir
            .lines()
            .find(|line| line.contains("distinct !{!") && line.contains(", !"))
            .unwrap_or_else(|| panic!("no loop node in\n{ir}"));
        let id = loop_node.split(' ').next().unwrap();
        assert!(
            loop_node.contains(&format!("distinct !{{{id}, ")),
            "{loop_node}"
        );
        assert!(!moved.to_bitcode().bytes().is_empty());
    }
}

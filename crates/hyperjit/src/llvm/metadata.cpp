// Metadata that refers to globals, when a body moves to another module
// (src/llvm/split.rs): `!callees` on an indirect call, a custom attachment
// naming a function, debug records' locations. The C API can read a node's
// operands but cannot rebuild a distinct or cyclic node; LLVM's ValueMapper,
// which the IR linker uses, can. Left alone, such metadata points into the
// source module and the bitcode writer dereferences a value it cannot
// number (a SIGSEGV in ValueEnumerator::getValueID, issue 23).
//
// Only the C ABI below crosses into Rust; nothing here throws.

#include "cpp_api.h"

#include <llvm-c/Core.h>
#include <llvm/ADT/SmallPtrSet.h>
#include <llvm/ADT/SmallVector.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DebugInfoMetadata.h>
#include <llvm/IR/DebugProgramInstruction.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/GlobalValue.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Metadata.h>
#include <llvm/IR/ValueMap.h>
#include <llvm/Transforms/Utils/ValueMapper.h>

#include <cstddef>
#include <vector>

namespace {

// Whether `constant` is, or is built of, a global value.
bool refers_to_global(const llvm::Constant *constant,
                      llvm::SmallPtrSetImpl<const llvm::Constant *> &seen) {
    if (!seen.insert(constant).second) {
        return false;
    }
    if (llvm::isa<llvm::GlobalValue>(constant) || llvm::isa<llvm::BlockAddress>(constant)) {
        return true;
    }
    for (const llvm::Use &operand : constant->operands()) {
        if (auto *inner = llvm::dyn_cast<llvm::Constant>(operand.get());
            inner && refers_to_global(inner, seen)) {
            return true;
        }
    }
    return false;
}

// Collects the constants that refer to globals in the metadata reachable
// from a root.
class Collector {
  public:
    void metadata(const llvm::Metadata *node) {
        if (node == nullptr || !visited_.insert(node).second) {
            return;
        }
        if (auto *constant = llvm::dyn_cast<llvm::ConstantAsMetadata>(node)) {
            llvm::SmallPtrSet<const llvm::Constant *, 8> seen;
            if (refers_to_global(constant->getValue(), seen)) {
                found_.push_back(constant->getValue());
            }
        } else if (auto *list = llvm::dyn_cast<llvm::DIArgList>(node)) {
            for (llvm::ValueAsMetadata *argument : list->getArgs()) {
                metadata(argument);
            }
        } else if (auto *tuple = llvm::dyn_cast<llvm::MDNode>(node)) {
            for (const llvm::MDOperand &operand : tuple->operands()) {
                metadata(operand.get());
            }
        }
    }

    void record(const llvm::DbgRecord &record) {
        metadata(record.getDebugLoc().getAsMDNode());
        if (auto *variable = llvm::dyn_cast<llvm::DbgVariableRecord>(&record)) {
            metadata(variable->getRawLocation());
            metadata(variable->getRawVariable());
            metadata(variable->getRawExpression());
            if (variable->isDbgAssign()) {
                metadata(variable->getRawAddress());
                metadata(variable->getRawAssignID());
            }
        } else if (auto *label = llvm::dyn_cast<llvm::DbgLabelRecord>(&record)) {
            metadata(label->getRawLabel());
        }
    }

    void function(const llvm::Function &function) {
        llvm::SmallVector<std::pair<unsigned, llvm::MDNode *>, 4> attachments;
        function.getAllMetadata(attachments);
        for (const auto &attachment : attachments) {
            metadata(attachment.second);
        }
        for (const llvm::BasicBlock &block : function) {
            for (const llvm::Instruction &instruction : block) {
                attachments.clear();
                instruction.getAllMetadata(attachments);
                for (const auto &attachment : attachments) {
                    metadata(attachment.second);
                }
                for (const llvm::Use &operand : instruction.operands()) {
                    if (auto *value = llvm::dyn_cast<llvm::MetadataAsValue>(operand.get())) {
                        metadata(value->getMetadata());
                    }
                }
                for (const llvm::DbgRecord &debug : instruction.getDbgRecordRange()) {
                    record(debug);
                }
            }
        }
    }

    const std::vector<llvm::Constant *> &found() const { return found_; }

  private:
    llvm::SmallPtrSet<const llvm::Metadata *, 32> visited_;
    std::vector<llvm::Constant *> found_;
};

}  // namespace

extern "C" {

// Writes to `out` (room for `capacity`) the constants referring to globals
// that metadata in `function` holds: its attachments, its instructions'
// attachments, metadata operands and debug records. Returns how many there
// are, which may exceed `capacity` (call again with more room).
size_t hj_metadata_constants(LLVMValueRef function, LLVMValueRef *out, size_t capacity) {
    Collector collector;
    collector.function(*llvm::unwrap<llvm::Function>(function));
    const std::vector<llvm::Constant *> &found = collector.found();
    for (size_t index = 0; index < found.size() && index < capacity; ++index) {
        out[index] = llvm::wrap(found[index]);
    }
    return found.size();
}

// Rewrites every metadata in `function` (as hj_metadata_constants finds it)
// with `from[i]` replaced by `to[i]`: uniqued nodes that change are made
// anew, distinct ones copied. Values of the function itself stay.
void hj_remap_metadata(LLVMValueRef function, const LLVMValueRef *from, const LLVMValueRef *to,
                       size_t count) {
    llvm::ValueToValueMapTy map;
    for (size_t index = 0; index < count; ++index) {
        map[llvm::unwrap(from[index])] = llvm::unwrap(to[index]);
    }
    llvm::RemapFunction(*llvm::unwrap<llvm::Function>(function), map,
                        llvm::RF_IgnoreMissingLocals);
}

}  // extern "C"

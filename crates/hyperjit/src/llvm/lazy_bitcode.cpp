// Reading bitcode lazily: what the C API cannot do. The C API opens a
// module whose function bodies stay unread (LLVMGetBitcodeModuleInContext2,
// src/llvm/module.rs) but cannot ask for one body, or for all of them, and
// report an error: running a function pass manager reads a body, but aborts
// the process if the bitcode is corrupt. A lazy run compiles a function on
// its first call, so it reads that body then, and a body never called is
// never read: for the sqlite amalgamation, the 9 ms it takes to open the
// module, against about 170 ms to read it whole.
//
// Only the C ABI below crosses into Rust (src/llvm/module.rs); no C++
// exception is thrown (LLVM is built without them). Errors come back as
// messages allocated by LLVMCreateMessage, which the caller owns.

#include "cpp_api.h"

#include <llvm-c/Core.h>
#include <llvm/Bitcode/BitcodeReader.h>
#include <llvm/Bitcode/LLVMBitCodes.h>
#include <llvm/Bitstream/BitstreamReader.h>
#include <llvm/IR/GlobalValue.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>

#include <cstdint>
#include <optional>
#include <string>

namespace {

// Hands `error`'s text to the caller; returns 1 (failed).
int report(llvm::Error error, char **message) {
    std::string text = llvm::toString(std::move(error));
    *message = LLVMCreateMessage(text.c_str());
    return 1;
}

// The highest parameter an attribute group may be for: clang allows 65,535
// parameters. The reader allocates a slot for every parameter up to the
// index before it checks anything, so a corrupt index of 4 billion made it
// copy 32 GB (a fuzzed file ran for minutes, or ran out of memory).
constexpr uint64_t kMaxAttributeParameter = 65535;

// What the scan found: nothing (also when the stream is malformed: the reader
// reports that itself), or why the file is refused.
using Refusal = std::optional<std::string>;

// Whether a step of the scan failed; the error is dropped (a malformed
// stream is the reader's to report).
bool failed(llvm::Error error) {
    if (!error) {
        return false;
    }
    llvm::consumeError(std::move(error));
    return true;
}

template <typename T> bool failed(llvm::Expected<T> &value) {
    return !value && failed(value.takeError());
}

// Scans one PARAMATTR_GROUP_BLOCK, the cursor just inside it.
Refusal scan_attribute_groups(llvm::BitstreamCursor &stream) {
    llvm::SmallVector<uint64_t, 16> record;
    while (true) {
        llvm::Expected<llvm::BitstreamEntry> entry = stream.advanceSkippingSubblocks();
        if (failed(entry)) {
            return std::nullopt;
        }
        if (entry->Kind != llvm::BitstreamEntry::Record) {
            return std::nullopt;
        }
        record.clear();
        llvm::Expected<unsigned> code = stream.readRecord(entry->ID, record);
        if (failed(code)) {
            return std::nullopt;
        }
        // ENTRY: [group, index, attributes...]; the reader keeps 32 bits of
        // the index, ~0 being the function itself and 0 its result.
        if (*code != llvm::bitc::PARAMATTR_GRP_CODE_ENTRY || record.size() < 2) {
            continue;
        }
        uint32_t index = static_cast<uint32_t>(record[1]);
        if (index != UINT32_MAX && index > kMaxAttributeParameter) {
            return "attribute group " + std::to_string(record[0]) + " is for parameter " +
                   std::to_string(index - 1) + ", beyond the " +
                   std::to_string(kMaxAttributeParameter) +
                   " parameters a function may have (corrupt bitcode?)";
        }
    }
}

// Scans one MODULE_BLOCK, the cursor just inside it. `block_info` outlives
// the cursor, which points to it once the block's BLOCKINFO is read.
Refusal scan_module(llvm::BitstreamCursor &stream,
                    std::optional<llvm::BitstreamBlockInfo> &block_info) {
    while (true) {
        llvm::Expected<llvm::BitstreamEntry> entry = stream.advance();
        if (failed(entry)) {
            return std::nullopt;
        }
        switch (entry->Kind) {
        case llvm::BitstreamEntry::Error:
        case llvm::BitstreamEntry::EndBlock:
            return std::nullopt;
        case llvm::BitstreamEntry::Record:
            if (llvm::Expected<unsigned> skipped = stream.skipRecord(entry->ID);
                failed(skipped)) {
                return std::nullopt;
            }
            break;
        case llvm::BitstreamEntry::SubBlock:
            if (entry->ID == llvm::bitc::BLOCKINFO_BLOCK_ID) {
                llvm::Expected<std::optional<llvm::BitstreamBlockInfo>> read =
                    stream.ReadBlockInfoBlock();
                if (failed(read)) {
                    return std::nullopt;
                }
                if (!*read) {
                    return std::nullopt;
                }
                block_info = std::move(**read);
                stream.setBlockInfo(&*block_info);
            } else if (entry->ID == llvm::bitc::PARAMATTR_GROUP_BLOCK_ID) {
                if (failed(stream.EnterSubBlock(entry->ID))) {
                    return std::nullopt;
                }
                if (Refusal refusal = scan_attribute_groups(stream)) {
                    return refusal;
                }
            } else if (failed(stream.SkipBlock())) {
                return std::nullopt;
            }
            break;
        }
    }
}

// Scans every module in the bitcode `bytes`.
Refusal scan_bitcode(const uint8_t *bytes, size_t length) {
    const unsigned char *start = bytes;
    const unsigned char *end = bytes + length;
    if (llvm::isBitcodeWrapper(start, end) && llvm::SkipBitcodeWrapperHeader(start, end, true)) {
        return std::nullopt;
    }
    if (!llvm::isRawBitcode(start, end)) {
        return std::nullopt;
    }
    std::optional<llvm::BitstreamBlockInfo> block_info;
    llvm::BitstreamCursor stream(llvm::ArrayRef<uint8_t>(start, end));
    if (failed(stream.JumpToBit(32))) {
        return std::nullopt;
    }
    while (!stream.AtEndOfStream()) {
        llvm::Expected<llvm::BitstreamEntry> entry = stream.advance();
        if (failed(entry)) {
            return std::nullopt;
        }
        if (entry->Kind != llvm::BitstreamEntry::SubBlock) {
            return std::nullopt;
        }
        if (entry->ID == llvm::bitc::MODULE_BLOCK_ID) {
            if (failed(stream.EnterSubBlock(entry->ID))) {
                return std::nullopt;
            }
            if (Refusal refusal = scan_module(stream, block_info)) {
                return refusal;
            }
        } else if (failed(stream.SkipBlock())) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace

extern "C" {

// What the bitcode reader must not be given `bytes` for, before it reads
// them: 0, or 1 and `*message`.
int hj_bitcode_refusal(const uint8_t *bytes, size_t length, char **message) {
    *message = nullptr;
    if (Refusal refusal = scan_bitcode(bytes, length)) {
        *message = LLVMCreateMessage(refusal->c_str());
        return 1;
    }
    return 0;
}

// Whether `global`'s body has not been read yet.
int hj_is_materializable(LLVMValueRef global) {
    return llvm::unwrap<llvm::GlobalValue>(global)->isMaterializable() ? 1 : 0;
}

// Reads `global`'s body if it was not read yet. 0, or 1 and `*message`.
int hj_materialize(LLVMValueRef global, char **message) {
    *message = nullptr;
    if (llvm::Error error = llvm::unwrap<llvm::GlobalValue>(global)->materialize()) {
        return report(std::move(error), message);
    }
    return 0;
}

// Reads every body of `module` not read yet. 0, or 1 and `*message`.
int hj_materialize_all(LLVMModuleRef module, char **message) {
    *message = nullptr;
    if (llvm::Error error = llvm::unwrap(module)->materializeAll()) {
        return report(std::move(error), message);
    }
    return 0;
}

}  // extern "C"

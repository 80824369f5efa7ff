/* The functions hyperjit's own C++ files (the .cpp files of src/llvm) give the rest of
 * the crate: what LLVM's C API lacks. This header owns their signatures:
 * every .cpp includes it, so a definition that strays from it does not
 * compile (C linkage allows no overloads), faults.c includes it for the
 * code map, and llvm/cpp.rs declares the same functions for Rust, checked
 * against this text by its test. */
#ifndef HYPERJIT_LLVM_CPP_API_H
#define HYPERJIT_LLVM_CPP_API_H

#include <stddef.h>
#include <stdint.h>

#include <llvm-c/ExecutionEngine.h>
#include <llvm-c/Orc.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An allocation failure's handler: it must not return. */
typedef void (*hj_bad_alloc_handler)(const char *reason);

/* code_map.cpp */
LLVMJITEventListenerRef hj_code_map_listener(void);
int hj_code_map_find(uint64_t address, const char **name, uint64_t *offset);

/* codegen_pipeline.cpp */
void *hj_pipeline_create(LLVMTargetMachineRef machine, unsigned level);
LLVMMemoryBufferRef hj_pipeline_emit(void *pipeline, LLVMModuleRef module);
void hj_pipeline_dispose(void *pipeline);
void hj_machine_align_loops(LLVMTargetMachineRef machine, unsigned bytes);

/* fatal.cpp */
void hj_install_bad_alloc_handler(hj_bad_alloc_handler handler);

/* globals.cpp */
uint64_t hj_global_alignment(LLVMValueRef global);
int hj_is_dso_local(LLVMValueRef global);
void hj_clear_dso_local(LLVMValueRef global);

/* lazy_bitcode.cpp */
int hj_bitcode_refusal(const uint8_t *bytes, size_t length, char **message);
int hj_is_materializable(LLVMValueRef global);
int hj_materialize(LLVMValueRef global, char **message);
int hj_materialize_all(LLVMModuleRef module, char **message);

/* limits.cpp */
int hj_subtarget_supported(LLVMTargetMachineRef machine, const char *cpu, const char *features);
int hj_feature_known(LLVMTargetMachineRef machine, const char *name);
int hj_cpu_known(LLVMTargetMachineRef machine, const char *cpu);

/* metadata.cpp */
size_t hj_metadata_constants(LLVMValueRef function, LLVMValueRef *out, size_t capacity);
void hj_remap_metadata(LLVMValueRef function, const LLVMValueRef *from, const LLVMValueRef *to,
                       size_t count);

/* perf_map.cpp */
LLVMJITEventListenerRef hj_perf_map_listener(void);

/* process_symbols.cpp */
int hj_jit_unlink_process_symbols(LLVMOrcLLJITRef jit);

#ifdef __cplusplus
}
#endif

#endif

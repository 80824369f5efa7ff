/* hyperjit.h: the guest ABI of hyperjit.
 *
 * A program run by hyperjit includes this header to call back into the
 * program that hosts it ("hypercalls"). `hyperjit run` puts this header on
 * clang's include path for .c inputs.
 */
#ifndef HYPERJIT_H
#define HYPERJIT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The multiplexed callback: calls the callback the host registered under
 * `name` with `args` (and that callback's own host context) and returns its
 * result. An unknown name stops the program with
 * "unknown callback 'NAME'". */
intptr_t PerformCustomCallback(const char *name, void *args);

/* Hypercalls into the engine. 0 / non-NULL on success; on failure -1 / NULL,
 * and hj_last_error() says why (per thread, valid until the next call). */

/* The address of any linked function, global or callback. */
void *hj_lookup(const char *symbol);
/* Recompiles `function` at `opt_level` (0..3); later calls run the new code. */
int hj_recompile(const char *function, int opt_level);
/* Replaces the body of `function` with the one in `path` (.ll, .bc or .c). */
int hj_redefine(const char *function, const char *path);
/* Adds the module in `path` to the running program. */
int hj_load(const char *path);
/* Why the last hypercall of this thread failed. */
const char *hj_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HYPERJIT_H */

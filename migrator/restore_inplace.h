/* Memory a new process keeps in place: where binmig holds pages already
 * at the addresses the process will have them (pre-copy's store,
 * precopy_dest.c), the new process, created by fork, inherits them and
 * keeps them instead of fresh memory, so that nothing is copied while
 * the process is frozen.  Only where the result cannot be told apart
 * from memory mapped afresh: private, writable, anonymous memory that is
 * neither a growing stack nor MAP_NORESERVE (the held memory is mapped
 * like such memory, with the same offsets and accounting). */
#ifndef BINMIG_RESTORE_INPLACE_H
#define BINMIG_RESTORE_INPLACE_H

#include <stdbool.h>
#include <stddef.h>

#include "memory.h"
#include "state.h"

bool bm_rs_inplace_eligible(const struct bm_vma *v);

/* Whether b, mapped right after a, would merge with it: private
 * anonymous memory alike in everything binmig sets.  The original has
 * them as two areas all the same where each has memory of its own (an
 * anon_vma: the kernel merges two areas only if one has none), as an
 * area moved next to another (mremap) has; the restore keeps them so:
 * b is mapped afresh (restore_memory.c), not kept in place. */
bool bm_rs_kept_apart(const struct bm_vma *a, const struct bm_vma *b);

/* The parts of p's eligible VMAs inside the sorted ranges pre: sorted,
 * each within one VMA.  0 (*out NULL when none) or -ENOMEM. */
int bm_rs_plan_inplace(const struct bm_process *p, const struct bm_range *pre, size_t npre, struct bm_range **out,
		       size_t *n);

#endif

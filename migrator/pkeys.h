/* Memory protection keys (pkey_alloc, pkey_mprotect, PKRU) at dump.
 *
 * binmig does not carry them; it refuses (exit 4) a process that uses
 * them, so that none comes back with its keys silently gone:
 *   - a mapping with a key other than 0 (smaps "ProtectionKey"), except
 *     execute-only memory (PROT_EXEC alone) under key 1: the kernel gives
 *     such memory a key of its own, the lowest free one, and gives it
 *     again when the restore maps it (binmig's new process has no other
 *     key).  Execute-only memory under key 0 would come back readable no
 *     more, and is refused too;
 *   - a thread whose PKRU (xstate component 9, from PTRACE_GETREGSET) is
 *     not the kernel's default 0x55555554 (pkey_set, WRPKRU);
 *   - a key allocated (pkey_alloc) beyond key 0 and the execute-only key
 *     that a mapping uses, even if no mapping uses it: found with an
 *     injected pkey_mprotect of each key at an address nothing maps,
 *     which changes nothing (the kernel checks the key before the memory:
 *     ENOMEM for an allocated key, EINVAL for a free one).
 * Nothing is checked when the kernel shows no keys (no ProtectionKey
 * lines in smaps: no PKU, or a kernel without it). */
#ifndef BINMIG_PKEYS_H
#define BINMIG_PKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "procfs.h"

/* The PKRU Linux gives every thread: only key 0 accessible. */
#define BM_PKRU_DEFAULT 0x55555554u

/* The maps entries (with smaps' pkey) against the rules above: the first
 * entry refused, or NULL; *exec_key is set when execute-only memory uses
 * key 1. */
const struct bm_maps_entry *bm_pkeys_refused_vma(const struct bm_maps_entry *e, size_t n, bool *exec_key);

/* PKRU from a thread's saved xstate (standard XSAVE format) with
 * component 9 at OFFSET: 0 and *pkru, or -1 when the state is too short.
 * A component left out of XSTATE_BV is in its initial state, 0. */
int bm_pkeys_pkru(const uint8_t *xstate, uint32_t len, uint32_t offset, uint32_t *pkru);

/* All the checks, on a frozen process whose VMAs and threads are read
 * (f->maps with their pkeys, f->proc.threads); logs the refusal. */
struct bm_frozen;
int bm_pkeys_check(struct bm_frozen *f);

#endif

/* Memory protection keys at dump: refused, not carried (pkeys.h). */
#include "pkeys.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "checkpoint.h"
#include "log.h"
#include "memory.h"
#include "ptrace_ctl.h"

#define PKRU_COMPONENT 9
#define XSTATE_BV_OFFSET 512
/* PKRU has two bits for each of 16 keys. */
#define PKEYS_X86 16

static bool exec_only(const struct bm_maps_entry *e)
{
	return e->perms[0] == '-' && e->perms[1] == '-' && e->perms[2] == 'x';
}

const struct bm_maps_entry *bm_pkeys_refused_vma(const struct bm_maps_entry *e, size_t n, bool *exec_key)
{
	*exec_key = false;
	for (size_t i = 0; i < n; i++) {
		if (e[i].pkey < 0 || bm_vma_special_kind(e[i].path))
			continue; /* no keys, not in smaps, or the kernel's own ([vsyscall] is execute-only) */
		if (exec_only(&e[i]) ? e[i].pkey != 1 : e[i].pkey != 0)
			return &e[i];
		if (exec_only(&e[i]))
			*exec_key = true;
	}
	return NULL;
}

int bm_pkeys_pkru(const uint8_t *xstate, uint32_t len, uint32_t offset, uint32_t *pkru)
{
	uint64_t bv;
	if (len < XSTATE_BV_OFFSET + sizeof bv || offset < XSTATE_BV_OFFSET + 64 || len < offset + sizeof *pkru)
		return -1;
	memcpy(&bv, xstate + XSTATE_BV_OFFSET, sizeof bv);
	*pkru = 0;
	if (bv & (1ULL << PKRU_COMPONENT))
		memcpy(pkru, xstate + offset, sizeof *pkru);
	return 0;
}

static int check_pkru(struct bm_frozen *f)
{
	unsigned eax, ebx, ecx, edx;
	if (!__get_cpuid_count(0xd, PKRU_COMPONENT, &eax, &ebx, &ecx, &edx) || eax == 0)
		return bm_error(BM_EXIT_FAILURE, "the kernel shows protection keys but the CPU has no PKRU state");
	for (uint32_t i = 0; i < f->proc.nthreads; i++) {
		const struct bm_thread *t = &f->proc.threads[i];
		uint32_t pkru;
		if (bm_pkeys_pkru(t->xstate, t->xstate_len, ebx, &pkru) < 0)
			return bm_error(BM_EXIT_FAILURE, "the saved xstate of thread %d is too short for PKRU", t->tid);
		if (pkru != BM_PKRU_DEFAULT)
			return bm_error(BM_EXIT_UNSUPPORTED, "thread %d of process %d has the protection key rights (PKRU) "
					"0x%08x, not the default 0x%08x (pkey_alloc, pkey_set); binmig cannot carry "
					"protection keys", t->tid, f->pid, pkru, BM_PKRU_DEFAULT);
	}
	return 0;
}

/* Which keys the process has allocated, without changing anything: the
 * kernel checks a key given to pkey_mprotect before it looks for the
 * memory, so at an address nothing maps an allocated key fails with
 * ENOMEM, a free one with EINVAL. */
static int check_allocated(struct bm_frozen *f, bool exec_key)
{
	struct bm_tracee *tr = &f->tracees[0];
	uint64_t nowhere = 0; /* below mmap_min_addr, unless the process maps it */
	for (size_t i = 0; i < f->nmaps && f->maps[i].start <= nowhere; i++)
		nowhere = f->maps[i].end;
	/* Key 0 is always allocated.  The key of execute-only memory (key 1:
	 * bm_pkeys_refused_vma) is the kernel's: it keeps it from every user
	 * call, pkey_mprotect and pkey_free included, which fail with EINVAL
	 * as for a free key, so there is nothing to ask. */
	for (int k = 1; k < PKEYS_X86; k++) {
		if (exec_key && k == 1)
			continue;
		long ret = 0;
		int rc = bm_inject(tr, SYS_pkey_mprotect, nowhere, 4096, PROT_NONE, (uint64_t)k, 0, 0, &ret);
		if (rc < 0)
			return rc;
		if (ret != -EINVAL && ret != -ENOMEM)
			return bm_error_errno(BM_EXIT_FAILURE, ret < 0 ? (int)-ret : ERANGE, "cannot tell whether process "
					      "%d has the protection key %d", f->pid, k);
		if (ret == -ENOMEM)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d has the protection key %d allocated (pkey_alloc); "
					"binmig cannot carry protection keys", f->pid, k);
	}
	return 0;
}

int bm_pkeys_check(struct bm_frozen *f)
{
	bool shown = false;
	for (size_t i = 0; i < f->nmaps && !shown; i++)
		shown = f->maps[i].pkey >= 0;
	if (!shown)
		return 0;
	bool exec_key;
	const struct bm_maps_entry *e = bm_pkeys_refused_vma(f->maps, f->nmaps, &exec_key);
	if (e)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has memory at 0x%llx (%s %s) under the protection key %d "
				"(pkey_mprotect%s); binmig cannot carry protection keys", f->pid,
				(unsigned long long)e->start, e->perms, e->path[0] ? e->path : "anonymous", (int)e->pkey,
				exec_only(e) ? ", or execute-only memory with a key of its own" : "");
	int rc = check_pkru(f);
	return rc < 0 ? rc : check_allocated(f, exec_key);
}

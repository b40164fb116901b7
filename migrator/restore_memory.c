/* Restore: the new process's address space made again, the parent's side
 * (restore_ctx.h): binmig's own mappings unmapped, every VMA mapped at its
 * address, the pages written, then names, locks and seals. */
#include "restore_ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "memguard.h"
#include "memory.h"
#include "ptrace_ctl.h"
#include "restore_inplace.h"

static int unmap_piece(void *arg, uint64_t start, uint64_t end)
{
	return bm_rs_inject(arg, "unmapping binmig", SYS_munmap, start, end - start, 0, 0, 0, 0, NULL);
}

static int by_start(const void *a, const void *b)
{
	uint64_t x = ((const struct bm_range *)a)->start, y = ((const struct bm_range *)b)->start;
	return x < y ? -1 : x > y;
}

/* Unmaps everything of binmig's in the new process: all but the specials
 * and the memory it keeps in place. */
int bm_rs_unmap_all_but(struct restore_ctx *c)
{
	size_t n = c->specials.n + c->ninplace;
	struct bm_range *keep = malloc((n ? n : 1) * sizeof *keep);
	if (!keep)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; i < c->specials.n; i++)
		keep[i] = (struct bm_range){c->specials.sp[i].to, c->specials.sp[i].to + c->specials.sp[i].len};
	for (size_t i = 0; i < c->ninplace; i++)
		keep[c->specials.n + i] = c->inplace[i];
	qsort(keep, n, sizeof *keep, by_start);
	int rc = bm_ranges_each_gap(0, TASK_SIZE_MAX, keep, n, unmap_piece, c);
	free(keep);
	return rc;
}

struct vma_piece {
	struct restore_ctx *c;
	const struct bm_vma *v;
	bool apart, next_apart; /* kept apart from the VMA before it, the one after it (bm_rs_kept_apart) */
};

/* Droppable memory (MAP_DROPPABLE, an mmap type as MAP_PRIVATE is): a
 * kernel before 6.11 has none. */
#define BM_MAP_DROPPABLE 0x08
static int map_droppable(struct restore_ctx *c, uint64_t start, uint64_t end, uint32_t prot, uint64_t flags, long *addr)
{
	int rc = bm_inject(&c->tr, SYS_mmap, start, end - start, prot, flags, (uint64_t)-1, 0, addr);
	if (rc == 0 && (*addr == -EINVAL || *addr == -EOPNOTSUPP))
		return bm_error(BM_EXIT_CONFLICT, "restoring process %d: this kernel cannot map droppable memory "
				"(MAP_DROPPABLE, Linux 6.11) at 0x%llx", c->pid, (unsigned long long)start);
	if (rc == 0 && *addr < 0 && *addr > -4096)
		return bm_rs_step_failed(c, "mapping droppable memory", (int)-*addr);
	return rc;
}

static const uint8_t zero_page[BM_PAGE_SIZE];

/* Anonymous memory that loses write access keeps its accounting only
 * if it ever held a page (the kernel unaccounts one without an anon_vma):
 * one page written and dropped again gives it one, as the original's
 * had when it was made read-only.  The contents come later. */
static int give_anon_vma(struct restore_ctx *c, uint64_t start)
{
	int rc = bm_mem_write(c->pid, start, zero_page, 1);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to memory at 0x%llx of process %d",
				      (unsigned long long)start, c->pid);
	return bm_rs_inject(c, "madvise(MADV_DONTNEED)", SYS_madvise, start, BM_PAGE_SIZE, MADV_DONTNEED, 0, 0, 0,
			    NULL);
}

/* Maps [start, end) of v afresh. */
static int map_piece(void *arg, uint64_t start, uint64_t end)
{
	const struct vma_piece *piece = arg;
	struct restore_ctx *c = piece->c;
	const struct bm_vma *v = piece->v;
	uint64_t flags = MAP_FIXED | (v->flags & BM_VMA_SHARED ? MAP_SHARED
				      : v->flags & BM_VMA_DROPPABLE ? BM_MAP_DROPPABLE
								    : MAP_PRIVATE) |
			 (v->flags & BM_VMA_GROWSDOWN ? MAP_GROWSDOWN : 0) |
			 (v->flags & BM_VMA_NORESERVE ? MAP_NORESERVE : 0);
	uint64_t fd = (uint64_t)-1, off = 0;
	if (v->kind == BM_VMA_FILE || (v->flags & BM_VMA_SHMEM)) { /* shared anonymous: its object (shmem.h) */
		fd = (uint64_t)bm_rs_file_fd(c, v);
		off = v->pgoff + (start - v->start);
	} else {
		flags |= MAP_ANONYMOUS;
	}
	/* Accounted when it was writable, a private mapping stays so made
	 * read-only, and the kernel keeps it apart from a neighbour that
	 * never was (ld.so's RELRO next to a library's read-only data, a
	 * thread stack's guard next to other anonymous memory). */
	bool account = (v->kind == BM_VMA_FILE || v->kind == BM_VMA_ANON) && (v->flags & BM_VMA_ACCOUNT) &&
		       !(v->flags & (BM_VMA_SHARED | BM_VMA_DROPPABLE)) && !(v->prot & PROT_WRITE);
	/* Kept apart from a neighbour (bm_rs_kept_apart): an anon_vma of its own,
	 * and mapped first with other permissions where the one before has
	 * its final ones already (an accounted one is mapped writable). */
	bool first = start == v->start && !account;
	bool apart = first && piece->apart, own = first && (piece->apart || piece->next_apart);
	uint32_t prot = v->prot | (account ? PROT_WRITE : 0);
	if (apart)
		prot = v->prot == PROT_NONE ? PROT_READ : PROT_NONE;
	long addr = 0;
	int rc = bm_fault(BM_FP_MAP_MEMORY)      ? bm_rs_step_failed(c, "mapping memory", errno)
		 : v->flags & BM_VMA_DROPPABLE ? map_droppable(c, start, end, v->prot, flags, &addr)
					       : bm_rs_inject(c, "mapping memory", SYS_mmap, start, end - start,
							prot, flags, fd, off, &addr);
	if (rc == 0 && (uint64_t)addr != start)
		rc = bm_error(BM_EXIT_FAILURE, "mapping at 0x%llx landed at 0x%lx", (unsigned long long)start, addr);
	if (rc == 0 && ((account && v->kind == BM_VMA_ANON) || own))
		rc = give_anon_vma(c, start);
	if (rc == 0 && prot != v->prot)
		rc = bm_rs_inject(c, "protecting memory", SYS_mprotect, start, end - start, v->prot, 0, 0, 0, NULL);
	return rc;
}

/* v afresh around what it keeps in place (mapped read-write, as binmig
 * held it). */
static int map_vma(struct restore_ctx *c, uint32_t i)
{
	const struct bm_vma *v = &c->proc.vmas[i];
	size_t first = bm_ranges_after(c->inplace, c->ninplace, v->start);
	struct vma_piece arg = {c, v, i > 0 && bm_rs_kept_apart(v - 1, v),
				i + 1 < c->proc.nvmas && bm_rs_kept_apart(v, v + 1)};
	int rc = bm_ranges_each_gap(v->start, v->end, c->inplace + first, c->ninplace - first, map_piece, &arg);
	for (size_t i = first; rc == 0 && i < c->ninplace && c->inplace[i].start < v->end; i++)
		if (v->prot != (PROT_READ | PROT_WRITE))
			rc = bm_rs_inject(c, "protecting memory", SYS_mprotect, c->inplace[i].start,
				    c->inplace[i].end - c->inplace[i].start, v->prot, 0, 0, 0, NULL);
	return rc;
}

int bm_rs_map_vmas(struct restore_ctx *c)
{
	for (uint32_t i = 0; i < c->proc.nvmas; i++) {
		const struct bm_vma *v = &c->proc.vmas[i];
		if (bm_vma_is_special(v->kind) || v->kind == BM_VMA_VSYSCALL)
			continue;
		size_t k = bm_ranges_after(c->inplace, c->ninplace, v->start);
		bool kept = k < c->ninplace && c->inplace[k].start <= v->start;
		int rc = map_vma(c, i);
		if (rc < 0 || (rc = bm_guards_mark(&c->tr, c->pid, &c->proc, v, kept)) < 0)
			return rc;
		for (unsigned k = 0; k < bm_vma_advice_count; k++)
			if ((v->flags & bm_vma_advice[k].flag) &&
			    (rc = bm_rs_inject(c, "madvise", SYS_madvise, v->start, v->end - v->start,
					 (uint64_t)bm_vma_advice[k].advice, 0, 0, 0, NULL)) < 0)
				return rc;
	}
	return 0;
}

/* Anonymous memory gets back the name the process gave it
 * ("[anon:NAME]", PR_SET_VMA_ANON_NAME); needs the scratch page. */
int bm_rs_name_vmas(struct restore_ctx *c)
{
	for (uint32_t i = 0; i < c->proc.nvmas; i++) {
		const struct bm_vma *v = &c->proc.vmas[i];
		if (v->kind != BM_VMA_ANON || !v->path)
			continue;
		const char *name = strchr(v->path, ':');
		size_t len = name ? strlen(name + 1) : 0;
		if (!name || len < 1 || name[len] != ']' || len > 80)
			return bm_error(BM_EXIT_IMAGE, "memory at 0x%llx has a malformed name \"%s\"",
					(unsigned long long)v->start, v->path);
		char buf[81];
		memcpy(buf, name + 1, len - 1);
		buf[len - 1] = 0;
		int rc = bm_mem_write(c->pid, c->scratch + 3072, buf, len);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing to the scratch page");
		if ((rc = bm_rs_inject(c, "naming memory", SYS_prctl, 0x53564d41 /* PR_SET_VMA */, 0 /* ANON_NAME */, v->start,
				 v->end - v->start, c->scratch + 3072, 0, NULL)) < 0)
			return rc;
	}
	return 0;
}

/* Locks and seals as the image says, once the contents are in: locking
 * faults the pages in, sealing forbids changing the mapping any more. */
int bm_rs_lock_and_seal(struct restore_ctx *c, bool seal)
{
	for (uint32_t i = 0; i < c->proc.nvmas; i++) {
		const struct bm_vma *v = &c->proc.vmas[i];
		int rc = 0;
		if (v->kind != BM_VMA_ANON && v->kind != BM_VMA_FILE)
			continue; /* the kernel's own mappings, moved as they are */
		if (!seal && (v->flags & (BM_VMA_LOCKED | BM_VMA_LOCKONFAULT)))
			rc = bm_rs_inject(c, "mlock2", SYS_mlock2, v->start, v->end - v->start,
				    v->flags & BM_VMA_LOCKONFAULT ? 1 /* MLOCK_ONFAULT */ : 0, 0, 0, 0, NULL);
		if (seal && (v->flags & BM_VMA_SEALED))
			rc = bm_rs_inject(c, "mseal", 462 /* SYS_mseal */, v->start, v->end - v->start, 0, 0, 0, 0, NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static const struct bm_vma *vma_of(const struct bm_process *p, uint64_t addr, uint64_t len)
{
	uint32_t lo = 0, hi = p->nvmas;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (p->vmas[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->nvmas && p->vmas[lo].start <= addr && addr + len <= p->vmas[lo].end)
		return &p->vmas[lo];
	return NULL;
}


/* Pages of a shared memory file go into the file itself: its mapping may
 * be read-only, and a shared mapping cannot be written through by force. */
/* Through the new process's mapping of the file: its name may be gone
 * already (a deleted one, provide_shm_file). */
static int write_shm_file(const struct restore_ctx *c, const struct bm_vma *v, const struct bm_page_run *run)
{
	char mapped[96];
	snprintf(mapped, sizeof mapped, "/proc/%d/map_files/%llx-%llx", c->pid, (unsigned long long)v->start,
		 (unsigned long long)v->end);
	int fd = open(mapped, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_CONFLICT, errno, "cannot open the shared memory file %s", v->path);
	int rc = 0;
	off_t off = (off_t)(v->pgoff + (run->addr - v->start));
	for (uint32_t i = 0; rc == 0 && i < run->npages; i++) {
		const void *page = run->zero ? zero_page : run->data + (size_t)i * BM_PAGE_SIZE;
		if (pwrite(fd, page, BM_PAGE_SIZE, off + (off_t)i * (off_t)BM_PAGE_SIZE) != (ssize_t)BM_PAGE_SIZE)
			rc = bm_error_errno(BM_EXIT_IO, errno, "writing the shared memory file %s", v->path);
	}
	close(fd);
	return rc;
}

static int fill_pages_unpinned(struct restore_ctx *c, struct bm_image_reader *r)
{
	struct bm_page_run run;
	int got;
	while ((got = c->have_held ? 1 : bm_image_next_pages(r, &run)) > 0) {
		if (c->have_held) {
			run = c->held;
			c->have_held = false;
		}
		uint64_t len = (uint64_t)run.npages * BM_PAGE_SIZE;
		const struct bm_vma *v = vma_of(&c->proc, run.addr, len);
		if (!v || !bm_vma_has_pages(v))
			return bm_error(BM_EXIT_IMAGE, "image has pages at 0x%llx outside any memory area that can hold them",
					(unsigned long long)run.addr);
		/* The [vdso]'s pages come first, taken by bm_specials_take_vdso;
		 * any others of it are no memory to write. */
		if (v->kind == BM_VMA_VDSO)
			continue;
		if (v->flags & (BM_VMA_SHMFILE | BM_VMA_SHMEM)) {
			int rc = v->flags & BM_VMA_SHMEM ? bm_shmem_write(c->shmem, v, &run) : write_shm_file(c, v, &run);
			if (rc < 0)
				return rc;
			continue;
		}
		if (run.zero) {
			/* Fresh anonymous memory is zero already; a private file page is not. */
			if (v->kind == BM_VMA_ANON)
				continue;
			for (uint32_t i = 0; i < run.npages; i++) {
				int rc = bm_mem_write(c->pid, run.addr + (uint64_t)i * BM_PAGE_SIZE, zero_page, BM_PAGE_SIZE);
				if (rc < 0)
					return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing memory of process %d", c->pid);
			}
			continue;
		}
		int rc = bm_fault_rc(BM_FP_WRITE_MEMORY);
		if (rc == 0)
			rc = bm_mem_write(c->pid, run.addr, run.data, len);
		if (rc < 0)
			return bm_error_errno(BM_EXIT_FAILURE, -rc, "writing memory of process %d at 0x%llx", c->pid,
					      (unsigned long long)run.addr);
	}
	return got;
}

/* While the pages arrive nothing is injected: binmig may run on any CPU
 * (the new process, stopped, keeps the one it was given).  Kept on one,
 * binmig would share it with whatever else the scheduler put there (in
 * a live migration often the source, or another job) while another CPU
 * idles, and receiving, opening the sealed frames and writing the pages
 * is most of a migration's work. */
int bm_rs_fill_pages(struct restore_ctx *c, struct bm_image_reader *r)
{
	if (c->pinned)
		sched_setaffinity(0, sizeof c->own_affinity, &c->own_affinity);
	int rc = fill_pages_unpinned(c, r);
	cpu_set_t any;
	if (c->pinned)
		bm_pin_self(c->pinned_cpu, &any);
	return rc;
}

/* Memory at dump: every VMA described, and the pages that cannot be had
 * again from a file streamed into the image. */
#include <errno.h>
#include <fcntl.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fault.h"
#include "log.h"
#include "memguard.h"
#include "memory.h"
#include "pagescan.h"
#include "pkeys.h"
#include "shmem.h"
#include "unlinked_map.h"

#define PM_PRESENT (1ULL << 63)
#define PM_SWAPPED (1ULL << 62)
#define PM_FILE_OR_SHARED (1ULL << 61)
#define PM_GUARD_REGION (1ULL << 58) /* Linux 6.15 */
#define PAGEMAP_BATCH 8192 /* entries per pagemap read: 64 KiB, 32 MiB of address space */
/* Pages read from the process at a time: 256 KiB stays in the L2 cache,
 * so the zero test, the CRC and the write after the copy read it from
 * cache instead of memory. */
#define READ_CHUNK_PAGES 64

static uint32_t prot_of(const char *perms)
{
	return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
	       (perms[2] == 'x' ? PROT_EXEC : 0);
}

const struct bm_vma_advice bm_vma_advice[] = {
	{BM_VMA_HUGEPAGE, MADV_HUGEPAGE},   {BM_VMA_NOHUGEPAGE, MADV_NOHUGEPAGE}, {BM_VMA_DONTDUMP, MADV_DONTDUMP},
	{BM_VMA_DONTFORK, MADV_DONTFORK},   {BM_VMA_WIPEONFORK, MADV_WIPEONFORK}, {BM_VMA_MERGEABLE, MADV_MERGEABLE},
	{BM_VMA_SEQ_READ, MADV_SEQUENTIAL}, {BM_VMA_RAND_READ, MADV_RANDOM},
};
const unsigned bm_vma_advice_count = sizeof bm_vma_advice / sizeof bm_vma_advice[0];

/* smaps VmFlags that a VMA carries (the rest are implied by how it is
 * mapped again, or refused below). */
static const struct {
	uint32_t vmflag, flag;
} carried_vmflags[] = {
	{BM_VMFLAG_GD, BM_VMA_GROWSDOWN}, {BM_VMFLAG_HG, BM_VMA_HUGEPAGE}, {BM_VMFLAG_NH, BM_VMA_NOHUGEPAGE},
	{BM_VMFLAG_DD, BM_VMA_DONTDUMP},  {BM_VMFLAG_LO, BM_VMA_LOCKED},   {BM_VMFLAG_DC, BM_VMA_DONTFORK},
	{BM_VMFLAG_WF, BM_VMA_WIPEONFORK}, {BM_VMFLAG_MG, BM_VMA_MERGEABLE}, {BM_VMFLAG_SR, BM_VMA_SEQ_READ},
	{BM_VMFLAG_RR, BM_VMA_RAND_READ}, {BM_VMFLAG_LF, BM_VMA_LOCKONFAULT}, {BM_VMFLAG_NR, BM_VMA_NORESERVE},
	{BM_VMFLAG_SL, BM_VMA_SEALED},    {BM_VMFLAG_MW, BM_VMA_MAYWRITE},  {BM_VMFLAG_AC, BM_VMA_ACCOUNT},
	{BM_VMFLAG_DP, BM_VMA_DROPPABLE}, {BM_VMFLAG_GU, BM_VMA_MAYBE_GUARD},
};

/* smaps VmFlags that refuse a VMA, whatever it maps (procfs_maps.c lists
 * every code); device memory (io pf mm ar) and de are refused below,
 * outside the kernel's own mappings.  Guard regions ("gu") are carried
 * (memguard.h), and so is droppable memory ("dp"). */
static const struct {
	uint32_t vmflag;
	const char *what;
} refused_vmflags[] = {
	{BM_VMFLAG_SS, "a shadow stack (CET)"},
	{BM_VMFLAG_HT, "huge-page memory (hugetlb: MAP_HUGETLB or hugetlbfs, VmFlags ht)"},
	{BM_VMFLAG_UF, "memory registered with userfaultfd"},
	{BM_VMFLAG_UW, "memory write-protected through userfaultfd"},
	{BM_VMFLAG_SF, "a synchronous DAX mapping (MAP_SYNC)"},
};

/* Memory binmig's own pre-copy write-protects through userfaultfd
 * (bm_memory_own_uffd). */
static struct {
	pid_t pid;
	const struct bm_range *r;
	size_t n;
} own_uffd;

void bm_memory_own_uffd(pid_t pid, const struct bm_range *r, size_t n)
{
	own_uffd.pid = pid;
	own_uffd.r = r;
	own_uffd.n = n;
}

/* Whether e's "uw" is binmig's: within one of the ranges it registered. */
static bool uffd_wp_ours(pid_t pid, const struct bm_maps_entry *e)
{
	if (pid != own_uffd.pid)
		return false;
	size_t i = bm_ranges_after(own_uffd.r, own_uffd.n, e->start);
	return i < own_uffd.n && own_uffd.r[i].start <= e->start && e->end <= own_uffd.r[i].end;
}

static int refuse_vmflags(pid_t pid, const struct bm_maps_entry *e, bool special)
{
	const char *path = e->path[0] ? e->path : "anonymous";
	if (e->vmflag_unknown[0])
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has memory at 0x%llx (%s) with the VmFlags code \"%s\", "
				"which binmig does not know; it cannot carry it", pid, (unsigned long long)e->start, path,
				e->vmflag_unknown);
	uint32_t flags = e->vmflags & ~(uffd_wp_ours(pid, e) ? BM_VMFLAG_UW : 0);
	for (size_t i = 0; i < sizeof refused_vmflags / sizeof *refused_vmflags; i++)
		if (flags & refused_vmflags[i].vmflag)
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d has %s at 0x%llx (%s); binmig cannot carry it",
					pid, refused_vmflags[i].what, (unsigned long long)e->start, path);
	if (special)
		return 0;
	if (e->vmflags & (BM_VMFLAG_IO | BM_VMFLAG_PF | BM_VMFLAG_MM | BM_VMFLAG_AR))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps device memory at 0x%llx (%s)", pid,
				(unsigned long long)e->start, path);
	if (e->vmflags & BM_VMFLAG_DE)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps kernel memory at 0x%llx (%s, VmFlags de) that "
				"cannot be mapped again; binmig cannot carry it", pid, (unsigned long long)e->start, path);
	return 0;
}

static int describe_vma(pid_t pid, const struct bm_maps_entry *e, struct bm_process *p, struct bm_vma *v)
{
	v->start = e->start;
	v->end = e->end;
	v->prot = prot_of(e->perms);
	v->flags = e->perms[3] == 's' ? BM_VMA_SHARED : 0;
	for (size_t i = 0; i < sizeof carried_vmflags / sizeof *carried_vmflags; i++)
		if (e->vmflags & carried_vmflags[i].vmflag)
			v->flags |= carried_vmflags[i].flag;
	int rc = refuse_vmflags(pid, e, bm_vma_special_kind(e->path) != 0);
	if (rc < 0)
		return rc;
	v->pgoff = e->offset;
	/* The kernel makes it private and anonymous only; anything else would
	 * be a kind of memory binmig has not seen. */
	if ((v->flags & BM_VMA_DROPPABLE) && (e->inode || (v->flags & BM_VMA_SHARED) || e->path[0] == '/'))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has droppable memory (VmFlags dp) at 0x%llx that is not "
				"private anonymous memory (%s); binmig cannot carry it", pid, (unsigned long long)e->start,
				e->path[0] ? e->path : "shared");
	if (bm_vma_special_kind(e->path))
		v->kind = bm_vma_special_kind(e->path);
	else if ((v->flags & BM_VMA_SHARED) && bm_shmem_is_sysv_name(e->path))
		/* Its contents could travel, but not the attachment: shmctl()
		 * and the other processes attached would see a different
		 * process.  Its inode is the segment's id, 0 for the first
		 * segment of an IPC namespace: not a sign of anonymous memory. */
		return bm_error(BM_EXIT_UNSUPPORTED,
				"process %d has a System V shared memory segment (%s%s) attached at 0x%llx; binmig "
				"cannot carry it",
				pid, e->path, e->deleted ? ", removed" : "", (unsigned long long)e->start);
	else if (e->path[0] != '/' || e->inode == 0) {
		/* [heap], [stack], [anon:...] and unnamed memory; shared
		 * anonymous memory shows as "/dev/zero (deleted)" or
		 * "/SYSV..." with an inode on the shmem mount. */
		v->kind = BM_VMA_ANON;
		if (strcmp(e->path, "[heap]") == 0)
			v->flags |= BM_VMA_HEAP;
		if (strcmp(e->path, "[stack]") == 0)
			v->flags |= BM_VMA_STACK;
		if (v->flags & BM_VMA_SHARED) {
			v->flags |= BM_VMA_SHMEM;
			rc = e->inode ? bm_shmem_describe(pid, v, e->inode) : 0;
			if (rc < 0)
				return rc;
		}
		if (e->path[0] == '[' && strcmp(e->path, "[heap]") && strcmp(e->path, "[stack]") &&
		    strncmp(e->path, "[anon:", 6) && strncmp(e->path, "[anon_shmem:", 12))
			return bm_error(BM_EXIT_UNSUPPORTED, "process %d has a special mapping %s at 0x%llx", pid, e->path,
					(unsigned long long)e->start);
		/* A name the process gave it (prctl PR_SET_VMA_ANON_NAME) goes with it. */
		if (strncmp(e->path, "[anon:", 6) == 0 || strncmp(e->path, "[anon_shmem:", 12) == 0)
			return (v->path = strdup(e->path)) ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	} else if ((v->flags & BM_VMA_SHARED) && e->deleted && strncmp(e->path, "/dev/zero", 9) == 0) {
		v->kind = BM_VMA_ANON;
		v->flags |= BM_VMA_SHMEM;
		return bm_shmem_describe(pid, v, e->inode);
	} else {
		v->kind = BM_VMA_FILE;
		if (e->deleted && (v->flags & BM_VMA_SHARED) && strncmp(e->path, "/dev/shm/", 9) == 0) {
			/* Shared memory whose name is gone (a POSIX semaphore, or
			 * removed by another Mono): its contents travel, and it
			 * comes back unlinked again (restore.c, provide_shm_file). */
			v->flags |= BM_VMA_SHMFILE | BM_VMA_DELETED;
			return (v->path = strdup(e->path)) ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
		}
		if (e->deleted) /* carried with a descriptor of the same file */
			return bm_unlinked_map_describe(pid, e, p, v);
		struct stat st;
		if (stat(e->path, &st) < 0)
			return bm_error_errno(BM_EXIT_TARGET, errno, "cannot stat mapped file %s", e->path);
		if (st.st_ino != e->inode)
			return bm_error(BM_EXIT_UNSUPPORTED, "mapped file %s was replaced while mapped", e->path);
		v->file = (struct bm_file_id){st.st_dev, st.st_ino, (uint64_t)st.st_size,
					      (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
		/* Shared memory in a file (Mono's /dev/shm/mono.PID, POSIX shm):
		 * a memory filesystem is not shared between hosts, so its
		 * contents travel. */
		struct statfs fs;
		if ((v->flags & BM_VMA_SHARED) && statfs(e->path, &fs) == 0 && fs.f_type == TMPFS_MAGIC)
			v->flags |= BM_VMA_SHMFILE;
		if (!(v->path = strdup(e->path)))
			return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	return 0;
}

int bm_collect_vmas(pid_t pid, struct bm_frozen *f)
{
	int rc = bm_read_smaps_vmflags(pid, f->maps, f->nmaps);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read /proc/%d/smaps", pid);
	struct bm_process *p = &f->proc;
	p->vmas = calloc(f->nmaps ? f->nmaps : 1, sizeof *p->vmas);
	if (!p->vmas)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	for (size_t i = 0; i < f->nmaps; i++) {
		if ((rc = describe_vma(pid, &f->maps[i], p, &p->vmas[i])) < 0)
			return rc;
		p->nvmas++;
	}
	if ((rc = bm_guards_collect(pid, f->maps, p)) < 0)
		return rc;
	return bm_pkeys_check(f);
}

/* Whether a page of this VMA must travel in the image, from its pagemap
 * entry.  Pages of file mappings that still match the file come back from
 * the file; a private file page that is anonymous (copied on write) or
 * swapped does not. */
static bool page_wanted(const struct bm_vma *v, uint64_t pm)
{
	if (v->flags & BM_VMA_SHMFILE)
		return true; /* pages cached but not mapped here are contents too */
	if (v->flags & BM_VMA_SHMEM)
		return pm & (PM_PRESENT | PM_SWAPPED | PM_FILE_OR_SHARED);
	if (v->kind == BM_VMA_ANON)
		return pm & (PM_PRESENT | PM_SWAPPED);
	return (pm & PM_SWAPPED) || ((pm & PM_PRESENT) && !(pm & PM_FILE_OR_SHARED));
}

uint32_t bm_vma_special_kind(const char *path)
{
	return strcmp(path, "[vdso]") == 0 ? BM_VMA_VDSO
	       : strcmp(path, "[vvar]") == 0 ? BM_VMA_VVAR
	       : strcmp(path, "[vvar_vclock]") == 0 ? BM_VMA_VVAR_VCLOCK
	       : strcmp(path, "[vsyscall]") == 0 ? BM_VMA_VSYSCALL
						: 0;
}

bool bm_vma_has_pages(const struct bm_vma *v)
{
	if (v->kind == BM_VMA_ANON || v->kind == BM_VMA_VDSO)
		return true;
	return v->kind == BM_VMA_FILE && (!(v->flags & BM_VMA_SHARED) || (v->flags & BM_VMA_SHMFILE));
}

__attribute__((target("avx2"))) static bool page_is_zero_avx2(const uint8_t *p)
{
	for (size_t i = 0; i < BM_PAGE_SIZE; i += 128) {
		const __m256i *v = (const __m256i *)(p + i);
		__m256i acc = _mm256_or_si256(_mm256_or_si256(_mm256_loadu_si256(v), _mm256_loadu_si256(v + 1)),
					      _mm256_or_si256(_mm256_loadu_si256(v + 2), _mm256_loadu_si256(v + 3)));
		if (!_mm256_testz_si256(acc, acc))
			return false;
	}
	return true;
}

static bool page_is_zero_generic(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < BM_PAGE_SIZE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

bool bm_page_is_zero(const void *page)
{
	static int have_avx2 = -1;
	if (have_avx2 < 0)
		have_avx2 = __builtin_cpu_supports("avx2");
	return have_avx2 ? page_is_zero_avx2(page) : page_is_zero_generic(page);
}

uint32_t bm_same_zero_run(const uint8_t *buf, uint32_t i, uint32_t n, bool *zero)
{
	*zero = bm_page_is_zero(buf + (size_t)i * BM_PAGE_SIZE);
	uint32_t j = i + 1;
	while (j < n && bm_page_is_zero(buf + (size_t)j * BM_PAGE_SIZE) == *zero)
		j++;
	return j;
}

size_t bm_ranges_after(const struct bm_range *r, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bm_ranges_each_gap(uint64_t start, uint64_t end, const struct bm_range *r, size_t n,
		       int (*fn)(void *arg, uint64_t start, uint64_t end), void *arg)
{
	uint64_t at = start;
	for (size_t i = 0; i < n && at < end; i++) {
		if (r[i].end <= at)
			continue;
		if (r[i].start >= end)
			break;
		int rc;
		if (r[i].start > at && (rc = fn(arg, at, r[i].start)) < 0)
			return rc;
		at = r[i].end;
	}
	return at < end ? fn(arg, at, end) : 0;
}

struct page_writer {
	pid_t pid;
	int pagemap_fd;
	struct bm_image_writer *w;
	uint8_t *buf;                /* READ_CHUNK_PAGES pages */
	struct bm_stats *st;
	const struct bm_page_skip *skip;
	struct bm_shmem_seen *seen;  /* shared memory stored so far, in this dump */
	size_t skip_at;              /* the first skip range that may still matter */
	const struct bm_process *p;
	const struct bm_range *guards; /* the guard pages of the VMA being written: never read */
	size_t nguards, guard_at;
	uint64_t run_start;          /* wanted pages gathered, not read yet */
	uint32_t run_len;
	bool counting;               /* the VMA being written is private memory skip->counted may cover */
};

/* Adds the pages of [start, end) within skip->counted to *skip->carried. */
static void count_carried(const struct bm_page_skip *skip, uint64_t start, uint64_t end)
{
	for (size_t i = bm_ranges_after(skip->counted, skip->ncounted, start); i < skip->ncounted && skip->counted[i].start < end; i++) {
		uint64_t s = skip->counted[i].start > start ? skip->counted[i].start : start;
		uint64_t e = skip->counted[i].end < end ? skip->counted[i].end : end;
		*skip->carried += (e - s) / BM_PAGE_SIZE;
	}
}

/* Reads a run of wanted pages and writes it as alternating ZERO and PAGES
 * sections. */
bool bm_pagemap_has_guard(int pagemap_fd, uint64_t addr, uint32_t npages)
{
	uint64_t pm[READ_CHUNK_PAGES];
	if (npages > READ_CHUNK_PAGES)
		npages = READ_CHUNK_PAGES;
	ssize_t got = pread(pagemap_fd, pm, npages * sizeof *pm, (off_t)(addr / BM_PAGE_SIZE * sizeof *pm));
	for (ssize_t i = 0; got > 0 && i < got / (ssize_t)sizeof *pm; i++)
		if (pm[i] & PM_GUARD_REGION)
			return true;
	return false;
}

static int emit_run(struct page_writer *pw, uint64_t addr, uint32_t npages)
{
	int rc = bm_fault_rc(BM_FP_READ_MEMORY);
	if (rc == 0)
		rc = bm_mem_read(pw->pid, addr, pw->buf, (size_t)npages * BM_PAGE_SIZE);
	/* Guard pages of VMAs smaps marks "gu" are left out (memguard.h); a
	 * kernel that shows them in pagemap but not in VmFlags (6.15 to 6.17)
	 * gives EIO for the others. */
	if (rc == -EIO && bm_pagemap_has_guard(pw->pagemap_fd, addr, npages))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d has guard regions (madvise MADV_GUARD_INSTALL) at 0x%llx "
				"that this kernel does not show in smaps (VmFlags gu, Linux 6.18); binmig cannot carry them",
				pw->pid, (unsigned long long)addr);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read memory of process %d at 0x%llx", pw->pid,
				      (unsigned long long)addr);
	uint32_t i = 0;
	while (i < npages) {
		bool zero;
		uint32_t j = bm_same_zero_run(pw->buf, i, npages, &zero);
		uint64_t at = addr + (uint64_t)i * BM_PAGE_SIZE;
		rc = zero ? bm_image_write_zero(pw->w, at, j - i)
			  : bm_image_write_pages(pw->w, at, pw->buf + (size_t)i * BM_PAGE_SIZE, j - i);
		if (rc < 0)
			return rc;
		if (pw->st) {
			if (zero)
				pw->st->pages_zero += j - i;
			else
				pw->st->pages_stored += j - i;
		}
		i = j;
	}
	if (pw->st)
		pw->st->pages_total += npages;
	return 0;
}

static int flush_run(struct page_writer *pw)
{
	int rc = pw->run_len ? emit_run(pw, pw->run_start, pw->run_len) : 0;
	pw->run_len = 0;
	return rc;
}

/* Wanted pages [start, end) that are not in the skip list; zero: known to
 * be the zero page, written without being read. */
static int want_unskipped(struct page_writer *pw, uint64_t start, uint64_t end, bool zero)
{
	if (pw->counting)
		count_carried(pw->skip, start, end);
	if (zero) {
		int rc = flush_run(pw);
		for (uint64_t a = start; rc == 0 && a < end;) {
			uint64_t n = (end - a) / BM_PAGE_SIZE;
			if (n > BM_IMAGE_MAX_RUN_PAGES)
				n = BM_IMAGE_MAX_RUN_PAGES;
			rc = bm_image_write_zero(pw->w, a, (uint32_t)n);
			if (rc == 0 && pw->st) {
				pw->st->pages_zero += (int64_t)n;
				pw->st->pages_total += (int64_t)n;
			}
			a += n * BM_PAGE_SIZE;
		}
		return rc;
	}
	for (uint64_t a = start; a < end; a += BM_PAGE_SIZE) {
		if (pw->run_len && pw->run_start + (uint64_t)pw->run_len * BM_PAGE_SIZE == a && pw->run_len < READ_CHUNK_PAGES) {
			pw->run_len++;
			continue;
		}
		int rc = flush_run(pw);
		if (rc < 0)
			return rc;
		pw->run_start = a;
		pw->run_len = 1;
	}
	return 0;
}

typedef int (*want_fn)(struct page_writer *pw, uint64_t start, uint64_t end, bool zero);

/* fn for each piece of [start, end) outside the sorted ranges r[*at..n);
 * *at moves past the ranges behind (the calls come in address order). */
static int outside(const struct bm_range *r, size_t n, size_t *at, struct page_writer *pw, uint64_t start,
		   uint64_t end, bool zero, want_fn fn)
{
	while (*at < n && start < end) {
		if (r[*at].end <= start) {
			++*at;
			continue;
		}
		if (r[*at].start >= end)
			break;
		if (r[*at].start > start) {
			int rc = fn(pw, start, r[*at].start, zero);
			if (rc < 0)
				return rc;
		}
		start = r[*at].end < end ? r[*at].end : end;
	}
	return start < end ? fn(pw, start, end, zero) : 0;
}

static int want_unguarded(struct page_writer *pw, uint64_t start, uint64_t end, bool zero)
{
	return pw->skip ? outside(pw->skip->r, pw->skip->n, &pw->skip_at, pw, start, end, zero, want_unskipped)
			: want_unskipped(pw, start, end, zero);
}

/* Wanted pages [start, end): but for guard pages, and the skip list's. */
static int want(struct page_writer *pw, uint64_t start, uint64_t end, bool zero)
{
	return outside(pw->guards, pw->nguards, &pw->guard_at, pw, start, end, zero, want_unguarded);
}

static int write_vma_pages_pagemap(struct page_writer *pw, int pagemap_fd, const struct bm_vma *v, uint64_t *pm)
{
	uint64_t npages = (v->end - v->start) / BM_PAGE_SIZE;
	for (uint64_t base = 0; base < npages; base += PAGEMAP_BATCH) {
		size_t n = npages - base < PAGEMAP_BATCH ? (size_t)(npages - base) : PAGEMAP_BATCH;
		off_t off = (off_t)((v->start / BM_PAGE_SIZE + base) * sizeof *pm);
		ssize_t got = bm_fault(BM_FP_READ_PAGEMAP) ? -1 : pread(pagemap_fd, pm, n * sizeof *pm, off);
		if (got != (ssize_t)(n * sizeof *pm))
			return bm_error_errno(BM_EXIT_TARGET, got < 0 ? errno : EIO, "cannot read pagemap of process %d",
					      pw->pid);
		for (size_t i = 0; i < n; i++) {
			uint64_t addr = v->start + (base + i) * BM_PAGE_SIZE;
			if (page_wanted(v, pm[i])) {
				int rc = want(pw, addr, addr + BM_PAGE_SIZE, false);
				if (rc < 0)
					return rc;
			}
		}
	}
	return 0;
}

bool bm_scan_wanted(const struct bm_vma *v, uint64_t cats)
{
	if (v->kind == BM_VMA_ANON)
		return cats & (BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED);
	return (cats & BM_PAGE_IS_SWAPPED) || ((cats & BM_PAGE_IS_PRESENT) && !(cats & BM_PAGE_IS_FILE));
}

const struct bm_scan_query bm_scan_wanted_query = {
	0, 0, BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED,
	BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED | BM_PAGE_IS_FILE | BM_PAGE_IS_PFNZERO,
};

struct scan_vma {
	struct page_writer *pw;
	const struct bm_vma *v;
	int pagemap_fd;
	int failed; /* the writer's error, reported already */
};

static int scanned_run(void *ctx, const struct bm_scan_run *run)
{
	struct scan_vma *sv = ctx;
	if (!bm_scan_wanted(sv->v, run->cats))
		return 0;
	return sv->failed = want(sv->pw, run->start, run->end, (run->cats & BM_PAGE_IS_PFNZERO) != 0);
}

static int scan_gap(void *ctx, uint64_t start, uint64_t end)
{
	struct scan_vma *sv = ctx;
	return bm_pagescan(sv->pagemap_fd, start, end, &bm_scan_wanted_query, scanned_run, sv);
}

/* The pages of v the skip list leaves in: where it has few ranges in v
 * (post-copy's lazy runs, a pre-copy whose memory stayed unwritten), only
 * the gaps between them are walked, not the pages they leave out anyway;
 * many small ranges would cost more calls than one walk of v. */
#define GAP_SCAN_MAX 64
static int scan_vma(struct scan_vma *sv)
{
	const struct bm_vma *v = sv->v;
	const struct bm_page_skip *sk = sv->pw->skip;
	size_t first = sk ? bm_ranges_after(sk->r, sk->n, v->start) : 0, n = 0;
	while (sk && first + n < sk->n && sk->r[first + n].start < v->end && n <= GAP_SCAN_MAX)
		n++;
	if (n == 0 || n > GAP_SCAN_MAX)
		return bm_pagescan(sv->pagemap_fd, v->start, v->end, &bm_scan_wanted_query, scanned_run, sv);
	return bm_ranges_each_gap(v->start, v->end, sk->r + first, n, scan_gap, sv);
}

static int shmem_run(void *ctx, uint64_t start, uint64_t end)
{
	return want(ctx, start, end, false);
}

/* Private memory through PAGEMAP_SCAN: one call finds the runs of pages
 * to carry, and the shared zero page needs no reading.  Shared memory
 * keeps the pagemap path (its page-cache pages count too). */
static int write_vma_pages(struct page_writer *pw, int pagemap_fd, const struct bm_vma *v, uint64_t *pm, bool scan)
{
	pw->skip_at = pw->guard_at = 0;
	pw->counting = pw->skip && pw->skip->carried && !(v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_SHMFILE));
	size_t first;
	pw->nguards = bm_guards_within(pw->p, v->start, v->end, &first);
	pw->guards = pw->p->guards + first;
	int rc;
	if (v->flags & BM_VMA_SHMEM) {
		/* Its object's pages, once (shmem.h). */
		rc = bm_shmem_pages(pw->pid, v, pw->seen, shmem_run, pw);
	} else if (scan && !(v->flags & (BM_VMA_SHARED | BM_VMA_SHMFILE))) {
		struct scan_vma sv = {pw, v, pagemap_fd, 0};
		/* Reading the page map, whichever way: the same numbered step. */
		rc = bm_fault(BM_FP_READ_PAGEMAP) ? -EIO : scan_vma(&sv);
		if (rc < 0 && !sv.failed)
			rc = bm_error_errno(BM_EXIT_TARGET, -rc, "cannot scan the pages of process %d at 0x%llx", pw->pid,
					    (unsigned long long)v->start);
	} else {
		rc = write_vma_pages_pagemap(pw, pagemap_fd, v, pm);
	}
	return rc < 0 ? rc : flush_run(pw);
}

static int write_pages(pid_t pid, const struct bm_process *p, struct bm_image_writer *w, struct bm_stats *st,
		       const struct bm_page_skip *skip, struct bm_shmem_seen *seen)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot open %s", path);
	struct page_writer pw = {.pid = pid, .pagemap_fd = fd, .w = w, .st = st, .skip = skip, .seen = seen, .p = p};
	uint64_t *pm = malloc(PAGEMAP_BATCH * sizeof *pm);
	pw.buf = aligned_alloc(BM_PAGE_SIZE, (size_t)READ_CHUNK_PAGES * BM_PAGE_SIZE);
	if (st) {
		st->pages_total = st->pages_zero = st->pages_stored = 0;
	}
	int rc = 0;
	if (!pm || !pw.buf)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	bool scan = rc == 0 && bm_pagescan_available(fd);
	/* The [vdso] first, whole: the restore decides from it, before any
	 * mapping is made, whether it needs the vDSO proxy (vdso.h). */
	for (uint32_t i = 0; rc == 0 && i < p->nvmas; i++)
		for (uint64_t at = p->vmas[i].start; rc == 0 && p->vmas[i].kind == BM_VMA_VDSO && at < p->vmas[i].end;
		     at += (uint64_t)READ_CHUNK_PAGES * BM_PAGE_SIZE) {
			uint64_t left = (p->vmas[i].end - at) / BM_PAGE_SIZE;
			rc = emit_run(&pw, at, left < READ_CHUNK_PAGES ? (uint32_t)left : READ_CHUNK_PAGES);
		}
	for (uint32_t i = 0; rc == 0 && i < p->nvmas; i++)
		if (bm_vma_has_pages(&p->vmas[i]) && p->vmas[i].kind != BM_VMA_VDSO)
			rc = write_vma_pages(&pw, fd, &p->vmas[i], pm, scan);
	free(pm);
	free(pw.buf);
	close(fd);
	return rc;
}

int bm_write_pages_skip(pid_t pid, const struct bm_process *p, struct bm_image_writer *w, struct bm_stats *st,
			const struct bm_page_skip *skip)
{
	struct bm_shmem_seen seen = {0};
	int rc = write_pages(pid, p, w, st, skip, &seen);
	bm_shmem_seen_free(&seen);
	return rc;
}

int bm_write_pages(pid_t pid, const struct bm_process *p, struct bm_image_writer *w, struct bm_stats *st,
		   struct bm_shmem_seen *seen, const struct bm_page_skip *count)
{
	return write_pages(pid, p, w, st, count && !count->n ? count : NULL, seen);
}

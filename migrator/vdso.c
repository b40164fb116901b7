/* The special mappings of a restored process and the vDSO proxy (vdso.h). */
#include "vdso.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "log.h"
#include "memory.h"
#include "wire.h"
#include "procfs.h"

#define TASK_SIZE_MAX 0x7ffffffff000ULL
#define PARK_FLOOR (1ULL << 32)
#define JMP_REL32_LEN 5
#define JMP_ABS_LEN 14 /* jmp *0(%rip); .quad target */
#define MAX_SPECIALS (sizeof ((struct bm_specials *)0)->sp / sizeof ((struct bm_specials *)0)->sp[0])

static enum bm_vdso_mode vdso_mode = BM_VDSO_AUTO;

void bm_vdso_set_mode(enum bm_vdso_mode mode)
{
	vdso_mode = mode;
}

int bm_vdso_parse_mode(const char *text, enum bm_vdso_mode *mode)
{
	static const char *const names[] = { [BM_VDSO_AUTO] = "auto", [BM_VDSO_ALWAYS] = "always",
					     [BM_VDSO_NEVER] = "never" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(text, names[i]) == 0) {
			*mode = (enum bm_vdso_mode)i;
			return 0;
		}
	return -EINVAL;
}

bool bm_vma_is_special(uint32_t kind)
{
	return kind == BM_VMA_VDSO || kind == BM_VMA_VVAR || kind == BM_VMA_VVAR_VCLOCK;
}


/* The reason into why, and -EINVAL. */
#define fail_why(why, n, ...) (bm_why(why, n, __VA_ARGS__), -EINVAL)

/* --- the vDSO as an ELF image ------------------------------------------ */

struct vdso_elf {
	const uint8_t *base;
	size_t len;
	const Elf64_Sym *syms;
	size_t nsyms;
	const char *strtab;
	size_t strtab_len;
	uint64_t bias; /* st_value - bias is an offset into the image */
};

static bool within(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

static int elf_open(struct vdso_elf *e, const uint8_t *base, size_t len, const char *which, char *why, size_t n)
{
	memset(e, 0, sizeof *e);
	e->base = base;
	e->len = len;
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	if (len < sizeof *eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return fail_why(why, n, "%s vDSO is not a 64-bit ELF image", which);
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    !within(len, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) ||
	    !within(len, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return fail_why(why, n, "%s vDSO's program or section headers lie outside it", which);
	bool loaded = false;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, base + eh->e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
			e->bias = ph.p_vaddr;
			loaded = true;
			break;
		}
	}
	if (!loaded)
		return fail_why(why, n, "%s vDSO has no segment loaded from its start", which);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		Elf64_Shdr sh, str;
		memcpy(&sh, base + eh->e_shoff + i * sizeof sh, sizeof sh);
		if (sh.sh_type != SHT_DYNSYM)
			continue;
		if (sh.sh_link >= eh->e_shnum)
			return fail_why(why, n, "%s vDSO's symbol table names no string table", which);
		memcpy(&str, base + eh->e_shoff + sh.sh_link * sizeof str, sizeof str);
		if (sh.sh_entsize != sizeof(Elf64_Sym) || (sh.sh_offset % _Alignof(Elf64_Sym)) != 0 ||
		    !within(len, sh.sh_offset, sh.sh_size) || !within(len, str.sh_offset, str.sh_size) || str.sh_size == 0 ||
		    base[str.sh_offset + str.sh_size - 1] != 0)
			return fail_why(why, n, "%s vDSO's dynamic symbols lie outside it", which);
		e->syms = (const Elf64_Sym *)(base + sh.sh_offset);
		e->nsyms = sh.sh_size / sizeof(Elf64_Sym);
		e->strtab = (const char *)base + str.sh_offset;
		e->strtab_len = str.sh_size;
		return 0;
	}
	return fail_why(why, n, "%s vDSO has no dynamic symbol table", which);
}

/* The i-th symbol if it is an exported function lying inside the image:
 * its name, offset and size. */
static bool elf_function(const struct vdso_elf *e, size_t i, const char **name, uint64_t *off, uint64_t *size)
{
	const Elf64_Sym *s = &e->syms[i];
	unsigned bind = ELF64_ST_BIND(s->st_info);
	if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) ||
	    s->st_name >= e->strtab_len || s->st_value < e->bias || !within(e->len, s->st_value - e->bias, s->st_size))
		return false;
	*name = e->strtab + s->st_name;
	*off = s->st_value - e->bias;
	*size = s->st_size;
	return true;
}

static bool elf_lookup(const struct vdso_elf *e, const char *want, uint64_t *off)
{
	for (size_t i = 0; i < e->nsyms; i++) {
		const char *name;
		uint64_t size;
		if (elf_function(e, i, &name, off, &size) && strcmp(name, want) == 0)
			return true;
	}
	return false;
}

/* Writes a jump from `at` (in buf at offset) to `target` into room bytes. */
static bool put_jump(uint8_t *buf, uint64_t at, uint64_t target, uint64_t room)
{
	int64_t rel = (int64_t)(target - (at + JMP_REL32_LEN));
	if (room >= JMP_REL32_LEN && rel >= INT32_MIN && rel <= INT32_MAX) {
		int32_t r32 = (int32_t)rel;
		buf[0] = 0xe9;
		memcpy(buf + 1, &r32, 4);
		return true;
	}
	if (room < JMP_ABS_LEN)
		return false;
	static const uint8_t jmp_rip[6] = { 0xff, 0x25, 0, 0, 0, 0 };
	memcpy(buf, jmp_rip, sizeof jmp_rip);
	memcpy(buf + sizeof jmp_rip, &target, 8);
	return true;
}

int bm_vdso_patch(uint8_t *old, size_t old_len, uint64_t old_base, const uint8_t *new, size_t new_len,
		  uint64_t new_base, char *why, size_t why_len)
{
	struct vdso_elf o, nw;
	int rc = elf_open(&o, old, old_len, "the image's", why, why_len);
	if (rc == 0)
		rc = elf_open(&nw, new, new_len, "this kernel's", why, why_len);
	if (rc < 0)
		return rc;
	/* Read every name before the first write: the patches land in text,
	 * never in the tables, but the tables are checked whole first. */
	uint64_t *targets = calloc(o.nsyms ? o.nsyms : 1, sizeof *targets);
	if (!targets)
		return bm_why(why, why_len, "out of memory"), -ENOMEM;
	for (size_t i = 0; i < o.nsyms && rc == 0; i++) {
		const char *name;
		uint64_t off, size, noff;
		targets[i] = UINT64_MAX;
		if (!elf_function(&o, i, &name, &off, &size))
			continue;
		if (!elf_lookup(&nw, name, &noff))
			rc = fail_why(why, why_len, "the image's vDSO exports %s, this kernel's does not", name);
		else
			targets[i] = noff;
	}
	int patched = 0;
	for (size_t i = 0; i < o.nsyms && rc == 0; i++) {
		const char *name;
		uint64_t off, size;
		if (targets[i] == UINT64_MAX || !elf_function(&o, i, &name, &off, &size))
			continue;
		uint8_t jump[JMP_ABS_LEN];
		if (!put_jump(jump, old_base + off, new_base + targets[i], size)) {
			rc = fail_why(why, why_len, "the image's vDSO function %s (%llu bytes) is too short for a jump", name,
				      (unsigned long long)size);
			break;
		}
		size_t jlen = jump[0] == 0xe9 ? JMP_REL32_LEN : JMP_ABS_LEN;
		/* Aliases (clock_gettime, __vdso_clock_gettime) share an entry:
		 * it is patched once, and must mean one function here too. */
		for (size_t k = 0; k < i && rc == 0; k++) {
			const char *kname;
			uint64_t koff, ksize;
			if (targets[k] != UINT64_MAX && elf_function(&o, k, &kname, &koff, &ksize) && koff == off &&
			    targets[k] != targets[i])
				rc = fail_why(why, why_len, "%s and %s share an entry in the image's vDSO but not in this kernel's",
					      kname, name);
		}
		if (rc == 0) {
			memcpy(old + off, jump, jlen);
			patched++;
		}
	}
	free(targets);
	return rc < 0 ? rc : patched;
}

/* --- where the special mappings go ------------------------------------- */

int bm_vdso_park(const struct bm_process *p, uint64_t span, uint64_t near, uint64_t *at)
{
	const uint64_t page = BM_PAGE_SIZE;
	span = (span + page - 1) & ~(page - 1);
	near &= ~(page - 1);
	bool found = false;
	uint64_t best = 0, best_dist = 0;
	uint64_t lo = PARK_FLOOR;
	for (uint32_t i = 0; i <= p->nvmas; i++) {
		/* The gap [lo, hi) between mappings, a guard page kept at each end. */
		uint64_t hi = i < p->nvmas ? p->vmas[i].start : TASK_SIZE_MAX;
		uint64_t first = lo + page, last = hi >= span + 2 * page ? hi - page - span : 0;
		if (hi > lo && first <= last) {
			uint64_t cand = near < first ? first : near > last ? last : near;
			uint64_t dist = cand > near ? cand - near : near - cand;
			if (!found || dist < best_dist) {
				found = true;
				best = cand;
				best_dist = dist;
			}
		}
		if (i < p->nvmas && p->vmas[i].end > lo)
			lo = p->vmas[i].end;
	}
	if (!found)
		return -ENOSPC;
	*at = best;
	return 0;
}

static const struct bm_vma *image_special(const struct bm_process *p, uint32_t kind)
{
	for (uint32_t j = 0; j < p->nvmas; j++)
		if (p->vmas[j].kind == kind)
			return &p->vmas[j];
	return NULL;
}

int bm_specials_take_vdso(struct bm_specials *s, const struct bm_process *p, struct bm_image_reader *r,
			  struct bm_page_run *held, bool *have_held)
{
	*have_held = false;
	s->old = image_special(p, BM_VMA_VDSO);
	if (!s->old)
		return 0;
	uint64_t len = s->old->end - s->old->start, covered = 0;
	uint8_t *bytes = calloc(1, len);
	if (!bytes)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	int got;
	while ((got = bm_image_next_pages(r, held)) > 0) {
		uint64_t rlen = (uint64_t)held->npages * BM_PAGE_SIZE;
		if (held->addr < s->old->start || rlen > len || held->addr - s->old->start > len - rlen) {
			*have_held = true;
			break;
		}
		if (!held->zero)
			memcpy(bytes + (held->addr - s->old->start), held->data, rlen);
		covered += rlen;
	}
	if (got < 0) {
		free(bytes);
		return got;
	}
	if (covered == len)
		s->old_bytes = bytes;
	else if (covered)
		return free(bytes), bm_error(BM_EXIT_IMAGE, "the image has only part of its vDSO's pages"), -EINVAL;
	else
		free(bytes);
	return 0;
}

static int inject_step(struct bm_tracee *tr, pid_t pid, const char *what, long nr, uint64_t a1, uint64_t a2,
		       uint64_t a3, uint64_t a4, uint64_t a5)
{
	long r;
	int rc = bm_inject(tr, nr, a1, a2, a3, a4, a5, 0, &r);
	if (rc < 0)
		return rc;
	if (r < 0 && r > -4096)
		return bm_error_errno(BM_EXIT_FAILURE, (int)-r, "restoring process %d: %s", pid, what);
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Moves every special mapping to its `to`, each whole (the kernel refuses
 * partial moves).  If a destination overlaps a mapping still to be moved,
 * they are all parked first in the lowest free area above every source
 * and destination. */
static int move_all(struct bm_specials *s, pid_t pid, struct bm_tracee *tr)
{
	bool clash = false;
	uint64_t top = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct bm_special *a = &s->sp[i];
		for (size_t k = 0; k < s->n; k++)
			if (i != k && overlaps(a->to, a->len, s->sp[k].from, s->sp[k].len))
				clash = true;
		top = a->to + a->len > top ? a->to + a->len : top;
		top = a->from + a->len > top ? a->from + a->len : top;
	}
	for (int pass = clash ? 0 : 1; pass < 2; pass++) {
		uint64_t park = top + (1ULL << 30);
		for (size_t i = 0; i < s->n; i++) {
			struct bm_special *a = &s->sp[i];
			uint64_t to = pass == 0 ? park : a->to;
			park += a->len + BM_PAGE_SIZE;
			if (to == a->from)
				continue;
			int rc = inject_step(tr, pid, "moving the vDSO", SYS_mremap, a->from, a->len, a->len,
					     MREMAP_MAYMOVE | MREMAP_FIXED, to);
			if (rc < 0)
				return rc;
			if (a->kind == BM_VMA_VDSO)
				tr->syscall_ip = tr->syscall_ip - a->from + to;
			a->from = to;
		}
	}
	return 0;
}

/* Whether this kernel's [vdso] (in the new process at sp) has other bytes
 * than the image's. */
static int vdso_differs(const struct bm_specials *s, pid_t pid, const struct bm_special *sp, bool *differs)
{
	if (sp->len != s->old->end - s->old->start) {
		*differs = true;
		return 0;
	}
	uint8_t *mine = malloc(sp->len);
	if (!mine)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	int rc = bm_mem_read(pid, sp->from, mine, sp->len);
	if (rc < 0)
		bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the vDSO of the new process");
	else
		*differs = memcmp(mine, s->old_bytes, sp->len) != 0;
	free(mine);
	return rc;
}

/* Without the proxy every special mapping goes to the image's place of its
 * kind, and each must be there, of the same size, on both sides. */
static int plan_in_place(struct bm_specials *s, const struct bm_process *p)
{
	for (size_t i = 0; i < s->n; i++) {
		const char *name = s->sp[i].kind == BM_VMA_VDSO ? "[vdso]" : s->sp[i].kind == BM_VMA_VVAR ? "[vvar]" : "[vvar_vclock]";
		const struct bm_vma *v = image_special(p, s->sp[i].kind);
		if (!v || v->end - v->start != s->sp[i].len)
			return bm_error(BM_EXIT_CONFLICT, "%s differs between the image and this kernel (%s)", name,
					v ? "size" : "absent from the image");
		s->sp[i].to = v->start;
	}
	for (uint32_t j = 0; j < p->nvmas; j++) {
		bool found = false;
		for (size_t k = 0; k < s->n; k++)
			found |= s->sp[k].kind == p->vmas[j].kind;
		if (bm_vma_is_special(p->vmas[j].kind) && !found)
			return bm_error(BM_EXIT_CONFLICT, "the image has a vDSO mapping this kernel does not provide");
	}
	return 0;
}

/* With the proxy this kernel's mappings move together, keeping their
 * offsets, to a free place near the old [vdso]; threads must not be
 * stopped inside the old one, whose [vvar] is gone. */
static int plan_parked(struct bm_specials *s, const struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nthreads; i++) {
		uint64_t ip = p->threads[i].regs.rip;
		if (ip >= s->old->start && ip < s->old->end)
			return bm_error(BM_EXIT_CONFLICT, "thread %d was stopped inside the vDSO (at 0x%llx); the vDSO proxy "
					"cannot resume it there", p->threads[i].tid, (unsigned long long)ip);
	}
	uint64_t lo = UINT64_MAX, hi = 0, at;
	for (size_t i = 0; i < s->n; i++) {
		lo = s->sp[i].from < lo ? s->sp[i].from : lo;
		hi = s->sp[i].from + s->sp[i].len > hi ? s->sp[i].from + s->sp[i].len : hi;
	}
	if (bm_vdso_park(p, hi - lo, s->old->start, &at) < 0)
		return bm_error(BM_EXIT_CONFLICT, "no room for this kernel's vDSO in the restored address space");
	for (size_t i = 0; i < s->n; i++)
		s->sp[i].to = s->sp[i].from - lo + at;
	return 0;
}

int bm_specials_place(struct bm_specials *s, pid_t pid, struct bm_tracee *tr, const struct bm_process *p)
{
	struct bm_maps_entry *maps;
	size_t nmaps;
	int rc = bm_read_maps(pid, &maps, &nmaps);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the maps of the new process");
	s->n = 0;
	const struct bm_special *vdso = NULL;
	for (size_t i = 0; i < nmaps && rc == 0; i++) {
		uint32_t kind = bm_vma_special_kind(maps[i].path);
		if (!bm_vma_is_special(kind))
			continue;
		if (maps[i].vmflags & BM_VMFLAG_SL)
			rc = bm_error(BM_EXIT_CONFLICT, "this kernel seals %s; it cannot be moved", maps[i].path);
		else if (s->n == MAX_SPECIALS)
			rc = bm_error(BM_EXIT_CONFLICT, "this kernel has more special mappings than binmig knows");
		else
			s->sp[s->n++] = (struct bm_special){ kind, maps[i].start, maps[i].start, maps[i].end - maps[i].start };
		if (rc == 0 && kind == BM_VMA_VDSO)
			vdso = &s->sp[s->n - 1];
	}
	free(maps);
	if (rc < 0)
		return rc;

	bool differs = false;
	if (s->old && s->old_bytes && vdso && (rc = vdso_differs(s, pid, vdso, &differs)) < 0)
		return rc;
	if (vdso_mode == BM_VDSO_ALWAYS && s->old && !s->old_bytes)
		return bm_error(BM_EXIT_CONFLICT, "the image does not carry its vDSO's contents (an older binmig wrote it): "
				"the vDSO proxy cannot rebuild it");
	if (vdso_mode == BM_VDSO_NEVER && differs)
		return bm_error(BM_EXIT_CONFLICT, "[vdso] differs between the image and this kernel (contents), and the "
				"vDSO proxy is off");
	s->proxy = vdso && s->old_bytes && (vdso_mode == BM_VDSO_ALWAYS || differs);
	rc = s->proxy ? plan_parked(s, p) : plan_in_place(s, p);
	return rc < 0 ? rc : move_all(s, pid, tr);
}

int bm_specials_install_proxy(const struct bm_specials *s, pid_t pid, struct bm_tracee *tr)
{
	if (!s->proxy)
		return 0;
	const struct bm_special *vdso = NULL;
	for (size_t i = 0; i < s->n; i++)
		if (s->sp[i].kind == BM_VMA_VDSO)
			vdso = &s->sp[i];
	uint64_t len = s->old->end - s->old->start;
	uint8_t *copy = malloc(len), *mine = malloc(vdso->len);
	char why[200];
	int rc = 0;
	if (!copy || !mine)
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	else if ((rc = bm_mem_read(pid, vdso->to, mine, vdso->len)) < 0)
		bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot read the vDSO of the new process");
	if (rc == 0) {
		memcpy(copy, s->old_bytes, len);
		int n = bm_vdso_patch(copy, len, s->old->start, mine, vdso->len, vdso->to, why, sizeof why);
		if (n < 0)
			rc = bm_error(BM_EXIT_CONFLICT, "the vDSO proxy cannot stand in for the image's vDSO: %s", why);
		else
			bm_note("process %d runs with the vDSO proxy (%s): %d entry points of its vDSO at 0x%llx jump to "
				"this kernel's at 0x%llx", pid, vdso_mode == BM_VDSO_ALWAYS ? "--vdso-proxy always"
				: "this kernel's vDSO differs from the image's", n, (unsigned long long)s->old->start,
				(unsigned long long)vdso->to);
	}
	if (rc == 0)
		rc = inject_step(tr, pid, "mapping the vDSO proxy", SYS_mmap, s->old->start, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1);
	if (rc == 0 && (rc = bm_mem_write(pid, s->old->start, copy, len)) < 0)
		bm_error_errno(BM_EXIT_FAILURE, -rc, "writing the vDSO proxy");
	if (rc == 0)
		rc = inject_step(tr, pid, "protecting the vDSO proxy", SYS_mprotect, s->old->start, len,
				 (uint64_t)s->old->prot, 0, 0);
	free(copy);
	free(mine);
	return rc;
}

void bm_specials_free(struct bm_specials *s)
{
	free(s->old_bytes);
	s->old_bytes = NULL;
}

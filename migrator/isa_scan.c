/* Instruction-set scan of code and of ELF files (isa_scan.h). */
#include "isa_scan.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* ---- code ---------------------------------------------------------------- */

static csh capstone;
static cs_insn *cs_buf;

static int get_capstone(void)
{
	if (cs_buf)
		return 0;
	cs_err err = cs_open(CS_ARCH_X86, CS_MODE_64, &capstone);
	if (err == CS_ERR_OK)
		err = cs_option(capstone, CS_OPT_DETAIL, CS_OPT_ON);
	if (err == CS_ERR_OK && !(cs_buf = cs_malloc(capstone)))
		err = CS_ERR_MEM;
	if (err != CS_ERR_OK) {
		bm_error(BM_EXIT_FAILURE, "capstone: cannot open an x86-64 disassembler: %s", cs_strerror(err));
		return err == CS_ERR_MEM ? -ENOMEM : -EIO;
	}
	return 0;
}

void bm_isa_counts_add(struct bm_isa_counts *to, const struct bm_isa_counts *from)
{
	for (int e = 0; e < BM_EXT_COUNT; e++) {
		if (!(from->set & BM_EXT_BIT(e)))
			continue;
		if (!(to->set & BM_EXT_BIT(e)))
			to->example[e] = from->example[e];
		to->count[e] += from->count[e];
	}
	to->set |= from->set;
	if (from->undecodable && !to->undecodable)
		to->first_undecodable = from->first_undecodable;
	to->undecodable += from->undecodable;
	to->insns += from->insns;
	to->bytes += from->bytes;
	to->unclassified += from->unclassified;
}

/* One-byte-map instructions and 0F-map ones that need nothing beyond
 * x86-64's baseline, which Capstone need not look at: the bulk of any
 * program (mov, arithmetic, branches, cmov, setcc, movzx, nop ...). */
static bool plainly_baseline(const struct bm_x86_insn *x)
{
	if (x->enc != BM_ENC_LEGACY)
		return false;
	if (x->map == BM_MAP_ONE)
		return x->opcode != 0x9e && x->opcode != 0x9f; /* lahf, sahf */
	if (x->map != BM_MAP_0F)
		return false;
	uint8_t op = x->opcode;
	return (op >= 0x40 && op <= 0x4f) || (op >= 0x80 && op <= 0x9f) || op == 0xb6 || op == 0xb7 ||
	       op == 0xbe || op == 0xbf || op == 0x1f || op == 0x05 || op == 0xaf || op == 0xa2 || op == 0x31 ||
	       op == 0xa3 || op == 0xab || op == 0xb3 || op == 0xbb || op == 0xba || op == 0xa4 || op == 0xa5 ||
	       op == 0xac || op == 0xad || op == 0xb0 || op == 0xb1 || op == 0xc0 || op == 0xc1 ||
	       (op >= 0xc8 && op <= 0xcf) || op == 0x0b;
}

int bm_isa_scan_code(const uint8_t *code, size_t len, uint64_t base, struct bm_isa_counts *c)
{
	int err = get_capstone();
	if (err)
		return err;
	size_t off = 0;
	while (off < len) {
		struct bm_x86_insn x;
		size_t n = bm_x86_decode(code + off, len - off, &x);
		uint64_t set = 0;
		bool unclassified = false;
		if (!n || !plainly_baseline(&x)) {
			const uint8_t *p = code + off;
			size_t left = len - off;
			uint64_t addr = base + off;
			if (cs_disasm_iter(capstone, &p, &left, &addr, cs_buf)) {
				bool same = n == cs_buf->size;
				set = bm_isa_classify(cs_buf, same ? &x : NULL, &unclassified);
				n = cs_buf->size;
			} else if (n && bm_isa_known_without_capstone(&x, code + off)) {
				set = bm_isa_classify(NULL, &x, &unclassified);
			} else {
				if (!c->undecodable)
					c->first_undecodable = base + off;
				c->undecodable++;
				off++;
				continue;
			}
		}
		c->insns++;
		c->unclassified += unclassified;
		for (uint64_t s = set; s; s &= s - 1) {
			int e = __builtin_ctzll(s);
			if (!c->count[e]++)
				c->example[e] = base + off;
		}
		c->set |= set;
		off += n;
	}
	c->bytes += len;
	return 0;
}

/* ---- ELF files ----------------------------------------------------------- */

/* A file's tables are read with pread and its contents mapped only when
 * they are needed (a scan, a symbol): a check that finds a file in the
 * cache reads a few KiB of it, not the whole file through page faults and
 * an unmap, which on a virtual machine cost a millisecond a process. */

static bool in_bounds(size_t len, uint64_t off, uint64_t size)
{
	return off <= len && size <= len - off;
}

/* Largest program header table, section header table and section name
 * table read; beyond them a file is taken to have none. */
#define MAX_PHDRS_BYTES (64u << 10)
#define MAX_SHDRS_BYTES (4u << 20)
#define MAX_SHSTR_BYTES (1u << 20)
#define MAX_NOTE_BYTES (64u << 10)

/* Copies n bytes at offset off of the image or file into buf. */
static int elf_read(const struct bm_elf *e, uint64_t off, void *buf, size_t n)
{
	if (!in_bounds(e->len, off, n))
		return -EIO;
	if (e->data) {
		memcpy(buf, e->data + off, n);
		return 0;
	}
	ssize_t got = pread(e->fd, buf, n, (off_t)off);
	return got == (ssize_t)n ? 0 : got < 0 ? -errno : -EIO;
}

static bool shdr(const struct bm_elf *e, unsigned i, Elf64_Shdr *sh)
{
	if (i >= e->shnum)
		return false;
	*sh = e->sh[i];
	return true;
}

static unsigned shnum(const struct bm_elf *e)
{
	return e->shnum;
}

static bool phdr(const struct bm_elf *e, unsigned i, Elf64_Phdr *ph)
{
	if (i >= e->phnum)
		return false;
	*ph = e->ph[i];
	return true;
}

static const char *section_name(const struct bm_elf *e, const Elf64_Shdr *sh)
{
	if (sh->sh_name >= e->shstr_size)
		return "";
	const char *s = e->shstr + sh->sh_name;
	return memchr(s, 0, e->shstr_size - sh->sh_name) ? s : "";
}

/* Reads the header and copies the program and section header tables and
 * the section names into e->tables (aligned, whatever the offsets in the
 * file): a table out of bounds or oversized counts as empty. */
static int read_tables(struct bm_elf *e)
{
	Elf64_Ehdr eh;
	if (elf_read(e, 0, &eh, sizeof eh) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return -ENOEXEC;
	e->machine = eh.e_machine;
	uint64_t phsz = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
	uint64_t shsz = eh.e_shoff ? (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) : 0;
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || phsz > MAX_PHDRS_BYTES || !in_bounds(e->len, eh.e_phoff, phsz))
		phsz = 0;
	if (eh.e_shentsize != sizeof(Elf64_Shdr) || shsz > MAX_SHDRS_BYTES || !in_bounds(e->len, eh.e_shoff, shsz))
		shsz = 0;
	uint8_t *t = malloc(phsz + shsz + 1);
	if (!t)
		return -ENOMEM;
	e->tables = t;
	if (phsz && elf_read(e, eh.e_phoff, t, phsz) == 0) {
		e->ph = (const Elf64_Phdr *)t;
		e->phnum = eh.e_phnum;
	}
	if (shsz && elf_read(e, eh.e_shoff, t + phsz, shsz) == 0) {
		e->sh = (const Elf64_Shdr *)(t + phsz);
		e->shnum = eh.e_shnum;
	}
	Elf64_Shdr names;
	if (!shdr(e, eh.e_shstrndx, &names) || names.sh_size > MAX_SHSTR_BYTES ||
	    !in_bounds(e->len, names.sh_offset, names.sh_size))
		return 0;
	char *s = malloc(names.sh_size + 1);
	if (!s)
		return -ENOMEM;
	if (elf_read(e, names.sh_offset, s, names.sh_size) < 0) {
		free(s);
		return 0;
	}
	e->shstr = s;
	e->shstr_size = names.sh_size;
	return 0;
}

/* The GNU build-id note, as hex. */
static void read_build_id(struct bm_elf *e)
{
	e->build_id[0] = 0;
	Elf64_Phdr ph;
	for (unsigned i = 0; phdr(e, i, &ph) && !e->build_id[0]; i++) {
		if (ph.p_type != PT_NOTE || ph.p_filesz > MAX_NOTE_BYTES)
			continue;
		uint8_t *note = malloc(ph.p_filesz + 1);
		if (!note || elf_read(e, ph.p_offset, note, ph.p_filesz) < 0) {
			free(note);
			continue;
		}
		size_t at = 0;
		while (at + sizeof(Elf64_Nhdr) <= ph.p_filesz) {
			Elf64_Nhdr nh;
			memcpy(&nh, note + at, sizeof nh);
			size_t name = at + sizeof nh, desc = name + ((nh.n_namesz + 3u) & ~3u);
			if (desc > ph.p_filesz || nh.n_descsz > ph.p_filesz - desc)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && memcmp(note + name, "GNU", 4) == 0) {
				size_t n = nh.n_descsz < 20 ? nh.n_descsz : 20;
				for (size_t k = 0; k < n; k++)
					snprintf(e->build_id + 2 * k, 3, "%02x", note[desc + k]);
				break;
			}
			at = desc + ((nh.n_descsz + 3u) & ~3u);
		}
		free(note);
	}
}

static int elf_init(struct bm_elf *e)
{
	int rc = read_tables(e);
	if (rc == 0)
		read_build_id(e);
	return rc;
}

int bm_elf_open(const char *path, struct bm_elf *e)
{
	memset(e, 0, sizeof *e);
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0)
		return -errno;
	struct stat st;
	int rc = fstat(e->fd, &st) < 0 ? -errno : 0;
	if (rc == 0 && (!S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(Elf64_Ehdr)))
		rc = -ENOEXEC;
	if (rc == 0) {
		e->len = (size_t)st.st_size;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->size = (uint64_t)st.st_size;
		e->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		rc = elf_init(e);
	}
	if (rc == 0 && e->machine != EM_X86_64)
		rc = -ENOEXEC;
	if (rc < 0)
		bm_elf_close(e);
	return rc;
}

int bm_elf_from_memory(const uint8_t *data, size_t len, struct bm_elf *e)
{
	memset(e, 0, sizeof *e);
	e->fd = -1;
	e->data = data;
	e->len = len;
	int rc = elf_init(e);
	if (rc < 0)
		bm_elf_close(e);
	return rc;
}

int bm_elf_map(struct bm_elf *e)
{
	if (e->data)
		return 0;
	if (e->fd < 0)
		return -EBADF;
	void *p = mmap(NULL, e->len, PROT_READ, MAP_PRIVATE, e->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	e->data = p;
	e->mapped = true;
	return 0;
}

void bm_elf_close(struct bm_elf *e)
{
	if (e->data && e->mapped)
		munmap((void *)e->data, e->len);
	if (e->fd >= 0)
		close(e->fd);
	free(e->tables);
	free((void *)e->shstr);
	*e = (struct bm_elf){.fd = -1};
}

int bm_elf_offset_to_vaddr(const struct bm_elf *e, uint64_t off, uint64_t *vaddr)
{
	Elf64_Phdr ph;
	for (unsigned i = 0; phdr(e, i, &ph); i++) {
		if (ph.p_type != PT_LOAD || ph.p_align == 0)
			continue;
		/* Mappings start at page boundaries below the segment's offset. */
		uint64_t pstart = ph.p_offset & ~(uint64_t)4095;
		if (off >= pstart && off < ph.p_offset + (ph.p_filesz ? ph.p_filesz : 1)) {
			*vaddr = (ph.p_vaddr & ~(uint64_t)4095) + (off - pstart);
			return 0;
		}
	}
	return -ENOENT;
}

size_t bm_elf_got_ranges(const struct bm_elf *e, uint64_t (*range)[2], size_t max)
{
	size_t n = 0;
	Elf64_Shdr sh;
	for (unsigned i = 0; i < shnum(e) && n < max && shdr(e, i, &sh); i++) {
		const char *name = section_name(e, &sh);
		if (sh.sh_addr && (strcmp(name, ".got") == 0 || strcmp(name, ".got.plt") == 0)) {
			range[n][0] = sh.sh_addr;
			range[n][1] = sh.sh_addr + sh.sh_size;
			n++;
		}
	}
	return n;
}

/* Function symbols of .symtab and .dynsym. */
struct fsym {
	uint64_t addr, size;
	const char *name;
	bool ifunc;
};

static int fsym_cmp(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Calls fn for every defined function symbol of .symtab and .dynsym,
 * with its string table, until fn returns non-zero (which it returns). */
static int each_function(const struct bm_elf *e, int (*fn)(void *ctx, const Elf64_Sym *s, const char *strtab,
							    uint64_t strsize),
			 void *ctx)
{
	Elf64_Shdr sh, str;
	for (unsigned i = 0; i < shnum(e) && shdr(e, i, &sh); i++) {
		if ((sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) || sh.sh_entsize != sizeof(Elf64_Sym) ||
		    !in_bounds(e->len, sh.sh_offset, sh.sh_size) || !shdr(e, sh.sh_link, &str) ||
		    !in_bounds(e->len, str.sh_offset, str.sh_size))
			continue;
		for (size_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
			Elf64_Sym s;
			memcpy(&s, e->data + sh.sh_offset + k * sizeof s, sizeof s);
			unsigned type = ELF64_ST_TYPE(s.st_info);
			if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF || !s.st_value)
				continue;
			int rc = fn(ctx, &s, (const char *)e->data + str.sh_offset, str.sh_size);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* A symbol's name, "" when it has none or it runs off the table. */
static const char *sym_name(const Elf64_Sym *s, const char *strtab, uint64_t strsize)
{
	return s->st_name < strsize && memchr(strtab + s->st_name, 0, strsize - s->st_name) ? strtab + s->st_name : "";
}

struct fsym_vec {
	struct fsym *v;
	size_t n, cap;
};

static int fsym_push(void *ctx, const Elf64_Sym *s, const char *strtab, uint64_t strsize)
{
	struct fsym_vec *a = ctx;
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 256;
		struct fsym *nv = realloc(a->v, a->cap * sizeof *nv);
		if (!nv)
			return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
		a->v = nv;
	}
	a->v[a->n++] = (struct fsym){s->st_value, s->st_size, sym_name(s, strtab, strsize),
				     ELF64_ST_TYPE(s->st_info) == STT_GNU_IFUNC};
	return 0;
}

static int function_symbols(const struct bm_elf *e, struct fsym **out, size_t *count)
{
	struct fsym_vec a = {0};
	int rc = each_function(e, fsym_push, &a);
	if (rc < 0) {
		free(a.v);
		return rc;
	}
	if (a.n)
		qsort(a.v, a.n, sizeof *a.v, fsym_cmp);
	*out = a.v;
	*count = a.n;
	return 0;
}

/* The nearest named function at or before vaddr. */
struct nearest {
	uint64_t vaddr;
	Elf64_Sym best;
	const char *name;
};

static int nearer(void *ctx, const Elf64_Sym *s, const char *strtab, uint64_t strsize)
{
	struct nearest *q = ctx;
	if (s->st_value > q->vaddr || (q->name && s->st_value <= q->best.st_value))
		return 0;
	const char *name = sym_name(s, strtab, strsize);
	if (name[0]) {
		q->best = *s;
		q->name = name;
	}
	return 0;
}

/* One pass over the symbol tables, nothing sorted or kept: a report
 * names a few examples, and most checks (a migration's) name none. */
void bm_elf_symbolize(struct bm_elf *e, uint64_t vaddr, char *buf, size_t len)
{
	buf[0] = 0;
	if (bm_elf_map(e) < 0)
		return;
	struct nearest q = {vaddr, {0}, NULL};
	each_function(e, nearer, &q);
	/* Past the end of a sized symbol, the nearest name would mislead. */
	if (q.name && (!q.best.st_size || vaddr - q.best.st_value < q.best.st_size))
		snprintf(buf, len, "%s+0x%llx", q.name, (unsigned long long)(vaddr - q.best.st_value));
}

/* Executable sections: where code is. */
struct xsec {
	uint64_t addr, off, size;
};

static size_t exec_sections(const struct bm_elf *e, struct xsec *v, size_t max)
{
	size_t n = 0;
	Elf64_Shdr sh;
	for (unsigned i = 0; i < shnum(e) && n < max && shdr(e, i, &sh); i++)
		if (sh.sh_type == SHT_PROGBITS && (sh.sh_flags & SHF_EXECINSTR) && (sh.sh_flags & SHF_ALLOC) &&
		    in_bounds(e->len, sh.sh_offset, sh.sh_size))
			v[n++] = (struct xsec){sh.sh_addr, sh.sh_offset, sh.sh_size};
	if (n)
		return n;
	/* No section headers: the executable segments. */
	Elf64_Phdr ph;
	for (unsigned i = 0; n < max && phdr(e, i, &ph); i++)
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && in_bounds(e->len, ph.p_offset, ph.p_filesz))
			v[n++] = (struct xsec){ph.p_vaddr, ph.p_offset, ph.p_filesz};
	return n;
}

static const struct xsec *section_of(const struct xsec *v, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= v[i].addr && addr - v[i].addr < v[i].size)
			return &v[i];
	return NULL;
}

/* A growable set of addresses. */
struct addrs {
	uint64_t *v;
	size_t n, cap;
};

static int addrs_push(struct addrs *a, uint64_t x)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 256;
		uint64_t *nv = realloc(a->v, cap * sizeof *nv);
		if (!nv)
			return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
		a->v = nv;
		a->cap = cap;
	}
	a->v[a->n++] = x;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void addrs_sort_unique(struct addrs *a)
{
	if (!a->n)
		return;
	qsort(a->v, a->n, sizeof *a->v, u64_cmp);
	size_t k = 1;
	for (size_t i = 1; i < a->n; i++)
		if (a->v[i] != a->v[k - 1])
			a->v[k++] = a->v[i];
	a->n = k;
}

static bool addrs_has(const struct addrs *a, uint64_t x)
{
	return a->n && bsearch(&x, a->v, a->n, sizeof *a->v, u64_cmp) != NULL;
}

/* The resolvers: IRELATIVE addends and STT_GNU_IFUNC symbol values. */
static int find_resolvers(const struct bm_elf *e, const struct fsym *syms, size_t nsyms, struct addrs *res)
{
	Elf64_Shdr sh;
	for (unsigned i = 0; i < shnum(e) && shdr(e, i, &sh); i++) {
		if (sh.sh_type != SHT_RELA || sh.sh_entsize != sizeof(Elf64_Rela) ||
		    !in_bounds(e->len, sh.sh_offset, sh.sh_size))
			continue;
		for (size_t k = 0; k < sh.sh_size / sizeof(Elf64_Rela); k++) {
			Elf64_Rela r;
			memcpy(&r, e->data + sh.sh_offset + k * sizeof r, sizeof r);
			if (ELF64_R_TYPE(r.r_info) == R_X86_64_IRELATIVE && addrs_push(res, (uint64_t)r.r_addend) < 0)
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < nsyms; i++)
		if (syms[i].ifunc && addrs_push(res, syms[i].addr) < 0)
			return -ENOMEM;
	addrs_sort_unique(res);
	return 0;
}

/* What a resolver can return: the code addresses it loads with a
 * RIP-relative lea, up to its end (a ret or jmp that no earlier branch
 * jumps beyond) or the next function start. */
static int resolver_targets(const struct bm_elf *e, const struct xsec *xs, size_t nxs, uint64_t resolver,
			    uint64_t limit, struct addrs *cands, struct addrs *owner)
{
	const struct xsec *s = section_of(xs, nxs, resolver);
	if (!s)
		return 0;
	uint64_t end = s->addr + s->size;
	if (limit > resolver && limit < end)
		end = limit;
	if (end - resolver > 4096)
		end = resolver + 4096;
	const uint8_t *code = e->data + s->off + (resolver - s->addr);
	uint64_t at = resolver, reach = resolver;
	while (at < end) {
		struct bm_x86_insn x;
		size_t n = bm_x86_decode(code + (at - resolver), end - at, &x);
		if (!n)
			break;
		uint64_t next = at + n;
		if (x.enc == BM_ENC_LEGACY && x.map == BM_MAP_ONE) {
			if (x.opcode == 0x8d && x.rip_relative) {
				uint64_t t = next + (uint64_t)(int64_t)x.disp;
				if (t != resolver && section_of(xs, nxs, t) &&
				    (addrs_push(cands, t) < 0 || addrs_push(owner, resolver) < 0))
					return -ENOMEM;
			}
			bool rel8 = (x.opcode >= 0x70 && x.opcode <= 0x7f) || x.opcode == 0xeb;
			if (rel8 || x.opcode == 0xe9) {
				int32_t d = rel8 ? (int8_t)code[next - 1 - resolver] : 0;
				if (!rel8)
					memcpy(&d, code + (next - 4 - resolver), 4);
				uint64_t t = next + (uint64_t)(int64_t)d;
				if (x.opcode != 0xe9 && x.opcode != 0xeb && t > reach && t < end)
					reach = t;
			}
			bool leaves = x.opcode == 0xc3 || x.opcode == 0xc2 || x.opcode == 0xe9 || x.opcode == 0xeb ||
				      (x.opcode == 0xff && ((x.modrm >> 3) & 7) == 4);
			if (leaves && next > reach)
				break;
		} else if (x.enc == BM_ENC_LEGACY && x.map == BM_MAP_0F && x.opcode >= 0x80 && x.opcode <= 0x8f) {
			int32_t d;
			memcpy(&d, code + (next - 4 - resolver), 4);
			uint64_t t = next + (uint64_t)(int64_t)d;
			if (t > reach && t < end)
				reach = t;
		}
		at = next;
	}
	return 0;
}

/* The name of the ifunc symbol whose resolver is at addr. */
static void resolver_name(const struct fsym *syms, size_t n, uint64_t addr, char *buf, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (syms[i].ifunc && syms[i].addr == addr && syms[i].name[0]) {
			snprintf(buf, len, "%s", syms[i].name);
			return;
		}
}

static int cand_cmp(const void *a, const void *b)
{
	const struct bm_isa_candidate *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

const struct bm_isa_candidate *bm_isa_find_candidate(const struct bm_isa_file *f, uint64_t vaddr)
{
	size_t lo = 0, hi = f->ncand;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (vaddr < f->cand[mid].start)
			hi = mid;
		else if (vaddr >= f->cand[mid].end)
			lo = mid + 1;
		else
			return &f->cand[mid];
	}
	return NULL;
}

#define MAX_XSEC 64

int bm_isa_scan_elf(struct bm_elf *e, const char *path, struct bm_isa_file *f)
{
	memset(f, 0, sizeof *f);
	int rc = bm_elf_map(e);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_FAILURE, -rc, "cannot map %s", path), rc;
	if (!(f->path = strdup(path)))
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	f->dev = e->dev;
	f->ino = e->ino;
	f->size = e->size;
	f->mtime_ns = e->mtime_ns;
	memcpy(f->build_id, e->build_id, sizeof f->build_id);

	struct xsec xs[MAX_XSEC];
	size_t nxs = exec_sections(e, xs, MAX_XSEC);
	struct fsym *syms = NULL;
	size_t nsyms = 0;
	struct addrs resolvers = {0}, cands = {0}, owner = {0}, starts = {0};
	rc = function_symbols(e, &syms, &nsyms);
	for (size_t i = 0; rc == 0 && i < nsyms; i++)
		rc = addrs_push(&starts, syms[i].addr);
	if (rc == 0)
		rc = find_resolvers(e, syms, nsyms, &resolvers);
	addrs_sort_unique(&starts);
	for (size_t i = 0; rc == 0 && i < resolvers.n; i++) {
		/* The next known function start bounds the resolver. */
		uint64_t r = resolvers.v[i], limit = UINT64_MAX;
		for (size_t k = 0; k < starts.n; k++)
			if (starts.v[k] > r) {
				limit = starts.v[k];
				break;
			}
		rc = resolver_targets(e, xs, nxs, r, limit, &cands, &owner);
	}
	/* cands and owner pair up until sorted: keep each candidate's first resolver. */
	uint64_t (*pairs)[2] = rc == 0 && cands.n ? malloc(cands.n * sizeof *pairs) : NULL;
	if (rc == 0 && cands.n && !pairs)
		rc = (bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM);
	for (size_t i = 0; pairs && i < cands.n; i++) {
		pairs[i][0] = cands.v[i];
		pairs[i][1] = owner.v[i];
	}
	size_t npairs = pairs ? cands.n : 0;
	addrs_sort_unique(&cands);
	for (size_t i = 0; rc == 0 && i < resolvers.n; i++)
		rc = addrs_push(&starts, resolvers.v[i]);
	for (size_t i = 0; rc == 0 && i < cands.n; i++)
		rc = addrs_push(&starts, cands.v[i]);
	for (size_t i = 0; rc == 0 && i < nxs; i++)
		rc = addrs_push(&starts, xs[i].addr);
	addrs_sort_unique(&starts);

	/* Each piece from one start to the next, within its section. */
	for (size_t i = 0; rc == 0 && i < starts.n; i++) {
		uint64_t a = starts.v[i];
		const struct xsec *s = section_of(xs, nxs, a);
		if (!s)
			continue;
		uint64_t b = s->addr + s->size;
		if (i + 1 < starts.n && starts.v[i + 1] < b)
			b = starts.v[i + 1];
		const uint8_t *code = e->data + s->off + (a - s->addr);
		if (!addrs_has(&cands, a)) {
			rc = bm_isa_scan_code(code, b - a, a, &f->always);
			continue;
		}
		char ifunc[sizeof f->cand->ifunc] = "";
		for (size_t k = 0; k < npairs && !ifunc[0]; k++)
			if (pairs[k][0] == a)
				resolver_name(syms, nsyms, pairs[k][1], ifunc, sizeof ifunc);
		struct bm_isa_counts c = {0};
		rc = bm_isa_scan_code(code, b - a, a, &c);
		if (rc == 0)
			rc = bm_isa_cand_add(f, a, b, ifunc, &c);
	}
	free(syms);
	free(pairs);
	free(owner.v);
	free(resolvers.v);
	free(cands.v);
	free(starts.v);
	if (rc < 0) {
		bm_isa_file_free(f);
		return rc;
	}
	if (f->ncand)
		qsort(f->cand, f->ncand, sizeof *f->cand, cand_cmp);
	return 0;
}

int bm_isa_sparse_put(struct bm_isa_pool *pool, const struct bm_isa_counts *c, struct bm_isa_sparse *s)
{
	uint32_t nuse = (uint32_t)__builtin_popcountll(c->set);
	if (pool->n + nuse > pool->cap) {
		uint32_t cap = pool->cap ? 2 * pool->cap : 256;
		while (cap < pool->n + nuse)
			cap *= 2;
		struct bm_isa_ext_count *v = realloc(pool->v, cap * sizeof *v);
		if (!v)
			return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
		pool->v = v;
		pool->cap = cap;
	}
	*s = (struct bm_isa_sparse){.set = c->set, .insns = c->insns, .bytes = c->bytes,
				    .undecodable = c->undecodable, .first_undecodable = c->first_undecodable,
				    .unclassified = c->unclassified, .first = pool->n, .nuse = nuse};
	for (uint64_t set = c->set; set; set &= set - 1) {
		int e = __builtin_ctzll(set);
		pool->v[pool->n++] = (struct bm_isa_ext_count){(uint32_t)e, c->count[e], c->example[e]};
	}
	return 0;
}

void bm_isa_sparse_get(const struct bm_isa_pool *pool, const struct bm_isa_sparse *s, struct bm_isa_counts *c)
{
	memset(c, 0, sizeof *c);
	c->set = s->set;
	c->insns = s->insns;
	c->bytes = s->bytes;
	c->undecodable = s->undecodable;
	c->first_undecodable = s->first_undecodable;
	c->unclassified = s->unclassified;
	for (uint32_t i = 0; i < s->nuse; i++) {
		const struct bm_isa_ext_count *u = &pool->v[s->first + i];
		c->count[u->ext] = u->count;
		c->example[u->ext] = u->example;
	}
}

void bm_isa_pool_free(struct bm_isa_pool *pool)
{
	free(pool->v);
	*pool = (struct bm_isa_pool){0};
}

int bm_isa_cand_add(struct bm_isa_file *f, uint64_t start, uint64_t end, const char *ifunc,
		    const struct bm_isa_counts *c)
{
	if (f->ncand == f->cand_cap) {
		uint32_t cap = f->cand_cap ? 2 * f->cand_cap : 64;
		struct bm_isa_candidate *v = realloc(f->cand, cap * sizeof *v);
		if (!v)
			return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
		f->cand = v;
		f->cand_cap = cap;
	}
	struct bm_isa_candidate *cd = &f->cand[f->ncand];
	*cd = (struct bm_isa_candidate){.start = start, .end = end};
	snprintf(cd->ifunc, sizeof cd->ifunc, "%s", ifunc);
	int rc = bm_isa_sparse_put(&f->pool, c, &cd->counts);
	if (rc == 0)
		f->ncand++;
	return rc;
}

void bm_isa_file_free(struct bm_isa_file *f)
{
	free(f->path);
	free(f->cand);
	f->path = NULL;
	f->cand = NULL;
	f->ncand = f->cand_cap = 0;
	bm_isa_pool_free(&f->pool);
}

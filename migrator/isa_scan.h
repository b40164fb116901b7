/* Instruction-set scan: which extensions a piece of machine code uses.
 *
 * Code is swept linearly, instruction by instruction: x86_decode.h gives
 * every instruction's length and encoding, Capstone (with detail) decodes
 * each one outside the one-byte opcode map (where every extension lives)
 * and isa_classify.h says what it needs.  Bytes that neither decodes are
 * counted, never skipped silently.
 *
 * An ELF file is swept in pieces that start at every function it names
 * (symbol tables) and at every ifunc candidate, so that a misstep cannot
 * run past a function start.  An ifunc candidate is a function that an
 * ifunc resolver of the file can return: found by disassembling each
 * resolver (the addends of IRELATIVE relocations and the values of
 * STT_GNU_IFUNC symbols) and taking the code addresses it loads with a
 * RIP-relative lea.  Its code is counted apart, since it runs only if a
 * GOT slot of the process points to it (isa_process.h).  A candidate
 * reaches to the next function start the file knows of: where the file
 * has no full symbol table (a stripped library), that may include helper
 * code after the candidate. */
#ifndef BINMIG_ISA_SCAN_H
#define BINMIG_ISA_SCAN_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "isa_classify.h"

/* What a piece of code uses.  Addresses are those the code was scanned
 * at (file virtual addresses for a file, process addresses for memory). */
struct bm_isa_counts {
	uint64_t set;                     /* BM_EXT_BIT of every extension used */
	uint32_t count[BM_EXT_COUNT];     /* instructions needing it */
	uint64_t example[BM_EXT_COUNT];   /* address of the first of them */
	uint64_t insns, bytes;
	uint64_t undecodable;             /* bytes neither decoder took as an instruction */
	uint64_t first_undecodable;       /* address of the first (valid when undecodable > 0) */
	uint64_t unclassified;            /* instructions Capstone does not know, classified by encoding
					     only (a lower bound: VEX at least AVX, EVEX at least AVX-512F) */
};

void bm_isa_counts_add(struct bm_isa_counts *to, const struct bm_isa_counts *from);

/* Scans len bytes of code that are (or were) at address base, adding to
 * *c.  0, or -ENOMEM / -EIO if Capstone cannot be opened. */
int bm_isa_scan_code(const uint8_t *code, size_t len, uint64_t base, struct bm_isa_counts *c);

/* Counts kept sparse, as stored in bulk (a C library has hundreds of ifunc
 * candidates, the JIT cache thousands of entries, each using a few of the
 * 64 extensions): the totals, and the nuse extensions used, in extension
 * order, at pool->v[first ...]. */
struct bm_isa_ext_count {
	uint32_t ext, count;
	uint64_t example;
};
struct bm_isa_pool {
	struct bm_isa_ext_count *v;
	uint32_t n, cap;
};
struct bm_isa_sparse {
	uint64_t set, insns, bytes, undecodable, first_undecodable, unclassified;
	uint32_t first, nuse;
};

/* Stores c into *s, its extensions appended to the pool: 0 or -ENOMEM. */
int bm_isa_sparse_put(struct bm_isa_pool *pool, const struct bm_isa_counts *c, struct bm_isa_sparse *s);
/* The counts in full. */
void bm_isa_sparse_get(const struct bm_isa_pool *pool, const struct bm_isa_sparse *s, struct bm_isa_counts *c);
void bm_isa_pool_free(struct bm_isa_pool *pool);

/* One ifunc candidate of a file. */
struct bm_isa_candidate {
	uint64_t start, end;              /* file virtual addresses */
	char ifunc[48];                   /* the ifunc symbol whose resolver returns it, "" if unnamed */
	struct bm_isa_sparse counts;      /* extensions in the file's pool */
};

/* The scan of one ELF file, which the cache keeps (isa_cache.h). */
struct bm_isa_file {
	char *path;                       /* malloc'd */
	uint64_t dev, ino, size;
	int64_t mtime_ns;
	char build_id[41];                /* hex, "" if the file has none */
	struct bm_isa_counts always;      /* code outside every candidate */
	struct bm_isa_candidate *cand;    /* sorted by start */
	uint32_t ncand, cand_cap;
	struct bm_isa_pool pool;          /* the candidates' extensions */
};

/* Appends a candidate with counts c: 0 or -ENOMEM (logged). */
int bm_isa_cand_add(struct bm_isa_file *f, uint64_t start, uint64_t end, const char *ifunc,
		    const struct bm_isa_counts *c);

/* An ELF file (or an ELF image in memory, as the vDSO is read) with the
 * tables the scan and the process check need: the program and section
 * headers and the section names, copied; the whole contents (data) only
 * once bm_elf_map() maps the file, for a scan or a symbol. */
struct bm_elf {
	const uint8_t *data;              /* the contents, or NULL: not mapped yet */
	size_t len;
	int fd;                           /* the file's, kept to map it; -1 for memory */
	bool mapped;                      /* data is a mapping of fd */
	uint16_t machine;
	const Elf64_Phdr *ph;             /* in tables; phnum 0 if out of bounds */
	const Elf64_Shdr *sh;
	unsigned phnum, shnum;
	const char *shstr;                /* section names, shstr_size bytes */
	uint64_t shstr_size;
	void *tables;
	uint64_t dev, ino, size;
	int64_t mtime_ns;
	char build_id[41];
};

/* Opens PATH and reads its tables (not its contents), checking that it is
 * an x86-64 64-bit ELF file.  -ENOEXEC when it is not such a file, other
 * -errno when it cannot be read; nothing is logged (the caller scans the
 * process's memory instead). */
int bm_elf_open(const char *path, struct bm_elf *e);
/* An ELF image of len bytes at data, which must outlive *e: -ENOEXEC if
 * it has no 64-bit little-endian ELF header. */
int bm_elf_from_memory(const uint8_t *data, size_t len, struct bm_elf *e);
/* Maps a file's contents into e->data (a no-op once done, and for
 * memory); 0 or -errno. */
int bm_elf_map(struct bm_elf *e);
void bm_elf_close(struct bm_elf *e);

/* The file virtual address that file offset `off` is loaded at (its
 * PT_LOAD segment), or -ENOENT. */
int bm_elf_offset_to_vaddr(const struct bm_elf *e, uint64_t off, uint64_t *vaddr);

/* The file's GOT: the ranges of virtual addresses of .got and .got.plt
 * (at most max of them).  Returns how many. */
size_t bm_elf_got_ranges(const struct bm_elf *e, uint64_t (*range)[2], size_t max);

/* "name+0xOFF" for the function symbol at or before vaddr, "" if none. */
void bm_elf_symbolize(struct bm_elf *e, uint64_t vaddr, char *buf, size_t len);

/* Scans every executable section of the file into *f (which the caller
 * frees with bm_isa_file_free), mapping it first. */
int bm_isa_scan_elf(struct bm_elf *e, const char *path, struct bm_isa_file *f);
void bm_isa_file_free(struct bm_isa_file *f);

/* The candidate whose code holds vaddr, or NULL. */
const struct bm_isa_candidate *bm_isa_find_candidate(const struct bm_isa_file *f, uint64_t vaddr);

#endif

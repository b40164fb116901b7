/* The instruction-set analysis of a whole process (a live one, or one in
 * an image), and the verdict against a destination's CPU profile.
 *
 * Every executable mapping is scanned: a mapped ELF file from the file
 * itself (through the per-file cache, isa_cache.h), anonymous executable
 * memory (JIT code, the vDSO) and files that cannot be read from memory.
 * A file's ifunc candidates (isa_scan.h) count as used only when a word
 * of some loaded object's GOT (.got, .got.plt: where GLOB_DAT, JUMP_SLOT
 * and IRELATIVE relocations put their targets) points into them: the
 * variant the resolver chose is what the process calls; the others, which
 * the library merely contains, are reported apart and not counted. */
#ifndef BINMIG_ISA_PROCESS_H
#define BINMIG_ISA_PROCESS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "isa_scan.h"

struct bm_isa_use {
	uint32_t count;
	uint64_t addr;                    /* the first example, a process address */
	const char *where;                /* "symbol+0xOFF in FILE", "ifunc strlen variant in FILE", "[anon]",
					     "" if not named; in the report's own text */
};

/* One scanned source: a file or an area of memory. */
struct bm_isa_part {
	char name[200];
	uint64_t set;                     /* extensions counted as used from it */
	uint64_t bytes;
	const char *how;                  /* "file", "file, cached", "memory" */
};
#define BM_ISA_MAX_PARTS 128

#define BM_ISA_WHERE_MAX 224

/* What the analysis found.  The strings point into the report itself: a
 * report is not to be copied.  Only what precedes parts is cleared when an
 * analysis starts (the rest, 40 KiB of text, is written where used: pages
 * of a fresh stack cost a fault each). */
struct bm_isa_report {
	unsigned nparts, parts_dropped;
	uint64_t used_set;                /* counted as used */
	struct bm_isa_use used[BM_EXT_COUNT];
	uint64_t unselected_set;          /* only in ifunc candidates no GOT slot points to */
	struct bm_isa_use unselected[BM_EXT_COUNT];
	uint64_t bytes, insns, undecodable, unclassified;
	const char *first_undecodable;    /* where, as used[].where */
	unsigned files, files_cached, files_from_memory, anon_regions, unreadable;
	uint64_t anon_bytes;
	uint64_t mem_cached_bytes;        /* memory scans taken from the content cache */
	unsigned cand_total, cand_resolved;
	uint64_t scan_us;
	struct bm_isa_part parts[BM_ISA_MAX_PARTS]; /* nparts of them */
	char where_text[2 * BM_EXT_COUNT + 1][BM_ISA_WHERE_MAX];
};

/* A mapping as the analysis needs it. */
struct bm_isa_map {
	uint64_t start, end, offset;
	bool exec;
	const char *path;                 /* a file, or NULL for anonymous memory */
	const char *name;                 /* for anonymous memory: "[anon]", "[vdso]", "[anon:NAME]" */
	uint64_t ino;                     /* of the file as mapped, 0 if unknown */
};

/* Where the analysis reads memory: a live process or an image. */
struct bm_isa_source {
	const struct bm_isa_map *maps;
	size_t nmaps;
	/* Reads len bytes at addr; 0 or -errno (an unreadable page). */
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	void *ctx;
	pid_t pid;                        /* for /tmp/perf-PID.map (JIT symbols), 0 if none */
	/* Which examples get a `where` (symbol tables are read for it): all,
	 * unless names_limited; then only the used examples of extensions in
	 * name_set (a migration's check names what it would refuse for). */
	bool names_limited;
	uint64_t name_set;
};

int bm_isa_analyze(const struct bm_isa_source *src, struct bm_isa_report *r);

/* Analyzes live process pid (read through /proc/PID/mem: the caller
 * must be allowed to ptrace it; it need not be stopped); names examples
 * as bm_isa_source says. */
int bm_isa_analyze_pid(pid_t pid, bool names_limited, uint64_t name_set, struct bm_isa_report *r);

void bm_isa_report_print(FILE *out, const struct bm_isa_report *r);

/* The verdict: 1 when code the process uses needs an extension that
 * `dest` lacks, with a message naming the extension, the count and an
 * example in msg; 0 when it can run there.  `here` (the extensions of the
 * CPU the process ran on) discounts code for extensions this CPU lacks
 * too: such code is behind a run-time check that failed here (the C
 * library caches its CPU checks at start, so it stays failed). */
int bm_isa_verdict(const struct bm_isa_report *r, uint64_t here, uint64_t dest, char *msg, size_t len);

#endif

/* Pre-copy live migration (`binmig migrate --mode precopy`).
 *
 * Source (precopy.c): a userfaultfd is created inside the process with an
 * injected system call during a short freeze, taken out with pidfd_getfd
 * (the process's own descriptor is closed again), and every private
 * writable VMA is registered with it for asynchronous write-protection
 * (UFFD_FEATURE_WP_ASYNC): a write to a protected page only marks it
 * written, the process never waits.  Round 1 sends every present page
 * while the process runs; each later round asks PAGEMAP_SCAN for the
 * pages written since (PAGE_IS_WRITTEN) and protects them again in the
 * same call (PM_SCAN_WP_MATCHING), and sends those.  The rounds stop when
 * the dirty set falls under the threshold, stops shrinking, or the round
 * limit is reached.  Then the process is frozen as for a stream migration
 * and its true final map taken; in the ranges still registered, pages
 * present and not written since their last round are "kept" (the
 * destination has them: binmig remembers which pages it sent), everything
 * else goes in the image as usual.  Round 1 skips never-touched pages
 * (their write-protect markers look like swapped pages); a page really
 * swapped out then goes in the final image.
 * Closing binmig's descriptor of the userfaultfd unregisters everything,
 * so a source that resumes its process leaves nothing behind in it.
 *
 * Destination (precopy_dest.c): a store with the latest version of each
 * page sent, bounded.  Where binmig's own memory leaves room, the store
 * holds each range at the address the process has it; once the kept runs
 * are known, what was not kept is zeroed there, and the new process,
 * created by fork, keeps those pages in place (restore_inplace.h): none
 * of them is copied during the downtime, and their memory was faulted in
 * while the process still ran at the source.  Other kept pages are copied
 * from the store into the new process after the image's.
 *
 * Wire messages: transport.h, docs/protocol.md §7.1. */
#ifndef BINMIG_PRECOPY_H
#define BINMIG_PRECOPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "checkpoint.h"
#include "memory.h"
#include "stats.h"
#include "transport.h"

#define BM_PRECOPY_DEFAULT_ROUNDS 8
#define BM_PRECOPY_MAX_ROUNDS 64
#define BM_PRECOPY_DEFAULT_THRESHOLD 256 /* pages (1 MiB) */
#define BM_PRECOPY_MAX_RANGES 65536      /* ranges tracked (VMAs at the start) */
#define BM_PRECOPY_RUN_PAGES 64          /* pages per PRECOPY_PAGES frame at most */
#define BM_PRECOPY_KEEP_PER_FRAME 4096   /* runs per PRECOPY_KEEP frame at most */
#define BM_PRECOPY_PAGES_HEADER 16       /* u64 addr, u32 npages, u32 flags */
#define BM_PRECOPY_ZERO 1u               /* PRECOPY_PAGES flag: the pages are zero, no data follows */
#define BM_PRECOPY_UNTRACKED 1u          /* PRECOPY_BEGIN flag: no tracking at the source (stream-like) */

struct bm_precopy_opts {
	unsigned max_rounds;       /* --precopy-rounds, 1..BM_PRECOPY_MAX_ROUNDS */
	uint64_t threshold_pages;  /* --precopy-threshold: stop once fewer pages are dirty */
	bool no_fallback;          /* --no-fallback: refuse (exit 4) where pre-copy is unavailable */
};

struct bm_precopy_round {
	uint64_t pages;            /* pages sent (zero runs included) */
	uint64_t bytes;            /* page bytes sent (zero runs carry none) */
	uint64_t us;               /* how long the round took */
};

struct bm_precopy {
	pid_t pid;
	int uffd;                  /* binmig's descriptor of the process's userfaultfd, or -1 */
	int pagemap;               /* /proc/PID/pagemap */
	struct bm_range *tracked;  /* registered at the start, sorted */
	uint64_t **sent;           /* per tracked range, a bit per page: sent in a round (the store has it) */
	size_t ntracked;
	struct bm_precopy_round rounds[BM_PRECOPY_MAX_ROUNDS];
	unsigned nrounds;
	uint64_t dirty_last;       /* pages found dirty after the last round */
	uint64_t dirty_us;         /* time over which dirty_last accumulated */
	uint64_t final_dirty;      /* pages of tracked ranges in the final image (counted as it is written) */
	struct bm_range *keep;     /* the final phase's kept runs (= the image's skip list) */
	size_t nkeep, capkeep;
	struct bm_page_skip skip;
	uint8_t *buf;              /* BM_PRECOPY_RUN_PAGES pages */
	struct bm_conn *conn;
	char why[256];             /* why pre-copy is unavailable */
};

/* Whether this kernel has what pre-copy needs (PAGEMAP_SCAN, userfaultfd
 * with WP_ASYNC and WP_UNPOPULATED), without touching any process.  0, or
 * -EOPNOTSUPP with the reason in why. */
int bm_precopy_probe(char *why, size_t n);

/* Freezes PID briefly (as a migration does, with the same refusals, and
 * those of a dump whose process runs on: bm_fd_policy.original_runs_on),
 * sets the tracking up inside it and lets it run again.  0; -EOPNOTSUPP when
 * the process cannot be tracked (pc->why says why; nothing reported, the
 * process runs untouched); or another reported error (the process runs). */
int bm_precopy_start(struct bm_precopy *pc, pid_t pid, const struct bm_fd_policy *policy);

/* PRECOPY_BEGIN, then the rounds, while the process runs.  After
 * -EOPNOTSUPP from start, sends an untracked BEGIN only. */
int bm_precopy_rounds(struct bm_precopy *pc, struct bm_conn *conn, const struct bm_precopy_opts *o);

/* With the process frozen (f, its final map): the kept runs, sent as
 * PRECOPY_KEEP ... PRECOPY_KEEP_END; f->skip_pages is set to them.  The
 * userfaultfd is closed then (the checkpoint must not see its markers). */
int bm_precopy_final(struct bm_precopy *pc, struct bm_frozen *f);

/* Closes the userfaultfd (the kernel unregisters every range) and frees. */
void bm_precopy_end(struct bm_precopy *pc);

/* Rounds, pages and bytes per round, dirty rate into st. */
void bm_precopy_stats(const struct bm_precopy *pc, struct bm_stats *st);

/* In an array of n elements of `stride` bytes, each starting with a
 * struct bm_range, sorted and disjoint: the index of the one holding addr,
 * or -1. */
ssize_t bm_range_find(const void *base, size_t n, size_t stride, uint64_t addr);

/* Option values: 1..BM_PRECOPY_MAX_ROUNDS; pages, or "NMiB" / "NM";
 * MiB as bytes.  0 or -EINVAL. */
int bm_precopy_parse_rounds(const char *text, unsigned *rounds);
int bm_precopy_parse_threshold(const char *text, uint64_t *pages);
int bm_precopy_parse_mib(const char *text, uint64_t *bytes);

/* --- destination (precopy_dest.c) --- */

/* The store's default bound: the machine's RAM. */
uint64_t bm_precopy_default_store_max(void);

struct bm_precopy_area;
struct bm_precopy_store {
	struct bm_precopy_area *areas; /* one per range of PRECOPY_BEGIN, sorted */
	size_t nareas;
	uint64_t held_pages;           /* pages held (memory in use, at most max_pages) */
	uint64_t max_pages;
	uint64_t recv_pages, rounds;
	struct bm_range *keep;         /* from PRECOPY_KEEP */
	size_t nkeep, capkeep;
	uint64_t keep_pages;
	bool untracked;
	struct bm_range *placed;       /* areas the new process can keep in place (restore.h premapped) */
	size_t nplaced;
	struct bm_range *adopted;      /* what it kept (bm_precopy_store_adopted) */
	size_t nadopted;
	uint64_t adopted_bytes;        /* their size */
	uint64_t adopted_pages, copied_pages; /* kept pages kept in place, copied */
};

/* Whether [start, end) may follow a range ending at prev_end in a list
 * from the peer: page-aligned, not empty, sorted, disjoint, below the top
 * of user space. */
bool bm_precopy_range_ok(uint64_t start, uint64_t end, uint64_t prev_end);

/* An empty store for nareas areas, bounded by max_bytes; then each area
 * (sorted, disjoint) added: at its own address where it fits, else
 * elsewhere or, with placed_only, not at all.  Reported errors. */
int bm_precopy_store_init(struct bm_precopy_store *st, uint32_t nareas, uint64_t max_bytes);
int bm_precopy_store_add(struct bm_precopy_store *st, uint64_t start, uint64_t end, bool placed_only);
/* Faults in [start, end) of a placed area (zero pages), within the
 * store's bound: 0, -ENOENT (not in a placed area), -ENOSPC, or the
 * madvise error; nothing reported. */
int bm_precopy_store_populate(struct bm_precopy_store *st, uint64_t start, uint64_t end);
/* st->placed: the areas at their own address (restore.h premapped). */
int bm_precopy_store_list_placed(struct bm_precopy_store *st);

/* Receives PRECOPY_BEGIN .. PRECOPY_KEEP_END into st (max_bytes: the
 * store's bound).  Reported errors; the store is freed by
 * bm_precopy_store_free in every case. */
int bm_precopy_receive(struct bm_precopy_store *st, struct bm_conn *conn, uint64_t max_bytes, int timeout_ms);
/* The new process was created with the ranges r of st->placed: binmig's
 * copies are unmapped (the pages are the process's alone). */
void bm_precopy_store_adopted(struct bm_precopy_store *st, const struct bm_range *r, size_t n);
/* Copies the kept pages it did not adopt into process pid. */
int bm_precopy_store_apply(struct bm_precopy_store *st, pid_t pid);
void bm_precopy_store_free(struct bm_precopy_store *st);

#endif

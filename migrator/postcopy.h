/* Post-copy live migration (`binmig migrate --mode postcopy`).
 *
 * The process is frozen and its image sent without its "lazy" pages: the
 * present pages of its private, writable, anonymous memory (the memory a
 * new process can keep in place, restore_inplace.h), but for the pages
 * the restore itself touches (each thread's rseq area).  The source says
 * which pages those are (POSTCOPY_RUNS) before the image.
 *
 * Destination (postcopy_dest.c): the restore makes a userfaultfd inside
 * the new process (an injected system call, while binmig's credentials
 * still apply), takes it out with pidfd_getfd and leaves the process its
 * own descriptor of it, so that the pages never read as zero, not even
 * should binmig die: its faults would wait.  While the process is held
 * for the source's CONFIRM, every VMA holding lazy pages is registered
 * for missing-page faults.  Once the process runs, the daemon's worker
 * places each page as it arrives (UFFDIO_COPY), asks the source first for
 * the page a thread faulted on, answers faults on pages the process never
 * had with a zero page, and follows the process's own changes to its
 * memory through the userfaultfd's events (fork, mremap, munmap,
 * MADV_DONTNEED).  When every page has arrived it unregisters the memory,
 * closes the process's descriptor with one more injected call, and tells
 * the source (POSTCOPY_DONE).  Should the connection fail first, the
 * process cannot go on: the worker kills it (and makes the missing pages
 * of any process it forked meanwhile fatal to touch) and says so.
 *
 * Source (postcopy.c): the original stays frozen until DONE, its pages
 * read from it as they are sent; after DONE it is terminated.  A failure
 * after CONFIRM loses the process: the destination's copy ran, so the
 * original cannot resume either; it is terminated and migrate says so.
 *
 * Wire messages: transport.h, docs/protocol.md §7.3. */
#ifndef BINMIG_POSTCOPY_H
#define BINMIG_POSTCOPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "checkpoint.h"
#include "memory.h"
#include "stats.h"
#include "transport.h"

#define BM_POSTCOPY_RUNS_PER_FRAME 4096 /* runs per POSTCOPY_RUNS frame at most */
#define BM_POSTCOPY_PAGES_MAX 64        /* pages per POSTCOPY_PAGES frame at most */
#define BM_POSTCOPY_PAGES_HEADER 16     /* u64 addr, u32 npages, u32 flags */
#define BM_POSTCOPY_ZERO 1u             /* POSTCOPY_PAGES flag: the pages are zero, no data follows */
#define BM_POSTCOPY_REQUEST_PAGES 16    /* pages sent for one fault: the page and those after it */
#define BM_POSTCOPY_DONE_SIZE 48        /* six u64, below */
#define BM_POSTCOPY_PROC_FD 48          /* the process's descriptor of its userfaultfd: the first free from here */

/* What the destination reports in POSTCOPY_DONE: pages placed, remote
 * faults (a thread waited for the network), their latency percentiles
 * and maximum in microseconds. */
struct bm_postcopy_figures {
	uint64_t pages, faults, p50_us, p90_us, p99_us, max_us;
};

/* --- source (postcopy.c) ------------------------------------------------- */

struct bm_postcopy_src {
	pid_t pid;
	struct bm_range *found;    /* present pages found before the freeze (bm_postcopy_find), or NULL */
	size_t nfound, capfound;
	struct bm_range *lazy;     /* runs of lazy pages, sorted */
	size_t nlazy;
	uint64_t lazy_pages;
	uint64_t **sent;           /* per run, a bit per page */
	struct bm_range *skip_runs; /* the lazy runs and pre-copy's kept ones, merged */
	struct bm_page_skip skip;
	uint8_t *buf;              /* BM_POSTCOPY_PAGES_MAX pages */
	uint64_t pages_sent, bytes_sent, requests;
	uint64_t us;               /* from the process running at the destination to DONE */
	struct bm_postcopy_figures dest;
};

/* While the process runs: the present pages of its private writable
 * memory, so that the freeze need not walk its page tables.  Pages it
 * touches after that are not lazy (the image carries them); pages it
 * drops are sent as zero.  0, or negative after reporting. */
int bm_postcopy_find(struct bm_postcopy_src *pc, pid_t pid);

/* With the process frozen (f): its lazy runs, sent as POSTCOPY_RUNS ...
 * POSTCOPY_RUNS_END; f->skip_pages is set to them, and the pages it
 * skipped already (hybrid: pre-copy's kept ones) are not lazy.  They are
 * the pages bm_postcopy_find found, within the memory that is eligible at
 * the freeze, or, when it was not called, the pages present then. */
int bm_postcopy_plan(struct bm_postcopy_src *pc, struct bm_frozen *f, struct bm_conn *conn);

/* Before the process runs at the destination: should binmig die from
 * then on, the kernel kills the frozen original with it (it must never
 * run again, and without binmig the destination cannot finish). */
int bm_postcopy_bind_original(struct bm_frozen *f);

/* Once the process runs at the destination: every lazy page sent, those
 * its threads wait for first, until the destination's POSTCOPY_DONE. */
int bm_postcopy_send(struct bm_postcopy_src *pc, struct bm_conn *conn);

void bm_postcopy_src_free(struct bm_postcopy_src *pc);

/* Pages, bytes, faults and their latencies into st. */
void bm_postcopy_stats(const struct bm_postcopy_src *pc, struct bm_stats *st);

/* --- destination (postcopy_dest.c) -------------------------------------- */

struct bm_tracee;
struct bm_postcopy_mm;
struct bm_postcopy_dest {
	struct bm_range *lazy;     /* from POSTCOPY_RUNS, sorted */
	size_t nlazy;
	uint64_t lazy_pages;
	uint64_t *first_page;      /* per run: index of its first page among all lazy pages */
	pid_t pid;                 /* the new process */
	int proc_fd;               /* the process's own descriptor of its userfaultfd, or -1 */
	struct bm_postcopy_mm *mms; /* the process's memory and that of processes it forks */
	size_t nmms;
	uint64_t arrived;          /* lazy pages received */
	struct bm_postcopy_figures fig;
	uint32_t *latency_us;      /* of each remote fault */
	size_t nlatency, caplatency;
};

/* Receives POSTCOPY_RUNS ... POSTCOPY_RUNS_END into d.  Reported errors;
 * d is freed by bm_postcopy_dest_free in every case. */
int bm_postcopy_receive_plan(struct bm_postcopy_dest *d, struct bm_conn *conn, int timeout_ms);

/* During the restore, with the memory complete and binmig's credentials
 * still the process's: the userfaultfd made inside process pid (leader
 * tr), taken out. */
int bm_postcopy_make_uffd(struct bm_postcopy_dest *d, pid_t pid, struct bm_tracee *tr);

/* With the process complete and held: every VMA holding lazy pages
 * registered for missing-page faults. */
int bm_postcopy_register(struct bm_postcopy_dest *d);

/* Once the process runs: places the pages as they arrive, serves its
 * faults, until every lazy page is in place; then unregisters, closes the
 * process's descriptor and sends POSTCOPY_DONE.  On failure the process
 * (and what it forked) cannot go on and is killed; reported. */
int bm_postcopy_serve(struct bm_postcopy_dest *d, struct bm_conn *conn, int timeout_ms);

/* Kills the new process and makes every missing page of its memory fatal
 * to touch: for a failure once the process may have run. */
void bm_postcopy_abandon(struct bm_postcopy_dest *d);

void bm_postcopy_dest_free(struct bm_postcopy_dest *d);

#endif

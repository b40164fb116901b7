/* The image: a self-describing stream of typed, CRC-checked sections.
 * One encoder serves files and sockets alike (it only ever appends), one
 * decoder checks everything before handing it on.  Format: docs/image-format.md. */
#ifndef BINMIG_IMAGE_H
#define BINMIG_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "state.h"

/* Written: 20.  Read: 1 (an image of version 2 in which no descriptor was
 * replaced by a policy, without the fields that say so), 2 (an image of
 * version 3 without attributes, timers or timerfds), 3 (an image of
 * version 4 without file locks), 4 (an image of version 5 without mapped
 * unlinked files of their own), 5 (an image of version 6 whose shared
 * anonymous mappings name no object: each is one of its own, its pages
 * stored with it), 6 (an image of version 7 in which no tree member
 * shares its descriptor table or cwd with its parent), 7 (an image of
 * version 8 in which every descriptor is the process's own, none only in
 * flight), 8 (an image of version 9 whose descriptors name no owner: the
 * restore's pipes and sockets are then root's), and 9 (an image of
 * version 10 without the process modes of attrs_modes.h, without the
 * holes of unlinked files, whose unix sockets carry options 0 to 15
 * only (the restore leaves the others as a new socket has them,
 * SO_BUF_LOCK as setting the buffer sizes leaves it), and whose stopped
 * tree members were all stopped by SIGSTOP), and 10 (an image of version
 * 11 without guard pages or droppable memory, whose descriptors have
 * no signal-driven I/O, owner or F_SETSIG, whose tree members all exit
 * with SIGCHLD, whose zombies exit with their parents' credentials, and
 * whose unlinked files carry no access time, extended attributes, inode
 * flags or space reserved past their end: made again as a new file has
 * them), and 11 (an image of version 12 without the process's private
 * futex hash size, the nice value of its autogroup or the xstate features
 * permitted to its guests, whose THP disable never excepts advised areas,
 * whose threads have the base time slice, and in which no tree member is
 * in a session or group whose leader had exited), and 12 (an image of
 * version 13 whose TCP and UDP sockets carry their state in format 2,
 * without SO_INCOMING_CPU and TCP_QUICKACK, and whose processes'
 * descriptor tables have no recorded size: the restore leaves those
 * options and each table as it makes them), and 14 (an image of version
 * 15 whose TCP sockets carry no MSS set by the program: the restore
 * leaves it unset; that holds nothing the dump read of its
 * descriptors' signal-driven I/O: O_ASYNC is set through each open
 * file's first descriptor, its owner with the restored process's
 * credentials, as before; and whose pipes and FIFOs carry no layout of
 * their buffers: the restore writes their bytes in one go,
 * pipe_layout.h), and 15 (an image of version 16 whose unix stream
 * queues carry no skb layout: each is written back in its pieces), and
 * 16 (an image of version 17 whose file locks were all taken by the
 * process that holds them or by a member of its tree still there: each
 * is taken again by the process, none by a stand-in, file_locks.h), and
 * 17 (an image of version 18 whose files opened by name carry no
 * opener: the restore opens them with its own credentials,
 * fd_opener.h), and 18 (an image of version 19 whose file locks carry no
 * order: each process takes its own in the order listed, a tree's
 * members side by side, file_lock_order.h), and 19 (an image of version
 * 20 whose locks are all taken through the holder's own descriptors: a
 * flock whose taker, a member, held its description no more is taken by
 * a member holding it, file_locks.h). */
#define BM_IMAGE_VERSION 20
#define BM_IMAGE_VERSION_OLDEST 1
/* The first 8 bytes of an image file, and of a sealed image file
 * (sealed_image.h), which the image reader recognises to say it needs
 * the key. */
#define BM_IMAGE_MAGIC "\x89" "BMG\r\n\x1a\n"
#define BM_SEALED_MAGIC "\x89" "BMS\r\n\x1a\n"
/* Largest run of pages in one PAGES section (and so the reader's buffer). */
#define BM_IMAGE_MAX_RUN_PAGES 1024

enum bm_section_type {
	BM_SEC_PROCESS = 1, /* identity, ids, comm, personality, umask, cwd, root, rlimits, mm fields, auxv, exe */
	BM_SEC_VMAS = 2,    /* every VMA */
	BM_SEC_FDS = 3,     /* every file descriptor */
	BM_SEC_SIGNALS = 4, /* the 64 handlers and the process-wide pending signals */
	BM_SEC_THREAD = 5,  /* one per thread: registers, xstate, mask, altstack, rseq, robust list, pending, code window */
	BM_SEC_PAGES = 6,   /* a run of consecutive pages with their contents (raw or zlib) */
	BM_SEC_ZERO = 7,    /* a run of consecutive present pages that are all zero (no contents) */
	BM_SEC_END = 8,     /* totals: sections and pages written, so truncation is detected */
	BM_SEC_ATTRS = 9,   /* version 3: process and thread attributes (attrs.h), after the threads */
	BM_SEC_TIMERS = 10, /* version 3: interval timers, POSIX timers, timerfds, after ATTRS */
	BM_SEC_TREE = 11,   /* a process tree (tree.h): first the table of its processes, then after each
			       member's pages a mark that ends them */
	BM_SEC_LOCKS = 12,  /* version 4: file locks (file_locks.h), after TIMERS */
	BM_SEC_MAPPED_FILES = 13, /* version 5: unlinked files mapped without a descriptor (unlinked_map.h),
				     after LOCKS */
};
#define BM_SEC_LAST BM_SEC_MAPPED_FILES
/* The first u32 of a TREE section's payload says which it is. */
#define BM_TREE_MARK_TABLE 1u
#define BM_TREE_MARK_MEMBER_END 2u

/* Where encoded bytes go.  Must write everything or return a negative
 * errno.  The file/socket sink is bm_fd_sink; the transport supplies its
 * own (framing). */
struct bm_sink {
	int (*writev)(void *ctx, const struct iovec *iov, int iovcnt);
	void *ctx;
};

/* Where encoded bytes come from.  Must fill the whole buffer, or return
 * 0 at a clean end of input before the first byte, or a negative errno. */
struct bm_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
};

/* A sink/source over a plain file descriptor (file, pipe or socket). */
struct bm_sink bm_fd_sink(int *fd);
struct bm_source bm_fd_source(int *fd);

struct bm_image_counters {
	uint64_t bytes;          /* bytes of image produced or consumed, headers included */
	uint64_t sections;
	uint64_t pages_stored;   /* pages whose contents are in the image */
	uint64_t pages_zero;     /* present all-zero pages recorded without contents */
	uint64_t page_bytes_raw; /* uncompressed size of stored pages */
	uint64_t page_bytes_encoded; /* their size in the image */
};

struct bm_image_writer {
	struct bm_sink sink;
	int zlib_level;          /* -1: no compression; 1..9 zlib level */
	struct bm_image_counters count;
	void *zbuf;              /* compression scratch, allocated on first use */
	size_t zbuf_size;
	void *zstream;
	bool finished;
	bool tree;               /* a TREE section came first: several processes follow */
};

/* Starts an image: writes the file header.  zlib_level -1 disables
 * compression (the default everywhere); a run that does not shrink is
 * stored raw. */
int bm_image_writer_init(struct bm_image_writer *w, struct bm_sink sink, int zlib_level);
/* PROCESS, VMAS, FDS, SIGNALS, one THREAD per thread and TIMERS, in that
 * order. */
int bm_image_write_process(struct bm_image_writer *w, const struct bm_process *p);
/* Page runs: any number, in any address order, after the process sections.
 * npages <= BM_IMAGE_MAX_RUN_PAGES. */
int bm_image_write_pages(struct bm_image_writer *w, uint64_t addr, const void *data, uint32_t npages);
int bm_image_write_zero(struct bm_image_writer *w, uint64_t addr, uint32_t npages);
/* A tree image (tree.h): the TREE table first, before any process
 * sections; then each member's process sections (bm_image_write_process
 * once per member) and, after each member's pages, a member mark. */
int bm_image_write_tree(struct bm_image_writer *w, const void *payload, size_t len);
int bm_image_write_member_end(struct bm_image_writer *w, uint32_t member);
/* Writes END.  The image is complete only after this. */
int bm_image_writer_finish(struct bm_image_writer *w);
void bm_image_writer_free(struct bm_image_writer *w);

/* One run of pages returned by the reader. */
struct bm_page_run {
	uint64_t addr;
	uint32_t npages;
	bool zero;               /* all-zero pages, data is NULL */
	const uint8_t *data;     /* npages * 4096 bytes, valid until the next call */
};

/* Called for every section the reader accepts (for `inspect`). */
typedef void (*bm_section_cb)(void *ctx, uint32_t type, uint64_t offset, uint64_t length, uint32_t encoded_flags);

struct bm_image_reader {
	struct bm_source source;
	struct bm_image_counters count;
	bm_section_cb on_section;
	void *on_section_ctx;
	uint8_t *buf;            /* section payload buffer */
	size_t buf_size;
	uint8_t *pages;          /* decompressed pages */
	size_t pages_size;
	void *zstream;
	uint32_t version;
	bool ended;
	bool tree;               /* the image is a tree (bm_image_read_tree) */
	bool member_ended;       /* next_pages stopped at a tree's member mark */
	uint32_t member_mark;    /* the index that mark carried */
	bool peeked;             /* the first section was read ahead by bm_image_read_tree */
	uint32_t peek_type, peek_length;
};

/* Reads and checks the file header.  Errors are reported with bm_error
 * (BM_EXIT_IMAGE for bad content, BM_EXIT_IO for read failures). */
int bm_image_reader_init(struct bm_image_reader *r, struct bm_source source);
/* Reads PROCESS .. the last THREAD into *p (which the caller frees with
 * bm_process_free).  Every field is range-checked. */
int bm_image_read_process(struct bm_image_reader *r, struct bm_process *p);
/* Whether the image is a tree: 1 with the TREE table's payload copied
 * into a malloc'd *payload, 0 for a single process (nothing consumed),
 * negative on error.  Called once, right after init. */
int bm_image_read_tree(struct bm_image_reader *r, uint8_t **payload, uint32_t *len);
/* Next page run: 1 with *run filled, 0 after a valid END (totals checked)
 * or, in a tree, at a member mark (r->member_ended, r->member_mark),
 * negative on error. */
int bm_image_next_pages(struct bm_image_reader *r, struct bm_page_run *run);
void bm_image_reader_free(struct bm_image_reader *r);

const char *bm_section_name(uint32_t type);

/* CRC-32C (Castagnoli), hardware accelerated where the CPU has SSE4.2. */
uint32_t bm_crc32c(uint32_t crc, const void *data, size_t len);

#endif

/* Section payloads for the process model.  Every rule lives in one check_*
 * function used by both directions: the encoder refuses what the decoder
 * would reject, the decoder rejects whatever the encoder could not have
 * produced, whatever the CRC says. */
#include "image_model.h"

#include <errno.h>
#include <signal.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "cgroup.h"
#include "fd_inotify.h"
#include "fd_opener.h"
#include "memguard.h"
#include "sk_unix.h"
#include "fd_watch.h"
#include "sk_inet.h"
#include "unlinked.h"
#include "unlinked_attrs.h"
#include "unlinked_holes.h"
#include "fd_sigio.h"
#include "fd_table.h"
#include "inotify_next_wd.h"
#include "sk_unix_stream_layout.h"
#include "pipe_layout.h"
#include "unlinked_map.h"

#define IN_PAGE_MASK (BM_PAGE_SIZE - 1)

/* Minimum encoded sizes, to bound counts by the bytes actually present. */
#define FILE_ID_SIZE 32u
#define VMA_MIN_SIZE (8 + 8 + 4 + 4 + 4 + 8 + 4 + FILE_ID_SIZE)
#define FD_MIN_SIZE (4 + 4 + 4 + 8 + 4 + 4 + 8 + 4 + FILE_ID_SIZE + 8 + 4 + 4)
/* Version 2 adds replaced, replaced_by, was and was_link to each entry. */
#define FD_MIN_SIZE_V2 (FD_MIN_SIZE + 4 + 4 + 4 + 4)
/* Version 8 adds in_flight. */
#define FD_MIN_SIZE_V8 (FD_MIN_SIZE_V2 + 4)
/* Version 9 adds the owner. */
#define FD_MIN_SIZE_V9 (FD_MIN_SIZE_V8 + 4 + 4)
/* ... and the count of data extents (version 10) */
#define FD_MIN_SIZE_V10 (FD_MIN_SIZE_V9 + 4)
/* Version 11 adds where its signals go (owner, owner type, signal) and
 * the unlinked file attributes' mark (unlinked_attrs.h). */
#define FD_MIN_SIZE_V11 (FD_MIN_SIZE_V10 + 4 + 4 + 4 + 4)
/* Largest pipe buffer carried (the kernel's default pipe-max-size). */
#define BM_IMG_MAX_PIPE_DATA (1u << 20)
#define SIGACTION_SIZE 32u

#define VMA_KNOWN_FLAGS 0xffffffu
/* SS_ONSTACK, SS_DISABLE and SS_AUTODISARM (linux/signal.h; glibc lacks the last). */
#define ALTSTACK_KNOWN_FLAGS (1u | 2u | (1u << 31))

/* user_regs_struct in its own order; the image stores them in this order. */
#define FOR_EACH_REG(X)                                                                       \
	X(r15) X(r14) X(r13) X(r12) X(rbp) X(rbx) X(r11) X(r10) X(r9) X(r8) X(rax) X(rcx) X(rdx) \
	X(rsi) X(rdi) X(orig_rax) X(rip) X(cs) X(eflags) X(rsp) X(ss) X(fs_base) X(gs_base)      \
	X(ds) X(es) X(fs) X(gs)
#define COUNT_REG(name) +1
#define NREGS (0 FOR_EACH_REG(COUNT_REG))
_Static_assert(NREGS * 8 == sizeof(struct user_regs_struct), "every register is encoded");

static bool check_string(const char *s, const char *what, char *why, size_t n)
{
	if (s && strlen(s) > BM_IMG_MAX_STRING)
		return bm_why(why, n, "%s is longer than %u bytes", what, BM_IMG_MAX_STRING);
	return true;
}

/* ---- rules ---- */

static bool check_process(const struct bm_process *p, char *why, size_t n)
{
	if (p->pid <= 0)
		return bm_why(why, n, "pid %d is not positive", p->pid);
	if (!memchr(p->comm, '\0', sizeof p->comm))
		return bm_why(why, n, "comm is not NUL terminated");
	if (p->umask > 0777)
		return bm_why(why, n, "umask %#o has bits outside 0777", p->umask);
	if (p->ngroups > BM_MAX_GROUPS)
		return bm_why(why, n, "%u supplementary groups exceed the limit of %d", p->ngroups, BM_MAX_GROUPS);
	if (p->dumpable > 2)
		return bm_why(why, n, "dumpable %u is not 0, 1 or 2", p->dumpable);
	for (int i = 0; i < BM_NRLIMITS; i++)
		if (p->rlimits[i].cur > p->rlimits[i].max)
			return bm_why(why, n, "rlimit %d: soft limit %#llx above hard limit %#llx", i,
				   (unsigned long long)p->rlimits[i].cur, (unsigned long long)p->rlimits[i].max);
	if (p->mm.brk < p->mm.start_brk)
		return bm_why(why, n, "brk %#llx below start_brk %#llx", (unsigned long long)p->mm.brk,
			   (unsigned long long)p->mm.start_brk);
	if (p->mm.auxv_len > BM_AUXV_MAX || p->mm.auxv_len % 2)
		return bm_why(why, n, "auxv length %u is odd or above %d words", p->mm.auxv_len, BM_AUXV_MAX);
	if (p->nthreads < 1 || p->nthreads > BM_IMG_MAX_THREADS)
		return bm_why(why, n, "thread count %u is not in 1..%u", p->nthreads, BM_IMG_MAX_THREADS);
	return check_string(p->cwd, "cwd", why, n) && check_string(p->root, "root", why, n) &&
	       check_string(p->mm.exe_path, "exe path", why, n);
}

static bool check_vma(const struct bm_vma *v, const struct bm_vma *prev, char *why, size_t n)
{
	if ((v->start | v->end) & IN_PAGE_MASK)
		return bm_why(why, n, "range %#llx-%#llx is not page aligned", (unsigned long long)v->start,
			   (unsigned long long)v->end);
	if (v->start >= v->end)
		return bm_why(why, n, "start %#llx is not below end %#llx", (unsigned long long)v->start,
			   (unsigned long long)v->end);
	if (prev && v->start < prev->end)
		return bm_why(why, n, "%#llx-%#llx overlaps or precedes the previous VMA %#llx-%#llx",
			   (unsigned long long)v->start, (unsigned long long)v->end,
			   (unsigned long long)prev->start, (unsigned long long)prev->end);
	if (v->prot & ~(uint32_t)(PROT_READ | PROT_WRITE | PROT_EXEC))
		return bm_why(why, n, "protection %#x has unknown bits", v->prot);
	if (v->kind < BM_VMA_ANON || v->kind > BM_VMA_VSYSCALL)
		return bm_why(why, n, "kind %u is not a known VMA kind", v->kind);
	if (v->flags & ~VMA_KNOWN_FLAGS)
		return bm_why(why, n, "flags %#x have unknown bits", v->flags);
	if (v->pgoff & IN_PAGE_MASK)
		return bm_why(why, n, "file offset %#llx is not page aligned", (unsigned long long)v->pgoff);
	if ((v->flags & BM_VMA_SHMEM) && v->file.ino && (!v->file.size || (v->file.size & IN_PAGE_MASK)))
		return bm_why(why, n, "shared memory of %llu bytes", (unsigned long long)v->file.size);
	if ((v->flags & BM_VMA_DROPPABLE) && (v->kind != BM_VMA_ANON || (v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM))))
		return bm_why(why, n, "droppable memory that is not private anonymous memory");
	if (v->kind == BM_VMA_FILE && (!v->path || !*v->path))
		return bm_why(why, n, "file mapping without a path");
	return check_string(v->path, "path", why, n);
}

/* Kinds a descriptor has when no policy replaced it. */
static bool carried_kind(uint32_t kind)
{
	return (kind >= BM_FD_REGULAR && kind <= BM_FD_FIFO) || kind == BM_FD_TIMERFD || kind == BM_FD_SIGNALFD ||
	       kind == BM_FD_EPOLL || BM_FD_IS_UNLINKED(kind) || kind == BM_FD_INOTIFY ||
	       kind == BM_FD_UNIX_SOCKET || kind == BM_FD_TCP || kind == BM_FD_UDP;
}

/* The most bytes of data a descriptor of KIND carries (0: none). */
static uint32_t max_data(uint32_t kind)
{
	switch (kind) {
	case BM_FD_PIPE: case BM_FD_FIFO: case BM_FD_EPOLL: case BM_FD_UNLINKED_FIFO: case BM_FD_INOTIFY:
		return BM_IMG_MAX_PIPE_DATA;
	case BM_FD_UNIX_SOCKET: return BM_UNIX_MSG_MAX;
	case BM_FD_UNLINKED_FILE: return BM_UNLINKED_MAX_BYTES;
	case BM_FD_TCP: case BM_FD_UDP: return BM_SK_INET_MAX_DATA;
	default: return 0;
	}
}

/* A descriptor a policy replaced (--fd, --stdio): what it became must be
 * what that action makes, and what it was must be said. */
static bool check_replacement(const struct bm_fd *f, char *why, size_t n)
{
	if (f->replaced > BM_FD_TO_BROKEN)
		return bm_why(why, n, "replacement action %u is not known", f->replaced);
	if (f->replaced_by > BM_FD_BY_STDIO_OPTION)
		return bm_why(why, n, "replacing option %u is not known", f->replaced_by);
	if (f->was > BM_ORIGIN_MAX)
		return bm_why(why, n, "original kind %u is not known", f->was);
	if (f->replaced == BM_FD_CARRIED) {
		if (!carried_kind(f->kind))
			return bm_why(why, n, "descriptor of kind %u that no policy replaced", f->kind);
		if (f->replaced_by || f->was || f->was_link)
			return bm_why(why, n, "not replaced, yet with what it was");
		return true;
	}
	if (!f->was || !f->was_link || !*f->was_link)
		return bm_why(why, n, "replaced without what it was");
	if (f->replaced_by == BM_FD_BY_STDIO_OPTION &&
	    (f->fd > 2 || (f->replaced != BM_FD_TO_NULL && f->replaced != BM_FD_TO_FILE)))
		return bm_why(why, n, "--stdio cannot have replaced it (action %u)", f->replaced);
	if (f->replaced == BM_FD_TO_NULL && f->kind == BM_FD_DEVICE && f->path && strcmp(f->path, "/dev/null") != 0)
		return bm_why(why, n, "replaced by null, yet its path is %s", f->path);
	bool fits = false;
	switch (f->replaced) {
	case BM_FD_TO_NULL: fits = f->kind == BM_FD_DEVICE; break;
	case BM_FD_TO_CLOSED: fits = f->kind == BM_FD_CLOSED; break;
	case BM_FD_TO_FILE: fits = f->kind == BM_FD_REGULAR; break;
	case BM_FD_TO_BROKEN: fits = f->kind == BM_FD_BROKEN_PIPE || f->kind == BM_FD_BROKEN_SOCKET; break;
	}
	if (!fits)
		return bm_why(why, n, "replacement action %u cannot give a descriptor of kind %u", f->replaced, f->kind);
	return check_string(f->was_link, "original link", why, n);
}

/* FDS[INDEX] against the descriptors before it (sorted, already checked). */
static bool check_fd(const struct bm_fd *fds, uint32_t index, char *why, size_t n)
{
	const struct bm_fd *f = &fds[index];
	if (f->fd < 0)
		return bm_why(why, n, "negative descriptor number %d", f->fd);
	if (index > 0 && f->fd <= fds[index - 1].fd)
		return bm_why(why, n, "descriptor %d does not follow %d in ascending order", f->fd, fds[index - 1].fd);
	if (f->kind < BM_FD_REGULAR || f->kind > BM_FD_KIND_MAX)
		return bm_why(why, n, "kind %u is not a known descriptor kind", f->kind);
	if (!check_replacement(f, why, n))
		return false;
	if (f->in_flight > 1)
		return bm_why(why, n, "in-flight flag %u is not 0 or 1", f->in_flight);
	if (f->in_flight && (f->replaced != BM_FD_CARRIED || f->shares_with >= 0))
		return bm_why(why, n, "only in flight, yet replaced by a policy or shared with another descriptor");
	if (!bm_sigio_check_entry(f, why, n))
		return false;
	const struct bm_fd *shared = f->shares_with >= 0 ? bm_fd_find(fds, index, f->shares_with) : NULL;
	if (f->shares_with != -1 && (!shared || shared->kind == BM_FD_CLOSED || f->kind == BM_FD_CLOSED))
		return bm_why(why, n, "shares its open file with %d, which is not a lower open descriptor in the list",
			   f->shares_with);
	bool no_path = f->kind == BM_FD_CLOSED || f->kind == BM_FD_BROKEN_PIPE || f->kind == BM_FD_BROKEN_SOCKET;
	if (no_path && f->path)
		return bm_why(why, n, "descriptor of kind %u with a path", f->kind);
	uint32_t acc = f->flags & O_ACCMODE;
	if (f->kind == BM_FD_BROKEN_PIPE && acc != O_RDONLY && acc != O_WRONLY)
		return bm_why(why, n, "broken pipe end with access mode %u, neither read nor write", acc);
	if (f->kind == BM_FD_BROKEN_SOCKET && f->object_flags != SOCK_STREAM && f->object_flags != SOCK_DGRAM &&
	    f->object_flags != SOCK_SEQPACKET)
		return bm_why(why, n, "broken socket of type %u, not stream, datagram or seqpacket", f->object_flags);
	bool needs_path = f->kind == BM_FD_REGULAR || f->kind == BM_FD_DIRECTORY || f->kind == BM_FD_DEVICE ||
			  f->kind == BM_FD_FIFO || BM_FD_IS_UNLINKED(f->kind);
	if (needs_path && (!f->path || !*f->path))
		return bm_why(why, n, "descriptor of kind %u without a path", f->kind);
	if (f->data_len > max_data(f->kind))
		return bm_why(why, n, "%u bytes of data on a descriptor of kind %u", f->data_len, f->kind);
	if (f->data_len && !f->data)
		return bm_why(why, n, "buffered data missing");
	if (!bm_pipe_layout_check(f, why, n))
		return false;
	return check_string(f->path, "path", why, n);
}

static bool check_siginfos(const struct bm_siginfo *si, uint32_t count, const char *what, char *why, size_t n)
{
	if (count > BM_IMG_MAX_PENDING)
		return bm_why(why, n, "%u %s exceed the limit of %u", count, what, BM_IMG_MAX_PENDING);
	if (count && !si)
		return bm_why(why, n, "%u %s but no array", count, what);
	for (uint32_t i = 0; i < count; i++) {
		int32_t signo = (int32_t)(si[i].raw[0] | si[i].raw[1] << 8 | si[i].raw[2] << 16 |
					  (uint32_t)si[i].raw[3] << 24);
		if (signo < 1 || signo > BM_NSIG)
			return bm_why(why, n, "%s %u: signal number %d is not in 1..%d", what, i, signo, BM_NSIG);
	}
	return true;
}

static bool check_thread(const struct bm_thread *t, bool leader, int32_t pid, char *why, size_t n)
{
	if (t->tid <= 0)
		return bm_why(why, n, "tid %d is not positive", t->tid);
	if (leader && t->tid != pid)
		return bm_why(why, n, "the first thread (tid %d) is not the thread group leader %d", t->tid, pid);
	if (t->stop_kind < BM_STOP_USER || t->stop_kind > BM_STOP_SYSCALL_DONE)
		return bm_why(why, n, "stop kind %u is not known", t->stop_kind);
	if (t->xstate_len > BM_IMG_MAX_XSTATE)
		return bm_why(why, n, "xstate of %u bytes exceeds the limit of %u", t->xstate_len, BM_IMG_MAX_XSTATE);
	if (t->xstate_len && !t->xstate)
		return bm_why(why, n, "xstate length %u but no xstate", t->xstate_len);
	if (t->altstack_flags & ~ALTSTACK_KNOWN_FLAGS)
		return bm_why(why, n, "alternate stack flags %#x have unknown bits", t->altstack_flags);
	if (t->code_len > BM_CODE_WINDOW)
		return bm_why(why, n, "code window of %u bytes exceeds %d", t->code_len, BM_CODE_WINDOW);
	if (memchr(t->comm, 0, sizeof t->comm) == NULL)
		return bm_why(why, n, "thread name is not NUL terminated");
	if (t->code_len && t->code_addr + t->code_len < t->code_addr)
		return bm_why(why, n, "code window wraps around the address space");
	return check_siginfos(t->pending, t->npending, "pending signals", why, n);
}

static int compare_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
	return (x > y) - (x < y);
}

/* Whether two threads share a tid.  Sorting a copy keeps this linear-ish for
 * the thread counts the format allows. */
static int check_unique_tids(const struct bm_thread *threads, uint32_t count, char *why, size_t n)
{
	int32_t *tids = malloc((count ? count : 1) * sizeof *tids);
	if (!tids)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++)
		tids[i] = threads[i].tid;
	qsort(tids, count, sizeof *tids, compare_i32);
	int rc = 0;
	for (uint32_t i = 1; i < count; i++)
		if (tids[i] == tids[i - 1]) {
			bm_why(why, n, "tid %d appears twice", tids[i]);
			rc = -EINVAL;
			break;
		}
	free(tids);
	return rc;
}

/* ---- shared pieces ---- */

static void put_file_id(struct bm_wbuf *b, const struct bm_file_id *id)
{
	bm_put_u64(b, id->dev);
	bm_put_u64(b, id->ino);
	bm_put_u64(b, id->size);
	bm_put_i64(b, id->mtime_ns);
}

static void get_file_id(struct bm_rcur *c, struct bm_file_id *id)
{
	id->dev = bm_get_u64(c);
	id->ino = bm_get_u64(c);
	id->size = bm_get_u64(c);
	id->mtime_ns = bm_get_i64(c);
}

static void put_siginfos(struct bm_wbuf *b, const struct bm_siginfo *si, uint32_t count)
{
	bm_put_u32(b, count);
	for (uint32_t i = 0; i < count; i++)
		bm_put_bytes(b, si[i].raw, BM_SIGINFO_SIZE);
}

static void get_siginfos(struct bm_rcur *c, struct bm_siginfo **out, uint32_t *count, const char *what)
{
	size_t at = c->pos;
	uint32_t n = bm_get_count(c, BM_IMG_MAX_PENDING, BM_SIGINFO_SIZE, what);
	if (!n)
		return;
	*out = calloc(n, sizeof **out);
	if (!*out) {
		bm_rcur_nomem(c);
		return;
	}
	*count = n;
	for (uint32_t i = 0; i < n; i++)
		bm_get_bytes(c, (*out)[i].raw, BM_SIGINFO_SIZE);
	char why[160];
	if (!bm_rcur_failed(c) && !check_siginfos(*out, n, what, why, sizeof why))
		bm_rcur_fail_at(c, at, "%s", why);
}

static int finish_encoding(struct bm_wbuf *b)
{
	return bm_wbuf_status(b);
}

/* ---- PROCESS ---- */

int bm_encode_process(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	if (!check_process(p, why, why_size))
		return -EINVAL;
	bm_put_i32(b, p->pid);
	bm_put_i32(b, p->ppid);
	bm_put_i32(b, p->pgid);
	bm_put_i32(b, p->sid);
	bm_put_str(b, p->comm);
	bm_put_u32(b, p->personality);
	bm_put_u32(b, p->umask);
	for (int i = 0; i < 4; i++)
		bm_put_u32(b, p->uid[i]);
	for (int i = 0; i < 4; i++)
		bm_put_u32(b, p->gid[i]);
	bm_put_u32(b, p->ngroups);
	for (uint32_t i = 0; i < p->ngroups; i++)
		bm_put_u32(b, p->groups[i]);
	bm_put_u32(b, p->dumpable);
	bm_put_str(b, p->cwd);
	bm_put_str(b, p->root);
	bm_put_u32(b, p->cwd_removed);
	if (p->cwd_removed) {
		bm_put_u32(b, p->cwd_mode);
		bm_put_u32(b, p->cwd_uid);
		bm_put_u32(b, p->cwd_gid);
	}
	bm_put_u32(b, BM_NRLIMITS);
	for (int i = 0; i < BM_NRLIMITS; i++) {
		bm_put_u64(b, p->rlimits[i].cur);
		bm_put_u64(b, p->rlimits[i].max);
	}
	const struct bm_mm *mm = &p->mm;
	const uint64_t mm_words[] = { mm->start_code, mm->end_code, mm->start_data, mm->end_data,
				      mm->start_brk, mm->brk, mm->start_stack, mm->arg_start,
				      mm->arg_end, mm->env_start, mm->env_end };
	for (size_t i = 0; i < sizeof mm_words / sizeof mm_words[0]; i++)
		bm_put_u64(b, mm_words[i]);
	bm_put_u32(b, mm->auxv_len);
	for (uint32_t i = 0; i < mm->auxv_len; i++)
		bm_put_u64(b, mm->auxv[i]);
	bm_put_str(b, mm->exe_path);
	put_file_id(b, &mm->exe_file);
	bm_put_u32(b, p->nthreads);
	if (!bm_cgroup_text_valid(p->cgroups))
		return bm_why(why, why_size, "cgroups \"%s\" are not CONTROLLERS:PATH lines", p->cgroups), -EINVAL;
	bm_put_str(b, p->cgroups);
	return finish_encoding(b);
}

void bm_decode_process(struct bm_rcur *c, struct bm_process *p)
{
	p->pid = bm_get_i32(c);
	p->ppid = bm_get_i32(c);
	p->pgid = bm_get_i32(c);
	p->sid = bm_get_i32(c);
	bm_get_str_buf(c, p->comm, sizeof p->comm, "comm");
	p->personality = bm_get_u32(c);
	p->umask = bm_get_u32(c);
	for (int i = 0; i < 4; i++)
		p->uid[i] = bm_get_u32(c);
	for (int i = 0; i < 4; i++)
		p->gid[i] = bm_get_u32(c);
	p->ngroups = bm_get_count(c, BM_MAX_GROUPS, 4, "group count");
	for (uint32_t i = 0; i < p->ngroups; i++)
		p->groups[i] = bm_get_u32(c);
	p->dumpable = bm_get_u32(c);
	bm_get_str(c, BM_IMG_MAX_STRING, "cwd", &p->cwd);
	bm_get_str(c, BM_IMG_MAX_STRING, "root", &p->root);
	if (c->version >= 3) {
		size_t at = c->pos;
		uint32_t removed = bm_get_u32(c);
		if (!bm_rcur_failed(c) && removed > 1)
			bm_rcur_fail_at(c, at, "cwd-removed flag %u is not 0 or 1", removed);
		p->cwd_removed = removed == 1;
	}
	if (c->version >= 9 && p->cwd_removed) {
		p->cwd_mode = bm_get_u32(c);
		p->cwd_uid = bm_get_u32(c);
		p->cwd_gid = bm_get_u32(c);
		p->cwd_known = true;
	}
	size_t at = c->pos;
	uint32_t nrlimits = bm_get_u32(c);
	if (!bm_rcur_failed(c) && nrlimits != BM_NRLIMITS)
		bm_rcur_fail_at(c, at, "rlimit count %u is not %d", nrlimits, BM_NRLIMITS);
	for (int i = 0; i < BM_NRLIMITS; i++) {
		p->rlimits[i].cur = bm_get_u64(c);
		p->rlimits[i].max = bm_get_u64(c);
	}
	struct bm_mm *mm = &p->mm;
	uint64_t *mm_words[] = { &mm->start_code, &mm->end_code, &mm->start_data, &mm->end_data,
				 &mm->start_brk, &mm->brk, &mm->start_stack, &mm->arg_start,
				 &mm->arg_end, &mm->env_start, &mm->env_end };
	for (size_t i = 0; i < sizeof mm_words / sizeof mm_words[0]; i++)
		*mm_words[i] = bm_get_u64(c);
	mm->auxv_len = bm_get_count(c, BM_AUXV_MAX, 8, "auxv length");
	for (uint32_t i = 0; i < mm->auxv_len; i++)
		mm->auxv[i] = bm_get_u64(c);
	bm_get_str(c, BM_IMG_MAX_STRING, "exe path", &mm->exe_path);
	get_file_id(c, &mm->exe_file);
	at = c->pos;
	uint32_t nthreads = bm_get_u32(c);
	if (c->version >= 4) {
		size_t cg_at = c->pos;
		if (bm_get_str(c, BM_IMG_MAX_STRING, "cgroups", &p->cgroups) && !bm_cgroup_text_valid(p->cgroups))
			bm_rcur_fail_at(c, cg_at, "cgroups are not CONTROLLERS:PATH lines");
	}
	if (bm_rcur_failed(c))
		return;
	p->nthreads = nthreads;
	char why[200];
	if (!check_process(p, why, sizeof why)) {
		p->nthreads = 0;
		bm_rcur_fail_at(c, 0, "%s", why);
		return;
	}
	p->threads = calloc(nthreads, sizeof *p->threads);
	if (!p->threads) {
		p->nthreads = 0;
		bm_rcur_nomem(c);
	}
}

/* ---- VMAS ---- */

int bm_encode_vmas(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	char detail[160];
	if (p->nvmas > BM_IMG_MAX_VMAS) {
		bm_why(why, why_size, "%u VMAs exceed the limit of %u", p->nvmas, BM_IMG_MAX_VMAS);
		return -EINVAL;
	}
	bm_put_u32(b, p->nvmas);
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if (!check_vma(v, i ? &p->vmas[i - 1] : NULL, detail, sizeof detail)) {
			bm_why(why, why_size, "VMA %u: %s", i, detail);
			return -EINVAL;
		}
		bm_put_u64(b, v->start);
		bm_put_u64(b, v->end);
		bm_put_u32(b, v->prot);
		bm_put_u32(b, v->kind);
		bm_put_u32(b, v->flags);
		bm_put_u64(b, v->pgoff);
		bm_put_str(b, v->path);
		put_file_id(b, &v->file);
	}
	/* Version 11: the guard pages, after the VMAs they lie in. */
	if (!bm_guards_valid(p, why, why_size))
		return -EINVAL;
	bm_put_u32(b, p->nguards);
	for (uint32_t i = 0; i < p->nguards; i++) {
		bm_put_u64(b, p->guards[i].start);
		bm_put_u64(b, p->guards[i].end);
	}
	return finish_encoding(b);
}

static void decode_guards(struct bm_rcur *c, struct bm_process *p)
{
	size_t at = c->pos;
	uint32_t n = bm_get_count(c, BM_GUARD_MAX_RANGES, 16, "guard range count");
	if (!n)
		return;
	if (!(p->guards = calloc(n, sizeof *p->guards))) {
		bm_rcur_nomem(c);
		return;
	}
	p->nguards = n;
	for (uint32_t i = 0; i < n; i++) {
		p->guards[i].start = bm_get_u64(c);
		p->guards[i].end = bm_get_u64(c);
	}
	char why[160];
	if (!bm_rcur_failed(c) && !bm_guards_valid(p, why, sizeof why))
		bm_rcur_fail_at(c, at, "%s", why);
}

void bm_decode_vmas(struct bm_rcur *c, struct bm_process *p)
{
	uint32_t n = bm_get_count(c, BM_IMG_MAX_VMAS, VMA_MIN_SIZE, "VMA count");
	if (n && !(p->vmas = calloc(n, sizeof *p->vmas))) {
		bm_rcur_nomem(c);
		return;
	}
	p->nvmas = n;
	char why[160];
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		struct bm_vma *v = &p->vmas[i];
		size_t at = c->pos;
		v->start = bm_get_u64(c);
		v->end = bm_get_u64(c);
		v->prot = bm_get_u32(c);
		v->kind = bm_get_u32(c);
		v->flags = bm_get_u32(c);
		v->pgoff = bm_get_u64(c);
		bm_get_str(c, BM_IMG_MAX_STRING, "VMA path", &v->path);
		get_file_id(c, &v->file);
		if (!bm_rcur_failed(c) && !check_vma(v, i ? &p->vmas[i - 1] : NULL, why, sizeof why))
			bm_rcur_fail_at(c, at, "VMA %u: %s", i, why);
		else if (!bm_rcur_failed(c) && (v->flags & BM_VMA_DROPPABLE) && c->version < 11)
			bm_rcur_fail_at(c, at, "VMA %u: droppable memory in an image of version %u", i, c->version);
		else if (!bm_rcur_failed(c) && (v->flags & BM_VMA_MAYBE_GUARD) && c->version < 11)
			bm_rcur_fail_at(c, at, "VMA %u: guard regions in an image of version %u", i, c->version);
	}
	if (c->version >= 11 && !bm_rcur_failed(c))
		decode_guards(c, p);
}

/* ---- FDS ---- */

int bm_encode_fds(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	char detail[160];
	if (p->nfds > BM_IMG_MAX_FDS) {
		bm_why(why, why_size, "%u descriptors exceed the limit of %u", p->nfds, BM_IMG_MAX_FDS);
		return -EINVAL;
	}
	bm_put_u32(b, p->nfds);
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *f = &p->fds[i];
		if (!check_fd(p->fds, i, detail, sizeof detail)) {
			bm_why(why, why_size, "descriptor entry %u (fd %d): %s", i, f->fd, detail);
			return -EINVAL;
		}
		bm_put_i32(b, f->fd);
		bm_put_u32(b, f->kind);
		bm_put_u32(b, f->flags);
		bm_put_u64(b, f->pos);
		bm_put_i32(b, f->shares_with);
		bm_put_u32(b, f->mode);
		bm_put_u64(b, f->rdev);
		bm_put_str(b, f->path);
		put_file_id(b, &f->file);
		bm_put_u64(b, f->object_id);
		bm_put_u32(b, f->object_flags);
		bm_put_u32(b, f->data_len);
		bm_put_bytes(b, f->data, f->data_len);
		bm_put_u32(b, f->replaced);
		bm_put_u32(b, f->replaced_by);
		bm_put_u32(b, f->was);
		bm_put_str(b, f->was_link);
		bm_put_u32(b, f->in_flight);
		bm_put_u32(b, f->owner_uid);
		bm_put_u32(b, f->owner_gid);
		bm_holes_encode(b, &f->holes);
		bm_put_i32(b, f->sig_owner);
		bm_put_u32(b, f->sig_owner_type);
		bm_put_u32(b, f->sig);
		bm_file_attrs_encode(b, &f->attrs);
	}
	if (!bm_watch_check(p->fds, p->nfds, detail, sizeof detail) ||
	    !bm_unlinked_check(p->fds, p->nfds, detail, sizeof detail) ||
	    !bm_inotify_check(p->fds, p->nfds, detail, sizeof detail) ||
	    !bm_unix_check(p->fds, p->nfds, detail, sizeof detail) ||
	    !bm_sk_inet_check(p->fds, p->nfds, detail, sizeof detail)) {
		bm_why(why, why_size, "%s", detail);
		return -EINVAL;
	}
	if (!bm_fd_table_size_check(p->fd_table_size, why, why_size))
		return -EINVAL;
	bm_fd_table_encode(b, p);
	bm_inotify_next_wds_encode(b, p);
	bm_pipe_layouts_encode(b, p);
	bm_sigio_known_encode(b, p);
	bm_stream_layouts_encode(b, p);
	bm_fd_openers_encode(b, p);
	return finish_encoding(b);
}

static void decode_fd_entries(struct bm_rcur *c, struct bm_process *p)
{
	bool v2 = c->version >= 2;
	uint32_t n = bm_get_count(c, BM_IMG_MAX_FDS,
				  c->version >= 11  ? FD_MIN_SIZE_V11
				  : c->version >= 10 ? FD_MIN_SIZE_V10
				  : c->version >= 9 ? FD_MIN_SIZE_V9
				  : c->version >= 8 ? FD_MIN_SIZE_V8
				  : v2		    ? FD_MIN_SIZE_V2
						    : FD_MIN_SIZE,
				  "descriptor count");
	if (!n)
		return;
	p->fds = calloc(n, sizeof *p->fds);
	if (!p->fds) {
		bm_rcur_nomem(c);
		return;
	}
	p->nfds = n;
	char why[160];
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		struct bm_fd *f = &p->fds[i];
		size_t at = c->pos;
		f->fd = bm_get_i32(c);
		f->kind = bm_get_u32(c);
		f->flags = bm_get_u32(c);
		f->pos = bm_get_u64(c);
		f->shares_with = bm_get_i32(c);
		f->mode = bm_get_u32(c);
		f->rdev = bm_get_u64(c);
		bm_get_str(c, BM_IMG_MAX_STRING, "descriptor path", &f->path);
		get_file_id(c, &f->file);
		f->object_id = bm_get_u64(c);
		f->object_flags = bm_get_u32(c);
		f->data_len = bm_get_u32(c);
		if (!bm_rcur_failed(c) && f->data_len > max_data(f->kind))
			bm_rcur_fail_at(c, at, "descriptor entry %u (fd %d): %u bytes of data exceed the limit of %u for "
					"kind %u", i, f->fd, f->data_len, max_data(f->kind), f->kind);
		if (!bm_rcur_failed(c) && f->data_len) {
			f->data = malloc(f->data_len);
			if (!f->data)
				bm_rcur_nomem(c);
			else
				bm_get_bytes(c, f->data, f->data_len);
		}
		if (v2) {
			f->replaced = bm_get_u32(c);
			f->replaced_by = bm_get_u32(c);
			f->was = bm_get_u32(c);
			bm_get_str(c, BM_IMG_MAX_STRING, "original link", &f->was_link);
		}
		if (c->version >= 8)
			f->in_flight = bm_get_u32(c);
		if (c->version >= 9) {
			f->owner_uid = bm_get_u32(c);
			f->owner_gid = bm_get_u32(c);
			f->owner_known = true;
		}
		if (c->version >= 10)
			bm_holes_decode(c, f->data_len, &f->holes);
		if (c->version >= 11) {
			f->sig_owner = bm_get_i32(c);
			f->sig_owner_type = bm_get_u32(c);
			f->sig = bm_get_u32(c);
		}
		if (c->version >= 11)
			bm_file_attrs_decode(c, f->data_len, &f->attrs);
		if (!bm_rcur_failed(c) && !check_fd(p->fds, i, why, sizeof why))
			bm_rcur_fail_at(c, at, "descriptor entry %u (fd %d): %s", i, f->fd, why);
		/* Version 3 brought timerfds (their settings are in TIMERS), signalfds,
		 * epoll instances and unlinked objects. */
		if (!bm_rcur_failed(c) && f->kind >= BM_FD_TIMERFD && c->version < 3)
			bm_rcur_fail_at(c, at, "descriptor entry %u (fd %d): kind %u in an image of version %u", i, f->fd,
					f->kind, c->version);
		/* Version 14: whether an unlinked file may be linked again. */
		if (!bm_rcur_failed(c) && f->kind == BM_FD_UNLINKED_FILE && (f->object_flags & BM_UNLINKED_LINK_BITS) &&
		    c->version < 14)
			bm_rcur_fail_at(c, at, "descriptor entry %u (fd %d): linkability in an image of version %u", i,
					f->fd, c->version);
	}
	if (!bm_rcur_failed(c) && (!bm_watch_check(p->fds, p->nfds, why, sizeof why) ||
				   !bm_unlinked_check(p->fds, p->nfds, why, sizeof why) ||
				   /* from version 5 checked with the mapped files */
				   (c->version < 5 && !bm_unlinked_map_check(p, why, sizeof why)) ||
				   !bm_inotify_check(p->fds, p->nfds, why, sizeof why) ||
				   !bm_unix_check(p->fds, p->nfds, why, sizeof why) ||
				   !bm_sk_inet_check(p->fds, p->nfds, why, sizeof why) ||
				   !bm_sk_inet_check_version(p->fds, p->nfds, c->version, why, sizeof why)))
		bm_rcur_fail_at(c, 0, "%s", why);
}

void bm_decode_fds(struct bm_rcur *c, struct bm_process *p)
{
	decode_fd_entries(c, p);
	/* Version 13: the table's size after the entries (before: not known). */
	if (c->version >= 13 && !bm_rcur_failed(c))
		bm_fd_table_decode(c, p);
	/* Version 14: the inotify instances' next watch numbers the dump read. */
	if (c->version >= 14 && !bm_rcur_failed(c))
		bm_inotify_next_wds_decode(c, p);
	/* Version 15: how the bytes of pipes lie in their buffers. */
	if (c->version >= 15 && !bm_rcur_failed(c))
		bm_pipe_layouts_decode(c, p);
	/* Version 15: what the dump read of signal-driven I/O. */
	if (c->version >= 15 && !bm_rcur_failed(c))
		bm_sigio_known_decode(c, p);
	/* Version 16: how the bytes of unix stream queues lie in their skbs. */
	if (c->version >= 16 && !bm_rcur_failed(c))
		bm_stream_layouts_decode(c, p);
	/* Version 18: the credentials files opened by name were opened with. */
	if (c->version >= 18 && !bm_rcur_failed(c))
		bm_fd_openers_decode(c, p);
}

/* ---- SIGNALS ---- */

int bm_encode_signals(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	if (!check_siginfos(p->shared_pending, p->nshared_pending, "shared pending signals", why, why_size))
		return -EINVAL;
	bm_put_u32(b, BM_NSIG);
	for (int i = 0; i < BM_NSIG; i++) {
		const struct bm_sigaction *sa = &p->sigactions[i];
		bm_put_u64(b, sa->handler);
		bm_put_u64(b, sa->flags);
		bm_put_u64(b, sa->restorer);
		bm_put_u64(b, sa->mask);
	}
	put_siginfos(b, p->shared_pending, p->nshared_pending);
	return finish_encoding(b);
}

void bm_decode_signals(struct bm_rcur *c, struct bm_process *p)
{
	size_t at = c->pos;
	uint32_t nsig = bm_get_u32(c);
	if (!bm_rcur_failed(c) && nsig != BM_NSIG) {
		bm_rcur_fail_at(c, at, "signal count %u is not %d", nsig, BM_NSIG);
		return;
	}
	for (int i = 0; i < BM_NSIG; i++) {
		struct bm_sigaction *sa = &p->sigactions[i];
		sa->handler = bm_get_u64(c);
		sa->flags = bm_get_u64(c);
		sa->restorer = bm_get_u64(c);
		sa->mask = bm_get_u64(c);
	}
	get_siginfos(c, &p->shared_pending, &p->nshared_pending, "shared pending signals");
}

/* ---- THREAD ---- */

int bm_encode_thread(struct bm_wbuf *b, const struct bm_process *p, uint32_t index, char *why,
		     size_t why_size)
{
	char detail[160];
	const struct bm_thread *t = &p->threads[index];
	if (!check_thread(t, index == 0, p->pid, detail, sizeof detail)) {
		bm_why(why, why_size, "thread %u: %s", index, detail);
		return -EINVAL;
	}
	if (index == 0) {
		int rc = check_unique_tids(p->threads, p->nthreads, why, why_size);
		if (rc < 0)
			return rc;
	}
	bm_put_i32(b, t->tid);
	bm_put_u32(b, t->stop_kind);
	bm_put_u32(b, NREGS);
#define PUT_REG(name) bm_put_u64(b, t->regs.name);
	FOR_EACH_REG(PUT_REG)
#undef PUT_REG
	bm_put_u32(b, t->xstate_len);
	bm_put_bytes(b, t->xstate, t->xstate_len);
	bm_put_u64(b, t->sigmask);
	bm_put_u64(b, t->altstack_sp);
	bm_put_u64(b, t->altstack_size);
	bm_put_u32(b, t->altstack_flags);
	bm_put_u64(b, t->rseq_addr);
	bm_put_u32(b, t->rseq_len);
	bm_put_u32(b, t->rseq_sig);
	bm_put_u64(b, t->robust_list);
	bm_put_u64(b, t->robust_list_len);
	bm_put_u64(b, t->clear_child_tid);
	put_siginfos(b, t->pending, t->npending);
	bm_put_u64(b, t->code_addr);
	bm_put_u32(b, t->code_len);
	bm_put_bytes(b, t->code, t->code_len);
	bm_put_bytes(b, t->comm, sizeof t->comm);
	return finish_encoding(b);
}

void bm_decode_thread(struct bm_rcur *c, struct bm_process *p, uint32_t index)
{
	struct bm_thread *t = &p->threads[index];
	t->tid = bm_get_i32(c);
	t->stop_kind = bm_get_u32(c);
	size_t at = c->pos;
	uint32_t nregs = bm_get_u32(c);
	if (!bm_rcur_failed(c) && nregs != NREGS) {
		bm_rcur_fail_at(c, at, "register count %u is not %d", nregs, NREGS);
		return;
	}
#define GET_REG(name) t->regs.name = bm_get_u64(c);
	FOR_EACH_REG(GET_REG)
#undef GET_REG
	uint32_t xstate_len = bm_get_count(c, BM_IMG_MAX_XSTATE, 1, "xstate length");
	const uint8_t *xstate = bm_get_span(c, xstate_len);
	if (xstate_len && xstate) {
		t->xstate = malloc(xstate_len);
		if (!t->xstate) {
			bm_rcur_nomem(c);
			return;
		}
		memcpy(t->xstate, xstate, xstate_len);
		t->xstate_len = xstate_len;
	}
	t->sigmask = bm_get_u64(c);
	t->altstack_sp = bm_get_u64(c);
	t->altstack_size = bm_get_u64(c);
	t->altstack_flags = bm_get_u32(c);
	t->rseq_addr = bm_get_u64(c);
	t->rseq_len = bm_get_u32(c);
	t->rseq_sig = bm_get_u32(c);
	t->robust_list = bm_get_u64(c);
	t->robust_list_len = bm_get_u64(c);
	t->clear_child_tid = bm_get_u64(c);
	get_siginfos(c, &t->pending, &t->npending, "pending signals");
	t->code_addr = bm_get_u64(c);
	t->code_len = bm_get_count(c, BM_CODE_WINDOW, 1, "code window length");
	bm_get_bytes(c, t->code, t->code_len);
	bm_get_bytes(c, t->comm, sizeof t->comm);
	if (bm_rcur_failed(c))
		return;
	char why[160];
	if (!check_thread(t, index == 0, p->pid, why, sizeof why)) {
		bm_rcur_fail_at(c, 0, "thread %u: %s", index, why);
		return;
	}
	if (index + 1 == p->nthreads) {
		int rc = check_unique_tids(p->threads, p->nthreads, why, sizeof why);
		if (rc == -ENOMEM)
			bm_rcur_nomem(c);
		else if (rc < 0)
			bm_rcur_fail_at(c, 0, "%s", why);
	}
}

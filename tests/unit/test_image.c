/* The image format: round trips, CRC-32C, and rejection of every kind of
 * damaged or crafted input.  `test_image --bench` instead measures the hot
 * path (CRC and page writing) and runs no tests. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crc32c.h"
#include "fd_watch.h"
#include "image.h"
#include "log.h"
#include "state.h"
#include "wire.h"

#define PAGE 4096u

/* ---- deterministic data ---- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng() >> 24);
}

/* Text-like data zlib shrinks a lot. */
static void fill_compressible(void *buf, size_t len, unsigned seed)
{
	static const char words[] = "the quick brown fox jumps over the lazy dog 0123456789 ";
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)words[(i * 7 + seed + i / 977) % (sizeof words - 1)];
}

static char *dup_str(const char *s)
{
	char *d = strdup(s);
	assert_non_null(d);
	return d;
}

static void *dup_random(size_t len)
{
	void *p = malloc(len);
	assert_non_null(p);
	fill_random(p, len);
	return p;
}

static void set_signo(struct bm_siginfo *si, int32_t signo)
{
	fill_random(si->raw, sizeof si->raw);
	bm_store_le32(si->raw, (uint32_t)signo);
}

/* ---- memory sink and source ---- */

static int mem_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct bm_wbuf *b = ctx;
	for (int i = 0; i < iovcnt; i++)
		bm_put_bytes(b, iov[i].iov_base, iov[i].iov_len);
	return bm_wbuf_status(b);
}

struct mem_input {
	const uint8_t *data;
	size_t len, pos;
	size_t max_chunk;        /* 0: no limit; else hand out at most this much per call */
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem_input *in = ctx;
	size_t n = in->len - in->pos;
	if (n > len)
		n = len;
	if (in->max_chunk && n > in->max_chunk)
		n = in->max_chunk;
	memcpy(buf, in->data + in->pos, n);
	in->pos += n;
	return (ssize_t)n;
}

/* ---- stderr control: quiet for the exhaustive loops, captured to check messages ---- */

static int saved_stderr = -1;
static FILE *capture_file;

static void stderr_redirect(int fd)
{
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fd, 2) == 2);
}

static void stderr_restore(void)
{
	fflush(stderr);
	assert_true(dup2(saved_stderr, 2) == 2);
	close(saved_stderr);
	saved_stderr = -1;
}

static void quiet_begin(void)
{
	int fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	stderr_redirect(fd);
	close(fd);
}

static void capture_begin(void)
{
	capture_file = tmpfile();
	assert_non_null(capture_file);
	stderr_redirect(fileno(capture_file));
}

/* After every test: a failed assertion inside a quiet or captured stretch
 * jumps past its end, so put stderr back here and show what was captured
 * (cmocka's own failure message among it). */
static int restore_stderr_teardown(void **state)
{
	(void)state;
	if (saved_stderr >= 0)
		stderr_restore();
	if (capture_file) {
		char buf[4096];
		rewind(capture_file);
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, capture_file)) > 0)
			fwrite(buf, 1, n, stderr);
		fclose(capture_file);
		capture_file = NULL;
	}
	bm_reset_errors();
	return 0;
}

/* What was printed since capture_begin, NUL terminated, in BUF. */
static void capture_end(char *buf, size_t size)
{
	stderr_restore();
	rewind(capture_file);
	size_t n = fread(buf, 1, size - 1, capture_file);
	buf[n] = '\0';
	fclose(capture_file);
	capture_file = NULL;
}

/* ---- a fully populated process ---- */

static void make_thread(struct bm_thread *t, int32_t tid, uint32_t xstate_len, uint32_t npending, uint32_t code_len)
{
	memset(t, 0, sizeof *t);
	t->tid = tid;
	t->stop_kind = tid % 2 ? BM_STOP_SYSCALL_RESTART : BM_STOP_USER;
	uint64_t regs[sizeof t->regs / 8];
	for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++)
		regs[i] = rng();
	memcpy(&t->regs, regs, sizeof regs);
	t->xstate_len = xstate_len;
	t->xstate = xstate_len ? dup_random(xstate_len) : NULL;
	t->sigmask = rng();
	t->altstack_sp = 0x7f0000200000ull;
	t->altstack_size = 0x8000;
	t->altstack_flags = 1u << 31;
	t->rseq_addr = 0x7f00000fe0a0ull + (uint64_t)tid;
	t->rseq_len = 32;
	t->rseq_sig = 0x53053053;
	t->robust_list = 0x7f00000fe000ull + (uint64_t)tid;
	t->robust_list_len = 24;
	t->clear_child_tid = 0x7f00000fe990ull;
	t->npending = npending;
	if (npending) {
		t->pending = calloc(npending, sizeof *t->pending);
		assert_non_null(t->pending);
		for (uint32_t i = 0; i < npending; i++)
			set_signo(&t->pending[i], 34 + (int32_t)i);
	}
	t->code_addr = t->regs.rip - 64;
	t->code_len = code_len;
	fill_random(t->code, code_len);
}

static void add_vma(struct bm_process *p, uint64_t start, uint64_t end, uint32_t prot, uint32_t kind, uint32_t flags,
		    uint64_t pgoff, const char *path)
{
	struct bm_vma *v = &p->vmas[p->nvmas++];
	memset(v, 0, sizeof *v);
	v->start = start;
	v->end = end;
	v->prot = prot;
	v->kind = kind;
	v->flags = flags;
	v->pgoff = pgoff;
	v->path = path ? dup_str(path) : NULL;
	if (kind == BM_VMA_FILE)
		v->file = (struct bm_file_id){ 0x803, 1000 + p->nvmas, 0x5000, 1700000000123456789ll };
}

static void add_fd(struct bm_process *p, int32_t fd, uint32_t kind, uint32_t flags, uint64_t pos, int32_t shares_with,
		   const char *path)
{
	struct bm_fd *f = &p->fds[p->nfds++];
	memset(f, 0, sizeof *f);
	f->fd = fd;
	f->kind = kind;
	f->flags = flags;
	f->pos = pos;
	f->shares_with = shares_with;
	f->mode = kind == BM_FD_DIRECTORY ? 040755 : 0100644;
	f->rdev = kind == BM_FD_DEVICE ? 0x103 : 0;
	f->path = path ? dup_str(path) : NULL;
	if (kind == BM_FD_REGULAR)
		f->file = (struct bm_file_id){ 0x803, 77 + (uint64_t)fd, pos + 10, -5 };
}

static void add_replaced(struct bm_process *p, int32_t fd, uint32_t kind, uint32_t flags, const char *path,
			 uint32_t action, uint32_t origin, const char *link)
{
	add_fd(p, fd, kind, flags, 0, -1, path);
	struct bm_fd *f = &p->fds[p->nfds - 1];
	f->replaced = action;
	f->replaced_by = BM_FD_BY_FD_OPTION;
	f->was = origin;
	f->was_link = dup_str(link);
}

/* FULL adds many VMAs, fds, two threads and pending signals; otherwise a
 * small but complete process for the exhaustive damage tests. */
static void make_process(struct bm_process *p, bool full)
{
	memset(p, 0, sizeof *p);
	p->pid = 4242;
	p->ppid = 1;
	p->pgid = 4242;
	p->sid = 4000;
	strcpy(p->comm, full ? "worker one 15ch" : "w");
	p->personality = 0x0008;
	p->umask = 022;
	for (int i = 0; i < 4; i++) {
		p->uid[i] = 1000 + (uint32_t)i;
		p->gid[i] = 2000 + (uint32_t)i;
	}
	p->ngroups = full ? 3 : 0;
	for (uint32_t i = 0; i < p->ngroups; i++)
		p->groups[i] = 100 + i;
	p->dumpable = 1;
	p->cwd = dup_str(full ? "/home/user/dir with spaces" : "/");
	p->root = dup_str("/");
	for (int i = 0; i < BM_NRLIMITS; i++) {
		p->rlimits[i].cur = i % 3 ? (uint64_t)i * 1000 : UINT64_MAX;
		p->rlimits[i].max = UINT64_MAX - (i % 3 ? 0 : 0);
	}
	struct bm_mm *mm = &p->mm;
	mm->start_code = 0x400000;
	mm->end_code = 0x400800;
	mm->start_data = 0x401000;
	mm->end_data = 0x401100;
	mm->start_brk = 0x600000;
	mm->brk = 0x621000;
	mm->start_stack = 0x7ffffffde100;
	mm->arg_start = 0x7fffffffe000;
	mm->arg_end = 0x7fffffffe020;
	mm->env_start = 0x7fffffffe020;
	mm->env_end = 0x7fffffffefe0;
	mm->auxv_len = full ? 10 : 2;
	for (uint32_t i = 0; i + 2 < mm->auxv_len; i++)
		mm->auxv[i] = rng();
	mm->exe_path = dup_str("/usr/bin/prog name");
	mm->exe_file = (struct bm_file_id){ 0x803, 12345, 67890, 1600000000000000000ll };

	p->vmas = calloc(16, sizeof *p->vmas);
	assert_non_null(p->vmas);
	add_vma(p, 0x400000, 0x401000, PROT_READ | PROT_EXEC, BM_VMA_FILE, 0, 0, "/usr/bin/prog name");
	add_vma(p, 0x600000, 0x621000, PROT_READ | PROT_WRITE, BM_VMA_ANON, BM_VMA_HEAP, 0, "[heap]");
	if (full) {
		add_vma(p, 0x7f0000000000, 0x7f0000400000, PROT_READ | PROT_WRITE, BM_VMA_ANON,
			BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_HUGEPAGE, 0, "[anon:my region]");
		add_vma(p, 0x7f0000400000, 0x7f0000404000, PROT_READ, BM_VMA_FILE, BM_VMA_DELETED | BM_VMA_DONTDUMP,
			0x3000, "/tmp/a b/lib c d.so");
		add_vma(p, 0x7f0000404000, 0x7f0000405000, PROT_READ | PROT_WRITE, BM_VMA_FILE, BM_VMA_LOCKED,
			0x7000, "/tmp/a b/lib c d.so");
		add_vma(p, 0x7ffff7fc0000, 0x7ffff7fc4000, PROT_READ, BM_VMA_VVAR, 0, 0, "[vvar]");
		add_vma(p, 0x7ffff7fc4000, 0x7ffff7fc6000, PROT_READ, BM_VMA_VVAR_VCLOCK, 0, 0, "[vvar_vclock]");
		add_vma(p, 0x7ffff7fc6000, 0x7ffff7fc8000, PROT_READ | PROT_EXEC, BM_VMA_VDSO, 0, 0, "[vdso]");
		add_vma(p, 0x7ffffffde000, 0x7ffffffff000, PROT_READ | PROT_WRITE, BM_VMA_ANON,
			BM_VMA_STACK | BM_VMA_GROWSDOWN | BM_VMA_NOHUGEPAGE, 0, "[stack]");
		add_vma(p, 0xffffffffff600000ull, 0xffffffffff601000ull, PROT_EXEC, BM_VMA_VSYSCALL, 0, 0,
			"[vsyscall]");
	}

	p->fds = calloc(24, sizeof *p->fds);
	assert_non_null(p->fds);
	add_fd(p, 0, BM_FD_DEVICE, O_RDONLY, 0, -1, "/dev/null");
	if (full) {
		add_fd(p, 1, BM_FD_REGULAR, O_WRONLY | O_APPEND, 1234, -1, "/tmp/out file.txt");
		add_fd(p, 2, BM_FD_REGULAR, O_WRONLY | O_APPEND, 1234, 1, "/tmp/out file.txt");
		add_fd(p, 3, BM_FD_DIRECTORY, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 48, -1, "/home/user");
		add_fd(p, 5, BM_FD_FIFO, O_RDONLY | O_NONBLOCK, 0, -1, "/tmp/my fifo");
		add_fd(p, 7, BM_FD_PIPE, O_RDONLY, 0, -1, NULL);
		p->fds[p->nfds - 1].object_id = 4242;
		p->fds[p->nfds - 1].object_flags = 65536;
		p->fds[p->nfds - 1].data = (uint8_t *)strdup("bytes buffered in the pipe");
		p->fds[p->nfds - 1].data_len = 26;
		add_fd(p, 8, BM_FD_PIPE, O_WRONLY, 0, -1, NULL);
		p->fds[p->nfds - 1].object_id = 4242;
		p->fds[p->nfds - 1].object_flags = 65536;
		/* A signalfd, and an epoll instance (with a dup) watching it and a pipe end. */
		add_fd(p, 10, BM_FD_SIGNALFD, O_RDWR | O_NONBLOCK, 0, -1, "anon_inode:[signalfd]");
		p->fds[p->nfds - 1].object_id = 0x400000800ull;
		add_fd(p, 11, BM_FD_EPOLL, O_RDWR, 0, -1, "anon_inode:[eventpoll]");
		struct bm_fd *ep = &p->fds[p->nfds - 1];
		ep->object_id = 9876;
		ep->data_len = 2 * BM_WATCH_SIZE;
		ep->data = calloc(1, ep->data_len);
		assert_non_null(ep->data);
		bm_store_le32(ep->data, 7);
		bm_store_le32(ep->data + 4, EPOLLIN | EPOLLET);
		bm_store_le64(ep->data + 8, 0x1122334455667788ull);
		bm_store_le32(ep->data + 16, 10);
		bm_store_le32(ep->data + 20, EPOLLONESHOT);
		bm_store_le64(ep->data + 24, 42);
		add_fd(p, 12, BM_FD_EPOLL, O_RDWR, 0, 11, "anon_inode:[eventpoll]");
		p->fds[p->nfds - 1].object_id = 9876;
		/* An inotify instance with two watches. */
		add_fd(p, 13, BM_FD_INOTIFY, O_RDONLY | O_NONBLOCK, 0, -1, "anon_inode:inotify");
		static const uint8_t watches[] = {1, 0, 0, 0, 0, 1, 0, 0, 4, 0, 0, 0, '/', 't', 'm', 'p',
						  3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, '/'};
		p->fds[p->nfds - 1].data = malloc(sizeof watches);
		assert_non_null(p->fds[p->nfds - 1].data);
		memcpy(p->fds[p->nfds - 1].data, watches, sizeof watches);
		p->fds[p->nfds - 1].data_len = sizeof watches;
		/* Two descriptors of one timerfd (TIMERS holds its settings once). */
		add_fd(p, 14, BM_FD_TIMERFD, O_RDWR | O_NONBLOCK, 0, -1, "anon_inode:[timerfd]");
		add_fd(p, 15, BM_FD_TIMERFD, O_RDWR | O_NONBLOCK, 0, 14, "anon_inode:[timerfd]");
		/* Descriptors a policy replaced (--fd, --stdio), one per action. */
		add_replaced(p, 251, BM_FD_DEVICE, O_WRONLY | O_CLOEXEC, "/dev/null", BM_FD_TO_NULL, BM_ORIGIN_PIPE,
			     "pipe:[5678]");
		add_replaced(p, 252, BM_FD_CLOSED, O_RDWR, NULL, BM_FD_TO_CLOSED, BM_ORIGIN_SOCKET, "socket:[91]");
		add_replaced(p, 253, BM_FD_REGULAR, O_WRONLY | O_APPEND, "/tmp/out file.txt", BM_FD_TO_FILE,
			     BM_ORIGIN_TERMINAL, "/dev/pts/3");
		add_replaced(p, 254, BM_FD_BROKEN_PIPE, O_WRONLY | O_NONBLOCK, NULL, BM_FD_TO_BROKEN, BM_ORIGIN_FIFO,
			     "/tmp/my fifo");
		add_replaced(p, 255, BM_FD_BROKEN_SOCKET, O_RDWR, NULL, BM_FD_TO_BROKEN, BM_ORIGIN_SOCKET, "socket:[92]");
		p->fds[p->nfds - 1].object_flags = SOCK_DGRAM;
		add_fd(p, 1000, BM_FD_EVENTFD, O_RDWR, 0, -1, NULL);
		p->fds[p->nfds - 1].object_id = 41;
		p->fds[p->nfds - 1].object_flags = 1;
	}

	for (int i = 0; i < BM_NSIG; i++)
		p->sigactions[i] = (struct bm_sigaction){ rng(), rng(), rng(), rng() };
	if (full) {
		p->nshared_pending = 2;
		p->shared_pending = calloc(2, sizeof *p->shared_pending);
		assert_non_null(p->shared_pending);
		set_signo(&p->shared_pending[0], 10);
		set_signo(&p->shared_pending[1], 64);
	}

	p->nthreads = full ? 2 : 1;
	p->threads = calloc(p->nthreads, sizeof *p->threads);
	assert_non_null(p->threads);
	make_thread(&p->threads[0], 4242, full ? 2696 : 64, full ? 1 : 0, full ? BM_CODE_WINDOW : 8);
	if (full)
		make_thread(&p->threads[1], 4243, 1088, 3, 40);

	p->timers.realtime_ns = 1700000000123456789ll;
	if (!full)
		return;
	struct bm_timers *tm = &p->timers;
	tm->restore_ids = 1;
	tm->itimers[BM_ITIMER_REAL] = (struct bm_itimer){ 1500000000, 250000000 };
	tm->itimers[BM_ITIMER_PROF] = (struct bm_itimer){ 2000000, 0 };
	static const struct bm_posix_timer posix[] = {
		/* id, clock, notify, signo, tid, sigval, value, interval, pending, overrun */
		{ 0, CLOCK_MONOTONIC, SIGEV_SIGNAL, 34, 0, 0x1234abcd, 500000000, 1000000000, 1, 4 },
		{ 3, CLOCK_BOOTTIME, SIGEV_SIGNAL | 4, 32, 4243, 0x560f6e5ef460, 0, 0, 2 },
		{ 7, CLOCK_REALTIME, SIGEV_NONE, -5, 0, 0xffffffff, 7000000000, 0, 0 },
		{ 9, -6 /* this process's CPU time */, SIGEV_SIGNAL, 12, 0, 9, 3000000, 3000000, 0 },
	};
	tm->nposix = sizeof posix / sizeof posix[0];
	tm->posix = malloc(sizeof posix);
	assert_non_null(tm->posix);
	memcpy(tm->posix, posix, sizeof posix);
	tm->ntimerfds = 1;
	tm->timerfds = calloc(1, sizeof *tm->timerfds);
	assert_non_null(tm->timerfds);
	tm->timerfds[0] = (struct bm_timerfd){ 14, CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, 250000000, 1000000000, 3 };
}

/* The process without what version 2 cannot hold: timers and the
 * descriptor kinds of version 3 (timerfds, signalfds, epoll instances,
 * unlinked objects). */
static void strip_timers(struct bm_process *q)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < q->nfds; i++) {
		if (q->fds[i].kind >= BM_FD_TIMERFD) { /* the kinds version 3 brought */
			free(q->fds[i].path);
			free(q->fds[i].data);
			continue;
		}
		q->fds[kept++] = q->fds[i];
	}
	q->nfds = kept;
	free(q->timers.posix);
	free(q->timers.timerfds);
	int64_t read_at = q->timers.realtime_ns; /* the writer wants one */
	memset(&q->timers, 0, sizeof q->timers);
	q->timers.realtime_ns = read_at;
}

static void assert_file_id_equal(const struct bm_file_id *a, const struct bm_file_id *b)
{
	assert_true(a->dev == b->dev);
	assert_true(a->ino == b->ino);
	assert_true(a->size == b->size);
	assert_true(a->mtime_ns == b->mtime_ns);
}

static void assert_opt_string_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_process_equal(const struct bm_process *a, const struct bm_process *b)
{
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->ppid, b->ppid);
	assert_int_equal(a->pgid, b->pgid);
	assert_int_equal(a->sid, b->sid);
	assert_memory_equal(a->comm, b->comm, sizeof a->comm);
	assert_int_equal(a->personality, b->personality);
	assert_int_equal(a->umask, b->umask);
	assert_memory_equal(a->uid, b->uid, sizeof a->uid);
	assert_memory_equal(a->gid, b->gid, sizeof a->gid);
	assert_int_equal(a->ngroups, b->ngroups);
	assert_memory_equal(a->groups, b->groups, sizeof a->groups);
	assert_int_equal(a->dumpable, b->dumpable);
	assert_opt_string_equal(a->cwd, b->cwd);
	assert_opt_string_equal(a->root, b->root);
	for (int i = 0; i < BM_NRLIMITS; i++) {
		assert_true(a->rlimits[i].cur == b->rlimits[i].cur);
		assert_true(a->rlimits[i].max == b->rlimits[i].max);
	}
	const struct bm_mm *ma = &a->mm, *mb = &b->mm;
	assert_true(ma->start_code == mb->start_code && ma->end_code == mb->end_code);
	assert_true(ma->start_data == mb->start_data && ma->end_data == mb->end_data);
	assert_true(ma->start_brk == mb->start_brk && ma->brk == mb->brk);
	assert_true(ma->start_stack == mb->start_stack);
	assert_true(ma->arg_start == mb->arg_start && ma->arg_end == mb->arg_end);
	assert_true(ma->env_start == mb->env_start && ma->env_end == mb->env_end);
	assert_int_equal(ma->auxv_len, mb->auxv_len);
	assert_memory_equal(ma->auxv, mb->auxv, sizeof ma->auxv);
	assert_opt_string_equal(ma->exe_path, mb->exe_path);
	assert_file_id_equal(&ma->exe_file, &mb->exe_file);

	assert_int_equal(a->nvmas, b->nvmas);
	for (uint32_t i = 0; i < a->nvmas; i++) {
		const struct bm_vma *va = &a->vmas[i], *vb = &b->vmas[i];
		assert_true(va->start == vb->start && va->end == vb->end);
		assert_int_equal(va->prot, vb->prot);
		assert_int_equal(va->kind, vb->kind);
		assert_int_equal(va->flags, vb->flags);
		assert_true(va->pgoff == vb->pgoff);
		assert_opt_string_equal(va->path, vb->path);
		assert_file_id_equal(&va->file, &vb->file);
	}
	assert_int_equal(a->nfds, b->nfds);
	for (uint32_t i = 0; i < a->nfds; i++) {
		const struct bm_fd *fa = &a->fds[i], *fb = &b->fds[i];
		assert_int_equal(fa->fd, fb->fd);
		assert_int_equal(fa->kind, fb->kind);
		assert_int_equal(fa->flags, fb->flags);
		assert_true(fa->pos == fb->pos);
		assert_int_equal(fa->shares_with, fb->shares_with);
		assert_int_equal(fa->mode, fb->mode);
		assert_true(fa->rdev == fb->rdev);
		assert_opt_string_equal(fa->path, fb->path);
		assert_file_id_equal(&fa->file, &fb->file);
		assert_true(fa->object_id == fb->object_id);
		assert_int_equal(fa->object_flags, fb->object_flags);
		assert_int_equal(fa->data_len, fb->data_len);
		if (fa->data_len)
			assert_memory_equal(fa->data, fb->data, fa->data_len);
		assert_int_equal(fa->replaced, fb->replaced);
		assert_int_equal(fa->replaced_by, fb->replaced_by);
		assert_int_equal(fa->was, fb->was);
		assert_opt_string_equal(fa->was_link, fb->was_link);
	}
	for (int i = 0; i < BM_NSIG; i++) {
		assert_true(a->sigactions[i].handler == b->sigactions[i].handler);
		assert_true(a->sigactions[i].flags == b->sigactions[i].flags);
		assert_true(a->sigactions[i].restorer == b->sigactions[i].restorer);
		assert_true(a->sigactions[i].mask == b->sigactions[i].mask);
	}
	assert_int_equal(a->nshared_pending, b->nshared_pending);
	if (a->nshared_pending)
		assert_memory_equal(a->shared_pending, b->shared_pending, a->nshared_pending * sizeof *a->shared_pending);
	assert_int_equal(a->nthreads, b->nthreads);
	for (uint32_t i = 0; i < a->nthreads; i++) {
		const struct bm_thread *ta = &a->threads[i], *tb = &b->threads[i];
		assert_int_equal(ta->tid, tb->tid);
		assert_int_equal(ta->stop_kind, tb->stop_kind);
		assert_memory_equal(&ta->regs, &tb->regs, sizeof ta->regs);
		assert_int_equal(ta->xstate_len, tb->xstate_len);
		if (ta->xstate_len)
			assert_memory_equal(ta->xstate, tb->xstate, ta->xstate_len);
		assert_true(ta->sigmask == tb->sigmask);
		assert_true(ta->altstack_sp == tb->altstack_sp);
		assert_true(ta->altstack_size == tb->altstack_size);
		assert_int_equal(ta->altstack_flags, tb->altstack_flags);
		assert_true(ta->rseq_addr == tb->rseq_addr);
		assert_int_equal(ta->rseq_len, tb->rseq_len);
		assert_int_equal(ta->rseq_sig, tb->rseq_sig);
		assert_true(ta->robust_list == tb->robust_list);
		assert_true(ta->robust_list_len == tb->robust_list_len);
		assert_true(ta->clear_child_tid == tb->clear_child_tid);
		assert_int_equal(ta->npending, tb->npending);
		if (ta->npending)
			assert_memory_equal(ta->pending, tb->pending, ta->npending * sizeof *ta->pending);
		assert_true(ta->code_addr == tb->code_addr);
		assert_int_equal(ta->code_len, tb->code_len);
		assert_memory_equal(ta->code, tb->code, ta->code_len);
	}
	const struct bm_timers *xa = &a->timers, *xb = &b->timers;
	assert_true(xa->realtime_ns == xb->realtime_ns);
	assert_int_equal(xa->restore_ids, xb->restore_ids);
	assert_memory_equal(xa->itimers, xb->itimers, sizeof xa->itimers);
	assert_int_equal(xa->nposix, xb->nposix);
	if (xa->nposix)
		assert_memory_equal(xa->posix, xb->posix, xa->nposix * sizeof *xa->posix);
	assert_int_equal(xa->ntimerfds, xb->ntimerfds);
	if (xa->ntimerfds)
		assert_memory_equal(xa->timerfds, xb->timerfds, xa->ntimerfds * sizeof *xa->timerfds);
}

/* ---- writing and reading whole images ---- */

struct run {
	uint64_t addr;
	uint32_t npages;
	bool zero;
	uint8_t *data;           /* owned; NULL for zero runs */
	uint32_t expect_encoding;
};

static void free_runs(struct run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(runs[i].data);
}

static void write_image(struct bm_wbuf *out, const struct bm_process *p, const struct run *runs, size_t nruns,
			int zlib_level, struct bm_image_counters *counters)
{
	bm_wbuf_init(out);
	struct bm_image_writer w;
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, out }, zlib_level), 0);
	assert_int_equal(bm_image_write_process(&w, p), 0);
	for (size_t i = 0; i < nruns; i++) {
		if (runs[i].zero)
			assert_int_equal(bm_image_write_zero(&w, runs[i].addr, runs[i].npages), 0);
		else
			assert_int_equal(bm_image_write_pages(&w, runs[i].addr, runs[i].data, runs[i].npages), 0);
	}
	assert_int_equal(bm_image_writer_finish(&w), 0);
	assert_true(w.finished);
	assert_true(w.count.bytes == out->len);
	if (counters)
		*counters = w.count;
	bm_image_writer_free(&w);
}

/* Reads a whole image; 0 if it was accepted, else the first negative
 * return.  Never more than MAX_SECTIONS page runs, so a reader that
 * failed to stop cannot hang the test. */
#define MAX_SECTIONS 10000

static int read_image(const uint8_t *data, size_t len, size_t max_chunk)
{
	struct mem_input in = { data, len, 0, max_chunk };
	struct bm_image_reader r;
	struct bm_process p;
	memset(&p, 0, sizeof p);
	int rc = bm_image_reader_init(&r, (struct bm_source){ mem_read, &in });
	if (rc == 0)
		rc = bm_image_read_process(&r, &p);
	for (int i = 0; rc == 0 && i < MAX_SECTIONS; i++) {
		struct bm_page_run run;
		int got = bm_image_next_pages(&r, &run);
		if (got < 0)
			rc = got;
		else if (got == 0)
			break;
		else if (run.zero)
			assert_null(run.data);
		else
			assert_non_null(run.data);
	}
	assert_true(r.ended || rc < 0);
	bm_process_free(&p);
	bm_image_reader_free(&r);
	return rc;
}

/* Reading must fail with an image error, and say MESSAGE (if given). */
static void assert_rejected(const uint8_t *data, size_t len, const char *message)
{
	char text[2048];
	bm_reset_errors();
	capture_begin();
	int rc = read_image(data, len, 0);
	capture_end(text, sizeof text);
	if (rc >= 0 || bm_exit_code() != BM_EXIT_IMAGE || (message && !strstr(text, message)))
		fail_msg("expected rejection with \"%s\", got rc %d, exit class %d, stderr: %s", message ? message : "",
			 rc, bm_exit_code(), text);
	bm_reset_errors();
}

struct seen_section {
	uint32_t type;
	uint64_t offset, length;
	uint32_t flags;
};

struct seen {
	struct seen_section s[64];
	int n;
};

static void record_section(void *ctx, uint32_t type, uint64_t offset, uint64_t length, uint32_t flags)
{
	struct seen *seen = ctx;
	assert_true(seen->n < 64);
	seen->s[seen->n++] = (struct seen_section){ type, offset, length, flags };
}

/* Reads the image back and checks process, runs, counters and sections. */
static void check_round_trip(const struct bm_wbuf *img, const struct bm_process *p, const struct run *runs,
			     size_t nruns, const struct bm_image_counters *written, size_t max_chunk)
{
	struct mem_input in = { img->data, img->len, 0, max_chunk };
	struct bm_image_reader r;
	struct seen seen = { .n = 0 };
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(r.version, BM_IMAGE_VERSION);
	r.on_section = record_section;
	r.on_section_ctx = &seen;
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(p, &got);
	for (size_t i = 0; i < nruns; i++) {
		struct bm_page_run run;
		assert_int_equal(bm_image_next_pages(&r, &run), 1);
		assert_true(run.addr == runs[i].addr);
		assert_int_equal(run.npages, runs[i].npages);
		assert_int_equal(run.zero, runs[i].zero);
		if (runs[i].zero)
			assert_null(run.data);
		else
			assert_memory_equal(run.data, runs[i].data, (size_t)run.npages * PAGE);
	}
	struct bm_page_run run;
	assert_int_equal(bm_image_next_pages(&r, &run), 0);
	assert_true(r.ended);
	assert_int_equal(bm_image_next_pages(&r, &run), 0); /* stays at the end */
	assert_true(in.pos == in.len);                      /* END was the last byte */
	assert_memory_equal(&r.count, written, sizeof r.count);

	/* Sections in order, back to back, with the PAGES encodings expected. */
	int expect_n = 4 + (int)p->nthreads + 2 + (int)nruns + 1;
	assert_int_equal(seen.n, expect_n);
	static const uint32_t head[] = { BM_SEC_PROCESS, BM_SEC_VMAS, BM_SEC_FDS, BM_SEC_SIGNALS };
	uint64_t offset = 20;
	for (int i = 0; i < seen.n; i++) {
		int first_run = 4 + (int)p->nthreads + 2;
		uint32_t type = i < 4				   ? head[i]
				: i < 4 + (int)p->nthreads	   ? BM_SEC_THREAD
				: i < first_run - 1		   ? BM_SEC_ATTRS
				: i < first_run			   ? BM_SEC_TIMERS
				: i < expect_n - 1		   ? (runs[i - first_run].zero ? BM_SEC_ZERO : BM_SEC_PAGES)
								   : BM_SEC_END;
		assert_int_equal(seen.s[i].type, type);
		assert_true(seen.s[i].offset == offset);
		offset += 20 + seen.s[i].length;
		if (type == BM_SEC_PAGES)
			assert_int_equal(seen.s[i].flags, runs[i - first_run].expect_encoding);
		else
			assert_int_equal(seen.s[i].flags, 0);
	}
	assert_true(offset == img->len);
	bm_process_free(&got);
	assert_null(got.vmas);
	bm_image_reader_free(&r);
}

static struct run random_run(uint64_t addr, uint32_t npages)
{
	return (struct run){ addr, npages, false, dup_random((size_t)npages * PAGE), 0 };
}

static struct run compressible_run(uint64_t addr, uint32_t npages, unsigned seed)
{
	uint8_t *data = malloc((size_t)npages * PAGE);
	assert_non_null(data);
	fill_compressible(data, (size_t)npages * PAGE, seed);
	return (struct run){ addr, npages, false, data, 1 };
}

static void test_round_trip_raw(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	struct run runs[] = {
		random_run(0x600000, 3),
		{ 0x603000, 5, true, NULL, 0 },
		random_run(0x7f0000000000, BM_IMAGE_MAX_RUN_PAGES),
		compressible_run(0x400000, 1, 1), /* no compression in this image: stays raw */
		{ 0x7f0000400000, BM_IMAGE_MAX_RUN_PAGES, true, NULL, 0 },
	};
	runs[3].expect_encoding = 0;
	size_t n = sizeof runs / sizeof runs[0];
	struct bm_wbuf img;
	struct bm_image_counters c;
	write_image(&img, &p, runs, n, -1, &c);
	assert_true(c.pages_stored == 3 + BM_IMAGE_MAX_RUN_PAGES + 1);
	assert_true(c.pages_zero == 5 + BM_IMAGE_MAX_RUN_PAGES);
	assert_true(c.page_bytes_raw == c.pages_stored * PAGE);
	assert_true(c.page_bytes_encoded == c.page_bytes_raw);
	assert_true(c.sections == 4 + 2 + 2 + n + 1);
	check_round_trip(&img, &p, runs, n, &c, 0);
	/* A source that hands out a few bytes at a time reads the same. */
	check_round_trip(&img, &p, runs, n, &c, 7);
	free_runs(runs, n);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

static void test_round_trip_zlib(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	struct run runs[] = {
		compressible_run(0x600000, 16, 3),
		random_run(0x610000, 4), /* incompressible: stored raw */
		{ 0x614000, 2, true, NULL, 0 },
		compressible_run(0x7f0000000000, BM_IMAGE_MAX_RUN_PAGES, 5),
		{ 0x7ffffffde000, 1, false, calloc(1, PAGE), 1 }, /* a zero page written as data compresses */
		random_run(0x7f0000400000, 64), /* long and incompressible: judged by its start, stored raw */
		compressible_run(0x7f0000440000, 64, 7), /* compressible start, random rest: compressed */
	};
	assert_non_null(runs[4].data);
	fill_random(runs[6].data + 32 * PAGE, 32 * PAGE);
	size_t n = sizeof runs / sizeof runs[0];
	for (int level = 1; level <= 9; level += 8) {
		struct bm_wbuf img;
		struct bm_image_counters c;
		write_image(&img, &p, runs, n, level, &c);
		assert_true(c.page_bytes_raw == (16 + 4 + BM_IMAGE_MAX_RUN_PAGES + 1 + 64 + 64) * (uint64_t)PAGE);
		assert_true(c.page_bytes_encoded < c.page_bytes_raw / 4);
		assert_true(c.page_bytes_encoded > (4 + 64 + 32) * PAGE); /* the random data is in there whole */
		check_round_trip(&img, &p, runs, n, &c, 0);
		check_round_trip(&img, &p, runs, n, &c, 4093);
		bm_wbuf_free(&img);
	}
	free_runs(runs, n);
	bm_process_free(&p);
}

static void test_round_trip_minimal_process(void **state)
{
	(void)state;
	struct bm_process p;
	memset(&p, 0, sizeof p);
	p.pid = 1;
	p.nthreads = 1;
	p.threads = calloc(1, sizeof *p.threads);
	assert_non_null(p.threads);
	p.threads[0].tid = 1;
	p.threads[0].stop_kind = BM_STOP_USER;
	p.timers.realtime_ns = 1;
	struct bm_wbuf img;
	struct bm_image_counters c;
	write_image(&img, &p, NULL, 0, -1, &c);
	check_round_trip(&img, &p, NULL, 0, &c, 0);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

/* Image through a pipe (short writes and reads) and through a file. */
struct pipe_reader {
	int fd;
	struct bm_wbuf got;
};

static void *drain_pipe(void *arg)
{
	struct pipe_reader *pr = arg;
	uint8_t buf[5000]; /* odd size: the writer's iovecs get split */
	ssize_t n;
	while ((n = read(pr->fd, buf, sizeof buf)) > 0)
		bm_put_bytes(&pr->got, buf, (size_t)n);
	return NULL;
}

static void test_fd_sink_and_source(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	struct run runs[] = { random_run(0x600000, BM_IMAGE_MAX_RUN_PAGES), { 0x7f0000000000, 3, true, NULL, 0 } };
	size_t n = 2;
	struct bm_wbuf expected;
	struct bm_image_counters c;
	write_image(&expected, &p, runs, n, -1, &c);

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	struct pipe_reader pr = { .fd = fds[0] };
	bm_wbuf_init(&pr.got);
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, drain_pipe, &pr), 0);
	struct bm_image_writer w;
	int wfd = fds[1];
	assert_int_equal(bm_image_writer_init(&w, bm_fd_sink(&wfd), -1), 0);
	assert_int_equal(bm_image_write_process(&w, &p), 0);
	assert_int_equal(bm_image_write_pages(&w, runs[0].addr, runs[0].data, runs[0].npages), 0);
	assert_int_equal(bm_image_write_zero(&w, runs[1].addr, runs[1].npages), 0);
	assert_int_equal(bm_image_writer_finish(&w), 0);
	bm_image_writer_free(&w);
	close(fds[1]);
	assert_int_equal(pthread_join(thread, NULL), 0);
	close(fds[0]);
	assert_int_equal(pr.got.len, expected.len);
	assert_memory_equal(pr.got.data, expected.data, expected.len);

	FILE *f = tmpfile();
	assert_non_null(f);
	int ffd = fileno(f);
	assert_true(write(ffd, expected.data, expected.len) == (ssize_t)expected.len);
	assert_true(lseek(ffd, 0, SEEK_SET) == 0);
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, bm_fd_source(&ffd)), 0);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(&p, &got);
	struct bm_page_run run;
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_memory_equal(run.data, runs[0].data, (size_t)runs[0].npages * PAGE);
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_true(run.zero);
	assert_int_equal(bm_image_next_pages(&r, &run), 0);
	bm_image_reader_free(&r);
	bm_process_free(&got);

	/* The same file cut short: the fd source reports the end, the reader "truncated". */
	assert_int_equal(ftruncate(ffd, (off_t)expected.len - 30), 0); /* inside END */
	assert_true(lseek(ffd, 0, SEEK_SET) == 0);
	bm_reset_errors();
	char text[1024];
	capture_begin();
	assert_int_equal(bm_image_reader_init(&r, bm_fd_source(&ffd)), 0);
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_int_equal(bm_image_next_pages(&r, &run), 1);
	assert_true(bm_image_next_pages(&r, &run) < 0);
	capture_end(text, sizeof text);
	assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);
	assert_non_null(strstr(text, "image truncated"));
	bm_image_reader_free(&r);
	bm_process_free(&got);
	bm_reset_errors();

	/* A read error is an I/O error, not a bad image. */
	int bad_fd = -1;
	capture_begin();
	assert_true(bm_image_reader_init(&r, bm_fd_source(&bad_fd)) < 0);
	capture_end(text, sizeof text);
	assert_int_equal(bm_exit_code(), BM_EXIT_IO);
	bm_image_reader_free(&r);
	bm_reset_errors();
	/* So is a write error. */
	capture_begin();
	assert_true(bm_image_writer_init(&w, bm_fd_sink(&bad_fd), -1) < 0);
	capture_end(text, sizeof text);
	assert_int_equal(bm_exit_code(), BM_EXIT_IO);
	assert_non_null(strstr(text, "writing the image"));
	bm_image_writer_free(&w);
	bm_reset_errors();

	fclose(f);
	free_runs(runs, n);
	bm_wbuf_free(&expected);
	bm_wbuf_free(&pr.got);
	bm_process_free(&p);
}

/* ---- damage ---- */

/* The small image every exhaustive test works on: all section types, a
 * zlib run, a raw run and a zero run. */
static void small_image(struct bm_wbuf *img)
{
	struct bm_process p;
	make_process(&p, false);
	struct run runs[] = {
		compressible_run(0x600000, 1, 9),
		random_run(0x601000, 1),
		{ 0x602000, 2, true, NULL, 0 },
	};
	write_image(img, &p, runs, 3, 6, NULL);
	free_runs(runs, 3);
	bm_process_free(&p);
}

static void test_every_bit_flip_is_detected(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	assert_int_equal(read_image(img.data, img.len, 0), 0);
	uint8_t *copy = malloc(img.len);
	assert_non_null(copy);
	memcpy(copy, img.data, img.len);
	size_t undetected = 0, wrong_class = 0, first_bad = SIZE_MAX;
	quiet_begin();
	for (size_t i = 0; i < img.len; i++)
		for (int bit = 0; bit < 8; bit++) {
			copy[i] ^= (uint8_t)(1u << bit);
			bm_reset_errors();
			int rc = read_image(copy, img.len, 0);
			if (rc >= 0)
				undetected++;
			else if (bm_exit_code() != BM_EXIT_IMAGE)
				wrong_class++;
			if ((rc >= 0 || bm_exit_code() != BM_EXIT_IMAGE) && first_bad == SIZE_MAX)
				first_bad = i;
			copy[i] ^= (uint8_t)(1u << bit);
		}
	stderr_restore();
	bm_reset_errors();
	printf("bit flips: %zu bytes x 8 bits, %zu undetected, %zu with another error class\n", img.len,
	       undetected, wrong_class);
	if (undetected || wrong_class)
		fail_msg("first missed flip at byte %zu", first_bad);
	free(copy);
	bm_wbuf_free(&img);
}

static void test_every_truncation_is_detected(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	size_t missed = 0;
	quiet_begin();
	for (size_t len = 0; len < img.len; len++) {
		bm_reset_errors();
		int rc = read_image(img.data, len, 0);
		if (rc >= 0 || bm_exit_code() != BM_EXIT_IMAGE)
			missed++;
	}
	stderr_restore();
	bm_reset_errors();
	assert_int_equal(missed, 0);
	bm_wbuf_free(&img);
}

/* The image split into its sections, to rebuild with valid CRCs after a
 * deliberate change. */
struct raw_section {
	uint32_t type, flags;
	uint8_t *payload;
	uint32_t len;
};

struct raw_image {
	uint8_t file_header[20];
	struct raw_section s[32];
	int n;
};

static void split_image(const struct bm_wbuf *img, struct raw_image *ri)
{
	memset(ri, 0, sizeof *ri);
	memcpy(ri->file_header, img->data, 20);
	size_t off = 20;
	while (off < img->len) {
		assert_true(ri->n < 32);
		struct raw_section *s = &ri->s[ri->n++];
		s->type = bm_load_le32(img->data + off);
		s->flags = bm_load_le32(img->data + off + 4);
		s->len = bm_load_le32(img->data + off + 8);
		s->payload = malloc(s->len + 64);
		assert_non_null(s->payload);
		memcpy(s->payload, img->data + off + 20, s->len);
		off += 20 + s->len;
	}
	assert_true(off == img->len);
}

static void free_raw_image(struct raw_image *ri)
{
	for (int i = 0; i < ri->n; i++)
		free(ri->s[i].payload);
}

/* Reassembles with fresh CRCs.  FIX_END rewrites END's section and byte
 * totals so that only the deliberate change is wrong. */
static void assemble(struct raw_image *ri, struct bm_wbuf *out, bool fix_end)
{
	bm_wbuf_init(out);
	bm_put_bytes(out, ri->file_header, 20);
	for (int i = 0; i < ri->n; i++) {
		struct raw_section *s = &ri->s[i];
		if (fix_end && s->type == BM_SEC_END && s->len == 32) {
			bm_store_le64(s->payload, (uint64_t)i);
			bm_store_le64(s->payload + 24, out->len);
		}
		uint8_t h[20];
		bm_store_le32(h, s->type);
		bm_store_le32(h + 4, s->flags);
		bm_store_le32(h + 8, s->len);
		bm_store_le32(h + 12, bm_crc32c(0, s->payload, s->len));
		bm_store_le32(h + 16, bm_crc32c(0, h, 16));
		bm_put_bytes(out, h, 20);
		bm_put_bytes(out, s->payload, s->len);
	}
	assert_int_equal(bm_wbuf_status(out), 0);
}

static int find_section(struct raw_image *ri, uint32_t type, int nth)
{
	for (int i = 0; i < ri->n; i++)
		if (ri->s[i].type == type && nth-- == 0)
			return i;
	fail_msg("no section of type %u", type);
	return -1;
}

/* Takes the first section of TYPE out. */
static void drop_section(struct raw_image *ri, uint32_t type)
{
	int i = find_section(ri, type, 0);
	free(ri->s[i].payload);
	memmove(&ri->s[i], &ri->s[i + 1], (size_t)(ri->n - i - 1) * sizeof ri->s[0]);
	ri->n--;
}

/* A full-process image split up, the changes applied by the caller. */
static void full_raw_image(struct raw_image *ri, struct bm_process *p)
{
	make_process(p, true);
	struct run runs[] = {
		compressible_run(0x600000, 2, 1),
		random_run(0x602000, 1),
		{ 0x603000, 1, true, NULL, 0 },
	};
	struct bm_wbuf img;
	write_image(&img, p, runs, 3, 1, NULL);
	split_image(&img, ri);
	bm_wbuf_free(&img);
	free_runs(runs, 3);
}

static void expect_crafted_rejection(struct raw_image *ri, bool fix_end, const char *message)
{
	struct bm_wbuf img;
	assemble(ri, &img, fix_end);
	assert_rejected(img.data, img.len, message);
	bm_wbuf_free(&img);
}

/* Encoded size of a VMA, to find the next one in the payload. */
static size_t vma_size(const struct bm_vma *v)
{
	return 72 + (v->path ? strlen(v->path) : 0);
}

static void test_reassembly_without_change_is_accepted(void **state)
{
	(void)state;
	struct raw_image ri;
	struct bm_process p;
	full_raw_image(&ri, &p);
	struct bm_wbuf img;
	assemble(&ri, &img, true);
	assert_int_equal(read_image(img.data, img.len, 0), 0);
	bm_wbuf_free(&img);
	free_raw_image(&ri);
	bm_process_free(&p);
}

/* Random damage behind valid CRCs: whatever the bytes, the reader either
 * accepts or reports a bad image; it never crashes (ASan and UBSan watch),
 * hangs or reports anything else. */
static void test_random_damage_with_valid_crc_never_crashes(void **state)
{
	(void)state;
	struct raw_image base;
	struct bm_process p;
	full_raw_image(&base, &p);
	size_t accepted = 0, rejected = 0, other = 0;
	quiet_begin();
	for (int iter = 0; iter < 3000; iter++) {
		struct raw_image ri = base;
		int victim = (int)(rng() % (uint64_t)ri.n);
		struct raw_section *s = &ri.s[victim];
		uint8_t *copy = malloc(s->len + 64);
		assert_non_null(copy);
		memcpy(copy, s->payload, s->len);
		s->payload = copy;
		int changes = 1 + (int)(rng() % 4);
		for (int k = 0; k < changes && s->len; k++) {
			size_t at = (size_t)(rng() % s->len);
			switch (rng() % 4) {
			case 0: copy[at] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 1: copy[at] = (uint8_t)rng(); break;
			case 2: copy[at] = 0xff; break;
			default: copy[at] = 0; break;
			}
		}
		if (rng() % 8 == 0)
			s->len = (uint32_t)(rng() % (s->len + 1)); /* and sometimes cut short */
		struct bm_wbuf img;
		assemble(&ri, &img, true);
		bm_reset_errors();
		int rc = read_image(img.data, img.len, 0);
		if (rc == 0)
			accepted++;
		else if (bm_exit_code() == BM_EXIT_IMAGE)
			rejected++;
		else
			other++;
		bm_wbuf_free(&img);
		free(copy);
	}
	stderr_restore();
	bm_reset_errors();
	printf("random damage: %zu accepted, %zu rejected, %zu other\n", accepted, rejected, other);
	assert_int_equal(other, 0);
	assert_true(rejected > 500 && accepted > 0); /* both outcomes were exercised */
	free_raw_image(&base);
	bm_process_free(&p);
}

/* Each case changes one thing in a valid image, keeps the CRCs valid, and
 * names the message the reader must give. */
enum crafted_case {
	TRAILING_BYTE_IN_PROCESS,
	VMA_START_ABOVE_END,
	VMAS_UNSORTED,
	VMA_UNALIGNED,
	VMA_KIND_OUT_OF_RANGE,
	VMA_PATH_WITH_NUL,
	VMA_FLAGS_UNKNOWN,
	VMA_COUNT_LIES,
	VMA_COUNT_ONE_MORE,
	FD_KIND_OUT_OF_RANGE,
	FD_SHARES_UNKNOWN,
	FDS_UNSORTED,
	FD_REPLACED_ACTION_UNKNOWN,
	FD_REPLACED_BY_UNKNOWN,
	FD_ORIGIN_UNKNOWN,
	FD_REPLACED_WITHOUT_ORIGIN,
	FD_CARRIED_WITH_ORIGIN,
	FD_CLOSED_KIND_NOT_REPLACED,
	FD_ACTION_DOES_NOT_GIVE_KIND,
	FD_NULL_NOT_DEV_NULL,
	FD_STDIO_ABOVE_2,
	FD_BROKEN_PIPE_BOTH_WAYS,
	FD_BROKEN_SOCKET_TYPE,
	FD_SHARES_CLOSED,
	FD_CLOSED_WITH_PATH,
	FD_ORIGIN_LINK_TOO_LONG,
	EPOLL_WATCHES_UNLISTED,
	SIGNAL_COUNT_WRONG,
	SHARED_PENDING_BAD_SIGNO,
	THREAD_STOP_KIND_OUT_OF_RANGE,
	THREAD_DUPLICATE_TID,
	THREAD_LEADER_WRONG,
	THREAD_XSTATE_LEN_LIES,
	THREAD_CODE_LEN_TOO_BIG,
	PROCESS_UMASK_BAD,
	PROCESS_COMM_WITH_NUL,
	PROCESS_NO_THREADS,
	PROCESS_AUXV_TOO_LONG,
	SECTIONS_OUT_OF_ORDER,
	UNKNOWN_SECTION_TYPE,
	SECTION_FLAGS_SET,
	PAGES_ZERO_COUNT,
	PAGES_UNALIGNED,
	PAGES_RAW_LENGTH_WRONG,
	PAGES_UNKNOWN_ENCODING,
	PAGES_ZLIB_WRONG_SIZE,
	PAGES_ZLIB_GARBAGE,
	ZERO_TOO_LONG,
	ZERO_PAYLOAD_LONG,
	END_TOTALS_WRONG,
	THREAD_AMONG_PAGES,
	NO_END,
	TIMERS_TRAILING_BYTE,
	TIMERS_MISSING,
	TIMERS_AMONG_PAGES,
	TIMERS_TIME_ZERO,
	TIMERS_RESTORE_IDS_BAD,
	TIMERS_ITIMER_COUNT,
	TIMERS_ITIMER_INTERVAL_ALONE,
	TIMERS_POSIX_COUNT_LIES,
	TIMERS_POSIX_UNSORTED,
	TIMERS_POSIX_NOTIFY_UNKNOWN,
	TIMERS_POSIX_SIGNAL_BAD,
	TIMERS_POSIX_THREAD_UNKNOWN,
	TIMERS_POSIX_TID_WITHOUT_THREAD_ID,
	TIMERS_POSIX_FOREIGN_CPU_CLOCK,
	TIMERS_POSIX_DEVICE_CLOCK,
	TIMERS_POSIX_RANK_TWICE,
	TIMERS_POSIX_RANK_GAP,
	TIMERS_POSIX_PENDING_NONE,
	TIMERS_POSIX_PENDING_PAST_INTERVAL,
	TIMERS_POSIX_TIME_TOO_BIG,
	TIMERS_POSIX_OVERRUN_NONE,
	TIMERS_TIMERFD_NOT_IN_FDS,
	TIMERS_TIMERFD_MISSING,
	TIMERS_TIMERFD_CLOCK,
	TIMERS_TIMERFD_FLAGS,
	NCASES
};

/* TIMERS payload: time 0, restore ids 8, itimer count 12, three (value,
 * interval) from 16, POSIX timer count 64, its 52-byte entries (id,
 * clock, notify, signal, tid, sigval, value, interval, pending, overrun), the
 * timerfd count, its 36-byte entries (fd, clock, flags, value, interval,
 * ticks). */
#define TM_POSIX(i) (68 + 52 * (size_t)(i))
#define TM_TIMERFD(p, i) (TM_POSIX((p)->timers.nposix) + 4 + 36 * (size_t)(i))

/* Where the fields of descriptor entry INDEX are in an FDS payload (version 2). */
struct fd_layout {
	size_t start, kind, flags, shares, path, object_flags, replaced, replaced_by, was, was_link;
};

static size_t skip_string(const uint8_t *at)
{
	return 4 + bm_load_le32(at);
}

static struct fd_layout fd_entry(const struct raw_section *fds, uint32_t index)
{
	struct fd_layout l = {0};
	size_t at = 4;
	for (uint32_t i = 0; i <= index; i++) {
		assert_true(at < fds->len);
		l.start = at;
		l.kind = at + 4;
		l.flags = at + 8;
		l.shares = at + 20;
		l.path = at + 36;
		size_t after_path = l.path + skip_string(fds->payload + l.path);
		l.object_flags = after_path + 32 + 8;
		size_t data_len_at = l.object_flags + 4;
		l.replaced = data_len_at + 4 + bm_load_le32(fds->payload + data_len_at);
		l.replaced_by = l.replaced + 4;
		l.was = l.replaced_by + 4;
		l.was_link = l.was + 4;
		at = l.was_link + skip_string(fds->payload + l.was_link);
	}
	return l;
}

/* The index of descriptor FD in P. */
static uint32_t fd_index(const struct bm_process *p, int32_t fd)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd == fd)
			return i;
	fail_msg("no fd %d", fd);
	return 0;
}

static const char *craft_timers(struct raw_image *ri, const struct bm_process *p, enum crafted_case c)
{
	struct raw_section *tm = &ri->s[find_section(ri, BM_SEC_TIMERS, 0)];
	uint8_t *t = tm->payload;
	switch (c) {
	case TIMERS_TRAILING_BYTE:
		t[tm->len++] = 0;
		return "(TIMERS) at byte";
	case TIMERS_MISSING:
		drop_section(ri, BM_SEC_TIMERS);
		return "a TIMERS section was expected here";
	case TIMERS_AMONG_PAGES:
		ri->s[find_section(ri, BM_SEC_ZERO, 0)].type = BM_SEC_TIMERS;
		return "only PAGES, ZERO or END may follow the process sections";
	case TIMERS_TIME_ZERO:
		bm_store_le64(t, 0);
		return "reading time 0 is not positive";
	case TIMERS_RESTORE_IDS_BAD:
		bm_store_le32(t + 8, 2);
		return "restore-ids mode 2 is not 0 or 1";
	case TIMERS_ITIMER_COUNT:
		bm_store_le32(t + 12, 4);
		return "interval timer count 4 is not 3";
	case TIMERS_ITIMER_INTERVAL_ALONE:
		bm_store_le64(t + 40, 5);
		return "interval timer 1: an interval of 5 ns without a time left";
	case TIMERS_POSIX_COUNT_LIES:
		bm_store_le32(t + 64, 100000);
		return "POSIX timer count 100000";
	case TIMERS_POSIX_UNSORTED:
		bm_store_le32(t + TM_POSIX(1), 0);
		return "POSIX timer entry 1: id 0 is negative or does not follow 0";
	case TIMERS_POSIX_NOTIFY_UNKNOWN:
		bm_store_le32(t + TM_POSIX(0) + 8, 3);
		return "POSIX timer entry 0: notification 3 is not known";
	case TIMERS_POSIX_SIGNAL_BAD:
		bm_store_le32(t + TM_POSIX(0) + 12, 65);
		return "POSIX timer entry 0: signal 65 is not in 1..64";
	case TIMERS_POSIX_THREAD_UNKNOWN:
		bm_store_le32(t + TM_POSIX(1) + 16, 9999);
		return "POSIX timer entry 1: target thread 9999 is not a thread of the process";
	case TIMERS_POSIX_TID_WITHOUT_THREAD_ID:
		bm_store_le32(t + TM_POSIX(0) + 16, 4243);
		return "POSIX timer entry 0: target thread 4243 without SIGEV_THREAD_ID";
	case TIMERS_POSIX_FOREIGN_CPU_CLOCK:
		bm_store_le32(t + TM_POSIX(3) + 4, (uint32_t)((~777u << 3) | 2));
		return "POSIX timer entry 3: it counts the CPU time of process 777";
	case TIMERS_POSIX_DEVICE_CLOCK:
		bm_store_le32(t + TM_POSIX(3) + 4, (uint32_t)((~3u << 3) | 3));
		return "which binmig does not know";
	case TIMERS_POSIX_RANK_TWICE:
		bm_store_le32(t + TM_POSIX(1) + 44, 1);
		return "POSIX timer entry 1: pending rank 1 given twice";
	case TIMERS_POSIX_RANK_GAP:
		bm_store_le32(t + TM_POSIX(1) + 44, 3);
		return "pending rank 3 without rank 2";
	case TIMERS_POSIX_PENDING_NONE:
		bm_store_le32(t + TM_POSIX(2) + 44, 3);
		return "POSIX timer entry 2: pending rank 3 is above the timer count or on a SIGEV_NONE timer";
	case TIMERS_POSIX_PENDING_PAST_INTERVAL:
		bm_store_le64(t + TM_POSIX(0) + 28, 1000000001);
		return "POSIX timer entry 0: pending with 1000000001 ns left of an interval of 1000000000 ns";
	case TIMERS_POSIX_TIME_TOO_BIG:
		bm_store_le64(t + TM_POSIX(2) + 28, 1ull << 63);
		return "POSIX timer entry 2: a time of more than 2^63 ns";
	case TIMERS_POSIX_OVERRUN_NONE:
		bm_store_le32(t + TM_POSIX(2) + 48, 3);
		return "POSIX timer entry 2: overrun count 3 is negative or on a SIGEV_NONE timer";
	case TIMERS_TIMERFD_NOT_IN_FDS:
		bm_store_le32(t + TM_TIMERFD(p, 0), 10);
		return "timerfd entry 0: descriptor 10 is not a timerfd of FDS that shares with no other";
	case TIMERS_TIMERFD_MISSING:
		bm_store_le32(t + TM_TIMERFD(p, 0) - 4, 0);
		tm->len -= 36;
		return "0 timerfd entries for 1 timerfds in FDS";
	case TIMERS_TIMERFD_CLOCK:
		bm_store_le32(t + TM_TIMERFD(p, 0) + 4, CLOCK_PROCESS_CPUTIME_ID);
		return "timerfd entry 0: clock 2 is not one a timerfd can have";
	case TIMERS_TIMERFD_FLAGS:
		bm_store_le32(t + TM_TIMERFD(p, 0) + 8, 4);
		return "timerfd entry 0: settime flags 0x4 have unknown bits";
	default:
		break;
	}
	fail();
	return NULL;
}

static const char *craft(struct raw_image *ri, const struct bm_process *p, enum crafted_case c, bool *fix_end)
{
	struct raw_section *proc = &ri->s[find_section(ri, BM_SEC_PROCESS, 0)];
	struct raw_section *vmas = &ri->s[find_section(ri, BM_SEC_VMAS, 0)];
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	struct raw_section *sigs = &ri->s[find_section(ri, BM_SEC_SIGNALS, 0)];
	struct raw_section *thread0 = &ri->s[find_section(ri, BM_SEC_THREAD, 0)];
	struct raw_section *thread1 = &ri->s[find_section(ri, BM_SEC_THREAD, 1)];
	struct raw_section *zlib_pages = &ri->s[find_section(ri, BM_SEC_PAGES, 0)];
	struct raw_section *raw_pages = &ri->s[find_section(ri, BM_SEC_PAGES, 1)];
	struct raw_section *zero = &ri->s[find_section(ri, BM_SEC_ZERO, 0)];
	struct raw_section *end = &ri->s[find_section(ri, BM_SEC_END, 0)];
	size_t vma1 = 4 + vma_size(&p->vmas[0]);
	/* Thread payload: tid, stop kind, register count, 27 registers, xstate length. */
	size_t xstate_len_at = 4 + 4 + 4 + 27 * 8;
	size_t code_len_at = xstate_len_at + 4 + p->threads[0].xstate_len + 8 + 8 + 8 + 4 + 8 + 4 + 4 + 8 + 8 + 8 +
			     4 + 128 * p->threads[0].npending + 8;
	/* PROCESS: pid, ppid, pgid, sid, comm. */
	size_t comm_at = 16;
	size_t after_comm = comm_at + 4 + strlen(p->comm);
	size_t umask_at = after_comm + 4;
	*fix_end = true;
	switch (c) {
	case TRAILING_BYTE_IN_PROCESS:
		proc->payload[proc->len++] = 0;
		return "1 trailing bytes after the last field";
	case VMA_START_ABOVE_END: {
		uint64_t start = bm_load_le64(vmas->payload + 4);
		bm_store_le64(vmas->payload + 4, bm_load_le64(vmas->payload + 12));
		bm_store_le64(vmas->payload + 12, start);
		return "VMA 0: start 0x401000 is not below end 0x400000";
	}
	case VMAS_UNSORTED:
		bm_store_le64(vmas->payload + vma1, 0x1000);
		bm_store_le64(vmas->payload + vma1 + 8, 0x2000);
		return "VMA 1: 0x1000-0x2000 overlaps or precedes the previous VMA";
	case VMA_UNALIGNED:
		bm_store_le64(vmas->payload + vma1 + 8, 0x621001);
		return "VMA 1: range 0x600000-0x621001 is not page aligned";
	case VMA_KIND_OUT_OF_RANGE:
		bm_store_le32(vmas->payload + 4 + 20, 99);
		return "VMA 0: kind 99 is not a known VMA kind";
	case VMA_PATH_WITH_NUL: {
		uint8_t *path = memmem(vmas->payload, vmas->len, "prog name", 9);
		path[4] = '\0';
		return "VMA path contains a NUL byte";
	}
	case VMA_FLAGS_UNKNOWN:
		bm_store_le32(vmas->payload + 4 + 24, 0x100000);
		return "flags 0x100000 have unknown bits";
	case VMA_COUNT_LIES:
		bm_store_le32(vmas->payload, 1000);
		return "VMA count 1000 does not fit in the";
	case VMA_COUNT_ONE_MORE:
		bm_store_le32(vmas->payload, p->nvmas + 1);
		return "VMAS) at byte";
	case FD_KIND_OUT_OF_RANGE:
		bm_store_le32(fds->payload + 8, 0);
		return "kind 0 is not a known descriptor kind";
	case FD_SHARES_UNKNOWN: {
		/* fd 2 (third entry) shares with 1; make it 4, which is not listed. */
		uint8_t *at = memmem(fds->payload, fds->len, "\x02\0\0\0\x01\0\0\0", 8);
		assert_non_null(at);
		bm_store_le32(at + 20, 4);
		return "shares its open file with 4";
	}
	case FDS_UNSORTED: {
		uint8_t *at = memmem(fds->payload, fds->len, "\x03\0\0\0\x02\0\0\0", 8); /* fd 3, directory */
		assert_non_null(at);
		bm_store_le32(at, 1);
		return "descriptor 1 does not follow 2 in ascending order";
	}
	case FD_REPLACED_ACTION_UNKNOWN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced, 5);
		return "(fd 251): replacement action 5 is not known";
	case FD_REPLACED_BY_UNKNOWN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced_by, 2);
		return "replacing option 2 is not known";
	case FD_ORIGIN_UNKNOWN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 252)).was, BM_ORIGIN_MAX + 1);
		return "original kind 17 is not known";
	case FD_REPLACED_WITHOUT_ORIGIN:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 252)).was, 0);
		return "(fd 252): replaced without what it was";
	case FD_CARRIED_WITH_ORIGIN:
		bm_store_le32(fds->payload + fd_entry(fds, 0).was, BM_ORIGIN_PIPE);
		return "(fd 0): not replaced, yet with what it was";
	case FD_CLOSED_KIND_NOT_REPLACED:
		bm_store_le32(fds->payload + fd_entry(fds, 0).kind, BM_FD_CLOSED);
		return "(fd 0): descriptor of kind 7 that no policy replaced";
	case FD_ACTION_DOES_NOT_GIVE_KIND:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced, BM_FD_TO_FILE);
		return "replacement action 3 cannot give a descriptor of kind 3";
	case FD_NULL_NOT_DEV_NULL: {
		/* /dev/null -> /dev/zero, the same length */
		struct fd_layout l = fd_entry(fds, fd_index(p, 251));
		memcpy(fds->payload + l.path + 4, "/dev/zero", 9);
		return "(fd 251): replaced by null, yet its path is /dev/zero";
	}
	case FD_STDIO_ABOVE_2:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 251)).replaced_by, BM_FD_BY_STDIO_OPTION);
		return "(fd 251): --stdio cannot have replaced it";
	case FD_BROKEN_PIPE_BOTH_WAYS:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 254)).flags, O_RDWR);
		return "(fd 254): broken pipe end with access mode 2, neither read nor write";
	case FD_BROKEN_SOCKET_TYPE:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 255)).object_flags, SOCK_RAW);
		return "(fd 255): broken socket of type 3, not stream, datagram or seqpacket";
	case FD_SHARES_CLOSED:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 253)).shares, 252);
		return "(fd 253): shares its open file with 252, which is not a lower open descriptor";
	case FD_CLOSED_WITH_PATH: {
		/* fd 252's path (absent) becomes "x", one byte more in the payload. */
		struct fd_layout l = fd_entry(fds, fd_index(p, 252));
		memmove(fds->payload + l.path + 5, fds->payload + l.path + 4, fds->len - l.path - 4);
		bm_store_le32(fds->payload + l.path, 1);
		fds->payload[l.path + 4] = 'x';
		fds->len++;
		return "(fd 252): descriptor of kind 7 with a path";
	}
	case FD_ORIGIN_LINK_TOO_LONG:
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 255)).was_link, 5000);
		return "original link";
	case EPOLL_WATCHES_UNLISTED:
		/* fd 11's first registration (after object_flags and data_len) names fd 9, which is not open. */
		bm_store_le32(fds->payload + fd_entry(fds, fd_index(p, 11)).object_flags + 8, 9);
		return "epoll fd 11 watches fd 9, which is not another open descriptor";
	case SIGNAL_COUNT_WRONG:
		bm_store_le32(sigs->payload, 63);
		return "signal count 63 is not 64";
	case SHARED_PENDING_BAD_SIGNO:
		bm_store_le32(sigs->payload + 4 + 64 * 32 + 4, 0);
		return "signal number 0 is not in 1..64";
	case THREAD_STOP_KIND_OUT_OF_RANGE:
		bm_store_le32(thread0->payload + 4, 7);
		return "thread 0: stop kind 7 is not known";
	case THREAD_DUPLICATE_TID:
		bm_store_le32(thread1->payload, 4242);
		return "tid 4242 appears twice";
	case THREAD_LEADER_WRONG:
		bm_store_le32(thread0->payload, 4244);
		return "is not the thread group leader 4242";
	case THREAD_XSTATE_LEN_LIES:
		bm_store_le32(thread0->payload + xstate_len_at, 60000);
		return "xstate length 60000 does not fit";
	case THREAD_CODE_LEN_TOO_BIG:
		assert_int_equal(bm_load_le32(thread0->payload + code_len_at), BM_CODE_WINDOW);
		bm_store_le32(thread0->payload + code_len_at, BM_CODE_WINDOW + 1);
		return "code window length 97 exceeds the limit of 96";
	case PROCESS_UMASK_BAD:
		assert_int_equal(bm_load_le32(proc->payload + umask_at), 022);
		bm_store_le32(proc->payload + umask_at, 01000);
		return "umask 01000 has bits outside 0777";
	case PROCESS_COMM_WITH_NUL:
		proc->payload[comm_at + 4 + 2] = '\0';
		return "comm contains a NUL byte";
	case PROCESS_NO_THREADS:
		bm_store_le32(proc->payload + proc->len - 4, 0);
		return "thread count 0 is not in 1..65536";
	case PROCESS_AUXV_TOO_LONG: {
		/* ... comm, personality, umask, uid[4], gid[4], groups, dumpable, cwd, root,
		 * cwd_removed, 16 rlimits with their count, 11 mm words, then the auxv length. */
		size_t at = after_comm + 4 + 4 + 16 + 16 + 4 + 4 * p->ngroups + 4 + 4 + strlen(p->cwd) + 4 +
			    strlen(p->root) + 4 + 4 + 16 * 16 + 11 * 8;
		assert_int_equal(bm_load_le32(proc->payload + at), p->mm.auxv_len);
		bm_store_le32(proc->payload + at, 66);
		return "auxv length 66 exceeds the limit of 64";
	}
	case SECTIONS_OUT_OF_ORDER: {
		struct raw_section tmp = *vmas;
		*vmas = *fds;
		*fds = tmp;
		return "a VMAS section was expected here";
	}
	case UNKNOWN_SECTION_TYPE:
		sigs->type = 99;
		return "unknown section type 99";
	case SECTION_FLAGS_SET:
		zero->flags = 1;
		return "unknown section flags 0x1";
	case PAGES_ZERO_COUNT:
		bm_store_le32(raw_pages->payload + 8, 0);
		return "run of 0 pages";
	case PAGES_UNALIGNED:
		bm_store_le64(raw_pages->payload, 0x602010);
		return "at 0x602010 is unaligned";
	case PAGES_RAW_LENGTH_WRONG:
		raw_pages->len--;
		return "raw run of 1 pages carries 4095 bytes, expected 4096";
	case PAGES_UNKNOWN_ENCODING:
		bm_store_le32(raw_pages->payload + 12, 5);
		return "unknown page encoding 5";
	case PAGES_ZLIB_WRONG_SIZE:
		assert_int_equal(bm_load_le32(zlib_pages->payload + 12), 1);
		bm_store_le32(zlib_pages->payload + 8, 3);
		return "compressed data inflates to 8192 bytes with 0 bytes left over, expected 12288";
	case PAGES_ZLIB_GARBAGE:
		memset(zlib_pages->payload + 16, 0xa5, zlib_pages->len - 16);
		return "compressed data is corrupt";
	case ZERO_TOO_LONG:
		bm_store_le32(zero->payload + 8, BM_IMAGE_MAX_RUN_PAGES + 1);
		return "run of 1025 pages";
	case ZERO_PAYLOAD_LONG:
		zero->len = 13;
		return "payload length 13 exceeds the limit of 12";
	case END_TOTALS_WRONG:
		*fix_end = true;
		end->payload[8]++; /* stored pages, after fix_end leaves it alone */
		return "END records 4 stored pages but the image has 3 before END";
	case THREAD_AMONG_PAGES:
		zero->type = BM_SEC_THREAD;
		return "only PAGES, ZERO or END may follow the process sections";
	case NO_END:
		free(ri->s[--ri->n].payload);
		return "image truncated";
	default:
		return craft_timers(ri, p, c);
	}
	fail();
	return NULL;
}

static void test_crafted_fields_are_rejected_despite_valid_crc(void **state)
{
	(void)state;
	for (int c = 0; c < NCASES; c++) {
		struct raw_image ri;
		struct bm_process p;
		full_raw_image(&ri, &p);
		bool fix_end;
		const char *message = craft(&ri, &p, (enum crafted_case)c, &fix_end);
		expect_crafted_rejection(&ri, fix_end, message);
		free_raw_image(&ri);
		bm_process_free(&p);
	}
}

static void test_bad_magic(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	img.data[1] ^= 0x20;
	assert_rejected(img.data, img.len, "not a binmig image (bad magic)");
	img.data[1] ^= 0x20;
	/* What a text-mode transfer does to it: \r\n becomes \n. */
	memmove(img.data + 4, img.data + 5, img.len - 5);
	assert_rejected(img.data, img.len - 1, "not a binmig image (bad magic)");
	assert_rejected((const uint8_t *)"hello", 5, "not a binmig image (bad magic)");
	assert_rejected((const uint8_t *)"", 0, "image is empty");
	bm_wbuf_free(&img);
}

static void test_unknown_version(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	bm_store_le32(img.data + 8, 7);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "image version 7 is not supported (this binmig reads versions 1 to 3)");
	bm_store_le32(img.data + 8, 0);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "image version 0 is not supported");
	bm_store_le32(img.data + 8, 4);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "image version 4 is not supported");
	/* Flags in the file header are reserved. */
	bm_store_le32(img.data + 8, BM_IMAGE_VERSION);
	bm_store_le32(img.data + 12, 2);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "unknown flags 0x2");
	bm_wbuf_free(&img);
}

/* Takes the cwd-removed word (version 3) out of the PROCESS section of
 * Q's image RI, for an image of an earlier version. */
static void drop_cwd_removed(struct raw_image *ri, const struct bm_process *q)
{
	struct raw_section *proc = &ri->s[find_section(ri, BM_SEC_PROCESS, 0)];
	size_t removed_at = 16 + 4 + strlen(q->comm) + 8 + 32 + 4 + 4 * q->ngroups + 4 + 4 + strlen(q->cwd) + 4 +
			    strlen(q->root);
	assert_int_equal(bm_load_le32(proc->payload + removed_at), 0);
	memmove(proc->payload + removed_at, proc->payload + removed_at + 4, proc->len - removed_at - 4);
	proc->len -= 4;
}

/* IMG, of a VERSION before timers were carried, reads as Q, without timers,
 * to its END. */
static void assert_old_image_reads_as(const struct bm_wbuf *img, uint32_t version, struct bm_process *q)
{
	struct mem_input in = { img->data, img->len, 0, 0 };
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(r.version, version);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	int64_t read_at = q->timers.realtime_ns;
	q->timers.realtime_ns = 0; /* not read: the image has no timers */
	assert_process_equal(q, &got);
	q->timers.realtime_ns = read_at;
	struct bm_page_run run;
	assert_int_equal(bm_image_next_pages(&r, &run), 0);
	bm_process_free(&got);
	bm_image_reader_free(&r);
}

/* Version 1, written before descriptor policies existed, is the same
 * but for the four fields at the end of each descriptor entry: it is
 * still read, and means that no descriptor was replaced. */
static void test_version_1_is_still_read(void **state)
{
	(void)state;
	/* The full process without its replaced descriptors and the kinds
	 * version 3 brought (signalfd, epoll, inotify), which version 1 cannot hold. */
	struct bm_process q;
	make_process(&q, true);
	strip_timers(&q);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < q.nfds; i++) {
		if (q.fds[i].replaced || q.fds[i].kind >= BM_FD_SIGNALFD) {
			free(q.fds[i].path);
			free(q.fds[i].was_link);
			free(q.fds[i].data);
			continue;
		}
		q.fds[kept++] = q.fds[i];
	}
	q.nfds = kept;
	struct bm_wbuf img;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct raw_image v1;
	split_image(&img, &v1);
	bm_wbuf_free(&img);
	/* Nor the cwd-removed word after root in PROCESS (version 3)... */
	drop_cwd_removed(&v1, &q);
	/* ...nor its ATTRS and TIMERS sections. */
	drop_section(&v1, BM_SEC_ATTRS);
	drop_section(&v1, BM_SEC_TIMERS);
	struct raw_section *fds = &v1.s[find_section(&v1, BM_SEC_FDS, 0)];
	for (uint32_t i = q.nfds; i-- > 0;) {
		struct fd_layout l = fd_entry(fds, i);
		assert_int_equal(bm_load_le32(fds->payload + l.was_link), 0);
		size_t end = l.was_link + 4, cut = end - l.replaced;
		memmove(fds->payload + l.replaced, fds->payload + end, fds->len - end);
		fds->len -= (uint32_t)cut;
	}
	bm_store_le32(v1.file_header + 8, 1);
	bm_store_le32(v1.file_header + 16, bm_crc32c(0, v1.file_header, 16));
	assemble(&v1, &img, true);
	assert_old_image_reads_as(&img, 1, &q);
	/* A version 1 image cannot name the kinds only a policy gives. */
	bm_store_le32(fds->payload + fd_entry(fds, 0).kind, BM_FD_CLOSED);
	bm_wbuf_free(&img);
	assemble(&v1, &img, true);
	assert_rejected(img.data, img.len, "descriptor of kind 7 that no policy replaced");
	bm_wbuf_free(&img);
	free_raw_image(&v1);
	bm_process_free(&q);
}

/* P's image with its file header saying version 2, without the
 * cwd-removed word and its ATTRS section, and without its TIMERS section when DROP_TIMERS. */
static void version_2_image(const struct bm_process *p, bool drop_timers, struct bm_wbuf *img)
{
	struct bm_wbuf v3;
	struct raw_image ri;
	write_image(&v3, p, NULL, 0, -1, NULL);
	split_image(&v3, &ri);
	bm_wbuf_free(&v3);
	drop_cwd_removed(&ri, p);
	drop_section(&ri, BM_SEC_ATTRS);
	if (drop_timers)
		drop_section(&ri, BM_SEC_TIMERS);
	bm_store_le32(ri.file_header + 8, 2);
	bm_store_le32(ri.file_header + 16, bm_crc32c(0, ri.file_header, 16));
	assemble(&ri, img, true);
	free_raw_image(&ri);
}

/* Version 2, written before attributes and timers were carried, has no
 * ATTRS or TIMERS section and no timerfds: still read, as a process without timers; and held to that. */
static void test_version_2_is_still_read(void **state)
{
	(void)state;
	struct bm_process full, q;
	make_process(&full, true);
	make_process(&q, true);
	strip_timers(&q);
	struct bm_wbuf img;
	version_2_image(&q, true, &img);
	assert_old_image_reads_as(&img, 2, &q);
	bm_wbuf_free(&img);
	/* The same as version 2 with its timerfds, or with its TIMERS section. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < full.nfds; i++) {
		if (full.fds[i].kind > BM_FD_TIMERFD) {
			free(full.fds[i].path);
			free(full.fds[i].data);
			continue;
		}
		full.fds[kept++] = full.fds[i];
	}
	full.nfds = kept;
	version_2_image(&full, true, &img);
	assert_rejected(img.data, img.len, "descriptor entry 7 (fd 14): kind 10 in an image of version 2");
	bm_wbuf_free(&img);
	version_2_image(&q, false, &img);
	assert_rejected(img.data, img.len, "only PAGES, ZERO or END may follow the process sections");
	bm_wbuf_free(&img);
	bm_process_free(&q);
	bm_process_free(&full);
}

static void test_error_messages_name_section_and_place(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	struct raw_image ri;
	split_image(&img, &ri);
	/* VMAS starts after the file header and PROCESS. */
	size_t vmas_at = 20 + 20 + ri.s[0].len;
	img.data[vmas_at + 20 + 5] ^= 1;
	char expect[128];
	snprintf(expect, sizeof expect, "image section 2 (VMAS) at byte %zu: payload CRC mismatch", vmas_at);
	assert_rejected(img.data, img.len, expect);
	img.data[vmas_at + 20 + 5] ^= 1;
	img.data[vmas_at + 3] ^= 1;
	snprintf(expect, sizeof expect, "image section 2 at byte %zu: section header CRC mismatch", vmas_at);
	assert_rejected(img.data, img.len, expect);
	img.data[vmas_at + 3] ^= 1;
	/* Cut inside the VMAS payload, and exactly before END. */
	snprintf(expect, sizeof expect, "image truncated in section 2 (VMAS) at byte %zu", vmas_at + 30);
	assert_rejected(img.data, vmas_at + 30, expect);
	assert_rejected(img.data, img.len - 20 - 32, "image truncated: it ends at byte");
	assert_rejected(img.data, img.len - 20 - 32, "without an END section");
	assert_rejected(img.data, vmas_at, "before its VMAS section");
	assert_rejected(img.data, vmas_at + 7, "image truncated in the header of section 2");
	free_raw_image(&ri);
	bm_wbuf_free(&img);
}

/* ---- the writer's own checks ---- */

static void expect_write_refused(struct bm_process *p, const char *message)
{
	struct bm_wbuf out;
	bm_wbuf_init(&out);
	struct bm_image_writer w;
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, -1), 0);
	char text[1024];
	bm_reset_errors();
	capture_begin();
	int rc = bm_image_write_process(&w, p);
	capture_end(text, sizeof text);
	if (rc >= 0 || bm_exit_code() != BM_EXIT_FAILURE || !strstr(text, message))
		fail_msg("expected the writer to refuse with \"%s\", got rc %d: %s", message, rc, text);
	assert_int_equal(out.len, 20); /* nothing after the file header */
	assert_true(w.count.sections == 0);
	bm_reset_errors();
	bm_image_writer_free(&w);
	bm_wbuf_free(&out);
}

static void test_writer_refuses_what_the_reader_would_reject(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, true);
	uint64_t saved = p.vmas[1].start;
	p.vmas[1].start = p.vmas[0].start;
	expect_write_refused(&p, "VMA 1: 0x400000-0x621000 overlaps or precedes the previous VMA");
	p.vmas[1].start = saved;
	p.vmas[2].kind = 0;
	expect_write_refused(&p, "VMA 2: kind 0 is not a known VMA kind");
	p.vmas[2].kind = BM_VMA_ANON;
	char *path = p.vmas[0].path;
	p.vmas[0].path = NULL;
	expect_write_refused(&p, "VMA 0: file mapping without a path");
	p.vmas[0].path = path;
	p.fds[1].kind = 42;
	expect_write_refused(&p, "kind 42 is not a known descriptor kind");
	p.fds[1].kind = BM_FD_REGULAR;
	p.threads[1].tid = p.threads[0].tid;
	expect_write_refused(&p, "tid 4242 appears twice");
	p.threads[1].tid = 4243;
	p.threads[0].code_len = BM_CODE_WINDOW + 1;
	expect_write_refused(&p, "code window of 97 bytes exceeds 96");
	p.threads[0].code_len = BM_CODE_WINDOW;
	p.comm[15] = 'x';
	expect_write_refused(&p, "comm is not NUL terminated");
	p.comm[15] = '\0';
	p.mm.brk = p.mm.start_brk - 1;
	expect_write_refused(&p, "below start_brk");
	p.mm.brk = p.mm.start_brk;
	char long_path[5000];
	memset(long_path, 'a', sizeof long_path - 1);
	long_path[sizeof long_path - 1] = '\0';
	char *cwd = p.cwd;
	p.cwd = long_path;
	expect_write_refused(&p, "cwd is longer than 4095 bytes");
	p.cwd = cwd;
	uint32_t nthreads = p.nthreads;
	p.nthreads = 0;
	expect_write_refused(&p, "thread count 0 is not in 1..65536");
	p.nthreads = nthreads;
	int64_t read_at = p.timers.realtime_ns;
	p.timers.realtime_ns = 0;
	expect_write_refused(&p, "cannot write image section TIMERS: reading time 0 is not positive");
	p.timers.realtime_ns = read_at;
	p.timers.ntimerfds = 0;
	expect_write_refused(&p, "0 timerfd entries for 1 timerfds in FDS");
	p.timers.ntimerfds = 1;
	p.timers.posix[1].tid = 4244;
	expect_write_refused(&p, "POSIX timer entry 1: target thread 4244 is not a thread of the process");
	p.timers.posix[1].tid = 4243;
	/* Everything restored: accepted. */
	struct bm_wbuf img;
	write_image(&img, &p, NULL, 0, -1, NULL);
	bm_wbuf_free(&img);
	bm_process_free(&p);
}

static void test_writer_enforces_order_and_run_limits(void **state)
{
	(void)state;
	struct bm_process p;
	make_process(&p, false);
	struct bm_wbuf out;
	bm_wbuf_init(&out);
	struct bm_image_writer w;
	uint8_t *page = calloc(BM_IMAGE_MAX_RUN_PAGES + 1, PAGE);
	assert_non_null(page);
	quiet_begin();
	assert_true(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, 0) < 0);
	assert_true(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, 10) < 0);
	bm_wbuf_clear(&out);
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){ mem_writev, &out }, -1), 0);
	assert_true(bm_image_write_pages(&w, 0x600000, page, 1) < 0);
	assert_true(bm_image_write_zero(&w, 0x600000, 1) < 0);
	assert_true(bm_image_writer_finish(&w) < 0);
	assert_int_equal(bm_image_write_process(&w, &p), 0);
	assert_true(bm_image_write_process(&w, &p) < 0);
	assert_true(bm_image_write_pages(&w, 0x600000, page, 0) < 0);
	assert_true(bm_image_write_pages(&w, 0x600000, page, BM_IMAGE_MAX_RUN_PAGES + 1) < 0);
	assert_true(bm_image_write_pages(&w, 0x600001, page, 1) < 0);
	assert_true(bm_image_write_pages(&w, 0xfffffffffffff000ull, page, 2) < 0);
	assert_true(bm_image_write_pages(&w, 0x600000, NULL, 1) < 0);
	assert_true(bm_image_write_zero(&w, 0x600000, BM_IMAGE_MAX_RUN_PAGES + 1) < 0);
	assert_int_equal(bm_image_write_pages(&w, 0xfffffffffffff000ull, page, 1), 0); /* the last page is fine */
	assert_int_equal(bm_image_writer_finish(&w), 0);
	assert_true(bm_image_write_zero(&w, 0x600000, 1) < 0);
	assert_true(bm_image_writer_finish(&w) < 0);
	stderr_restore();
	assert_int_equal(bm_exit_code(), BM_EXIT_FAILURE);
	bm_reset_errors();
	assert_int_equal(read_image(out.data, out.len, 0), 0);
	bm_image_writer_free(&w);
	free(page);
	bm_wbuf_free(&out);
	bm_process_free(&p);
}

static void test_section_names(void **state)
{
	(void)state;
	static const char *const names[] = { "PROCESS", "VMAS", "FDS", "SIGNALS", "THREAD", "PAGES", "ZERO", "END",
					     "ATTRS", "TIMERS" };
	for (uint32_t t = BM_SEC_PROCESS; t <= BM_SEC_LAST; t++)
		assert_string_equal(bm_section_name(t), names[t - 1]);
	assert_string_equal(bm_section_name(0), "unknown");
	assert_string_equal(bm_section_name(BM_SEC_LAST + 1), "unknown");
}

static void test_process_free(void **state)
{
	(void)state;
	struct bm_process p;
	memset(&p, 0, sizeof p);
	bm_process_free(&p); /* empty is fine */
	make_process(&p, true);
	bm_process_free(&p);
	assert_null(p.vmas);
	assert_null(p.threads);
	assert_int_equal(p.nthreads, 0);
	bm_process_free(&p); /* and twice */
	bm_process_free(NULL);
}

/* ---- CRC-32C ---- */

static void test_crc32c_vectors(void **state)
{
	(void)state;
	uint8_t buf[32];
	assert_int_equal(bm_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(bm_crc32c_sw(0, "123456789", 9), 0xE3069283);
	assert_int_equal(bm_crc32c(0, "", 0), 0);
	/* RFC 3720 B.4 */
	memset(buf, 0, sizeof buf);
	assert_int_equal(bm_crc32c(0, buf, 32), 0x8A9136AA);
	assert_int_equal(bm_crc32c_sw(0, buf, 32), 0x8A9136AA);
	memset(buf, 0xff, sizeof buf);
	assert_int_equal(bm_crc32c(0, buf, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(bm_crc32c(0, buf, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(bm_crc32c(0, buf, 32), 0x113FDB5C);
	/* Pieces chain. */
	assert_int_equal(bm_crc32c(bm_crc32c(0, "1234", 4), "56789", 5), 0xE3069283);
	if (bm_crc32c_hw_available()) {
		assert_int_equal(bm_crc32c_hw(0, "123456789", 9), 0xE3069283);
		assert_int_equal(bm_crc32c_hw(bm_crc32c_hw(0, "12345", 5), "6789", 4), 0xE3069283);
	}
}

static void test_crc32c_hw_matches_sw(void **state)
{
	(void)state;
	if (!bm_crc32c_hw_available())
		skip();
	size_t size = 3 * 8192 * 3 + 3 * 256 * 3 + 100;
	uint8_t *buf = dup_random(size + 16);
	/* Lengths around every block boundary of the three-stream code, odd and even, at every alignment. */
	static const size_t lengths[] = { 0, 1, 7, 8, 9, 15, 17, 255, 767, 768, 769, 1023, 3 * 8192 - 1, 3 * 8192,
					  3 * 8192 + 1, 3 * 8192 + 769, 6 * 8192 + 3, 70001 };
	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
		for (size_t off = 0; off < 8; off++) {
			assert_true(lengths[i] + off <= size + 16);
			uint32_t seed = (uint32_t)rng();
			assert_int_equal(bm_crc32c_hw(seed, buf + off, lengths[i]), bm_crc32c_sw(seed, buf + off, lengths[i]));
		}
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(rng() % size) | 1;
		size_t off = (size_t)(rng() % 16);
		if (len + off > size + 16)
			len = size + 16 - off;
		assert_int_equal(bm_crc32c_hw(0, buf + off, len), bm_crc32c_sw(0, buf + off, len));
		assert_int_equal(bm_crc32c(0, buf + off, len), bm_crc32c_sw(0, buf + off, len));
	}
	free(buf);
}

/* ---- benchmark (by hand: test_image --bench) ---- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int null_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
	(void)ctx;
	(void)iov;
	(void)iovcnt;
	return 0;
}

static int bench(void)
{
	const size_t size = 64u << 20;
	uint8_t *buf = malloc(size);
	if (!buf)
		return 1;
	fill_random(buf, size);
	uint32_t sink = 0;
	for (int variant = 0; variant < 2; variant++) {
		if (variant == 0 && !bm_crc32c_hw_available())
			continue;
		uint32_t (*fn)(uint32_t, const void *, size_t) = variant == 0 ? bm_crc32c_hw : bm_crc32c_sw;
		int reps = variant == 0 ? 16 : 2;
		fn(0, buf, size);
		double t0 = now_s();
		for (int i = 0; i < reps; i++)
			sink ^= fn(sink, buf, size);
		double t = now_s() - t0;
		printf("%-14s 64 MiB x %d: %.2f GB/s\n", variant == 0 ? "crc32c hw" : "crc32c sw", reps,
		       (double)size * reps / t / 1e9);
	}
	int null_fd = open("/dev/null", O_WRONLY);
	struct { const char *name; struct bm_sink sink; int level; } outs[] = {
		{ "write_pages -> /dev/null", bm_fd_sink(&null_fd), -1 },
		{ "write_pages -> no-op sink", { null_writev, NULL }, -1 },
	};
	/* A one-thread process first, so that page runs may follow. */
	struct bm_process p;
	memset(&p, 0, sizeof p);
	struct bm_thread leader = { .tid = 1, .stop_kind = BM_STOP_USER };
	p.pid = 1;
	p.nthreads = 1;
	p.threads = &leader;
	for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
		struct bm_image_writer w;
		if (bm_image_writer_init(&w, outs[o].sink, outs[o].level) < 0 || bm_image_write_process(&w, &p) < 0)
			return 1;
		const size_t run = (size_t)BM_IMAGE_MAX_RUN_PAGES * PAGE;
		double t0 = now_s();
		for (int rep = 0; rep < 16; rep++)
			for (size_t off = 0; off + run <= size; off += run)
				if (bm_image_write_pages(&w, 0x10000000 + off, buf + off, BM_IMAGE_MAX_RUN_PAGES) < 0)
					return 1;
		double t = now_s() - t0;
		printf("%-26s 1 GiB in 4 MiB runs: %.2f GB/s\n", outs[o].name, (double)size * 16 / t / 1e9);
		bm_image_writer_free(&w);
	}
	close(null_fd);
	/* zlib level 1 on random and on text-like pages (stored raw / compressed). */
	struct bm_image_writer w;
	if (bm_image_writer_init(&w, (struct bm_sink){ null_writev, NULL }, 1) < 0 || bm_image_write_process(&w, &p) < 0)
		return 1;
	for (int kind = 0; kind < 2; kind++) {
		const size_t bytes = 64u << 20;
		if (kind == 1)
			fill_compressible(buf, bytes, 0);
		uint64_t enc0 = w.count.page_bytes_encoded;
		double t0 = now_s();
		for (size_t off = 0; off < bytes; off += (size_t)BM_IMAGE_MAX_RUN_PAGES * PAGE)
			bm_image_write_pages(&w, 0x10000000 + off, buf + off, BM_IMAGE_MAX_RUN_PAGES);
		double t = now_s() - t0;
		printf("zlib -1 %-18s 64 MiB: %.0f MB/s, ratio %.3f\n", kind ? "text-like pages" : "random pages",
		       (double)bytes / t / 1e6, (double)(w.count.page_bytes_encoded - enc0) / (double)bytes);
	}
	bm_image_writer_free(&w);
	free(buf);
	return sink == 0x12345678; /* keeps the CRC loops from being optimised away */
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--bench") == 0)
		return bench();
#define TEST(f) cmocka_unit_test_teardown(f, restore_stderr_teardown)
	const struct CMUnitTest tests[] = {
		TEST(test_crc32c_vectors),
		TEST(test_crc32c_hw_matches_sw),
		TEST(test_section_names),
		TEST(test_process_free),
		TEST(test_round_trip_raw),
		TEST(test_round_trip_zlib),
		TEST(test_round_trip_minimal_process),
		TEST(test_fd_sink_and_source),
		TEST(test_every_bit_flip_is_detected),
		TEST(test_every_truncation_is_detected),
		TEST(test_reassembly_without_change_is_accepted),
		TEST(test_crafted_fields_are_rejected_despite_valid_crc),
		TEST(test_random_damage_with_valid_crc_never_crashes),
		TEST(test_bad_magic),
		TEST(test_unknown_version),
		TEST(test_version_1_is_still_read),
		TEST(test_version_2_is_still_read),
		TEST(test_error_messages_name_section_and_place),
		TEST(test_writer_refuses_what_the_reader_would_reject),
		TEST(test_writer_enforces_order_and_run_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

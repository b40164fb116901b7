/* The process the image tests write (test_image*.c): fully populated or
 * small but complete, compared field by field after a round trip; and the
 * small image the exhaustive damage tests work on. */
#ifndef BINMIG_UNIT_PROCESS_H
#define BINMIG_UNIT_PROCESS_H

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

#include "fd_watch.h"
#include "file_locks.h"
#include "unit_image.h"

/* ---- a fully populated process ---- */

static inline void make_thread(struct bm_thread *t, int32_t tid, uint32_t xstate_len, uint32_t npending, uint32_t code_len)
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

static inline void add_vma(struct bm_process *p, uint64_t start, uint64_t end, uint32_t prot, uint32_t kind, uint32_t flags,
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

static inline void add_fd(struct bm_process *p, int32_t fd, uint32_t kind, uint32_t flags, uint64_t pos, int32_t shares_with,
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
	f->owner_uid = 1000 + (uint32_t)fd;
	f->owner_gid = 100 + (uint32_t)fd;
	f->owner_known = true;
}

/* What an image from before version 11 says of where P's descriptors'
 * signals go: nowhere (O_ASYNC is in their flags, of every version). */
static inline void forget_sigio(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		p->fds[i].sig_owner = 0;
		p->fds[i].sig_owner_type = 0;
		p->fds[i].sig = 0;
		p->fds[i].sig_known = 0;
		p->fds[i].sig_async_fd = 0;
		p->fds[i].sig_cred_uid = p->fds[i].sig_cred_euid = 0;
	}
}

/* What an image from before version 14 says of the counters the dump
 * reads (kstate.h): not read. */
static inline void forget_counters(struct bm_process *p)
{
	p->timers.next_id_known = false;
	p->timers.next_id = 0;
	for (uint32_t i = 0; i < p->nfds; i++)
		p->fds[i].next_wd = 0;
}

/* What an image from before version 15 says of pipes: no layout of their
 * buffers. */
static inline void forget_layouts(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		free(p->fds[i].pipe_bufs);
		p->fds[i].pipe_bufs = NULL;
		p->fds[i].npipe_bufs = 0;
	}
}

/* What an image from before version 18 says of P's descriptors: no
 * opener read. */
static inline void forget_openers(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		free(p->fds[i].opener);
		p->fds[i].opener = NULL;
	}
}

/* What an image from before version 9 says of P's descriptors: no owner. */
static inline void forget_owners(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		p->fds[i].owner_uid = p->fds[i].owner_gid = 0;
		p->fds[i].owner_known = false;
	}
	forget_sigio(p);
}

static inline void add_replaced(struct bm_process *p, int32_t fd, uint32_t kind, uint32_t flags, const char *path,
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
static inline void make_process(struct bm_process *p, bool full)
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
	p->fd_table_size = full ? 512 : 0; /* version 13: it once had a descriptor past 255 */
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
		add_fd(p, 7, BM_FD_PIPE, O_RDONLY | O_ASYNC, 0, -1, NULL);
		/* Its signals go to a thread, with F_SETSIG (version 11). */
		p->fds[p->nfds - 1].sig_owner = 4243;
		p->fds[p->nfds - 1].sig_owner_type = F_OWNER_TID;
		p->fds[p->nfds - 1].sig = 35;
		p->fds[p->nfds - 1].object_id = 4242;
		p->fds[p->nfds - 1].object_flags = 65536;
		p->fds[p->nfds - 1].data = (uint8_t *)strdup("bytes buffered in the pipe");
		p->fds[p->nfds - 1].data_len = 26;
		/* In a buffer that starts within its page, then a packet (version 15). */
		p->fds[p->nfds - 1].pipe_bufs = calloc(2, sizeof *p->fds[p->nfds - 1].pipe_bufs);
		assert_non_null(p->fds[p->nfds - 1].pipe_bufs);
		p->fds[p->nfds - 1].pipe_bufs[0] = (struct bm_pipe_buf){3, 10, 1};
		p->fds[p->nfds - 1].pipe_bufs[1] = (struct bm_pipe_buf){0, 16, 2};
		p->fds[p->nfds - 1].npipe_bufs = 2;
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
		p->fds[p->nfds - 1].next_wd = 7; /* version 14: watches 4-6 were removed */
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
	tm->next_id_known = true; /* version 14 */
	tm->next_id = 40;
	tm->itimers[BM_ITIMER_REAL] = (struct bm_itimer){ 1500000000, 250000000 };
	tm->itimers[BM_ITIMER_PROF] = (struct bm_itimer){ 2000000, 0 };
	static const struct bm_posix_timer posix[] = {
		/* id, clock, notify, signo, tid, sigval, value, interval, pending, overrun */
		{ 0, CLOCK_MONOTONIC, SIGEV_SIGNAL, 34, 0, 0x1234abcd, 500000000, 1000000000, 1, 4 },
		/* made last, though not the highest id */
		{ 3, CLOCK_BOOTTIME, SIGEV_SIGNAL | 4, 32, 4243, 0x560f6e5ef460, 0, 0, 2, 0, false, false, true },
		{ 7, CLOCK_REALTIME, SIGEV_NONE, -5, 0, 0xffffffff, 7000000000, 0, 0 },
		{ 9, -6 /* this process's CPU time */, SIGEV_SIGNAL, 12, 0, 9, 3000000, 3000000, 0 },
		/* armed with TIMER_ABSTIME: due at realtime_ns + 5 s, then every minute */
		{ 11, CLOCK_REALTIME, SIGEV_SIGNAL, 35, 0, 0x2a, 5000000000, 60000000000, 0, 0, true },
	};
	tm->nposix = sizeof posix / sizeof posix[0];
	tm->posix = malloc(sizeof posix);
	assert_non_null(tm->posix);
	memcpy(tm->posix, posix, sizeof posix);
	tm->ntimerfds = 1;
	tm->timerfds = calloc(1, sizeof *tm->timerfds);
	assert_non_null(tm->timerfds);
	tm->timerfds[0] = (struct bm_timerfd){ 14, CLOCK_MONOTONIC, TFD_TIMER_ABSTIME, 250000000, 1000000000, 3 };
	static const struct bm_file_lock locks[] = {
		/* fd, kind, write, start, len */
		{ 1, BM_LOCK_POSIX, 1, 0, 100 },
		{ 1, BM_LOCK_POSIX, 0, 200, 0 },
		{ 1, BM_LOCK_OFD, 1, 150, 10 },
		{ 3, BM_LOCK_FLOCK, 0, 0, 0 },
	};
	p->cgroups = strdup("name=systemd:/\nmemory:/user.slice/a b\n:/user.slice/a b\n");
	assert_non_null(p->cgroups);
	p->nlocks = sizeof locks / sizeof locks[0];
	p->locks = malloc(sizeof locks);
	assert_non_null(p->locks);
	memcpy(p->locks, locks, sizeof locks);
	/* Their owners' places in the file's list (version 19): the POSIX
	 * locks' first, the OFD lock's after them. */
	p->locks[0].order = p->locks[1].order = 1;
	p->locks[2].order = 3;
}

/* What an image from before version 19 says of P's locks: no order. */
static inline void forget_lock_orders(struct bm_process *p)
{
	for (uint32_t i = 0; i < p->nlocks; i++)
		p->locks[i].order = 0;
}

static inline void assert_file_id_equal(const struct bm_file_id *a, const struct bm_file_id *b)
{
	assert_true(a->dev == b->dev);
	assert_true(a->ino == b->ino);
	assert_true(a->size == b->size);
	assert_true(a->mtime_ns == b->mtime_ns);
}

static inline void assert_opt_string_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static inline void assert_process_equal(const struct bm_process *a, const struct bm_process *b)
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
	assert_int_equal(a->cwd_removed, b->cwd_removed);
	assert_int_equal(a->cwd_known, b->cwd_known);
	assert_int_equal(a->cwd_mode, b->cwd_mode);
	assert_int_equal(a->cwd_uid, b->cwd_uid);
	assert_int_equal(a->cwd_gid, b->cwd_gid);
	assert_int_equal(a->nmapped_files, b->nmapped_files);
	for (uint32_t i = 0; i < a->nmapped_files; i++) {
		const struct bm_mapped_file *ma = &a->mapped_files[i], *mb = &b->mapped_files[i];
		assert_memory_equal(&ma->file, &mb->file, sizeof ma->file);
		assert_int_equal(ma->mode, mb->mode);
		assert_string_equal(ma->path, mb->path);
		assert_memory_equal(ma->data, mb->data, (size_t)ma->file.size);
		assert_int_equal(ma->memfd, mb->memfd);
		assert_int_equal(ma->owner_known, mb->owner_known);
		assert_int_equal(ma->owner_uid, mb->owner_uid);
		assert_int_equal(ma->owner_gid, mb->owner_gid);
	}
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
	assert_int_equal(a->nguards, b->nguards);
	for (uint32_t i = 0; i < a->nguards; i++)
		assert_true(a->guards[i].start == b->guards[i].start && a->guards[i].end == b->guards[i].end);
	assert_int_equal(a->fd_table_size, b->fd_table_size);
	assert_int_equal(a->nfds, b->nfds);
	for (uint32_t i = 0; i < a->nfds; i++) {
		const struct bm_fd *fa = &a->fds[i], *fb = &b->fds[i];
		assert_int_equal(fa->fd, fb->fd);
		assert_int_equal(fa->kind, fb->kind);
		assert_int_equal(fa->flags, fb->flags);
		assert_true(fa->pos == fb->pos);
		assert_int_equal(fa->shares_with, fb->shares_with);
		assert_int_equal(fa->next_wd, fb->next_wd);
		assert_int_equal(fa->npipe_bufs, fb->npipe_bufs);
		for (uint32_t k = 0; k < fa->npipe_bufs; k++) {
			assert_int_equal(fa->pipe_bufs[k].offset, fb->pipe_bufs[k].offset);
			assert_int_equal(fa->pipe_bufs[k].len, fb->pipe_bufs[k].len);
			assert_int_equal(fa->pipe_bufs[k].flags, fb->pipe_bufs[k].flags);
		}
		assert_int_equal(fa->nstream_skbs, fb->nstream_skbs);
		assert_int_equal(fa->stream_consumed, fb->stream_consumed);
		if (fa->nstream_skbs)
			assert_memory_equal(fa->stream_skbs, fb->stream_skbs, fa->nstream_skbs * sizeof *fa->stream_skbs);
		assert_int_equal(fa->opener != NULL, fb->opener != NULL);
		if (fa->opener)
			assert_memory_equal(fa->opener, fb->opener, sizeof *fa->opener);
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
		assert_int_equal(fa->in_flight, fb->in_flight);
		assert_int_equal(fa->owner_known, fb->owner_known);
		assert_int_equal(fa->owner_uid, fb->owner_uid);
		assert_int_equal(fa->owner_gid, fb->owner_gid);
		assert_int_equal(fa->sig_owner, fb->sig_owner);
		assert_int_equal(fa->sig_owner_type, fb->sig_owner_type);
		assert_int_equal(fa->sig_known, fb->sig_known);
		assert_int_equal(fa->sig_async_fd, fb->sig_async_fd);
		assert_int_equal(fa->sig_cred_uid, fb->sig_cred_uid);
		assert_int_equal(fa->sig_cred_euid, fb->sig_cred_euid);
		assert_int_equal(fa->sig, fb->sig);
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
	assert_int_equal(xa->next_id_known, xb->next_id_known);
	assert_int_equal(xa->next_id, xb->next_id);
	assert_memory_equal(xa->itimers, xb->itimers, sizeof xa->itimers);
	assert_int_equal(xa->nposix, xb->nposix);
	if (xa->nposix)
		assert_memory_equal(xa->posix, xb->posix, xa->nposix * sizeof *xa->posix);
	assert_int_equal(xa->ntimerfds, xb->ntimerfds);
	if (xa->ntimerfds)
		assert_memory_equal(xa->timerfds, xb->timerfds, xa->ntimerfds * sizeof *xa->timerfds);
	assert_opt_string_equal(a->cgroups, b->cgroups);
	assert_int_equal(a->nlocks, b->nlocks);
	if (a->nlocks)
		assert_memory_equal(a->locks, b->locks, a->nlocks * sizeof *a->locks);
}

/* The small image every exhaustive test works on: all section types, a
 * zlib run, a raw run and a zero run. */
static inline void small_image(struct bm_wbuf *img)
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

#endif

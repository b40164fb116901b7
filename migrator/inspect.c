/* `binmig inspect`: a readable account of an image. */
#include "inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "analysis.h"
#include "attrs.h"
#include "fd_policy.h"
#include "fd_inotify.h"
#include "sk_unix.h"
#include "sk_unix_stream_layout.h"
#include "fd_watch.h"
#include "sk_inet.h"
#include "file_locks.h"
#include "log.h"
#include "pipe_layout.h"
#include "memory.h"
#include "tree.h"

static void on_section(void *ctx, uint32_t type, uint64_t offset, uint64_t length, uint32_t flags)
{
	FILE *out = ctx;
	/* Page runs are summarised at the end rather than listed one by one. */
	if (type == BM_SEC_PAGES || type == BM_SEC_ZERO)
		return;
	fprintf(out, "section %-8s at byte %10llu, %8llu bytes%s\n", bm_section_name(type), (unsigned long long)offset,
		(unsigned long long)length, flags ? " (flags set)" : "");
}

static const char *vma_kind_name(const struct bm_vma *v)
{
	switch (v->kind) {
	case BM_VMA_ANON: return v->flags & BM_VMA_HEAP ? "[heap]" : v->flags & BM_VMA_STACK ? "[stack]"
			       : v->flags & BM_VMA_SHMEM ? "[shared anon]" : "[anon]";
	case BM_VMA_VDSO: return "[vdso]";
	case BM_VMA_VVAR: return "[vvar]";
	case BM_VMA_VVAR_VCLOCK: return "[vvar_vclock]";
	case BM_VMA_VSYSCALL: return "[vsyscall]";
	default: return v->path ? v->path : "?";
	}
}

static const char *fd_kind_name(uint32_t kind)
{
	switch (kind) {
	case BM_FD_REGULAR: return "file";
	case BM_FD_DIRECTORY: return "dir";
	case BM_FD_DEVICE: return "device";
	case BM_FD_FIFO: return "fifo";
	case BM_FD_PIPE: return "pipe";
	case BM_FD_EVENTFD: return "eventfd";
	case BM_FD_SIGNALFD: return "signalfd";
	case BM_FD_EPOLL: return "epoll";
	case BM_FD_UNLINKED_FILE: return "unlinked";
	case BM_FD_UNLINKED_FIFO: return "unl-fifo";
	case BM_FD_UNLINKED_DIR: return "unl-dir";
	case BM_FD_INOTIFY: return "inotify";
	case BM_FD_UNIX_SOCKET: return "unix";
	case BM_FD_TCP: return "tcp";
	case BM_FD_UDP: return "udp";
	case BM_FD_CLOSED: return "closed";
	case BM_FD_BROKEN_PIPE:
	case BM_FD_BROKEN_SOCKET: return "broken";
	case BM_FD_TIMERFD: return "timerfd";
	default: return "?";
	}
}

static void print_process(FILE *out, const struct bm_process *p)
{
	fprintf(out, "\nprocess %d (%s): ppid %d, pgid %d, sid %d, uid %u, gid %u, umask %03o, personality 0x%x\n",
		p->pid, p->comm, p->ppid, p->pgid, p->sid, p->uid[0], p->gid[0], p->umask, p->personality);
	fprintf(out, "  exe %s\n  cwd %s\n  root %s\n", p->mm.exe_path, p->cwd, p->root);
	if (p->cgroups) {
		fprintf(out, "  cgroups");
		for (const char *line = p->cgroups; *line; line += strcspn(line, "\n") + 1)
			fprintf(out, " %.*s", (int)strcspn(line, "\n"), line);
		fprintf(out, "\n");
	}
	fprintf(out, "  code 0x%llx-0x%llx  data 0x%llx-0x%llx  brk 0x%llx-0x%llx  stack 0x%llx\n",
		(unsigned long long)p->mm.start_code, (unsigned long long)p->mm.end_code,
		(unsigned long long)p->mm.start_data, (unsigned long long)p->mm.end_data,
		(unsigned long long)p->mm.start_brk, (unsigned long long)p->mm.brk, (unsigned long long)p->mm.start_stack);
	char attrs[768];
	bm_attrs_describe(&p->attrs, attrs, sizeof attrs);
	fprintf(out, "  attributes: %s\n", attrs);
	for (uint32_t i = 0; p->attrs.present && i < p->attrs.nthreads; i++) {
		const struct bm_thread_attrs *t = &p->attrs.threads[i];
		fprintf(out, "  thread %d: policy %u, nice %d, priority %u, time slice %llu ns, I/O priority %#x, timer slack "
			"%llu ns, CPUs %s\n",
			t->tid, t->sched_policy, t->sched_nice, t->sched_priority, (unsigned long long)t->sched_slice,
			t->ioprio, (unsigned long long)t->timerslack_ns, t->affinity_all ? "all" : "some");
	}

	fprintf(out, "\n%u memory areas:\n", p->nvmas);
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		fprintf(out, "  %012llx-%012llx %c%c%c%c %8llu KiB  %s", (unsigned long long)v->start,
			(unsigned long long)v->end, v->prot & PROT_READ ? 'r' : '-', v->prot & PROT_WRITE ? 'w' : '-',
			v->prot & PROT_EXEC ? 'x' : '-', v->flags & BM_VMA_SHARED ? 's' : 'p',
			(unsigned long long)(v->end - v->start) / 1024, vma_kind_name(v));
		if (v->kind == BM_VMA_FILE)
			fprintf(out, "%s @0x%llx", v->flags & BM_VMA_DELETED ? " (deleted)" : "", (unsigned long long)v->pgoff);
		else if ((v->flags & BM_VMA_SHMEM) && v->file.ino) /* its object (shmem.h) */
			fprintf(out, " object %llu of %llu KiB @0x%llx", (unsigned long long)v->file.ino,
				(unsigned long long)v->file.size / 1024, (unsigned long long)v->pgoff);
		fputc('\n', out);
	}
	fprintf(out, "\n%u file descriptors:\n", p->nfds);
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		fprintf(out, "  %3d %-7s flags 0%o pos %llu  %s", d->fd, fd_kind_name(d->kind), d->flags,
			(unsigned long long)d->pos, d->path ? d->path : "-");
		if (d->shares_with >= 0)
			fprintf(out, "  (same open file as fd %d)", d->shares_with);
		if (d->in_flight)
			fprintf(out, "  (only in flight in a unix socket queue; closed after the restore)");
		if (d->kind == BM_FD_SIGNALFD)
			fprintf(out, "  (signal mask 0x%llx)", (unsigned long long)d->object_id);
		if (d->kind == BM_FD_UNIX_SOCKET)
			bm_unix_describe_text(out, d);
		if (d->kind == BM_FD_TCP || d->kind == BM_FD_UDP) {
			char text[256];
			bm_sk_inet_describe_text(d, text, sizeof text);
			fputs(text, out);
		}
		int nwatches = d->kind == BM_FD_INOTIFY ? bm_inotify_watches(d, NULL, 0) : 0;
		struct bm_inotify_watch *w = nwatches > 0 ? calloc((size_t)nwatches, sizeof *w) : NULL;
		if (w)
			bm_inotify_watches(d, w, (uint32_t)nwatches);
		for (int k = 0; w && k < nwatches; k++)
			fprintf(out, "\n      watch %d on %.*s, mask 0x%x", w[k].wd, (int)w[k].len, w[k].path, w[k].mask);
		free(w);
		if (d->next_wd)
			fprintf(out, "\n      next watch number %u", d->next_wd);
		if (d->opener)
			fprintf(out, "\n      opened as uid %u/%u/%u/%u gid %u/%u/%u/%u, %u groups, capabilities effective "
				"%#llx permitted %#llx", d->opener->uid[0], d->opener->uid[1], d->opener->uid[2],
				d->opener->uid[3], d->opener->gid[0], d->opener->gid[1], d->opener->gid[2], d->opener->gid[3],
				d->opener->ngroups, (unsigned long long)d->opener->cap_eff,
				(unsigned long long)d->opener->cap_prm);
		if (d->npipe_bufs)
			fprintf(out, "\n      its %u bytes in %u buffers (bytes at offset, flags):", d->data_len, d->npipe_bufs);
		for (uint32_t k = 0; k < d->npipe_bufs; k++)
			fprintf(out, " %u@%u%s", d->pipe_bufs[k].len, d->pipe_bufs[k].offset,
				d->pipe_bufs[k].flags == BM_PIPE_BUF_PACKET	 ? " packet"
				: d->pipe_bufs[k].flags == BM_PIPE_BUF_CAN_MERGE ? " merge"
										 : "");
		if (d->nstream_skbs)
			fprintf(out, "\n      its queue in %u skbs as written (bytes):", d->nstream_skbs);
		for (uint32_t k = 0; k < d->nstream_skbs; k++) {
			fprintf(out, " %u", d->stream_skbs[k] & BM_STREAM_SKB_LEN);
			if (!k && d->stream_consumed)
				fprintf(out, " (%u read)", d->stream_consumed);
			if (d->stream_skbs[k] & BM_STREAM_SKB_RIGHTS)
				fprintf(out, " (with descriptors)");
		}
		for (uint32_t k = 0; k < bm_watch_count(d); k++) {
			struct bm_watch w = bm_watch_get(d, k);
			fprintf(out, "\n      watches fd %d for events 0x%x, data 0x%llx", w.fd, w.events,
				(unsigned long long)w.data);
		}
		if (d->replaced) {
			char text[2 * PATH_MAX + 256];
			bm_fd_replacement_text(d, text, sizeof text);
			fprintf(out, "\n      replaced: %s", text);
		}
		fputc('\n', out);
	}
	fprintf(out, "\nsignal handlers:\n");
	for (int s = 1; s <= BM_NSIG; s++) {
		const struct bm_sigaction *a = &p->sigactions[s - 1];
		if (a->handler == 0 && a->flags == 0)
			continue;
		fprintf(out, "  %2d %-10s %s flags 0x%llx mask 0x%llx\n", s, s < SIGRTMIN ? sigabbrev_np(s) ?: "?" : "RT",
			a->handler == 1 ? "ignored" : "handler", (unsigned long long)a->flags, (unsigned long long)a->mask);
	}
	fprintf(out, "  %u process-wide pending signal(s)\n", p->nshared_pending);
}

static const char *clock_name(int32_t clockid)
{
	static const char *const names[] = {"REALTIME", "MONOTONIC", "PROCESS_CPUTIME", "THREAD_CPUTIME", "MONOTONIC_RAW",
					    "REALTIME_COARSE", "MONOTONIC_COARSE", "BOOTTIME", "REALTIME_ALARM",
					    "BOOTTIME_ALARM", "SGI_CYCLE", "TAI"};
	if (clockid >= 0 && clockid < (int32_t)(sizeof names / sizeof *names))
		return names[clockid];
	return clockid < 0 ? (clockid & 4 ? "a thread's CPU time" : "a process's CPU time") : "?";
}

/* "1.500000000 s left, every 0.250000000 s" or "disarmed". */
static void print_times(FILE *out, uint64_t value, uint64_t interval)
{
	if (!value) {
		fprintf(out, "disarmed");
		return;
	}
	fprintf(out, "%llu.%09llu s left", (unsigned long long)(value / 1000000000), (unsigned long long)(value % 1000000000));
	if (interval)
		fprintf(out, ", every %llu.%09llu s", (unsigned long long)(interval / 1000000000),
			(unsigned long long)(interval % 1000000000));
}

static void print_timers(FILE *out, const struct bm_timers *tm)
{
	static const char *const itimer_names[BM_NITIMERS] = {"ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"};
	static const char *const how[] = {"signal", "none", "thread"};
	if (!tm->realtime_ns) {
		fprintf(out, "\ntimers: not in this image (version 2 or earlier)\n");
		return;
	}
	fprintf(out, "\ntimers, read at CLOCK_REALTIME %lld.%09lld%s:\n", (long long)(tm->realtime_ns / 1000000000),
		(long long)(tm->realtime_ns % 1000000000), tm->restore_ids ? " (PR_TIMER_CREATE_RESTORE_IDS on)" : "");
	if (tm->next_id_known)
		fprintf(out, "  next POSIX timer id %u\n", tm->next_id);
	for (int w = 0; w < BM_NITIMERS; w++)
		if (tm->itimers[w].value_ns) {
			fprintf(out, "  %-14s ", itimer_names[w]);
			print_times(out, tm->itimers[w].value_ns, tm->itimers[w].interval_ns);
			fputc('\n', out);
		}
	for (uint32_t i = 0; i < tm->nposix; i++) {
		const struct bm_posix_timer *t = &tm->posix[i];
		fprintf(out, "  POSIX timer %d: clock %s (%d), notify %s", t->id, clock_name(t->clockid), t->clockid,
			how[(t->notify & 3) < 3 ? t->notify & 3 : 0]);
		if (t->notify & 4)
			fprintf(out, " %d to thread %d", t->signo, t->tid);
		else if (t->notify != SIGEV_NONE)
			fprintf(out, " %d to the process", t->signo);
		fprintf(out, ", value 0x%llx, ", (unsigned long long)t->sigval);
		if (t->absolute)
			fprintf(out, "absolute, ");
		if (t->pending)
			fprintf(out, "%ssignal pending (%u), ", t->stale ? "stale " : "", t->pending);
		if (t->overrun)
			fprintf(out, "last signal counted %d overruns, ", t->overrun);
		print_times(out, t->value_ns, t->interval_ns);
		fputc('\n', out);
	}
	for (uint32_t i = 0; i < tm->nposix; i++)
		if (tm->posix[i].newest)
			fprintf(out, "  POSIX timer %d was made last (the restore makes it last)\n", tm->posix[i].id);
	for (uint32_t i = 0; i < tm->ntimerfds; i++) {
		const struct bm_timerfd *t = &tm->timerfds[i];
		fprintf(out, "  timerfd fd %d: clock %s%s%s, %llu unread, ", t->fd, clock_name(t->clockid),
			t->settime_flags & 1 ? ", absolute" : "", t->settime_flags & 2 ? ", cancel on set" : "",
			(unsigned long long)t->ticks);
		print_times(out, t->value_ns, t->interval_ns);
		fputc('\n', out);
	}
	if (!tm->itimers[0].value_ns && !tm->itimers[1].value_ns && !tm->itimers[2].value_ns && !tm->nposix &&
	    !tm->ntimerfds)
		fprintf(out, "  none\n");
}

static void print_thread(FILE *out, const struct bm_thread *t)
{
	const struct user_regs_struct *r = &t->regs;
	fprintf(out, "\nthread %d\n", t->tid);
	fprintf(out, "  rip %016llx  rsp %016llx  rbp %016llx  eflags %08llx\n", r->rip, r->rsp, r->rbp, r->eflags);
	fprintf(out, "  rax %016llx  rbx %016llx  rcx %016llx  rdx %016llx\n", r->rax, r->rbx, r->rcx, r->rdx);
	fprintf(out, "  rsi %016llx  rdi %016llx  r8  %016llx  r9  %016llx\n", r->rsi, r->rdi, r->r8, r->r9);
	fprintf(out, "  r10 %016llx  r11 %016llx  r12 %016llx  r13 %016llx\n", r->r10, r->r11, r->r12, r->r13);
	fprintf(out, "  r14 %016llx  r15 %016llx  orig_rax %lld\n", r->r14, r->r15, (long long)r->orig_rax);
	fprintf(out, "  fs_base %016llx  gs_base %016llx  sigmask %016llx  xstate %u bytes\n", r->fs_base, r->gs_base,
		(unsigned long long)t->sigmask, t->xstate_len);
	if (t->altstack_size)
		fprintf(out, "  altstack %016llx size %llu flags 0x%x\n", (unsigned long long)t->altstack_sp,
			(unsigned long long)t->altstack_size, t->altstack_flags);
	if (t->rseq_addr)
		fprintf(out, "  rseq %016llx len %u sig 0x%x\n", (unsigned long long)t->rseq_addr, t->rseq_len, t->rseq_sig);
	fprintf(out, "  %u pending signal(s)\n", t->npending);

	struct bm_stop_info info;
	size_t before = r->rip - t->code_addr;
	if (r->rip < t->code_addr || before > t->code_len)
		before = 0;
	if (bm_classify_stop(r, t->code, before, &info) == 0)
		fprintf(out, "  stopped: %s\n", info.text);
	else
		fprintf(out, "  stopped: in a system call the code analysis cannot confirm\n");
	if (t->code_len)
		bm_disasm_around(out, t->code, t->code_len, t->code_addr, r->rip, 8, 4);
	else
		fprintf(out, "  (no code could be read at the stop)\n");
}

/* One process of the image: its sections (the caller reads them). */
static void print_one(FILE *out, const struct bm_process *p)
{
	print_process(out, p);
	for (uint32_t i = 0; i < p->nthreads; i++)
		print_thread(out, &p->threads[i]);
	print_timers(out, &p->timers);
	for (uint32_t i = 0; i < p->nmapped_files; i++) {
		const struct bm_mapped_file *m = &p->mapped_files[i];
		fprintf(out, "  mapped unlinked file %s: %llu bytes, mode %04o, carried without a descriptor\n", m->path,
			(unsigned long long)m->file.size, m->mode);
	}
	for (uint32_t i = 0; i < p->nlocks; i++) {
		char what[96];
		const struct bm_file_lock *l = &p->locks[i];
		bm_lock_describe(l, what, sizeof what);
		char place[64] = ""; /* file_lock_order.h */
		if (l->order)
			snprintf(place, sizeof place, ", its owner's first at place %u of the file's locks", l->order);
		if (l->through_pid)
			fprintf(out, "  lock through fd %d of process %d: %s, taken by this process, which holds that open "
				"file no more\n", l->fd, l->through_pid, what);
		else if (l->by_standin && l->standin_pid > 0)
			fprintf(out, "  lock fd %d: %s%s, taken by a stand-in for its taker (PID %d where free)\n", l->fd,
				what, place, l->standin_pid);
		else if (l->by_standin)
			fprintf(out, "  lock fd %d: %s%s, taken by a stand-in for its gone taker (any PID)\n", l->fd, what,
				place);
		else
			fprintf(out, "  lock fd %d: %s%s\n", l->fd, what, place);
	}
}

/* A tree image's table: returns the number of live members, or negative. */
static int print_tree(FILE *out, const uint8_t *payload, uint32_t len, uint32_t version)
{
	struct bm_tree_image ti;
	char why[256];
	if (bm_tree_decode(payload, len, version, &ti, why, sizeof why) < 0)
		return bm_error(BM_EXIT_IMAGE, "image: the tree table: %s", why), -EBADMSG;
	static const char *const states[] = {"running", "stopped", "zombie"};
	fprintf(out, "tree of %u processes (%u live), parents before their children:\n", ti.tree.n,
		bm_tree_live_count(&ti.tree));
	fprintf(out, "  %8s %8s %8s %8s  %-8s %s\n", "PID", "PPID", "PGID", "SID", "STATE", "COMM");
	for (uint32_t i = 0; i < ti.tree.n; i++) {
		const struct bm_tree_node *n = &ti.tree.nodes[i];
		fprintf(out, "  %8d %8d %8d %8d  %-8s %s", n->pid, n->ppid, n->pgid, n->sid, states[n->state], n->comm);
		if (n->state == BM_TREE_ZOMBIE)
			fprintf(out, " (wait status %#x)", (unsigned)n->exit_status);
		if (n->has_creds)
			fprintf(out, " (exited as uid %u/%u/%u/%u gid %u/%u/%u/%u, %u groups)", n->creds.ids.uid[0], n->creds.ids.uid[1],
				n->creds.ids.uid[2], n->creds.ids.uid[3], n->creds.ids.gid[0], n->creds.ids.gid[1], n->creds.ids.gid[2],
				n->creds.ids.gid[3], n->creds.ids.ngroups);
		if (i > 0 && n->exit_signal == 0)
			fprintf(out, " (its exit sends its parent no signal)");
		else if (i > 0 && n->exit_signal != SIGCHLD)
			fprintf(out, " (its exit sends its parent signal %d)", n->exit_signal);
		if (n->state == BM_TREE_STOPPED)
			fprintf(out, " (by signal %d, its stop %s)", (n->exit_status >> 8) & 0xff,
				n->reports & BM_TREE_REPORT_STOPPED ? "not yet collected by its parent" : "collected by its parent");
		if (n->gone)
			fprintf(out, " (the leader of its %s%s%s has exited)", n->gone & BM_TREE_GONE_SID ? "session" : "",
				n->gone == (BM_TREE_GONE_SID | BM_TREE_GONE_PGID) ? " and of its " : "",
				n->gone & BM_TREE_GONE_PGID ? "group" : "");
		if (n->shares)
			fprintf(out, " (its parent's %s%s%s)", n->shares & BM_TREE_SHARES_FILES ? "descriptor table" : "",
				n->shares == (BM_TREE_SHARES_FILES | BM_TREE_SHARES_FS) ? ", " : "",
				n->shares & BM_TREE_SHARES_FS ? "cwd, root and umask" : "");
		fputc('\n', out);
	}
	for (uint32_t k = 0; k < ti.nshares; k++)
		fprintf(out, "%s%d:fd %d", k == 0 ? "  one open file description, shared in the tree:\n    " :
					ti.shares[k].group == ti.shares[k - 1].group ? ", " : "\n    ",
			ti.tree.nodes[ti.shares[k].node].pid, ti.shares[k].fd);
	if (ti.nshares)
		fputc('\n', out);
	int live = (int)bm_tree_live_count(&ti.tree);
	bm_tree_image_free(&ti);
	return live;
}

int bm_inspect(FILE *out, struct bm_image_reader *r)
{
	r->on_section = on_section;
	r->on_section_ctx = out;
	uint8_t *tree;
	uint32_t tree_len;
	int rc = bm_image_read_tree(r, &tree, &tree_len);
	int members = 1;
	if (rc > 0)
		members = rc = print_tree(out, tree, tree_len, r->version);
	free(tree);
	if (rc < 0)
		return rc;
	for (int m = 0; m < members; m++) {
		struct bm_process p = {0};
		if ((rc = bm_image_read_process(r, &p)) < 0)
			return rc;
		if (members > 1 || r->tree)
			fprintf(out, "\n==== member %d of the tree ====\n", m);
		print_one(out, &p);
		bm_process_free(&p);
	}
	/* Walk the page runs so that every CRC is checked. */
	struct bm_page_run run;
	uint64_t runs = 0;
	while ((rc = bm_image_next_pages(r, &run)) > 0 || (rc == 0 && !r->ended))
		runs += rc > 0;
	if (rc == 0)
		fprintf(out, "\npages: %llu stored, %llu zero, in %llu runs; image %llu bytes, all sections verified\n",
			(unsigned long long)r->count.pages_stored, (unsigned long long)r->count.pages_zero,
			(unsigned long long)runs, (unsigned long long)r->count.bytes);
	return rc;
}

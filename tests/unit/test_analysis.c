/* Unit tests for migrator/analysis.c: stop classification from synthetic
 * registers and code bytes, the syscall finder on the real vDSO, on a
 * hand-built ELF image and on corrupted input, the disassembly listing, and
 * the system call name table against the C library's SYS_* numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>

#include "analysis.h"
#include "log.h"

/* ---- system call names ---- */

struct sys_entry {
	long nr;
	const char *name;
};

/* Every SYS_* macro of <sys/syscall.h>: number from the C library, name from
 * the macro's own spelling. */
#define E(name) { SYS_##name, #name },
static const struct sys_entry libc_syscalls[] = {
	E(read) E(write) E(open) E(close) E(stat) E(fstat) E(lstat) E(poll) E(lseek) E(mmap)
	E(mprotect) E(munmap) E(brk) E(rt_sigaction) E(rt_sigprocmask) E(rt_sigreturn) E(ioctl)
	E(pread64) E(pwrite64) E(readv) E(writev) E(access) E(pipe) E(select) E(sched_yield) E(mremap)
	E(msync) E(mincore) E(madvise) E(shmget) E(shmat) E(shmctl) E(dup) E(dup2) E(pause)
	E(nanosleep) E(getitimer) E(alarm) E(setitimer) E(getpid) E(sendfile) E(socket) E(connect)
	E(accept) E(sendto) E(recvfrom) E(sendmsg) E(recvmsg) E(shutdown) E(bind) E(listen)
	E(getsockname) E(getpeername) E(socketpair) E(setsockopt) E(getsockopt) E(clone) E(fork)
	E(vfork) E(execve) E(exit) E(wait4) E(kill) E(uname) E(semget) E(semop) E(semctl) E(shmdt)
	E(msgget) E(msgsnd) E(msgrcv) E(msgctl) E(fcntl) E(flock) E(fsync) E(fdatasync) E(truncate)
	E(ftruncate) E(getdents) E(getcwd) E(chdir) E(fchdir) E(rename) E(mkdir) E(rmdir) E(creat)
	E(link) E(unlink) E(symlink) E(readlink) E(chmod) E(fchmod) E(chown) E(fchown) E(lchown)
	E(umask) E(gettimeofday) E(getrlimit) E(getrusage) E(sysinfo) E(times) E(ptrace) E(getuid)
	E(syslog) E(getgid) E(setuid) E(setgid) E(geteuid) E(getegid) E(setpgid) E(getppid) E(getpgrp)
	E(setsid) E(setreuid) E(setregid) E(getgroups) E(setgroups) E(setresuid) E(getresuid)
	E(setresgid) E(getresgid) E(getpgid) E(setfsuid) E(setfsgid) E(getsid) E(capget) E(capset)
	E(rt_sigpending) E(rt_sigtimedwait) E(rt_sigqueueinfo) E(rt_sigsuspend) E(sigaltstack) E(utime)
	E(mknod) E(uselib) E(personality) E(ustat) E(statfs) E(fstatfs) E(sysfs) E(getpriority)
	E(setpriority) E(sched_setparam) E(sched_getparam) E(sched_setscheduler) E(sched_getscheduler)
	E(sched_get_priority_max) E(sched_get_priority_min) E(sched_rr_get_interval) E(mlock)
	E(munlock) E(mlockall) E(munlockall) E(vhangup) E(modify_ldt) E(pivot_root) E(_sysctl) E(prctl)
	E(arch_prctl) E(adjtimex) E(setrlimit) E(chroot) E(sync) E(acct) E(settimeofday) E(mount)
	E(umount2) E(swapon) E(swapoff) E(reboot) E(sethostname) E(setdomainname) E(iopl) E(ioperm)
	E(create_module) E(init_module) E(delete_module) E(get_kernel_syms) E(query_module) E(quotactl)
	E(nfsservctl) E(getpmsg) E(putpmsg) E(afs_syscall) E(tuxcall) E(security) E(gettid)
	E(readahead) E(setxattr) E(lsetxattr) E(fsetxattr) E(getxattr) E(lgetxattr) E(fgetxattr)
	E(listxattr) E(llistxattr) E(flistxattr) E(removexattr) E(lremovexattr) E(fremovexattr)
	E(tkill) E(time) E(futex) E(sched_setaffinity) E(sched_getaffinity) E(set_thread_area)
	E(io_setup) E(io_destroy) E(io_getevents) E(io_submit) E(io_cancel) E(get_thread_area)
	E(lookup_dcookie) E(epoll_create) E(epoll_ctl_old) E(epoll_wait_old) E(remap_file_pages)
	E(getdents64) E(set_tid_address) E(restart_syscall) E(semtimedop) E(fadvise64) E(timer_create)
	E(timer_settime) E(timer_gettime) E(timer_getoverrun) E(timer_delete) E(clock_settime)
	E(clock_gettime) E(clock_getres) E(clock_nanosleep) E(exit_group) E(epoll_wait) E(epoll_ctl)
	E(tgkill) E(utimes) E(vserver) E(mbind) E(set_mempolicy) E(get_mempolicy) E(mq_open)
	E(mq_unlink) E(mq_timedsend) E(mq_timedreceive) E(mq_notify) E(mq_getsetattr) E(kexec_load)
	E(waitid) E(add_key) E(request_key) E(keyctl) E(ioprio_set) E(ioprio_get) E(inotify_init)
	E(inotify_add_watch) E(inotify_rm_watch) E(migrate_pages) E(openat) E(mkdirat) E(mknodat)
	E(fchownat) E(futimesat) E(newfstatat) E(unlinkat) E(renameat) E(linkat) E(symlinkat)
	E(readlinkat) E(fchmodat) E(faccessat) E(pselect6) E(ppoll) E(unshare) E(set_robust_list)
	E(get_robust_list) E(splice) E(tee) E(sync_file_range) E(vmsplice) E(move_pages) E(utimensat)
	E(epoll_pwait) E(signalfd) E(timerfd_create) E(eventfd) E(fallocate) E(timerfd_settime)
	E(timerfd_gettime) E(accept4) E(signalfd4) E(eventfd2) E(epoll_create1) E(dup3) E(pipe2)
	E(inotify_init1) E(preadv) E(pwritev) E(rt_tgsigqueueinfo) E(perf_event_open) E(recvmmsg)
	E(fanotify_init) E(fanotify_mark) E(prlimit64) E(name_to_handle_at) E(open_by_handle_at)
	E(clock_adjtime) E(syncfs) E(sendmmsg) E(setns) E(getcpu) E(process_vm_readv)
	E(process_vm_writev) E(kcmp) E(finit_module) E(sched_setattr) E(sched_getattr) E(renameat2)
	E(seccomp) E(getrandom) E(memfd_create) E(kexec_file_load) E(bpf) E(execveat) E(userfaultfd)
	E(membarrier) E(mlock2) E(copy_file_range) E(preadv2) E(pwritev2) E(pkey_mprotect)
	E(pkey_alloc) E(pkey_free) E(statx) E(io_pgetevents) E(rseq) E(pidfd_send_signal)
	E(io_uring_setup) E(io_uring_enter) E(io_uring_register) E(open_tree) E(move_mount) E(fsopen)
	E(fsconfig) E(fsmount) E(fspick) E(pidfd_open) E(clone3) E(close_range) E(openat2)
	E(pidfd_getfd) E(faccessat2) E(process_madvise) E(epoll_pwait2) E(mount_setattr) E(quotactl_fd)
	E(landlock_create_ruleset) E(landlock_add_rule) E(landlock_restrict_self) E(memfd_secret)
	E(process_mrelease) E(futex_waitv) E(set_mempolicy_home_node)	/* Newer than the Debian 12 headers: checked wherever the headers have them. */
#ifdef SYS_uretprobe
	E(uretprobe)
#endif
#ifdef SYS_uprobe
	E(uprobe)
#endif
#ifdef SYS_cachestat
	E(cachestat)
#endif
#ifdef SYS_fchmodat2
	E(fchmodat2)
#endif
#ifdef SYS_map_shadow_stack
	E(map_shadow_stack)
#endif
#ifdef SYS_futex_wake
	E(futex_wake)
#endif
#ifdef SYS_futex_wait
	E(futex_wait)
#endif
#ifdef SYS_futex_requeue
	E(futex_requeue)
#endif
#ifdef SYS_statmount
	E(statmount)
#endif
#ifdef SYS_listmount
	E(listmount)
#endif
#ifdef SYS_lsm_get_self_attr
	E(lsm_get_self_attr)
#endif
#ifdef SYS_lsm_set_self_attr
	E(lsm_set_self_attr)
#endif
#ifdef SYS_lsm_list_modules
	E(lsm_list_modules)
#endif
#ifdef SYS_mseal
	E(mseal)
#endif
#ifdef SYS_setxattrat
	E(setxattrat)
#endif
#ifdef SYS_getxattrat
	E(getxattrat)
#endif
#ifdef SYS_listxattrat
	E(listxattrat)
#endif
#ifdef SYS_removexattrat
	E(removexattrat)
#endif
#ifdef SYS_open_tree_attr
	E(open_tree_attr)
#endif
#ifdef SYS_file_getattr
	E(file_getattr)
#endif
#ifdef SYS_file_setattr
	E(file_setattr)
#endif
#ifdef SYS_listns
	E(listns)
#endif
};
#undef E

static void test_syscall_names_match_libc(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof libc_syscalls / sizeof libc_syscalls[0]; i++) {
		const char *name = bm_syscall_name(libc_syscalls[i].nr);
		if (!name || strcmp(name, libc_syscalls[i].name) != 0)
			fail_msg("SYS_%s is %ld, table says %s", libc_syscalls[i].name, libc_syscalls[i].nr,
				 name ? name : "(none)");
	}
}

static void test_syscall_names_unique_and_bounded(void **state)
{
	(void)state;
	for (long a = 0; a < 600; a++) {
		const char *name = bm_syscall_name(a);
		if (!name)
			continue;
		assert_true(name[0] != '\0');
		for (long b = a + 1; b < 600; b++) {
			const char *other = bm_syscall_name(b);
			if (other && strcmp(name, other) == 0)
				fail_msg("%s appears as %ld and %ld", name, a, b);
		}
	}
	assert_null(bm_syscall_name(-1));
	assert_null(bm_syscall_name(400));  /* the unused 337-423 range */
	assert_null(bm_syscall_name(100000));
	assert_null(bm_syscall_name(0x40000000));  /* x32 numbering is not this table */
	/* The ones the brief names, beyond what old headers define. */
	assert_string_equal(bm_syscall_name(435), "clone3");
	assert_string_equal(bm_syscall_name(441), "epoll_pwait2");
	assert_string_equal(bm_syscall_name(449), "futex_waitv");
}

/* ---- stop classification ---- */

static const uint8_t code_syscall[] = { 0xb8, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x05 }; /* mov eax,0; syscall */
static const uint8_t code_int80[] = { 0xb8, 0x04, 0x00, 0x00, 0x00, 0xcd, 0x80 };   /* mov eax,4; int 0x80 */
static const uint8_t code_sysenter[] = { 0x89, 0xe5, 0x0f, 0x34 };                  /* mov ebp,esp; sysenter */

static struct user_regs_struct stop_regs(long orig_rax, long rax, unsigned long long rdi)
{
	struct user_regs_struct regs;
	memset(&regs, 0, sizeof regs);
	regs.orig_rax = (unsigned long long)orig_rax;
	regs.rax = (unsigned long long)rax;
	regs.rdi = rdi;
	regs.rip = 0x401007;
	return regs;
}

static struct bm_stop_info classify_ok(long orig_rax, long rax, unsigned long long rdi, const uint8_t *code,
				       size_t len)
{
	struct user_regs_struct regs = stop_regs(orig_rax, rax, rdi);
	struct bm_stop_info info;
	memset(&info, 0x5a, sizeof info);
	int rc = bm_classify_stop(&regs, code, len, &info);
	if (rc != 0)
		fail_msg("classify(orig_rax %ld, rax %ld) = %d", orig_rax, rax, rc);
	assert_non_null(memchr(info.text, '\0', sizeof info.text));
	return info;
}

static void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

static void test_classify_kernel_restarts(void **state)
{
	(void)state;
	struct bm_stop_info info = classify_ok(SYS_read, -512, 3, code_syscall, sizeof code_syscall);
	assert_true(info.in_syscall);
	assert_int_equal(info.insn, BM_INSN_SYSCALL);
	assert_int_equal(info.nr, SYS_read);
	assert_int_equal(info.ret, -512);
	assert_int_equal(info.restart, BM_RESTART_KERNEL);
	assert_string_equal(info.text, "in read() (fd 3), interrupted: the kernel restarts it (ERESTARTSYS)");

	info = classify_ok(SYS_clone, -513, 0, code_syscall, sizeof code_syscall);
	assert_int_equal(info.restart, BM_RESTART_KERNEL);
	assert_string_equal(info.text, "in clone(), interrupted: the kernel restarts it (ERESTARTNOINTR)");

	info = classify_ok(SYS_pause, -514, 0, code_syscall, sizeof code_syscall);
	assert_int_equal(info.restart, BM_RESTART_KERNEL);
	assert_contains(info.text, "ERESTARTNOHAND");
}

static void test_classify_restart_block(void **state)
{
	(void)state;
	struct bm_stop_info info = classify_ok(SYS_nanosleep, -516, 0x7ffc0000, code_syscall, sizeof code_syscall);
	assert_true(info.in_syscall);
	assert_int_equal(info.nr, SYS_nanosleep);
	assert_int_equal(info.restart, BM_RESTART_REEXECUTE);
	assert_string_equal(info.text, "in nanosleep(), interrupted: re-executed at restore (ERESTART_RESTARTBLOCK)");

	/* A call restarted once already runs as restart_syscall: still a restart
	 * block, re-executed as the call the code made (bm_syscall_nr_from_code). */
	info = classify_ok(SYS_restart_syscall, -516, 0, code_syscall, sizeof code_syscall);
	assert_int_equal(info.restart, BM_RESTART_REEXECUTE);
	assert_contains(info.text, "restart_syscall()");
	assert_contains(info.text, "the code");
}

static void test_classify_eintr_table(void **state)
{
	(void)state;
	static const long eintr_calls[] = { SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_pwait2, SYS_rt_sigtimedwait,
					    SYS_semop, SYS_semtimedop, SYS_io_getevents, SYS_io_uring_enter };
	for (size_t i = 0; i < sizeof eintr_calls / sizeof eintr_calls[0]; i++) {
		struct bm_stop_info info = classify_ok(eintr_calls[i], -EINTR, 5, code_syscall, sizeof code_syscall);
		assert_true(info.in_syscall);
		assert_int_equal(info.ret, -EINTR);
		if (info.restart != BM_RESTART_EINTR)
			fail_msg("%s returning EINTR: restart %d", bm_syscall_name(eintr_calls[i]), info.restart);
	}
	struct bm_stop_info info = classify_ok(SYS_epoll_wait, -EINTR, 5, code_syscall, sizeof code_syscall);
	assert_string_equal(info.text, "in epoll_wait() (fd 5), interrupted (EINTR): re-executed at restore");

	/* These report restart codes when a stop interrupts them, so an EINTR
	 * from them is a genuine result the program must see. */
	static const long completed_calls[] = { SYS_read, SYS_pause, SYS_rt_sigsuspend, SYS_io_pgetevents,
						SYS_select, SYS_poll, SYS_nanosleep, SYS_futex, SYS_wait4 };
	for (size_t i = 0; i < sizeof completed_calls / sizeof completed_calls[0]; i++) {
		info = classify_ok(completed_calls[i], -EINTR, 3, code_syscall, sizeof code_syscall);
		assert_true(info.in_syscall);
		if (info.restart != BM_RESTART_NONE)
			fail_msg("%s returning EINTR: restart %d", bm_syscall_name(completed_calls[i]), info.restart);
	}
	info = classify_ok(SYS_read, -EINTR, 3, code_syscall, sizeof code_syscall);
	assert_string_equal(info.text, "after read() returned -EINTR");
}

static void test_classify_completed_and_user(void **state)
{
	(void)state;
	struct bm_stop_info info = classify_ok(SYS_write, 12, 1, code_syscall, sizeof code_syscall);
	assert_true(info.in_syscall);
	assert_int_equal(info.nr, SYS_write);
	assert_int_equal(info.ret, 12);
	assert_int_equal(info.restart, BM_RESTART_NONE);
	assert_string_equal(info.text, "after write() returned 12");

	info = classify_ok(SYS_mmap, 0x7f1234560000, 0, code_syscall, sizeof code_syscall);
	assert_string_equal(info.text, "after mmap() returned 0x7f1234560000");

	info = classify_ok(999, -512, 0, code_syscall, sizeof code_syscall);
	assert_int_equal(info.restart, BM_RESTART_KERNEL);
	assert_contains(info.text, "system call 999");

	/* Not in a system call: the code bytes are not even looked at. */
	info = classify_ok(-1, 0x1234, 0, NULL, 0);
	assert_false(info.in_syscall);
	assert_int_equal(info.nr, -1);
	assert_int_equal(info.ret, 0x1234);
	assert_int_equal(info.insn, BM_INSN_NONE);
	assert_int_equal(info.restart, BM_RESTART_NONE);
	assert_string_equal(info.text, "in user code");

	/* rax happening to hold a restart code outside a system call is no restart. */
	info = classify_ok(-1, -512, 0, code_syscall, sizeof code_syscall);
	assert_false(info.in_syscall);
	assert_int_equal(info.restart, BM_RESTART_NONE);
}

static void test_classify_i386_entries(void **state)
{
	(void)state;
	/* int 0x80 uses the i386 numbers: 256 is epoll_wait there. */
	struct bm_stop_info info = classify_ok(256, -EINTR, 4, code_int80, sizeof code_int80);
	assert_true(info.in_syscall);
	assert_int_equal(info.insn, BM_INSN_INT80);
	assert_int_equal(info.nr, 256);
	assert_int_equal(info.restart, BM_RESTART_EINTR);
	assert_contains(info.text, "int 0x80");

	/* ... and 232, epoll_wait in the 64-bit table, is an ordinary i386 call. */
	info = classify_ok(232, -EINTR, 4, code_int80, sizeof code_int80);
	assert_int_equal(info.restart, BM_RESTART_NONE);

	/* The kernel compares only eax with its restart codes for i386 calls. */
	info = classify_ok(3, 0xfffffe00L, 0, code_int80, sizeof code_int80);
	assert_int_equal(info.restart, BM_RESTART_KERNEL);

	info = classify_ok(162, -516, 0, code_sysenter, sizeof code_sysenter);
	assert_int_equal(info.insn, BM_INSN_SYSENTER);
	assert_int_equal(info.restart, BM_RESTART_REEXECUTE);
	assert_contains(info.text, "sysenter");

	/* For a 64-bit call the whole of rax counts: this is a large result. */
	info = classify_ok(SYS_lseek, 0x1fffffe00L, 3, code_syscall, sizeof code_syscall);
	assert_int_equal(info.restart, BM_RESTART_NONE);
}

static void expect_invalid(long orig_rax, const uint8_t *code, size_t len)
{
	struct user_regs_struct regs = stop_regs(orig_rax, -512, 0);
	struct bm_stop_info info;
	bm_reset_errors();
	assert_int_equal(bm_classify_stop(&regs, code, len, &info), -EINVAL);
	/* The caller decides what it means (a signal handler's entry): not reported here. */
	assert_false(bm_error_reported());
	assert_false(info.in_syscall);
	assert_int_equal(info.restart, BM_RESTART_NONE);
	bm_reset_errors();
}

static void test_classify_rejects_non_syscall_code(void **state)
{
	(void)state;
	static const uint8_t nops[] = { 0x90, 0x90, 0x90 };
	static const uint8_t int3[] = { 0xcd, 0x03 };             /* int 3: an int, but not 0x80 */
	static const uint8_t ud2[] = { 0x0f, 0x0b };
	static const uint8_t reversed[] = { 0x05, 0x0f };
	static const uint8_t tail_of_mov[] = { 0xb8, 0x0f, 0x05 }; /* the last two bytes alone are 0f 05 */
	expect_invalid(SYS_read, nops, sizeof nops);
	expect_invalid(SYS_read, int3, sizeof int3);
	expect_invalid(SYS_read, ud2, sizeof ud2);
	expect_invalid(SYS_read, reversed, sizeof reversed);
	expect_invalid(SYS_read, code_syscall, sizeof code_syscall - 1);  /* ends one byte early */
	expect_invalid(SYS_read, code_syscall + sizeof code_syscall - 1, 1); /* too short */
	expect_invalid(SYS_read, code_syscall, 0);
	expect_invalid(SYS_read, NULL, 0);
	/* Only the two bytes before rip are decoded, and they do say syscall:
	 * the kernel put rip there, so it is accepted. */
	struct bm_stop_info info = classify_ok(SYS_read, -512, 0, tail_of_mov, sizeof tail_of_mov);
	assert_int_equal(info.insn, BM_INSN_SYSCALL);
}

/* ---- the syscall finder ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The vDSO of this process, copied into a heap block of exactly its size
 * so that ASan sees every read past the end. */
static uint8_t *copy_vdso(size_t *len)
{
	unsigned long base = getauxval(AT_SYSINFO_EHDR);
	if (!base)
		return NULL;
	FILE *maps = fopen("/proc/self/maps", "r");
	assert_non_null(maps);
	char line[512];
	unsigned long start, end;
	size_t size = 0;
	while (fgets(line, sizeof line, maps))
		if (sscanf(line, "%lx-%lx", &start, &end) == 2 && start == base)
			size = end - start;
	fclose(maps);
	assert_true(size > 0);
	uint8_t *copy = malloc(size);
	assert_non_null(copy);
	memcpy(copy, (const void *)base, size);
	*len = size;
	return copy;
}

/* Whatever the input, the finder either fails cleanly or names a real
 * `syscall` inside the buffer. */
static void check_find_result(const uint8_t *elf, size_t len, int rc, uint64_t offset)
{
	if (rc == 0) {
		assert_true(offset + 2 <= len);
		assert_int_equal(elf[offset], 0x0f);
		assert_int_equal(elf[offset + 1], 0x05);
	} else if (rc != -EINVAL && rc != -ENOENT) {
		fail_msg("unexpected result %d", rc);
	}
}

static int find_in_copy(const uint8_t *elf, size_t len, uint64_t *offset)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, elf, len);
	int rc = bm_find_syscall_in_elf(copy, len, offset);
	check_find_result(copy, len, rc, *offset);
	free(copy);
	return rc;
}

static void test_find_syscall_in_vdso(void **state)
{
	(void)state;
	size_t len;
	uint8_t *vdso = copy_vdso(&len);
	if (!vdso)
		skip();
	uint64_t offset = 0;
	assert_int_equal(bm_find_syscall_in_elf(vdso, len, &offset), 0);
	check_find_result(vdso, len, 0, offset);
	/* The same answer straight from the mapping, and from an unaligned copy
	 * (UBSan checks that nothing reads the structures in place). */
	uint64_t again = 0;
	assert_int_equal(bm_find_syscall_in_elf((const uint8_t *)getauxval(AT_SYSINFO_EHDR), len, &again), 0);
	assert_int_equal(again, offset);
	uint8_t *shifted = malloc(len + 1);
	assert_non_null(shifted);
	memcpy(shifted + 1, vdso, len);
	assert_int_equal(bm_find_syscall_in_elf(shifted + 1, len, &again), 0);
	assert_int_equal(again, offset);
	free(shifted);

	/* Each way of reaching the symbols gives the same instruction. */
	Elf64_Ehdr eh;
	memcpy(&eh, vdso, sizeof eh);
	uint8_t *variant = malloc(len);
	assert_non_null(variant);

	memcpy(variant, vdso, len);  /* no section headers: PT_DYNAMIC only */
	Elf64_Ehdr no_sections = eh;
	no_sections.e_shoff = 0;
	no_sections.e_shnum = 0;
	memcpy(variant, &no_sections, sizeof no_sections);
	assert_int_equal(find_in_copy(variant, len, &again), 0);
	assert_int_equal(again, offset);

	memcpy(variant, vdso, len);  /* no PT_DYNAMIC: section headers only */
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, vdso + eh.e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type == PT_DYNAMIC) {
			ph.p_type = PT_NULL;
			memcpy(variant + eh.e_phoff + i * sizeof ph, &ph, sizeof ph);
		}
	}
	assert_int_equal(find_in_copy(variant, len, &again), 0);
	assert_int_equal(again, offset);

	/* No DT_HASH, no section headers: the count comes from DT_GNU_HASH. */
	memcpy(variant, vdso, len);
	memcpy(variant, &no_sections, sizeof no_sections);
	bool had_gnu_hash = false;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, vdso + eh.e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_DYNAMIC)
			continue;
		for (size_t d = 0; d < ph.p_filesz / sizeof(Elf64_Dyn); d++) {
			Elf64_Dyn dyn;
			memcpy(&dyn, vdso + ph.p_offset + d * sizeof dyn, sizeof dyn);
			had_gnu_hash |= dyn.d_tag == DT_GNU_HASH;
			if (dyn.d_tag == DT_HASH) {
				dyn.d_tag = DT_DEBUG;
				memcpy(variant + ph.p_offset + d * sizeof dyn, &dyn, sizeof dyn);
			}
		}
	}
	if (had_gnu_hash) {
		assert_int_equal(find_in_copy(variant, len, &again), 0);
		assert_int_equal(again, offset);
	}
	free(variant);
	free(vdso);
}

/* A small shared object built by hand: one executable and one read-only
 * segment loaded at 0x400000, a dynamic section, both hash tables, section
 * headers, and functions that tempt a byte search. */
enum {
	SYNTH_SIZE = 0x800,
	SYNTH_VADDR = 0x400000,
	OFF_PHDR = 0x40,
	OFF_DYNAMIC = 0x100,
	OFF_HASH = 0x180,
	OFF_GNU_HASH = 0x1c0,
	OFF_SYMTAB = 0x200,
	OFF_STRTAB = 0x300,
	OFF_CODE = 0x400,
	OFF_RODATA = 0x600,
	OFF_SHDR = 0x700,
	NSYMS = 6,
	EXPECTED_SYSCALL = OFF_CODE + 0x43,
};

enum synth_tables { SYNTH_HASH, SYNTH_GNU_HASH, SYNTH_SECTIONS_ONLY };

static void put(uint8_t *img, size_t off, const void *data, size_t len)
{
	assert_true(off + len <= SYNTH_SIZE);
	memcpy(img + off, data, len);
}

static void build_synthetic(uint8_t *img, enum synth_tables tables, bool with_real_syscall)
{
	memset(img, 0xcc, SYNTH_SIZE);
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_phoff = OFF_PHDR, .e_shoff = OFF_SHDR, .e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 3,
		.e_shentsize = sizeof(Elf64_Shdr), .e_shnum = 3,
	};
	put(img, 0, &eh, sizeof eh);
	Elf64_Phdr ph[3] = {
		{ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0, .p_vaddr = SYNTH_VADDR,
		  .p_filesz = OFF_RODATA, .p_memsz = OFF_RODATA },
		{ .p_type = PT_LOAD, .p_flags = PF_R, .p_offset = OFF_RODATA, .p_vaddr = SYNTH_VADDR + OFF_RODATA,
		  .p_filesz = SYNTH_SIZE - OFF_RODATA, .p_memsz = SYNTH_SIZE - OFF_RODATA },
		{ .p_type = tables == SYNTH_SECTIONS_ONLY ? PT_NULL : PT_DYNAMIC, .p_flags = PF_R,
		  .p_offset = OFF_DYNAMIC, .p_vaddr = SYNTH_VADDR + OFF_DYNAMIC, .p_filesz = 6 * sizeof(Elf64_Dyn) },
	};
	put(img, OFF_PHDR, ph, sizeof ph);
	Elf64_Dyn dyn[6] = {
		{ tables == SYNTH_GNU_HASH ? DT_GNU_HASH : DT_HASH,
		  { SYNTH_VADDR + (tables == SYNTH_GNU_HASH ? OFF_GNU_HASH : OFF_HASH) } },
		{ DT_SYMTAB, { SYNTH_VADDR + OFF_SYMTAB } },
		{ DT_STRTAB, { SYNTH_VADDR + OFF_STRTAB } },
		{ DT_STRSZ, { 0x40 } },
		{ DT_SYMENT, { sizeof(Elf64_Sym) } },
		{ DT_NULL, { 0 } },
	};
	put(img, OFF_DYNAMIC, dyn, sizeof dyn);
	uint32_t hash[2 + 1 + NSYMS] = { 1, NSYMS };  /* nbucket, nchain, then zeroed bucket and chains */
	put(img, OFF_HASH, hash, sizeof hash);
	struct {
		uint32_t nbuckets, symoffset, bloom_size, bloom_shift;
		uint64_t bloom;
		uint32_t bucket, chain[NSYMS - 1];
	} gnu = { 1, 1, 1, 6, ~0ULL, 1, { 0, 0, 0, 0, 1 } };  /* one chain: symbols 1..5, 5 ends it */
	put(img, OFF_GNU_HASH, &gnu, sizeof gnu);

	static const char strtab[] = "\0data\0fake\0empty\0readonly\0real";
	put(img, OFF_STRTAB, strtab, sizeof strtab);
	Elf64_Sym syms[NSYMS] = {
		{ 0 },
		{ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT), .st_shndx = 1,
		  .st_value = SYNTH_VADDR + OFF_CODE, .st_size = 2 },
		{ .st_name = 6, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = SYNTH_VADDR + OFF_CODE + 0x10, .st_size = 6 },
		{ .st_name = 11, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = SYNTH_VADDR + OFF_CODE, .st_size = 0 },
		{ .st_name = 17, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = SYNTH_VADDR + OFF_RODATA, .st_size = 3 },
		{ .st_name = 26, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = SYNTH_VADDR + OFF_CODE + 0x40, .st_size = 6 },
	};
	put(img, OFF_SYMTAB, syms, sizeof syms);

	static const uint8_t data[] = { 0x0f, 0x05 };                         /* an object, not code */
	static const uint8_t fake[] = { 0xb8, 0x0f, 0x05, 0x00, 0x00, 0xc3 }; /* mov eax,0x50f; ret */
	static const uint8_t real[] = { 0x48, 0x89, 0xf8, 0x0f, 0x05, 0xc3 }; /* mov rax,rdi; syscall; ret */
	static const uint8_t none[] = { 0x48, 0x89, 0xf8, 0x90, 0x90, 0xc3 }; /* mov rax,rdi; nop; nop; ret */
	put(img, OFF_CODE, data, sizeof data);
	put(img, OFF_CODE + 0x10, fake, sizeof fake);
	put(img, OFF_CODE + 0x40, with_real_syscall ? real : none, sizeof real);
	put(img, OFF_RODATA, data, sizeof data);  /* a "function" outside the executable segment */

	Elf64_Shdr sh[3] = {
		{ 0 },
		{ .sh_type = SHT_DYNSYM, .sh_flags = SHF_ALLOC, .sh_addr = SYNTH_VADDR + OFF_SYMTAB,
		  .sh_offset = OFF_SYMTAB, .sh_size = sizeof syms, .sh_link = 2, .sh_entsize = sizeof(Elf64_Sym) },
		{ .sh_type = SHT_STRTAB, .sh_flags = SHF_ALLOC, .sh_addr = SYNTH_VADDR + OFF_STRTAB,
		  .sh_offset = OFF_STRTAB, .sh_size = sizeof strtab },
	};
	put(img, OFF_SHDR, sh, sizeof sh);
}

static void test_find_syscall_synthetic(void **state)
{
	(void)state;
	static uint8_t img[SYNTH_SIZE];
	static const enum synth_tables kinds[] = { SYNTH_HASH, SYNTH_GNU_HASH, SYNTH_SECTIONS_ONLY };
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		uint64_t offset = 0;
		build_synthetic(img, kinds[k], true);
		/* Relative to the image, not the 0x400000 link address; the
		 * earlier 0f 05 byte pairs are data, an immediate, a zero-size
		 * symbol and a non-executable segment. */
		assert_int_equal(find_in_copy(img, SYNTH_SIZE, &offset), 0);
		assert_int_equal(offset, EXPECTED_SYSCALL);

		build_synthetic(img, kinds[k], false);
		bm_reset_errors();
		assert_int_equal(find_in_copy(img, SYNTH_SIZE, &offset), -ENOENT);
		assert_false(bm_error_reported());  /* the caller decides whether that is an error */
	}
	/* The table's size comes from the hash table or the section: cut one
	 * symbol short, the real function is no longer in it. */
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		uint64_t offset = 0;
		build_synthetic(img, kinds[k], true);
		if (kinds[k] == SYNTH_HASH) {
			uint32_t nchain = NSYMS - 1;
			put(img, OFF_HASH + 4, &nchain, sizeof nchain);
		} else if (kinds[k] == SYNTH_GNU_HASH) {
			uint32_t chain_end = 1;  /* chain entry of symbol 4: bit 0 ends the chain there */
			put(img, OFF_GNU_HASH + 16 + 8 + 4 + 3 * 4, &chain_end, sizeof chain_end);
		} else {
			uint64_t size = (NSYMS - 1) * sizeof(Elf64_Sym);
			put(img, OFF_SHDR + sizeof(Elf64_Shdr) + offsetof(Elf64_Shdr, sh_size), &size, sizeof size);
		}
		assert_int_equal(find_in_copy(img, SYNTH_SIZE, &offset), -ENOENT);
	}
	/* Without section headers the dynamic section alone must do. */
	build_synthetic(img, SYNTH_GNU_HASH, true);
	memset(img + offsetof(Elf64_Ehdr, e_shnum), 0, sizeof(Elf64_Half));
	uint64_t offset = 0;
	assert_int_equal(find_in_copy(img, SYNTH_SIZE, &offset), 0);
	assert_int_equal(offset, EXPECTED_SYSCALL);
	/* Neither: a clear error. */
	build_synthetic(img, SYNTH_SECTIONS_ONLY, true);
	memset(img + offsetof(Elf64_Ehdr, e_shnum), 0, sizeof(Elf64_Half));
	bm_reset_errors();
	assert_int_equal(find_in_copy(img, SYNTH_SIZE, &offset), -EINVAL);
	assert_true(bm_error_reported());
	bm_reset_errors();
}

static void test_find_syscall_truncated(void **state)
{
	(void)state;
	static uint8_t img[SYNTH_SIZE];
	build_synthetic(img, SYNTH_GNU_HASH, true);
	uint64_t offset;
	for (size_t n = 0; n < SYNTH_SIZE; n++) {
		int rc = find_in_copy(img, n, &offset);
		if (n < sizeof(Elf64_Ehdr))
			assert_int_equal(rc, -EINVAL);
		if (rc == 0)  /* only once the real function is whole */
			assert_true(n >= EXPECTED_SYSCALL + 3);
	}
	size_t len;
	uint8_t *vdso = copy_vdso(&len);
	if (!vdso)
		return;
	for (size_t n = 0; n < len; n++)
		find_in_copy(vdso, n, &offset);
	free(vdso);
	bm_reset_errors();
}

static void test_find_syscall_corrupted(void **state)
{
	(void)state;
	uint64_t offset;
	assert_int_equal(bm_find_syscall_in_elf(NULL, 0, &offset), -EINVAL);

	/* Random bytes, some behind a valid ELF identification so that parsing
	 * goes deeper. */
	static uint8_t garbage[4096];
	for (int round = 0; round < 2000; round++) {
		size_t len = rng() % sizeof garbage;
		for (size_t i = 0; i < len; i++)
			garbage[i] = (uint8_t)rng();
		if (round % 2 && len >= sizeof(Elf64_Ehdr)) {
			static const uint8_t ident[] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB };
			memcpy(garbage, ident, sizeof ident);
			Elf64_Half machine = EM_X86_64, phentsize = sizeof(Elf64_Phdr), phnum = 1 + rng() % 8;
			memcpy(garbage + offsetof(Elf64_Ehdr, e_machine), &machine, sizeof machine);
			memcpy(garbage + offsetof(Elf64_Ehdr, e_phentsize), &phentsize, sizeof phentsize);
			memcpy(garbage + offsetof(Elf64_Ehdr, e_phnum), &phnum, sizeof phnum);
			Elf64_Off phoff = 64;
			memcpy(garbage + offsetof(Elf64_Ehdr, e_phoff), &phoff, sizeof phoff);
		}
		find_in_copy(garbage, len, &offset);
	}

	/* Mutations of valid images: a few bytes, or a whole field set to an
	 * extreme, anywhere in the headers and tables. */
	static uint8_t synth[SYNTH_SIZE];
	size_t vdso_len = 0;
	uint8_t *vdso = copy_vdso(&vdso_len);
	for (int round = 0; round < 6000; round++) {
		bool use_vdso = vdso && round % 2;
		size_t len = use_vdso ? vdso_len : SYNTH_SIZE;
		uint8_t *img = malloc(len);
		assert_non_null(img);
		if (use_vdso) {
			memcpy(img, vdso, len);
		} else {
			build_synthetic(synth, (enum synth_tables)(round % 3), true);
			memcpy(img, synth, len);
		}
		size_t span = use_vdso ? 0x600 : OFF_CODE;  /* headers, hash, symbols, dynamic */
		int edits = 1 + (int)(rng() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = rng() % span;
			if (rng() % 2) {
				img[at] = (uint8_t)rng();
			} else {
				static const uint64_t extremes[] = { 0, 1, 0x7fffffff, 0xffffffff, 0x8000000000000000ULL,
								     ~0ULL, 0x1000, 0x400000 };
				uint64_t value = extremes[rng() % (sizeof extremes / sizeof extremes[0])];
				at &= ~(size_t)7;
				memcpy(img + at, &value, sizeof value);
			}
		}
		int rc = bm_find_syscall_in_elf(img, len, &offset);
		check_find_result(img, len, rc, offset);
		free(img);
	}
	free(vdso);
	bm_reset_errors();
}

/* ---- disassembly ---- */

static char *disasm(const uint8_t *code, size_t len, uint64_t base, uint64_t mark, int before, int after, int *rc)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	assert_non_null(out);
	*rc = bm_disasm_around(out, code, len, base, mark, before, after);
	assert_int_equal(fclose(out), 0);
	return text;
}

/* push rbp; mov rbp,rsp; mov eax,0; syscall; ret */
static const uint8_t prologue_code[] = { 0x55, 0x48, 0x89, 0xe5, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3 };

static void test_disasm_marks_syscall(void **state)
{
	(void)state;
	int rc;
	char *text = disasm(prologue_code, sizeof prologue_code, 0x401000, 0x401009, 2, 2, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(text,
			    "   0000000000401001: 48 89 e5                 mov rbp, rsp\n"
			    "   0000000000401004: b8 00 00 00 00           mov eax, 0\n"
			    "=> 0000000000401009: 0f 05                    syscall\n"
			    "   000000000040100b: c3                       ret\n");
	free(text);

	/* More context asked for than exists: everything from the start. */
	text = disasm(prologue_code, sizeof prologue_code, 0x401000, 0x401009, 10, 5, &rc);
	assert_int_equal(rc, 0);
	assert_true(strncmp(text, "   0000000000401000: 55                       push rbp\n", 54) == 0);
	assert_contains(text, "=> 0000000000401009: 0f 05                    syscall\n");
	free(text);

	/* Nothing before. */
	text = disasm(prologue_code, sizeof prologue_code, 0x401000, 0x401009, 0, 1, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(text, "=> 0000000000401009: 0f 05                    syscall\n");
	free(text);
}

static void test_disasm_resynchronises(void **state)
{
	(void)state;
	/* Every start before offset 4 decodes straight past it (a movabs from
	 * 0-2, a mov from 3), so the listing can only begin at the mark. */
	static const uint8_t no_sync[] = { 0x90, 0x90, 0x48, 0xb8, 0x0f, 0x05, 0xc3, 0x90, 0x90, 0x90, 0x90, 0x90,
					   0x90, 0x90 };
	int rc;
	char *text = disasm(no_sync, sizeof no_sync, 0x1000, 0x1004, 3, 2, &rc);
	assert_int_equal(rc, 0);
	assert_true(strncmp(text, "=> 0000000000001004: 0f 05", 26) == 0);
	assert_contains(text, "ret\n");
	free(text);

	/* Bytes that are no instruction are listed one by one. */
	static const uint8_t bad_after[] = { 0x0f, 0x05, 0xff, 0xff };
	text = disasm(bad_after, sizeof bad_after, 0x2000, 0x2000, 2, 3, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(text,
			    "=> 0000000000002000: 0f 05                    syscall\n"
			    "   0000000000002002: ff                       .byte 0xff\n"
			    "   0000000000002003: ff                       .byte 0xff\n");
	free(text);
}

/* On real code: the listing is contiguous, lands on the mark, and shows the
 * bytes that are really there. */
static void test_disasm_vdso_listing_is_consistent(void **state)
{
	(void)state;
	size_t len;
	uint8_t *vdso = copy_vdso(&len);
	if (!vdso)
		skip();
	uint64_t offset;
	assert_int_equal(bm_find_syscall_in_elf(vdso, len, &offset), 0);
	const uint64_t base = 0x7ffff7fc1000;
	int rc;
	char *text = disasm(vdso, len, base, base + offset, 6, 4, &rc);
	assert_int_equal(rc, 0);

	int lines = 0, marked_line = -1;
	uint64_t next = 0;
	for (char *line = text; *line; line = strchr(line, '\n') + 1, lines++) {
		assert_true(line[0] == '=' || line[0] == ' ');
		char *p;
		uint64_t addr = strtoull(line + 3, &p, 16);
		assert_true(p[0] == ':' && p[1] == ' ');
		if (lines > 0)
			assert_int_equal(addr, next);
		size_t nbytes = 0;
		for (p += 2; isxdigit((unsigned char)p[0]) && isxdigit((unsigned char)p[1]) && p[2] == ' '; p += 3) {
			unsigned byte = (unsigned)strtoul((char[3]){ p[0], p[1], 0 }, NULL, 16);
			assert_int_equal(byte, vdso[addr - base + nbytes]);
			nbytes++;
		}
		assert_true(nbytes >= 1 && nbytes <= 15);
		next = addr + nbytes;
		if (line[0] == '=') {
			assert_int_equal(marked_line, -1);
			marked_line = lines;
			assert_int_equal(addr, base + offset);
			assert_non_null(strstr(line, "syscall"));
		}
	}
	assert_true(marked_line >= 1 && marked_line <= 6);  /* the vDSO's fallback sets eax first */
	assert_int_equal(lines - marked_line, 4);
	free(text);
	free(vdso);
}

static void test_disasm_rejects_bad_arguments(void **state)
{
	(void)state;
	int rc;
	char *text;
	bm_reset_errors();
	text = disasm(prologue_code, sizeof prologue_code, 0x401000, 0x400fff, 2, 2, &rc);
	assert_int_equal(rc, -EINVAL);
	free(text);
	text = disasm(prologue_code, sizeof prologue_code, 0x401000, 0x401000 + sizeof prologue_code, 2, 2, &rc);
	assert_int_equal(rc, -EINVAL);
	free(text);
	text = disasm(prologue_code, sizeof prologue_code, 0x401000, 0x401009, -1, 2, &rc);
	assert_int_equal(rc, -EINVAL);
	free(text);
	assert_true(bm_error_reported());
	bm_reset_errors();
}

/* The number of a call resumed as restart_syscall comes from the code. */
static void test_syscall_nr_from_code(void **state)
{
	(void)state;
	long nr = -1;
	/* glibc's clock_nanosleep: cmp; je; mov eax, 0xe6; syscall */
	static const uint8_t glibc[] = {0x80, 0x3d, 0xde, 0xc0, 0x10, 0x00, 0x00, 0x74, 0x14,
					0xb8, 0xe6, 0x00, 0x00, 0x00, 0x0f, 0x05};
	assert_int_equal(bm_syscall_nr_from_code(glibc, sizeof glibc, &nr), 0);
	assert_int_equal(nr, 230);
	/* mov rax, 35; mov rdi, rsp; syscall */
	static const uint8_t rax64[] = {0x48, 0xc7, 0xc0, 0x23, 0x00, 0x00, 0x00, 0x48, 0x89, 0xe7, 0x0f, 0x05};
	assert_int_equal(bm_syscall_nr_from_code(rax64, sizeof rax64, &nr), 0);
	assert_int_equal(nr, 35);
	/* mov eax, 0xe6; mov eax, ecx; syscall: the number came from a register */
	static const uint8_t reg[] = {0xb8, 0xe6, 0x00, 0x00, 0x00, 0x89, 0xc8, 0x0f, 0x05};
	assert_int_equal(bm_syscall_nr_from_code(reg, sizeof reg, &nr), -ENOENT);
	/* nothing sets rax */
	static const uint8_t none[] = {0x48, 0x89, 0xe7, 0x0f, 0x05};
	assert_int_equal(bm_syscall_nr_from_code(none, sizeof none, &nr), -ENOENT);
	assert_int_equal(bm_syscall_nr_from_code(none, 2, &nr), -ENOENT);
	assert_int_equal(bm_syscall_nr_from_code(NULL, 0, &nr), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syscall_names_match_libc),
		cmocka_unit_test(test_syscall_names_unique_and_bounded),
		cmocka_unit_test(test_classify_kernel_restarts),
		cmocka_unit_test(test_classify_restart_block),
		cmocka_unit_test(test_classify_eintr_table),
		cmocka_unit_test(test_classify_completed_and_user),
		cmocka_unit_test(test_classify_i386_entries),
		cmocka_unit_test(test_classify_rejects_non_syscall_code),
		cmocka_unit_test(test_find_syscall_in_vdso),
		cmocka_unit_test(test_find_syscall_synthetic),
		cmocka_unit_test(test_find_syscall_truncated),
		cmocka_unit_test(test_find_syscall_corrupted),
		cmocka_unit_test(test_disasm_marks_syscall),
		cmocka_unit_test(test_disasm_resynchronises),
		cmocka_unit_test(test_disasm_vdso_listing_is_consistent),
		cmocka_unit_test(test_disasm_rejects_bad_arguments),
		cmocka_unit_test(test_syscall_nr_from_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

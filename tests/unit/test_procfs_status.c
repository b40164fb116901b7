/* Tests of the status, stat and limits readers (procfs_status.c): the
 * parsers against the captured samples and against malformed and
 * truncated text, and the readers against this process. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "unit_procfs.h"

#define PF_KTHREAD 0x00200000u

/* ---- status ---- */

struct expected_status {
	const char *file;
	const char *name;
	char state;
	pid_t tgid, pid, ppid, tracer_pid;
	uint32_t umask;
	bool kthread;
	uint64_t sig_pnd, sig_blk, sig_ign, sig_cgt;
	uint32_t fd_size;
};

static const struct expected_status status_samples[] = {
	{ "status-normal.txt", "sampler", 'S', 7859, 7859, 7856, 0, 027, false, 0x200, 0x800000200, 0x1006, 0x4000, 256 },
	{ "status-traced.txt", "bm-traced", 't', 7865, 7865, 7859, 7859, 027, false, 0, 0x800000200, 0x1006, 0x4000, 256 },
	{ "status-kthread.txt", "kthreadd", 'S', 2, 2, 0, 0, 022, true, 0, 0, UINT64_MAX, 0, 64 },
	/* A zombie has no fs struct, so no Umask line: it reads as 0. */
	{ "status-zombie.txt", "bm-zombie", 'Z', 7866, 7866, 7859, 0, 0, false, 0, 0x800000200, 0x1006, 0x4000, 0 },
	{ "status-escaped.txt", "x\\y\nz", 'S', 7863, 7863, 7859, 0, 027, false, 0, 0x800000200, 0x1006, 0x4000, 256 },
};

static void test_status_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof status_samples / sizeof status_samples[0]; i++) {
		const struct expected_status *x = &status_samples[i];
		char *text = read_sample(x->file);
		struct bm_proc_status s;
		assert_int_equal(bm_parse_status(text, &s), 0);
		assert_string_equal(s.name, x->name);
		assert_int_equal(s.state, x->state);
		assert_int_equal(s.tgid, x->tgid);
		assert_int_equal(s.pid, x->pid);
		assert_int_equal(s.ppid, x->ppid);
		assert_int_equal(s.tracer_pid, x->tracer_pid);
		assert_int_equal(s.threads, 1);
		assert_int_equal(s.umask, x->umask);
		assert_int_equal(s.kthread, x->kthread);
		assert_int_equal(s.sig_pnd, x->sig_pnd);
		assert_int_equal(s.shd_pnd, 0);
		assert_int_equal(s.sig_blk, x->sig_blk);
		assert_int_equal(s.sig_ign, x->sig_ign);
		assert_int_equal(s.sig_cgt, x->sig_cgt);
		assert_int_equal(s.fd_size, x->fd_size);
		for (int k = 0; k < 4; k++) {
			assert_int_equal(s.uid[k], 0);
			assert_int_equal(s.gid[k], 0);
		}
		free(text);
	}
	/* Ids that differ, to see each lands in its own slot. */
	struct bm_proc_status s;
	assert_int_equal(bm_parse_status("Name:\t x\nState:\tR (running)\nTgid:\t10\nPid:\t11\nPPid:\t12\nTracerPid:\t13\n"
					 "Uid:\t1000\t1001\t1002\t4294967295\nGid:\t7\t8\t9\t10\nThreads:\t42\n"
					 "SigPnd:\t1\nShdPnd:\t2\nSigBlk:\t3\nSigIgn:\tA\nSigCgt:\tFfFfFfFfFfFfFfFf\n", &s), 0);
	assert_string_equal(s.name, " x");
	assert_int_equal(s.fd_size, 0); /* no FDSize line */
	assert_int_equal(s.pid, 11);
	assert_int_equal(s.tracer_pid, 13);
	assert_int_equal(s.uid[0], 1000);
	assert_int_equal(s.uid[3], UINT32_MAX);
	assert_int_equal(s.gid[2], 9);
	assert_int_equal(s.threads, 42);
	assert_int_equal(s.shd_pnd, 2);
	assert_int_equal(s.sig_ign, 10);
	assert_int_equal(s.sig_cgt, UINT64_MAX);
	/* Every escape the kernel's string escaping can produce. */
	assert_int_equal(bm_parse_status("Name:\ta\\101\\tb\\\\\\\"\\e\\007\nState:\tR\nTgid:\t1\nPid:\t1\nPPid:\t0\nTracerPid:\t0\n"
					 "Uid:\t0 0 0 0\nGid:\t0 0 0 0\nThreads:\t1\n"
					 "SigPnd:\t0\nShdPnd:\t0\nSigBlk:\t0\nSigIgn:\t0\nSigCgt:\t0\n", &s), 0);
	assert_string_equal(s.name, "aA\tb\\\"\033\a");
}

static const char minimal_status[] =
	"Name:\tx\nState:\tS (sleeping)\nTgid:\t5\nPid:\t5\nPPid:\t1\nTracerPid:\t0\n"
	"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t1\n"
	"SigPnd:\t0\nShdPnd:\t0\nSigBlk:\t0\nSigIgn:\t0\nSigCgt:\t0\n";

/* minimal_status with line `index` replaced by `line` (NULL: removed). */
static int parse_status_with(int index, const char *line)
{
	char text[1024] = "";
	const char *p = minimal_status;
	for (int i = 0; *p != '\0'; i++) {
		size_t len = strcspn(p, "\n") + 1;
		if (i != index)
			strncat(text, p, len);
		else if (line != NULL)
			strcat(strcat(text, line), "\n");
		p += len;
	}
	struct bm_proc_status s;
	return bm_parse_status(text, &s);
}

static void test_status_malformed(void **state)
{
	(void)state;
	assert_int_equal(parse_status_with(-1, NULL), 0);
	for (int i = 0; i < 14; i++) {
		if (parse_status_with(i, NULL) != -EINVAL)
			fail_msg("accepted status without line %d", i);
	}
	static const struct {
		int index;
		const char *line;
		int result;
	} cases[] = {
		{ 0, "Name:\tab\\", -EINVAL }, { 0, "Name:\ta\\qb", -EINVAL }, { 0, "Name:\ta\\0", -EINVAL },
		{ 0, "Name:\ta\\101\\tb", 0 },
		{ 0, "Name:\t123456789012345678901234567890123456789012345678901234567890123", 0 },
		{ 0, "Name:\t1234567890123456789012345678901234567890123456789012345678901234", -ENAMETOOLONG },
		{ 1, "State:\t?", -EINVAL }, { 1, "State:", -EINVAL },
		{ 2, "Tgid:\t5x", -EINVAL }, { 2, "Tgid:\t-5", -EINVAL }, { 2, "Tgid:\t2147483648", -EINVAL },
		{ 2, "Tgid:\t", -EINVAL }, { 2, "Tgid:\t2147483647  ", 0 }, { 2, "Tgid 5", -EINVAL },
		{ 6, "Uid:\t0\t0\t0", -EINVAL }, { 6, "Uid:\t0\t0\t0\t0\t0", -EINVAL },
		{ 6, "Uid:\t0\t0\t0\t4294967296", -EINVAL },
		{ 9, "SigPnd:\t10000000000000000", -EINVAL }, { 9, "SigPnd:\t0000000g", -EINVAL },
		{ 13, "SigCgt:\t0\nKthread:\t2", -EINVAL }, { 13, "SigCgt:\t0\nKthread:\t1", 0 },
		{ 13, "SigCgt:\t0\nUmask:\t0028", -EINVAL }, { 13, "SigCgt:\t0\nUmask:\t0777", 0 },
		{ 13, "SigCgt:\t0\nSomethingNew:\twhatever it is", 0 },
		{ 13, "SigCgt:\t0\n", -EINVAL }, /* blank line */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int r = parse_status_with(cases[i].index, cases[i].line);
		if (r != cases[i].result)
			fail_msg("status line '%s': %d, expected %d", cases[i].line, r, cases[i].result);
	}
	struct bm_proc_status s;
	assert_int_equal(bm_parse_status("", &s), -EINVAL);
}

static void test_status_truncations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof status_samples / sizeof status_samples[0]; i++) {
		char *text = read_sample(status_samples[i].file);
		size_t len = strlen(text), sig_cgt_value = offset_after(text, "SigCgt:\t");
		struct bm_proc_status full, cut;
		assert_int_equal(bm_parse_status(text, &full), 0);
		for (size_t k = 0; k <= len; k++) {
			char *copy = dup_prefix(text, k);
			int r = bm_parse_status(copy, &cut);
			if (k <= sig_cgt_value) {
				assert_int_equal(r, -EINVAL);
			} else if (k == len) {
				assert_int_equal(r, 0);
			} else if (r == 0) {
				assert_string_equal(cut.name, full.name);
				assert_int_equal(cut.pid, full.pid);
				assert_int_equal(cut.sig_ign, full.sig_ign);
			} else {
				assert_int_equal(r, -EINVAL);
			}
			free(copy);
		}
		free(text);
	}
}

/* ---- stat ---- */

struct expected_stat {
	const char *file;
	pid_t pid;
	const char *comm;
	char state;
	pid_t ppid, pgrp, session;
	uint32_t flags;
	uint64_t starttime;
	uint64_t start_code, end_code, start_stack;
	uint64_t start_data, end_data, start_brk;
	uint64_t arg_start, arg_end, env_start, env_end;
	int exit_code;
};

static const struct expected_stat stat_samples[] = {
	{ "stat-normal.txt", 7859, "sampler", 'S', 7856, 7808, 4849, 4194304, 267763,
	  94904906735616, 94904906738221, 140727512503360, 94904906747344, 94904906748200, 94905519759360,
	  140727512504769, 140727512504779, 140727512504779, 140727512506350, 0 },
	{ "stat-parens.txt", 7862, "a) (b c", 'S', 7859, 7808, 4849, 4194368, 267763,
	  94904906735616, 94904906738221, 140727512503360, 94904906747344, 94904906748200, 94905519759360,
	  140727512504769, 140727512504779, 140727512504779, 140727512506350, 0 },
	{ "stat-escaped.txt", 7863, "x\\y\nz", 'S', 7859, 7808, 4849, 4194368, 267764,
	  94904906735616, 94904906738221, 140727512503360, 94904906747344, 94904906748200, 94905519759360,
	  140727512504769, 140727512504779, 140727512504779, 140727512506350, 0 },
	{ "stat-kthread.txt", 2, "kthreadd", 'S', 0, 0, 0, 2129984, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
	/* _exit(7) is reported as a wait status: 7 << 8. */
	{ "stat-zombie.txt", 7866, "bm-zombie", 'Z', 7859, 7808, 4849, 4227148, 267764, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 << 8 },
};

static void test_stat_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof stat_samples / sizeof stat_samples[0]; i++) {
		const struct expected_stat *x = &stat_samples[i];
		char *text = read_sample(x->file);
		struct bm_proc_stat s;
		assert_int_equal(bm_parse_stat(text, &s), 0);
		assert_int_equal(s.pid, x->pid);
		assert_string_equal(s.comm, x->comm);
		assert_int_equal(s.state, x->state);
		assert_int_equal(s.ppid, x->ppid);
		assert_int_equal(s.pgrp, x->pgrp);
		assert_int_equal(s.session, x->session);
		assert_int_equal(s.flags, x->flags);
		assert_int_equal(s.num_threads, 1);
		assert_int_equal(s.starttime, x->starttime);
		assert_int_equal(s.start_code, x->start_code);
		assert_int_equal(s.end_code, x->end_code);
		assert_int_equal(s.start_stack, x->start_stack);
		assert_int_equal(s.start_data, x->start_data);
		assert_int_equal(s.end_data, x->end_data);
		assert_int_equal(s.start_brk, x->start_brk);
		assert_int_equal(s.arg_start, x->arg_start);
		assert_int_equal(s.arg_end, x->arg_end);
		assert_int_equal(s.env_start, x->env_start);
		assert_int_equal(s.env_end, x->env_end);
		assert_int_equal(s.exit_code, x->exit_code);
		assert_int_equal(s.exit_signal, s.pid == 2 ? 0 : SIGCHLD);
		assert_int_equal((s.flags & PF_KTHREAD) != 0, s.pid == 2);
		free(text);
	}
}

/* The sampler's stat and maps were taken together: the field numbering is
 * right only if the code, brk and stack fields land in the right mappings. */
static void test_stat_matches_maps(void **state)
{
	(void)state;
	char *maps = read_sample("maps-sampler.txt");
	char *stat = read_sample("stat-normal.txt");
	struct bm_maps_entry *e;
	size_t n;
	struct bm_proc_stat s;
	assert_int_equal(bm_parse_maps(maps, &e, &n), 0);
	assert_int_equal(bm_parse_stat(stat, &s), 0);
	/* start_code and end_code bound the executable's text, its r-xp mapping. */
	assert_string_equal(e[1].perms, "r-xp");
	assert_int_equal(s.start_code, e[1].start);
	assert_true(s.end_code > e[1].start && s.end_code <= e[1].end);
	assert_string_equal(e[5].path, "[heap]");
	assert_int_equal(s.start_brk, e[5].start);
	assert_string_equal(e[32].path, "[stack]");
	assert_true(s.start_stack >= e[32].start && s.start_stack < e[32].end);
	assert_true(s.arg_start >= e[32].start && s.env_end < e[32].end);
	free(e);
	free(maps);
	free(stat);
}

static void test_stat_malformed(void **state)
{
	(void)state;
	char *normal = read_sample("stat-normal.txt");
	const char *tail = strstr(normal, ") S ") + 2; /* "S 7856 ... 0\n" */
	char text[2048];
	struct bm_proc_stat s;
	static const struct {
		const char *head;
		int result;
	} comms[] = {
		{ "1 (", 0 },  /* empty comm */
		{ "1 (123456789012345678901234567890123456789012345678901234567890123", 0 },
		{ "1 (1234567890123456789012345678901234567890123456789012345678901234", -ENAMETOOLONG },
		{ "1 ((((", 0 }, { "1 x", -EINVAL }, { "1  (x", -EINVAL }, { "-1 (x", -EINVAL },
		{ "(x", -EINVAL }, { "2147483648 (x", -EINVAL },
	};
	for (size_t i = 0; i < sizeof comms / sizeof comms[0]; i++) {
		snprintf(text, sizeof text, "%s) %s", comms[i].head, tail);
		if (bm_parse_stat(text, &s) != comms[i].result)
			fail_msg("stat '%s' not %d", text, comms[i].result);
	}
	static const struct {
		const char *from, *to;
		int result;
	} edits[] = {
		{ ") S ", ") ? ", -EINVAL }, { ") S ", ")S ", -EINVAL }, { ") S ", ") S  ", -EINVAL },
		{ " 7856 ", " -7856 ", -EINVAL },  { " 4194304 ", " 4194304x ", -EINVAL },
		{ " 4194304 ", " 4294967296 ", -EINVAL }, { " -1 ", " 18446744073709551616 ", -EINVAL },
		{ " -1 ", " -9223372036854775809 ", -EINVAL }, { " -1 ", " -9223372036854775808 ", 0 },
		{ " 140727512506350 0\n", " 140727512506350\n", -EINVAL },
		{ " 140727512506350 0\n", " 140727512506350 0 77 78\n", 0 },
		{ " 140727512506350 0\n", " 140727512506350 -2147483648\n", 0 },
		{ " 140727512506350 0\n", " 140727512506350 -2147483649\n", -EINVAL },
		{ " 140727512506350 0\n", " 140727512506350 2147483648\n", -EINVAL },
		{ " 140727512506350 0\n", " 140727512506350 0", 0 },
		{ " 94904906735616 ", " -94904906735616 ", -EINVAL },
	};
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		const char *at = strstr(normal, edits[i].from);
		assert_non_null(at);
		snprintf(text, sizeof text, "%.*s%s%s", (int)(at - normal), normal, edits[i].to, at + strlen(edits[i].from));
		if (bm_parse_stat(text, &s) != edits[i].result)
			fail_msg("stat '%s' not %d", text, edits[i].result);
	}
	assert_int_equal(bm_parse_stat("", &s), -EINVAL);
	/* exit_code is the one signed field kept. */
	snprintf(text, sizeof text, "%.*s -2147483648\n", (int)(strrchr(normal, ' ') - normal), normal);
	assert_int_equal(bm_parse_stat(text, &s), 0);
	assert_int_equal(s.exit_code, INT_MIN);
	snprintf(text, sizeof text, "%.*s -5\n", (int)(strrchr(normal, ' ') - normal), normal);
	assert_int_equal(bm_parse_stat(text, &s), 0);
	assert_int_equal(s.exit_code, -5);
	assert_int_equal(s.env_end, 140727512506350);
	free(normal);
}

static void test_stat_truncations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof stat_samples / sizeof stat_samples[0]; i++) {
		char *text = read_sample(stat_samples[i].file);
		size_t len = strlen(text);
		size_t last_field = (size_t)(strrchr(text, ' ') - text) + 1;
		struct bm_proc_stat cut;
		for (size_t k = 0; k <= len; k++) {
			char *copy = dup_prefix(text, k);
			int r = bm_parse_stat(copy, &cut);
			if (k <= last_field)
				assert_int_equal(r, -EINVAL);
			else
				assert_int_equal(r, 0);
			free(copy);
		}
		free(text);
	}
}

static void test_live_status_and_stat(void **state)
{
	(void)state;
	char comm[17] = "";
	assert_int_equal(prctl(PR_GET_NAME, comm), 0);
	mode_t old_umask = umask(0037);
	sigset_t block, old_mask;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);
	struct bm_proc_status s;
	int r = bm_read_status(getpid(), &s);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	umask(old_umask);
	assert_int_equal(r, 0);
	assert_string_equal(s.name, comm);
	assert_int_equal(s.state, 'R');
	assert_int_equal(s.pid, getpid());
	assert_int_equal(s.tgid, getpid());
	assert_int_equal(s.ppid, getppid());
	assert_int_equal(s.threads, 1);
	assert_int_equal(s.umask, 0037);
	assert_false(s.kthread);
	assert_true(s.sig_blk & (1ull << (SIGUSR2 - 1)));
	assert_int_equal(s.uid[0], getuid());
	assert_int_equal(s.uid[1], geteuid());
	assert_int_equal(s.gid[0], getgid());

	struct bm_proc_stat st;
	assert_int_equal(bm_read_stat(getpid(), &st), 0);
	assert_int_equal(st.pid, getpid());
	assert_int_equal(st.ppid, getppid());
	assert_int_equal(st.pgrp, getpgrp());
	assert_int_equal(st.session, getsid(0));
	assert_string_equal(st.comm, comm);
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.num_threads, 1);
	assert_int_equal(st.flags & PF_KTHREAD, 0);
	assert_true(st.start_code <= (uintptr_t)&test_live_status_and_stat);
	assert_true((uintptr_t)&test_live_status_and_stat < st.end_code);
	assert_true(st.arg_start < st.arg_end && st.arg_end <= st.env_start && st.env_start <= st.env_end);
	assert_int_equal(st.exit_code, 0);
}

/* ---- limits ---- */

/* /proc/self/limits against getrlimit, for every resource; then the
 * parser on rows a hostile or future kernel could produce. */
/* The supplementary groups, as getgroups sees them, and the limit; in a
 * child that set them, so that there are several. */
static void test_groups(void **state)
{
	(void)state;
	pid_t c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		const gid_t set[] = {4321, 7, 1234};
		uint32_t got[8], n = 0;
		int ok = setgroups(3, set) == 0 && bm_read_groups(getpid(), got, 8, &n) == 0 && n == 3 && got[0] == 7 &&
			 got[1] == 1234 && got[2] == 4321; /* the kernel keeps them sorted */
		ok = ok && bm_read_groups(getpid(), got, 2, &n) == -E2BIG;
		ok = ok && setgroups(0, NULL) == 0 && bm_read_groups(getpid(), got, 8, &n) == 0 && n == 0;
		_exit(ok ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(c, &status, 0), c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	uint32_t got[4];
	uint32_t n;
	assert_int_equal(bm_read_groups(999999999, got, 4, &n), -ENOENT);
}

static void test_limits(void **state)
{
	(void)state;
	uint64_t lim[RLIM_NLIMITS][2];
	struct rlimit mine = {4096, 8192};
	struct rlimit saved;
	assert_int_equal(getrlimit(RLIMIT_CORE, &saved), 0);
	if (saved.rlim_max >= mine.rlim_max)
		assert_int_equal(setrlimit(RLIMIT_CORE, &mine), 0);
	assert_int_equal(bm_read_limits(getpid(), lim, RLIM_NLIMITS), 0);
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		struct rlimit want;
		assert_int_equal(getrlimit(r, &want), 0);
		assert_true(lim[r][0] == want.rlim_cur);
		assert_true(lim[r][1] == want.rlim_max);
	}
	setrlimit(RLIMIT_CORE, &saved);
	/* One row too few or too many for what the caller expects. */
	assert_int_equal(bm_read_limits(getpid(), lim, RLIM_NLIMITS - 1), -EINVAL);

	const char *head = "Limit                     Soft Limit           Hard Limit           Units     \n";
	char text[512];
	struct {
		const char *row;
		int rc;
		uint64_t soft, hard;
	} cases[] = {
		{"Max stack size            8388608              unlimited            bytes     \n", 0, 8388608, RLIM_INFINITY},
		{"Max nice priority         0                    0                    \n", 0, 0, 0},
		{"Max nice priority         0                    0", 0, 0, 0},
		{"Max stack size            18446744073709551615 5                    bytes     \n", 0, UINT64_MAX, 5},
		{"Max stack size            -1                   5                    bytes     \n", -EINVAL, 0, 0},
		{"Max stack size            12x                  5                    bytes     \n", -EINVAL, 0, 0},
		{"Max stack size            unlimitedx           5                    bytes     \n", -EINVAL, 0, 0},
		{"Max stack size            99999999999999999999 5                    bytes     \n", -EINVAL, 0, 0},
		{"Max stack size            5                    \n", -EINVAL, 0, 0},
		{"Max stack size            5\n", -EINVAL, 0, 0},
		{"\n", -EINVAL, 0, 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "%s%s", head, cases[i].row);
		uint64_t one[1][2] = {{7, 7}};
		assert_int_equal(bm_parse_limits(text, one, 1), cases[i].rc);
		if (cases[i].rc == 0) {
			assert_true(one[0][0] == cases[i].soft);
			assert_true(one[0][1] == cases[i].hard);
		}
	}
	assert_int_equal(bm_parse_limits(head, lim, 1), -EINVAL);      /* no rows */
	assert_int_equal(bm_parse_limits("", lim, 1), -EINVAL);        /* no header */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_samples),
		cmocka_unit_test(test_status_malformed),
		cmocka_unit_test(test_status_truncations),
		cmocka_unit_test(test_stat_samples),
		cmocka_unit_test(test_stat_matches_maps),
		cmocka_unit_test(test_stat_malformed),
		cmocka_unit_test(test_stat_truncations),
		cmocka_unit_test(test_live_status_and_stat),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_groups),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* misc [ARGS...]: process-wide state.  Before "ready" it renames itself
 * (PR_SET_NAME), lowers RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_CORE and
 * RLIMIT_MSGQUEUE, adds ADDR_NO_RANDOMIZE to its personality, makes itself
 * not dumpable (PR_SET_DUMPABLE 0) and starts a new session, whose
 * autogroup it gives nice 7 (where the kernel has autogroups).  After the
 * wake-up, compared with before:
 *   - getpid/gettid from the kernel (raw system calls, not glibc's cache);
 *   - comm (prctl and /proc/self/comm), all rlimits, personality, the
 *     dumpable flag, session and process group, the autogroup's nice value;
 *   - /proc/self/cmdline, /proc/self/environ, /proc/self/auxv byte for byte,
 *     the /proc/self/exe link, the mm fields in /proc/self/stat (code, data,
 *     brk, stack, arguments and environment bounds);
 *   - the whole /proc/self/maps (adjacent compatible entries merged, since
 *     whether the kernel merges them is no part of the process's state; the
 *     stack may have grown downwards): no mapping lost, moved or left behind
 *     by the restorer;
 *   - the vDSO: AT_SYSINFO_EHDR is where [vdso] is, and clock_gettime,
 *     gettimeofday, time and sched_getcpu work, with time moving forward;
 *   - the set of open descriptors.
 * misc --exec [ARGS...] first waits (sigsuspend) for SIGUSR2, then runs
 * misc ARGS (execve): a test has a dump look at it before the execve and
 * stop it after, when it is another program in another session. */
#include <sched.h>
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include "testprog.h"

#define BIG 65536

struct blob {
	char data[BIG];
	ssize_t len;
};

static void blob_read(struct blob *b, const char *path)
{
	b->len = read_file(path, b->data, sizeof(b->data));
}

static bool blob_same(const struct blob *a, const struct blob *b)
{
	return a->len >= 0 && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* ---- /proc/self/maps, normalised ---- */

struct vma_entry {
	unsigned long start, end, offset, inode;
	char perms[8], dev[16], path[256];
};
struct vma_list {
	struct vma_entry e[512];
	int n;
};

static void vma_list_read(struct vma_list *list)
{
	static char maps[BIG];
	list->n = 0;
	ssize_t len = read_file("/proc/self/maps", maps, sizeof(maps) - 1);
	if (len <= 0)
		return;
	maps[len] = '\0';
	for (char *line = strtok(maps, "\n"); line && list->n < 512; line = strtok(NULL, "\n")) {
		struct vma_entry v;
		memset(&v, 0, sizeof(v));
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255[^\n]", &v.start, &v.end, v.perms, &v.offset, v.dev,
			   &v.inode, v.path) < 6)
			continue;
		char *path = v.path;
		while (*path == ' ')
			path++;
		memmove(v.path, path, strlen(path) + 1);
		struct vma_entry *prev = list->n ? &list->e[list->n - 1] : NULL;
		if (prev && prev->end == v.start && strcmp(prev->perms, v.perms) == 0 && strcmp(prev->path, v.path) == 0 &&
		    strcmp(prev->dev, v.dev) == 0 && prev->inode == v.inode &&
		    (v.inode == 0 || prev->offset + (prev->end - prev->start) == v.offset)) {
			prev->end = v.end;
			continue;
		}
		list->e[list->n++] = v;
	}
}

static void vma_list_compare(const struct vma_list *before, const struct vma_list *now)
{
	CHECK(before->n == now->n, "%d mappings, were %d", now->n, before->n);
	for (int i = 0; i < before->n && i < now->n; i++) {
		const struct vma_entry *a = &before->e[i], *b = &now->e[i];
		/* The stack may have grown since the snapshot (the SIGUSR1 frame). */
		bool stack = strcmp(a->path, "[stack]") == 0;
		CHECK((a->start == b->start || (stack && b->start < a->start)) && a->end == b->end && strcmp(a->perms, b->perms) == 0 && a->offset == b->offset &&
			      a->inode == b->inode && strcmp(a->path, b->path) == 0,
		      "mapping %d: %lx-%lx %s %lx %lu %s, was %lx-%lx %s %lx %lu %s", i, b->start, b->end, b->perms,
		      b->offset, b->inode, b->path, a->start, a->end, a->perms, a->offset, a->inode, a->path);
	}
}

static const struct {
	int field;
	const char *name;
} mm_fields[] = {
	{ 26, "start_code" }, { 27, "end_code" }, { 28, "start_stack" }, { 45, "start_data" }, { 46, "end_data" },
	{ 47, "start_brk" },  { 48, "arg_start" }, { 49, "arg_end" },    { 50, "env_start" }, { 51, "env_end" },
};
#define N_MM_FIELDS (int)(sizeof(mm_fields) / sizeof(mm_fields[0]))

static struct blob cmdline_before, environ_before, auxv_before, blob_now;
static struct vma_list maps_before, maps_now;

static volatile sig_atomic_t usr2_seen;
static void on_usr2(int sig)
{
	(void)sig;
	usr2_seen = 1;
}

/* misc --exec ARGS...: "waiting", then at SIGUSR2 misc ARGS. */
static void exec_on_usr2(char **argv)
{
	sigset_t usr2, old;
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	SETUP(sigprocmask(SIG_BLOCK, &usr2, &old) == 0 && signal(SIGUSR2, on_usr2) != SIG_ERR, "SIGUSR2");
	say("waiting");
	while (!usr2_seen)
		sigsuspend(&old);
	SETUP(signal(SIGUSR2, SIG_DFL) != SIG_ERR && sigprocmask(SIG_SETMASK, &old, NULL) == 0, "SIGUSR2 back");
	argv[1] = argv[0];
	execv("/proc/self/exe", argv + 1);
	say("FAIL: execv: %s", strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--exec") == 0)
		exec_on_usr2(argv);
	usr1_setup();
	const char *comm = "bm-misc-comm";
	SETUP(prctl(PR_SET_NAME, comm) == 0, "PR_SET_NAME");
	struct rlimit rl;
	SETUP(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit");
	rl.rlim_cur = 200;
	if (rl.rlim_max > 4096)
		rl.rlim_max = 4096;
	SETUP(setrlimit(RLIMIT_NOFILE, &rl) == 0, "RLIMIT_NOFILE");
	SETUP(getrlimit(RLIMIT_STACK, &rl) == 0, "getrlimit");
	rl.rlim_cur = 6 << 20;
	SETUP(setrlimit(RLIMIT_STACK, &rl) == 0, "RLIMIT_STACK");
	SETUP(getrlimit(RLIMIT_CORE, &rl) == 0, "getrlimit");
	rl.rlim_cur = 0;
	SETUP(setrlimit(RLIMIT_CORE, &rl) == 0, "RLIMIT_CORE");
	SETUP(getrlimit(RLIMIT_MSGQUEUE, &rl) == 0, "getrlimit");
	rl.rlim_cur = 12345;
	SETUP(setrlimit(RLIMIT_MSGQUEUE, &rl) == 0, "RLIMIT_MSGQUEUE");
	struct rlimit limits_before[RLIM_NLIMITS];
	for (int r = 0; r < RLIM_NLIMITS; r++)
		SETUP(getrlimit(r, &limits_before[r]) == 0, "getrlimit");
	int persona = personality(0xffffffff);
	SETUP(persona != -1 && personality(persona | ADDR_NO_RANDOMIZE) != -1, "personality");
	int persona_before = personality(0xffffffff);
	SETUP(setsid() != -1, "setsid");
	char autogroup[64] = "";
	int agfd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC);
	if (agfd >= 0) {
		SETUP(write(agfd, "7", 1) == 1, "the autogroup's nice");
		close(agfd);
		SETUP(read_file("/proc/self/autogroup", autogroup, sizeof autogroup - 1) > 0 &&
			      strstr(autogroup, " nice 7\n"),
		      "the autogroup's nice read back");
	}
	SETUP(prctl(PR_SET_DUMPABLE, 0) == 0, "PR_SET_DUMPABLE");

	pid_t pid = syscall(SYS_getpid), tid = syscall(SYS_gettid);
	blob_read(&cmdline_before, "/proc/self/cmdline");
	blob_read(&environ_before, "/proc/self/environ");
	blob_read(&auxv_before, "/proc/self/auxv");
	SETUP(cmdline_before.len > 0 && environ_before.len > 0 && auxv_before.len > 0, "reading /proc/self");
	char exe_before[4096] = "", exe_now[4096] = "";
	SETUP(readlink("/proc/self/exe", exe_before, sizeof(exe_before) - 1) > 0, "readlink exe");
	unsigned long long mm_before[N_MM_FIELDS], mm_now = 0;
	for (int i = 0; i < N_MM_FIELDS; i++)
		SETUP(self_stat_field(mm_fields[i].field, &mm_before[i]), "mm fields");
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
	struct fd_set_snapshot fds_before;
	fd_snapshot(&fds_before);
	struct timespec mono_before, real_before;
	clock_gettime(CLOCK_MONOTONIC, &mono_before);
	clock_gettime(CLOCK_REALTIME, &real_before);
	vma_list_read(&maps_before);

	say("ready");
	usr1_wait();

	vma_list_read(&maps_now);
	vma_list_compare(&maps_before, &maps_now);
	CHECK(syscall(SYS_getpid) == pid && syscall(SYS_gettid) == tid, "pid %ld tid %ld, were %d %d",
	      syscall(SYS_getpid), syscall(SYS_gettid), pid, tid);
	CHECK(getsid(0) == pid && getpgid(0) == pid, "session %d group %d, both were %d", getsid(0), getpgid(0), pid);
	if (autogroup[0]) { /* its number is the kernel's count: only the nice value is the process's */
		char now[64] = "";
		CHECK(read_file("/proc/self/autogroup", now, sizeof now - 1) > 0 && strstr(now, " nice 7\n"),
		      "autogroup \"%s\", was \"%s\"", now, autogroup);
	}

	char name[17] = "";
	CHECK(prctl(PR_GET_NAME, name) == 0 && strcmp(name, comm) == 0, "comm \"%s\"", name);
	char comm_file[64] = "";
	ssize_t n = read_file("/proc/self/comm", comm_file, sizeof(comm_file) - 1);
	CHECK(n > 0 && strncmp(comm_file, comm, strlen(comm)) == 0, "/proc/self/comm \"%s\"", comm_file);
	for (int r = 0; r < RLIM_NLIMITS; r++) {
		CHECK(getrlimit(r, &rl) == 0 && rl.rlim_cur == limits_before[r].rlim_cur &&
			      rl.rlim_max == limits_before[r].rlim_max,
		      "rlimit %d is %llu/%llu, was %llu/%llu", r, (unsigned long long)rl.rlim_cur,
		      (unsigned long long)rl.rlim_max, (unsigned long long)limits_before[r].rlim_cur,
		      (unsigned long long)limits_before[r].rlim_max);
	}
	CHECK(prctl(PR_GET_DUMPABLE) == 0, "dumpable is %d, was 0", prctl(PR_GET_DUMPABLE));
	CHECK(personality(0xffffffff) == persona_before, "personality %#x, was %#x", personality(0xffffffff),
	      persona_before);

	blob_read(&blob_now, "/proc/self/cmdline");
	CHECK(blob_same(&cmdline_before, &blob_now), "/proc/self/cmdline changed");
	size_t pos = 0;
	for (int i = 0; argv[i]; i++) {
		CHECK(pos < (size_t)blob_now.len && strcmp(blob_now.data + pos, argv[i]) == 0,
		      "argv[%d] \"%s\" is not in /proc/self/cmdline", i, argv[i]);
		pos += strlen(argv[i]) + 1;
	}
	blob_read(&blob_now, "/proc/self/environ");
	CHECK(blob_same(&environ_before, &blob_now), "/proc/self/environ changed");
	blob_read(&blob_now, "/proc/self/auxv");
	CHECK(blob_same(&auxv_before, &blob_now), "/proc/self/auxv changed");
	CHECK(readlink("/proc/self/exe", exe_now, sizeof(exe_now) - 1) > 0 && strcmp(exe_now, exe_before) == 0,
	      "/proc/self/exe is \"%s\", was \"%s\"", exe_now, exe_before);
	for (int i = 0; i < N_MM_FIELDS; i++)
		CHECK(self_stat_field(mm_fields[i].field, &mm_now) && mm_now == mm_before[i], "%s is %#llx, was %#llx",
		      mm_fields[i].name, mm_now, mm_before[i]);
	fd_check_same(&fds_before);

	CHECK(vdso != 0 && getauxval(AT_SYSINFO_EHDR) == vdso, "AT_SYSINFO_EHDR");
	bool vdso_mapped = false;
	for (int i = 0; i < maps_now.n; i++)
		vdso_mapped |= maps_now.e[i].start == vdso && strcmp(maps_now.e[i].path, "[vdso]") == 0;
	CHECK(vdso_mapped, "[vdso] is not at AT_SYSINFO_EHDR %#lx", vdso);
	struct timespec mono_now, real_now;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &mono_now) == 0 &&
		      (mono_now.tv_sec > mono_before.tv_sec ||
		       (mono_now.tv_sec == mono_before.tv_sec && mono_now.tv_nsec > mono_before.tv_nsec)),
	      "CLOCK_MONOTONIC went back");
	CHECK(clock_gettime(CLOCK_REALTIME, &real_now) == 0 && real_now.tv_sec >= real_before.tv_sec,
	      "CLOCK_REALTIME went back");
	struct timeval tv;
	CHECK(gettimeofday(&tv, NULL) == 0 && tv.tv_sec >= real_before.tv_sec, "gettimeofday");
	CHECK(time(NULL) >= real_before.tv_sec, "time()");
	CHECK(sched_getcpu() >= 0, "sched_getcpu");
	return tp_finish();
}

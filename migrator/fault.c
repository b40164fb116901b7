/* Fault points (fault.h): the table, arming, and the injected failure. */
#include "fault.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const struct {
	const char *name; /* upper case, underscores */
	int err;
	unsigned where; /* enum bm_fault_where */
	const char *what;
} points[BM_FP_COUNT] = {
	[BM_FP_NONE] = {"NONE", 0, 0, "nothing"},
#define BM_FAULT_ROW(name, err, where, what) [BM_FP_##name] = {#name, err, where, what},
	BM_FAULT_POINTS(BM_FAULT_ROW)
#undef BM_FAULT_ROW
};

/* "READ_REGS" -> "read-regs" */
static void public_name(enum bm_fault_point p, char *buf, size_t len)
{
	size_t i = 0;
	for (const char *s = points[p].name; *s && i + 1 < len; s++)
		buf[i++] = *s == '_' ? '-' : (char)tolower((unsigned char)*s);
	buf[i] = 0;
}

static enum bm_fault_point find_point(const char *name, size_t len)
{
	char want[64], have[64];
	if (len == 0 || len >= sizeof want)
		return BM_FP_NONE;
	memcpy(want, name, len);
	want[len] = 0;
	char *end;
	long n = strtol(want, &end, 10);
	if (!*end)
		return n > BM_FP_NONE && n < BM_FP_COUNT ? (enum bm_fault_point)n : BM_FP_NONE;
	for (int p = BM_FP_NONE + 1; p < BM_FP_COUNT; p++) {
		public_name(p, have, sizeof have);
		if (strcmp(have, want) == 0)
			return p;
	}
	return BM_FP_NONE;
}

#ifdef BM_FAULT_INJECTION
enum bm_fault_point bm_fault_armed;
static unsigned long armed_pass = 1, passes;
static bool armed_crash; /* "/crash": the step kills binmig instead of failing */

bool bm_fault_fire(enum bm_fault_point p)
{
	if (++passes < armed_pass)
		return false;
	bm_fault_armed = BM_FP_NONE;
	const char *log = getenv("BINMIG_FAULT_LOG");
	if (log && *log) {
		char line[80];
		public_name(p, line, sizeof line - 1);
		size_t n = strlen(line);
		line[n++] = '\n';
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ssize_t w = write(fd, line, n);
			(void)w;
			close(fd);
		}
	}
	if (armed_crash)
		kill(getpid(), SIGKILL);
	errno = points[p].err;
	return true;
}

bool bm_fault_injection_built(void)
{
	return true;
}

void bm_test_gate(const char *dir, const char *made, const char *line, const char *awaited)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, made);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dprintf(fd, "%s\n", line);
		close(fd);
	}
	snprintf(path, sizeof path, "%s/%s", dir, awaited);
	for (int i = 0; i < 30000 && access(path, F_OK) < 0; i++)
		usleep(1000);
}

bool bm_test_gate_open(const char *dir, const char *made, const char *line, const char *awaited)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, made);
	if (access(path, F_OK) < 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dprintf(fd, "%s\n", line);
			close(fd);
		}
	}
	snprintf(path, sizeof path, "%s/%s", dir, awaited);
	return access(path, F_OK) == 0;
}

/* The gate DIR/NAME ("NAME"), DIR/go where the variable ENV names a DIR. */
static void env_gate(const char *env, const char *name)
{
	const char *dir = getenv(env);
	if (dir && *dir)
		bm_test_gate(dir, name, name, "go");
}

void bm_test_exit_gate(void)
{
	env_gate("BINMIG_TEST_EXIT_GATE", "exiting");
}

void bm_test_looked_gate(void)
{
	env_gate("BINMIG_TEST_LOOKED_GATE", "looked");
}

void bm_test_vfork_gate(void)
{
	env_gate("BINMIG_TEST_VFORK_GATE", "vfork");
}

bool bm_test_no_bpf(void)
{
	const char *v = getenv("BINMIG_TEST_NO_BPF");
	return v && *v && strcmp(v, "0") != 0;
}
#else
void bm_test_gate(const char *dir, const char *made, const char *line, const char *awaited)
{
	(void)dir;
	(void)made;
	(void)line;
	(void)awaited;
}

bool bm_test_gate_open(const char *dir, const char *made, const char *line, const char *awaited)
{
	(void)dir;
	(void)made;
	(void)line;
	(void)awaited;
	return true;
}

void bm_test_exit_gate(void)
{
}

void bm_test_looked_gate(void)
{
}

void bm_test_vfork_gate(void)
{
}

bool bm_test_no_bpf(void)
{
	return false;
}

bool bm_fault_injection_built(void)
{
	return false;
}
#endif

int bm_fault_rc(enum bm_fault_point p)
{
	return bm_fault(p) ? -errno : 0;
}

int bm_fault_arm(const char *spec)
{
	if (!spec || !*spec) {
#ifdef BM_FAULT_INJECTION
		bm_fault_armed = BM_FP_NONE;
#endif
		return 0;
	}
	/* POINT[:PASS][/crash] */
	size_t all = strcspn(spec, "\n");
	static const char crash_suffix[] = "/crash";
	const size_t crash_len = sizeof crash_suffix - 1;
	bool crash = all > crash_len && strncmp(spec + all - crash_len, crash_suffix, crash_len) == 0;
	if (crash)
		all -= crash_len;
	const char *colon = memchr(spec, ':', all);
	size_t len = colon ? (size_t)(colon - spec) : all;
	enum bm_fault_point p = find_point(spec, len);
	unsigned long pass = 1;
	if (colon) {
		char *end;
		pass = strtoul(colon + 1, &end, 10);
		if (pass == 0 || end != spec + all)
			p = BM_FP_NONE;
	}
	if (p == BM_FP_NONE)
		return bm_error(BM_EXIT_USAGE, "no fault point '%s' (binmig fault-points lists them)", spec), -EINVAL;
#ifdef BM_FAULT_INJECTION
	bm_fault_armed = p;
	armed_pass = pass;
	armed_crash = crash;
	passes = 0;
	return 0;
#else
	return bm_error(BM_EXIT_USAGE, "this binmig is built without fault injection (make test-build has it)"),
	       -ENOTSUP;
#endif
}

int bm_fault_arm_from_env(void)
{
	return bm_fault_arm(getenv("BINMIG_FAULT"));
}

int bm_fault_arm_from_serve_file(void)
{
	const char *path = getenv("BINMIG_SERVE_FAULT_FILE");
	char spec[80] = "";
	if (path && *path) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, spec, sizeof spec - 1);
			spec[n > 0 ? n : 0] = 0;
			close(fd);
		}
	}
	spec[strcspn(spec, "\n")] = 0;
	return bm_fault_arm(spec);
}

void bm_fault_list(FILE *out)
{
	static const char *const places[] = {"dump",	 "restore", "src-stream", "src-file", "dst-stream",
					     "dst-file", "precopy", "locks",	  "postcopy",   "signal", "fallback",
					     "opener"};
	char name[64];
	for (int p = BM_FP_NONE + 1; p < BM_FP_COUNT; p++) {
		char where[80] = "";
		for (size_t i = 0; i < sizeof places / sizeof *places; i++)
			if (points[p].where & (1u << i))
				snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s", *where ? "," : "",
					 places[i]);
		public_name(p, name, sizeof name);
		fprintf(out, "%2d %-16s %-52s %s\n", p, name, where, points[p].what);
	}
}

/* The id the next timer_create hands out (timers_next_id.c): CONFIRM's
 * payload both ways and its rules, the counter a restore leaves, and, on
 * child processes of this test, the counter read at the source (every
 * timer deleted, one made) and set at the destination while the process
 * is parked, after which it runs on where it was and its next timer gets
 * the id its original would have given. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fault.h"
#include "timers.h"
#include "timers_next_id.h"
#include "unit_trace.h"
#include "wire.h"

/* ---- CONFIRM's payload ---------------------------------------------------- */

static struct bm_next_ids *ids_of(const struct bm_next_id *e, uint32_t n)
{
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	assert_non_null(ids);
	memcpy(ids->id, e, n * sizeof *e);
	ids->n = n;
	return ids;
}

static void payload_round_trip(void **state)
{
	(void)state;
	const struct bm_next_id e[] = {{100, 0}, {101, 7}, {4000000, INT_MAX}};
	struct bm_next_ids *in = ids_of(e, 3), *out = calloc(1, sizeof *out);
	uint8_t *buf = malloc(BM_NEXT_IDS_MAX_BYTES);
	assert_non_null(out);
	assert_non_null(buf);
	size_t len = bm_next_ids_encode(in, buf);
	assert_int_equal(len, 4 + 3 * 8);
	assert_int_equal(bm_next_ids_decode(buf, len, out), 0);
	assert_int_equal(out->n, 3);
	assert_memory_equal(out->id, e, sizeof e);
	/* An older source's CONFIRM is empty: nothing to set. */
	out->n = 9;
	assert_int_equal(bm_next_ids_decode(buf, 0, out), 0);
	assert_int_equal(out->n, 0);
	free(in);
	free(out);
	free(buf);
}

/* A payload of ENTRIES (pid, next) pairs after the count COUNT. */
static int decode(uint32_t count, const uint32_t *entries, size_t nwords, size_t len)
{
	uint8_t buf[64] = {0};
	bm_store_le32(buf, count);
	for (size_t i = 0; i < nwords; i++)
		bm_store_le32(buf + 4 + 4 * i, entries[i]);
	struct bm_next_ids *out = calloc(1, sizeof *out);
	assert_non_null(out);
	int rc = bm_next_ids_decode(buf, len, out);
	if (rc < 0)
		assert_int_equal(out->n, 0);
	free(out);
	return rc;
}

static void payload_rules(void **state)
{
	(void)state;
	const uint32_t good[] = {5, 1, 6, 2};
	assert_int_equal(decode(2, good, 4, 20), 0);
	assert_int_equal(decode(2, good, 4, 3), -EPROTO);  /* shorter than its count */
	assert_int_equal(decode(2, good, 4, 12), -EPROTO); /* one entry short */
	assert_int_equal(decode(2, good, 4, 28), -EPROTO); /* bytes after the entries */
	assert_int_equal(decode(BM_NEXT_IDS_MAX + 1, good, 4, 20), -EPROTO);
	const uint32_t twice[] = {5, 1, 5, 2}, no_pid[] = {0, 1}, negative[] = {(uint32_t)-3, 1},
		       too_far[] = {5, (uint32_t)INT_MAX + 1};
	assert_int_equal(decode(2, twice, 4, 20), -EPROTO);
	assert_int_equal(decode(1, no_pid, 2, 12), -EPROTO);
	assert_int_equal(decode(1, negative, 2, 12), -EPROTO);
	assert_int_equal(decode(1, too_far, 2, 12), -EPROTO);
}

/* ---- the counter a restore leaves ----------------------------------------- */

static void restored_counter(void **state)
{
	(void)state;
	struct bm_posix_timer t[3] = {{.id = 0}, {.id = 2, .newest = true}, {.id = 7}};
	struct bm_process p = {.pid = 10};
	assert_int_equal(bm_timers_restored_next_id(&p), 0); /* no timer made */
	p.timers.posix = t;
	p.timers.nposix = 3;
	assert_int_equal(bm_timers_restored_next_id(&p), 3); /* the newest made last */
	t[1].newest = false;
	assert_int_equal(bm_timers_restored_next_id(&p), 8); /* an older image: the highest last */
	t[2].id = INT_MAX;
	assert_int_equal(bm_timers_restored_next_id(&p), 0); /* wraps, as the kernel's does */
}

/* ---- on processes ----------------------------------------------------------- */

/* A timer made by the calling process with id GIVEN (or any id for -1). */
static int make_timer(int given)
{
	int id = given < 0 ? 0 : given;
	if (given >= 0 && prctl(BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0) < 0)
		return -1;
	long rc = syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &id);
	if (given >= 0)
		prctl(BM_PR_TIMER_CREATE_RESTORE_IDS, BM_PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0);
	return rc == 0 ? id : -1;
}

struct child {
	pid_t pid;
	int go;     /* write a timer id (-1: none): the child deletes it, makes a timer and reports its id */
	int report;
};

/* A child that makes timers GIVEN[0..n) (-1: any id), deletes DROP[0..m),
 * says it is ready and blocks in read until told to go. */
static struct child spawn(const int *given, int n, const int *drop, int m)
{
	int go[2], report[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(report), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = prctl(PR_SET_PDEATHSIG, SIGKILL) == 0; /* a failed check leaves none behind */
		for (int i = 0; i < n; i++)
			ok &= make_timer(given[i]) >= 0;
		for (int i = 0; i < m; i++)
			ok &= syscall(SYS_timer_delete, drop[i]) == 0;
		int ready = ok ? 0 : -1, then_drop;
		if (write(report[1], &ready, sizeof ready) != sizeof ready ||
		    read(go[0], &then_drop, sizeof then_drop) != sizeof then_drop)
			_exit(2);
		if (then_drop >= 0 && syscall(SYS_timer_delete, then_drop) < 0)
			_exit(2);
		int id = make_timer(-1);
		_exit(write(report[1], &id, sizeof id) == sizeof id ? 0 : 2);
	}
	close(go[0]);
	close(report[1]);
	int ready = -2;
	assert_int_equal(read(report[0], &ready, sizeof ready), sizeof ready);
	assert_int_equal(ready, 0);
	return (struct child){pid, go[1], report[0]};
}

/* Lets CHILD run on, has it delete timer THEN_DROP (-1: none) and make
 * one, and returns that one's id. */
static int next_made(struct child *c, int then_drop)
{
	assert_int_equal(ptrace(PTRACE_DETACH, c->pid, 0, 0), 0);
	assert_int_equal(write(c->go, &then_drop, sizeof then_drop), sizeof then_drop);
	int id = -2, status;
	assert_int_equal(read(c->report, &id, sizeof id), sizeof id);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* its read resumed unharmed */
	close(c->go);
	close(c->report);
	return id;
}

/* In a child with timers 0-3 made and the newest two deleted (its counter
 * 4, past every timer left, which no listing shows), the source's reading
 * with FAULT armed (NULL: none) into IDS; returns what it did.  The child
 * stays stopped (C). */
static int take_in_child(const char *fault, struct bm_next_ids *ids, struct child *c)
{
	const int given[] = {-1, -1, -1, -1}, drop[] = {3, 2};
	*c = spawn(given, 4, drop, 2);
	struct bm_tracee tr;
	unit_trace(c->pid, &tr);
	struct bm_posix_timer live[2] = {{.id = 0}, {.id = 1, .newest = true}};
	struct bm_frozen f = {.pid = c->pid, .tracees = &tr, .ntracees = 1};
	f.proc.pid = c->pid;
	f.proc.timers.posix = live;
	f.proc.timers.nposix = 2;
	assert_int_equal(bm_fault_arm(fault), 0);
	int rc = bm_timers_take_next_ids(&f, ids);
	assert_int_equal(bm_fault_arm(NULL), 0);
	return rc;
}

static void source_reads_the_counter(void **state)
{
	(void)state;
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	assert_non_null(ids);
	struct child c;
	assert_int_equal(take_in_child(NULL, ids, &c), 0);
	assert_int_equal(ids->n, 1);
	assert_int_equal(ids->id[0].pid, c.pid);
	assert_int_equal(ids->id[0].next, 4);
	/* Its timers are gone, the one made in their place holds the id. */
	char path[64], text[256];
	snprintf(path, sizeof path, "/proc/%d/timers", c.pid);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	size_t n = fread(text, 1, sizeof text - 1, in);
	text[n] = 0;
	fclose(in);
	assert_int_equal(strncmp(text, "ID: 4\n", 6), 0);
	assert_null(strstr(text, "\nID: "));
	kill(c.pid, SIGKILL);
	waitpid(c.pid, NULL, 0);
	close(c.go);
	close(c.report);
	free(ids);
}

/* The timer ids listed in CHILD's /proc/PID/timers, in its order, into
 * IDS (room for 8); returns how many. */
static int listed_timers(pid_t pid, int *ids)
{
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/%d/timers", pid);
	FILE *in = fopen(path, "r");
	assert_non_null(in);
	int n = 0;
	while (n < 8 && fgets(line, sizeof line, in))
		if (sscanf(line, "ID: %d", &ids[n]) == 1)
			n++;
	fclose(in);
	return n;
}

/* The source's reading with injected call FAIL failing (the calls:
 * scratch page, timer_delete 0, timer_delete 1, timer_create, munmap), as
 * in take_in_child.  Returns what it did; IDS holds what it read, LEFT
 * the timers left; the child then makes one and its id is returned. */
static int take_failing(int fail, struct bm_next_ids *ids, int *left, int *nleft, int *then_made)
{
	char spec[32];
	snprintf(spec, sizeof spec, "inject:%d", fail);
	struct child c;
	int rc = take_in_child(spec, ids, &c);
	*nleft = listed_timers(c.pid, left);
	*then_made = next_made(&c, -1);
	return rc;
}

/* A call that fails before any timer is touched leaves the process as it
 * was and fails the reading, so that the migration fails and the original
 * resumes; one after cannot be undone: the process is left out (its copy
 * continues after its newest timer).  A page binmig cannot give back
 * after the reading does not cost the counter. */
static void source_failing_call(void **state)
{
	(void)state;
	if (!bm_fault_injection_built())
		skip();
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	assert_non_null(ids);
	int left[8], nleft, made;
	for (int fail = 1; fail <= 2; fail++) {
		assert_int_equal(take_failing(fail, ids, left, &nleft, &made), -EAGAIN);
		assert_int_equal(ids->n, 0);
		assert_int_equal(nleft, 2); /* both timers, and the counter, as they were */
		assert_int_equal(made, 4);
	}
	for (int fail = 3; fail <= 4; fail++) {
		assert_int_equal(take_failing(fail, ids, left, &nleft, &made), 0);
		assert_int_equal(ids->n, 0);
	}
	assert_int_equal(take_failing(5, ids, left, &nleft, &made), 0);
	assert_int_equal(ids->n, 1);
	assert_int_equal(ids->id[0].next, 4);
	free(ids);
}

/* A process whose signal queue may hold nothing cannot make a timer, so
 * its counter cannot be read, however often binmig tries: it is left out
 * (warned of) and the migration goes on, as before the reading failed
 * calls before any change. */
static void kernel_refuses_the_reading(void **state)
{
	(void)state;
	struct child c = spawn(NULL, 0, NULL, 0);
	struct rlimit none = {0, 0};
	assert_int_equal(prlimit(c.pid, RLIMIT_SIGPENDING, &none, NULL), 0);
	struct bm_tracee tr;
	unit_trace(c.pid, &tr);
	struct bm_frozen f = {.pid = c.pid, .tracees = &tr, .ntracees = 1};
	f.proc.pid = c.pid;
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	assert_non_null(ids);
	assert_int_equal(bm_timers_take_next_ids(&f, ids), 0);
	assert_int_equal(ids->n, 0);
	kill(c.pid, SIGKILL);
	waitpid(c.pid, NULL, 0);
	close(c.go);
	close(c.report);
	free(ids);
}

/* A restored process as the restore leaves it: timers GIVEN made with
 * their ids, the newest (the last) last; its counter then set to NEXT
 * while it is parked.  Returns the id its next timer gets once it has
 * deleted THEN_DROP (-1: none). */
static int set_then_make(const int *given, int n, uint32_t next, int then_drop)
{
	struct child c = spawn(given, n, NULL, 0);
	struct bm_tracee tr;
	unit_trace(c.pid, &tr);
	assert_int_equal(bm_park(c.pid), 0);
	struct bm_posix_timer t[8] = {{0}};
	struct bm_process p = {.pid = c.pid};
	for (int i = 0; i < n; i++)
		t[i] = (struct bm_posix_timer){.id = given[i], .newest = i == n - 1};
	p.timers.posix = t;
	p.timers.nposix = (uint32_t)n;
	struct bm_next_id e = {c.pid, next};
	struct bm_next_ids *ids = ids_of(&e, 1);
	bm_timers_set_next_id(&tr, &p, ids);
	free(ids);
	return next_made(&c, then_drop);
}

static void destination_sets_the_counter(void **state)
{
	(void)state;
	const int given[] = {0, 1};
	/* Past the newest: the id below is free, made and deleted. */
	assert_int_equal(set_then_make(given, 2, 4, -1), 4);
	/* Where the restore left it: nothing to do. */
	assert_int_equal(set_then_make(given, 2, 2, -1), 2);
	/* Below the newest, in a gap (the original made 1 after 2 and deleted
	 * it): the counter goes back, which shows once 2 is deleted. */
	const int gap[] = {0, 5, 2};
	assert_int_equal(set_then_make(gap, 3, 2, 2), 2);
	assert_int_equal(set_then_make(gap, 3, 3, 2), 3); /* the control */
	/* The counter at 0 again after 2^31 ids. */
	const int one[] = {3};
	assert_int_equal(set_then_make(one, 1, 0, -1), 0);
}

/* A counter after a held id that is not the newest cannot be: the
 * process runs on, its counter where the restore left it. */
static void impossible_counter_is_left(void **state)
{
	(void)state;
	const int given[] = {0, 1, 2};
	assert_int_equal(set_then_make(given, 3, 2, -1), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(payload_round_trip),
		cmocka_unit_test(payload_rules),
		cmocka_unit_test(restored_counter),
		cmocka_unit_test(source_reads_the_counter),
		cmocka_unit_test(source_failing_call),
		cmocka_unit_test(kernel_refuses_the_reading),
		cmocka_unit_test(destination_sets_the_counter),
		cmocka_unit_test(impossible_counter_is_left),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The next watch number of inotify instances, carried by a migration
 * (migrator/inotify_next_wd.c): CONFIRM's part that carries it, the
 * number a restore leaves, the source's reading in a live process and the
 * destination's setting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd_inotify.h"
#include "inotify_next_wd.h"
#include "ptrace_ctl.h"
#include "unit_trace.h"
#include "wire.h"

/* ---- CONFIRM's payload ---------------------------------------------------- */

static void payload_round_trip(void **state)
{
	(void)state;
	struct bm_next_ids *in = calloc(1, sizeof *in), *out = calloc(1, sizeof *out);
	uint8_t *buf = malloc(BM_NEXT_IDS_MAX_BYTES);
	assert_non_null(in);
	assert_non_null(out);
	assert_non_null(buf);
	in->n = 1;
	in->id[0] = (struct bm_next_id){100, 7};
	in->nwd = 2;
	in->wd[0] = (struct bm_next_wd){100, 3, 4};
	in->wd[1] = (struct bm_next_wd){101, 3, INT_MAX};
	size_t len = bm_next_ids_encode(in, buf);
	assert_int_equal(len, 4 + 8 + 4 + 2 * 12);
	assert_int_equal(bm_next_ids_decode(buf, len, out), 0);
	assert_int_equal(out->n, 1);
	assert_int_equal(out->id[0].next, 7);
	assert_int_equal(out->nwd, 2);
	assert_memory_equal(out->wd, in->wd, 2 * sizeof *in->wd);
	/* Without watch numbers: the payload of a source from before them. */
	in->nwd = 0;
	assert_int_equal(bm_next_ids_encode(in, buf), 4 + 8);
	out->nwd = 9;
	assert_int_equal(bm_next_ids_decode(buf, 4 + 8, out), 0);
	assert_int_equal(out->nwd, 0);
	free(in);
	free(out);
	free(buf);
}

/* A payload of no timer counter and then the watch numbers' part: its
 * count COUNT and WORDS, LEN bytes in all. */
static int decode(uint32_t count, const uint32_t *words, size_t nwords, size_t len)
{
	uint8_t buf[64] = {0};
	bm_store_le32(buf + 4, count);
	for (size_t i = 0; i < nwords; i++)
		bm_store_le32(buf + 8 + 4 * i, words[i]);
	struct bm_next_ids *out = calloc(1, sizeof *out);
	assert_non_null(out);
	int rc = bm_next_ids_decode(buf, len, out);
	if (rc < 0)
		assert_true(out->n == 0 && out->nwd == 0);
	free(out);
	return rc;
}

static void payload_rules(void **state)
{
	(void)state;
	const uint32_t good[] = {5, 3, 9, 5, 4, 2};
	assert_int_equal(decode(2, good, 6, 8 + 24), 0);
	assert_int_equal(decode(2, good, 6, 6), -EPROTO);      /* its count cut short */
	assert_int_equal(decode(2, good, 6, 8 + 12), -EPROTO); /* one entry short */
	assert_int_equal(decode(2, good, 6, 8 + 28), -EPROTO); /* bytes after the entries */
	assert_int_equal(decode(0, good, 0, 8), -EPROTO);      /* a part with none */
	assert_int_equal(decode(BM_NEXT_WDS_MAX + 1, good, 6, 8 + 24), -EPROTO);
	const uint32_t twice[] = {5, 3, 9, 5, 3, 2}, no_pid[] = {0, 3, 9}, no_fd[] = {5, (uint32_t)-1, 9},
		       zero[] = {5, 3, 0}, too_far[] = {5, 3, (uint32_t)INT_MAX + 1};
	assert_int_equal(decode(2, twice, 6, 8 + 24), -EPROTO);
	assert_int_equal(decode(1, no_pid, 3, 8 + 12), -EPROTO);
	assert_int_equal(decode(1, no_fd, 3, 8 + 12), -EPROTO);
	assert_int_equal(decode(1, zero, 3, 8 + 12), -EPROTO);
	assert_int_equal(decode(1, too_far, 3, 8 + 12), -EPROTO);
}

/* ---- the number a restore leaves --------------------------------------- */

/* An instance's descriptor whose image lists watches WDS[0..n), each on "/". */
static struct bm_fd instance(int32_t fd, const int32_t *wds, size_t n, uint8_t *data)
{
	for (size_t i = 0; i < n; i++) {
		bm_store_le32(data + 13 * i, (uint32_t)wds[i]);
		bm_store_le32(data + 13 * i + 4, IN_CREATE);
		bm_store_le32(data + 13 * i + 8, 1);
		data[13 * i + 12] = '/';
	}
	return (struct bm_fd){.fd = fd, .kind = BM_FD_INOTIFY, .shares_with = -1, .data = data,
			      .data_len = (uint32_t)(13 * n)};
}

/* What the source reads of FDS, the descriptors of frozen process PID
 * (traced as TR): a malloc'd bm_next_ids. */
static struct bm_next_ids *take_from(pid_t pid, struct bm_tracee *tr, struct bm_fd *fds, uint32_t nfds)
{
	struct bm_frozen f = {.pid = pid, .tracees = tr, .ntracees = 1};
	f.proc.pid = pid;
	f.proc.fds = fds;
	f.proc.nfds = nfds;
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	assert_non_null(ids);
	bm_inotify_take_next_wds(&f, ids);
	return ids;
}

static void restored_next(void **state)
{
	(void)state;
	uint8_t data[64];
	const int32_t wds[] = {1, 2, 9};
	struct bm_fd d = instance(3, wds, 0, data);
	assert_int_equal(bm_inotify_restored_next_wd(&d), 1);
	d = instance(3, wds, 3, data);
	assert_int_equal(bm_inotify_restored_next_wd(&d), 10);
}

/* ---- on processes ----------------------------------------------------------- */

struct child {
	pid_t pid;
	int fd; /* its instance */
	int go;
	int report;
};

/* A child with an instance watching DIRS[0..n) (numbers 1..n), the last
 * DROP of them removed again; it says it is ready and blocks in read
 * until told to go, then adds a watch on /run and reports its number. */
static struct child spawn(const char *const *dirs, int n, int drop)
{
	int go[2], report[2];
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(report), 0);
	int fd = inotify_init1(IN_NONBLOCK);
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = prctl(PR_SET_PDEATHSIG, SIGKILL) == 0; /* a failed check leaves none behind */
		for (int i = 0; i < n; i++)
			ok &= inotify_add_watch(fd, dirs[i], IN_CREATE) == i + 1;
		for (int i = n - drop; i < n; i++)
			ok &= inotify_rm_watch(fd, i + 1) == 0;
		int ready = ok ? 0 : -1, go_on;
		if (write(report[1], &ready, sizeof ready) != sizeof ready ||
		    read(go[0], &go_on, sizeof go_on) != sizeof go_on)
			_exit(2);
		int wd = inotify_add_watch(fd, "/run", IN_CREATE);
		_exit(write(report[1], &wd, sizeof wd) == sizeof wd ? 0 : 2);
	}
	close(go[0]);
	close(report[1]);
	int ready = -2;
	assert_int_equal(read(report[0], &ready, sizeof ready), sizeof ready);
	assert_int_equal(ready, 0);
	return (struct child){pid, fd, go[1], report[0]};
}

/* Lets C run on, has it add a watch, and returns that watch's number. */
static int next_made(struct child *c)
{
	assert_int_equal(ptrace(PTRACE_DETACH, c->pid, 0, 0), 0);
	int go = 1, wd = -2, status;
	assert_int_equal(write(c->go, &go, sizeof go), sizeof go);
	assert_int_equal(read(c->report, &wd, sizeof wd), sizeof wd);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* its read resumed unharmed */
	close(c->go);
	close(c->report);
	close(c->fd);
	return wd;
}

/* Kills C, left stopped, and closes its pipes and instance. */
static void end_child(struct child *c)
{
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
	close(c->go);
	close(c->report);
	close(c->fd);
}

/* Watches 1-3 on /, /dev and /sys, the newest removed: the cursor is 4,
 * past every watch left, which fdinfo does not show.  The source's watch
 * skips the directories watched (/, /dev) and gets 4; a dup of the
 * descriptor is not read twice. */
static void source_reads_the_number(void **state)
{
	(void)state;
	static const char *const dirs[] = {"/", "/dev", "/sys"};
	struct child c = spawn(dirs, 3, 1);
	struct bm_tracee tr;
	unit_trace(c.pid, &tr);
	uint8_t data[64];
	const int32_t wds[] = {1, 2};
	struct bm_fd fds[2] = {instance(c.fd, wds, 2, data), instance(c.fd + 1, NULL, 0, data)};
	fds[1].shares_with = c.fd;
	struct bm_next_ids *ids = take_from(c.pid, &tr, fds, 2);
	assert_int_equal(ids->nwd, 1);
	assert_int_equal(ids->wd[0].pid, c.pid);
	assert_int_equal(ids->wd[0].fd, c.fd);
	assert_int_equal(ids->wd[0].next, 4);
	end_child(&c);
	free(ids);
}

/* A descriptor that is no inotify instance (the child's fd 0), as only a
 * damaged image could name one: each side warns and goes on. */
static void source_leaves_out_what_it_cannot_read(void **state)
{
	(void)state;
	static const char *const dirs[] = {"/"};
	struct child c = spawn(dirs, 1, 0);
	struct bm_tracee tr;
	unit_trace(c.pid, &tr);
	uint8_t data[64];
	const int32_t wds[] = {1};
	struct bm_fd fds[2] = {instance(0, NULL, 0, data), instance(c.fd, wds, 1, data)};
	struct bm_next_ids *ids = take_from(c.pid, &tr, fds, 2);
	assert_int_equal(ids->nwd, 1); /* fd 0 left out, with a warning */
	assert_int_equal(ids->wd[0].fd, c.fd);
	assert_int_equal(ids->wd[0].next, 2);
	end_child(&c);
	free(ids);
}

/* A restored instance with watches 1 and 2 (the restore leaves 3 next),
 * its process parked; the number then set to NEXT through what the image
 * says is the instance's descriptor, IMAGE_FD (-1: the instance's own).
 * Returns the number the process's next watch gets. */
static int set_then_add(uint32_t next, int image_fd)
{
	static const char *const dirs[] = {"/", "/dev"};
	struct child c = spawn(dirs, 2, 0);
	struct bm_tracee tr;
	unit_trace(c.pid, &tr);
	assert_int_equal(bm_park(c.pid), 0);
	uint8_t data[64];
	const int32_t wds[] = {1, 2};
	struct bm_fd d = instance(image_fd < 0 ? c.fd : image_fd, wds, 2, data);
	struct bm_process p = {.pid = c.pid, .fds = &d, .nfds = 1};
	struct bm_next_ids *ids = calloc(1, sizeof *ids);
	assert_non_null(ids);
	ids->nwd = 2;
	ids->wd[0] = (struct bm_next_wd){c.pid + 1, c.fd, 9}; /* another process's: left alone */
	ids->wd[1] = (struct bm_next_wd){c.pid, d.fd, next};
	bm_inotify_set_next_wds(&tr, &p, ids);
	free(ids);
	return next_made(&c);
}

static void destination_sets_the_number(void **state)
{
	(void)state;
	assert_int_equal(set_then_add(7, -1), 7);
	assert_int_equal(set_then_add(3, -1), 3); /* where the restore left it */
	/* The ioctl refused (fd 0 is no instance): a warning, and the process
	 * runs on with the number where the restore left it. */
	assert_int_equal(set_then_add(7, 0), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(payload_round_trip),
		cmocka_unit_test(payload_rules),
		cmocka_unit_test(restored_next),
		cmocka_unit_test(source_reads_the_number),
		cmocka_unit_test(source_leaves_out_what_it_cannot_read),
		cmocka_unit_test(destination_sets_the_number),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

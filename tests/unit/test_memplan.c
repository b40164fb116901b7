/* Stream mode's memory plan (memplan.c): the plan of a child process's
 * memory reaches the destination side, which holds the child's area at
 * the child's own address and faults in exactly the pages present there;
 * malformed plans are refused; the store's bound stops the faulting, not
 * the migration. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "memplan.h"
#include "unit_net.h"
#include "wire.h"

#define PG 4096u
#define AREA_PAGES 64

/* Both ends over a socketpair (unit_net.h). */
struct pair {
	int fd[2];
	struct bm_conn tx, rx;
};

static void pair_open(struct pair *p)
{
	make_pair(p->fd);
	p->tx = *PLAIN(p->fd[0]);
	p->rx = *PLAIN(p->fd[1]);
}

static void pair_close(struct pair *p)
{
	close(p->fd[0]);
	close(p->fd[1]);
}

struct receiver {
	struct pair *p;
	struct bm_precopy_store st;
	struct bm_memplan_figures fig;
	uint64_t max;
	int rc;
};

static void *receive(void *arg)
{
	struct receiver *r = arg;
	r->rc = bm_memplan_receive(&r->st, &r->p->rx, r->max, LONG_TIMEOUT_MS, &r->fig);
	return NULL;
}

/* A child maps an area far below where mmap places memory by itself (so
 * that nothing of this process, the receiving thread's allocations
 * included, lands there meanwhile), touches 5 of its pages, says where
 * it is (*area) and waits. */
static pid_t start_child(uint64_t *area)
{
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t *m = MAP_FAILED;
		for (uint64_t at = 0x3e0000000000ULL; m == MAP_FAILED && at < 0x3f0000000000ULL; at += 1ULL << 30)
			m = mmap((void *)(uintptr_t)at, AREA_PAGES * PG, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			_exit(1);
		madvise(m, AREA_PAGES * PG, MADV_NOHUGEPAGE);
		for (unsigned i = 0; i < 5; i++)
			m[(i * 7) * PG] = 1;
		uint64_t at = (uintptr_t)m;
		(void)!write(ready[1], &at, sizeof at);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], area, sizeof *area), sizeof *area);
	close(ready[0]);
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static bool present(uint64_t addr)
{
	unsigned char v;
	return mincore((void *)(uintptr_t)addr, PG, &v) == 0 && (v & 1);
}

/* The plan of a fresh child, received here within max bytes.  The
 * receiving thread and the sender each wait for the other, which a loaded
 * machine may run late: LONG_TIMEOUT_MS. */
static void plan_of_a_child(uint64_t max, struct receiver *r, uint64_t *area)
{
	pid_t pid = start_child(area);
	static struct pair p;
	pair_open(&p);
	*r = (struct receiver){.p = &p, .max = max};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, receive, r), 0);
	int rc = bm_memplan_send(pid, &p.tx, LONG_TIMEOUT_MS);
	pthread_join(th, NULL);
	stop_child(pid);
	pair_close(&p);
	assert_int_equal(rc, 0);
	assert_int_equal(r->rc, 0);
}

static void test_plan_of_a_child(void **state)
{
	(void)state;
	uint64_t area;
	struct receiver r;
	plan_of_a_child(1 << 30, &r, &area);
	assert_true(r.fig.areas >= 1);
	bool found = false;
	for (size_t i = 0; i < r.st.nplaced; i++)
		found |= r.st.placed[i].start == area && r.st.placed[i].end == area + AREA_PAGES * PG;
	assert_true(found);
	for (unsigned pg = 0; pg < AREA_PAGES; pg++)
		assert_int_equal(present(area + pg * PG), pg % 7 == 0 && pg / 7 < 5);
	assert_true(r.fig.populated_bytes >= 5 * PG);
	bm_precopy_store_free(&r.st);
}

/* With a bound of 2 pages, 2 are faulted in and the plan still succeeds. */
static void test_bound(void **state)
{
	(void)state;
	uint64_t area;
	struct receiver r;
	plan_of_a_child(2 * PG, &r, &area);
	assert_true(r.fig.populated_bytes <= 2 * PG);
	bm_precopy_store_free(&r.st);
}

static void send_plan(struct pair *p, uint32_t nareas, uint32_t nruns, const uint64_t *ranges, size_t nwords)
{
	uint8_t b[256];
	bm_store_le32(b, nareas);
	bm_store_le32(b + 4, nruns);
	for (size_t i = 0; i < nwords; i++)
		bm_store_le64(b + 8 + 8 * i, ranges[i]);
	assert_int_equal(bm_frame_send_buf(&p->tx, BM_MSG_MEM_PLAN, b, 8 + 8 * nwords, 1000), 0);
}

static void test_malformed(void **state)
{
	(void)state;
	const uint64_t a = 0x10000000;
	const struct {
		uint32_t nareas, nruns;
		uint64_t w[8];
		size_t nw;
		const char *why;
	} bad[] = {
		{1, 0, {a, a + PG, 0}, 3, "counts"},                          /* longer than its counts */
		{1, 0, {a}, 1, "counts"},                                     /* shorter */
		{2, 0, {a + 2 * PG, a + 3 * PG, a, a + PG}, 4, "ranges"},     /* unsorted */
		{1, 0, {a + 1, a + PG}, 2, "ranges"},                         /* unaligned */
		{1, 0, {a, a}, 2, "ranges"},                                  /* empty */
		{1, 1, {a, a + PG, a + PG, a + 2 * PG}, 4, "outside"},        /* run outside the areas */
		{1, 0, {0x7ffffffff000ULL, 0x800000001000ULL}, 2, "ranges"},  /* beyond user space */
		{BM_PRECOPY_MAX_RANGES + 1, 0, {0}, 0, "counts"},             /* too many */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct pair p;
		pair_open(&p);
		bm_reset_errors();
		send_plan(&p, bad[i].nareas, bad[i].nruns, bad[i].w, bad[i].nw);
		struct bm_precopy_store st;
		struct bm_memplan_figures fig;
		assert_true(bm_memplan_receive(&st, &p.rx, 1 << 20, 1000, &fig) < 0);
		assert_non_null(strstr(bm_error_message(), bad[i].why));
		bm_precopy_store_free(&st);
		pair_close(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_of_a_child),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

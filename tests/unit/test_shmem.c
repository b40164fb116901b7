/* Shared anonymous memory as one object (shmem.c): what a mapping records
 * of its object; which pages are stored, and only once, whatever mapping
 * and process shows them (pages only another process touched included);
 * the refusal of an object a process not dumped maps too; and at restore
 * one object per object of the image, filled through binmig's descriptor,
 * older images' mappings each an object of their own. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "procfs.h"
#include "shmem.h"
#include "state.h"
#include "unit_image.h"

#define PG 4096

/* The mapping at addr, described as the dump describes it. */
static struct bm_vma describe(const void *addr)
{
	struct bm_maps_entry *maps;
	size_t n;
	assert_int_equal(bm_read_maps(getpid(), &maps, &n), 0);
	struct bm_vma v = {0};
	uint64_t ino = 0;
	for (size_t i = 0; i < n; i++)
		if (maps[i].start == (uint64_t)(uintptr_t)addr) {
			v = (struct bm_vma){maps[i].start, maps[i].end, 0, BM_VMA_ANON, BM_VMA_SHARED | BM_VMA_SHMEM,
					    maps[i].offset, NULL, {0}};
			ino = maps[i].inode;
		}
	free(maps);
	assert_true(v.start != 0 && ino != 0);
	assert_int_equal(bm_shmem_describe(getpid(), &v, ino), 0);
	assert_int_equal(v.file.ino, ino);
	return v;
}

struct runs {
	uint64_t start[16], end[16];
	int n;
};

static int collect(void *ctx, uint64_t start, uint64_t end)
{
	struct runs *r = ctx;
	assert_true(r->n < 16);
	assert_true(r->n == 0 || start >= r->end[r->n - 1]); /* ascending */
	r->start[r->n] = start;
	r->end[r->n++] = end;
	return 0;
}

static struct runs pages_of(const struct bm_vma *v, struct bm_shmem_seen *seen)
{
	struct runs r = {.n = 0};
	assert_int_equal(bm_shmem_pages(getpid(), v, seen, collect, &r), 0);
	return r;
}

/* 16 pages: page 0 written here, page 5 only by a child that has exited
 * (this process never faulted it), page 12 here; the upper half made
 * read-only (a second mapping of the object at offset 8 pages), and the
 * whole object mapped a second time. */
static void test_pages_once(void **state)
{
	(void)state;
	uint8_t *a = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(a != MAP_FAILED);
	a[0] = 1;
	a[12 * PG] = 12;
	pid_t kid = fork();
	assert_true(kid >= 0);
	if (kid == 0) {
		a[5 * PG] = 5;
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(kid, &status, 0), kid);
	assert_int_equal(mprotect(a + 8 * PG, 8 * PG, PROT_READ), 0);
	uint8_t *alias = mremap(a, 0, 16 * PG, MREMAP_MAYMOVE);
	assert_true(alias != MAP_FAILED);

	struct bm_vma lo = describe(a), hi = describe(a + 8 * PG), all = describe(alias);
	assert_int_equal(lo.file.size, 16 * PG);
	assert_int_equal(hi.pgoff, 8 * PG);
	assert_true(lo.file.ino == hi.file.ino && hi.file.ino == all.file.ino && lo.file.dev == all.file.dev);

	struct bm_shmem_seen seen = {0};
	struct runs r = pages_of(&lo, &seen);
	assert_int_equal(r.n, 2);
	assert_true(r.start[0] == (uintptr_t)a && r.end[0] == (uintptr_t)a + PG);
	assert_true(r.start[1] == (uintptr_t)a + 5 * PG && r.end[1] == (uintptr_t)a + 6 * PG);
	r = pages_of(&hi, &seen);
	assert_int_equal(r.n, 1);
	assert_true(r.start[0] == (uintptr_t)a + 12 * PG && r.end[0] == (uintptr_t)a + 13 * PG);
	r = pages_of(&all, &seen); /* every offset stored already */
	assert_int_equal(r.n, 0);
	bm_shmem_seen_free(&seen);

	/* Seen first, the second mapping stores them all, the others none. */
	r = pages_of(&all, &seen);
	assert_int_equal(r.n, 3);
	assert_true(r.start[2] == (uintptr_t)alias + 12 * PG);
	assert_int_equal(pages_of(&lo, &seen).n, 0);
	assert_int_equal(pages_of(&hi, &seen).n, 0);
	bm_shmem_seen_free(&seen);

	/* Stored in part: only the rest. */
	uint8_t *three = mremap(a, 0, 3 * PG, MREMAP_MAYMOVE); /* offsets 0-2 */
	assert_true(three != MAP_FAILED);
	struct bm_vma part = describe(three);
	assert_int_equal(part.end - part.start, 3 * PG);
	assert_int_equal(pages_of(&part, &seen).n, 1);
	r = pages_of(&lo, &seen);
	assert_int_equal(r.n, 1);
	assert_true(r.start[0] == (uintptr_t)a + 5 * PG);
	bm_shmem_seen_free(&seen);
	munmap(a, 16 * PG);
	munmap(alias, 16 * PG);
	munmap(three, 3 * PG);
}

/* The object of a dumped process that another maps too is refused,
 * naming both; once the other is gone it is carried. */
static void test_outside_refused(void **state)
{
	(void)state;
	uint8_t *a = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(a != MAP_FAILED);
	int go[2];
	assert_int_equal(pipe(go), 0);
	pid_t kids[2];
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		assert_true(kids[i] >= 0);
		if (kids[i] == 0) {
			char c;
			close(go[1]);
			_exit(read(go[0], &c, 1) < 0);
		}
	}
	close(go[0]);
	/* Described here (the same object and address as in the children). */
	struct bm_vma v = describe(a);
	struct bm_process p = {.pid = kids[0], .vmas = &v, .nvmas = 1};
	struct bm_process *procs[] = {&p};
	capture_begin();
	int rc = bm_shmem_check_outside(procs, 1);
	char msg[1024];
	capture_end(msg, sizeof msg);
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	char want[128];
	snprintf(want, sizeof want, "process %d shares anonymous memory", kids[0]);
	assert_non_null(strstr(msg, want));
	snprintf(want, sizeof want, "with process %d, which is not dumped", kids[1]);
	assert_non_null(strstr(msg, want));
	bm_reset_errors();

	/* Both dumped: nobody else maps it (this process is binmig's place). */
	struct bm_process q = {.pid = kids[1], .vmas = &v, .nvmas = 1};
	struct bm_process *both[] = {&p, &q};
	assert_int_equal(bm_shmem_check_outside(both, 2), 0);
	close(go[1]);
	for (int i = 0; i < 2; i++)
		assert_int_equal(waitpid(kids[i], NULL, 0), kids[i]);
	assert_int_equal(bm_shmem_check_outside(procs, 1), 0);
	munmap(a, 4 * PG);
}

/* The object at path, mapped here. */
static uint8_t *map_path(const char *path, size_t len)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(m != MAP_FAILED);
	return m;
}

static void test_restore_objects(void **state)
{
	(void)state;
	struct bm_shmem_objects objs = {0};
	/* Two mappings of one object (the second at offset 2 pages), one of
	 * another, and two of an image before version 6 (no object named). */
	struct bm_vma v[5] = {
		{0x10000, 0x14000, 3, BM_VMA_ANON, BM_VMA_SHARED | BM_VMA_SHMEM, 0, NULL, {9, 77, 6 * PG, 0}},
		{0x20000, 0x22000, 1, BM_VMA_ANON, BM_VMA_SHARED | BM_VMA_SHMEM, 2 * PG, NULL, {9, 77, 6 * PG, 0}},
		{0x30000, 0x31000, 3, BM_VMA_ANON, BM_VMA_SHARED | BM_VMA_SHMEM, 0, NULL, {9, 78, PG, 0}},
		{0x40000, 0x41000, 3, BM_VMA_ANON, BM_VMA_SHARED | BM_VMA_SHMEM, 0, NULL, {0}},
		{0x50000, 0x51000, 3, BM_VMA_ANON, BM_VMA_SHARED | BM_VMA_SHMEM, 0, NULL, {0}},
	};
	const char *path[5];
	for (int i = 0; i < 5; i++)
		assert_int_equal(bm_shmem_provide(&objs, &v[i], &path[i]), 0);
	assert_ptr_equal(path[0], path[1]);
	assert_true(path[2] != path[0] && path[3] != path[4] && path[3] != path[0]);
	assert_int_equal(objs.n, 4);
	for (int i = 0; i < 5; i++)
		assert_ptr_equal(bm_shmem_path(&objs, &v[i]), path[i]);
	struct stat st;
	assert_int_equal(stat(path[0], &st), 0);
	assert_int_equal(st.st_size, 6 * PG);

	/* Pages of the second mapping land at its offset in the object. */
	uint8_t data[2 * PG];
	memset(data, 0xab, sizeof data);
	struct bm_page_run run = {0x20000, 2, false, data};
	assert_int_equal(bm_shmem_write(&objs, &v[1], &run), 0);
	uint8_t *m = map_path(path[0], 6 * PG);
	assert_int_equal(m[2 * PG - 1], 0);
	assert_int_equal(m[2 * PG], 0xab);
	assert_int_equal(m[4 * PG - 1], 0xab);
	assert_int_equal(m[4 * PG], 0);
	munmap(m, 6 * PG);

	/* One object said to be of two sizes is a damaged image. */
	struct bm_vma odd = v[1];
	odd.file.size = 8 * PG;
	const char *p;
	quiet_begin();
	assert_int_equal(bm_shmem_provide(&objs, &odd, &p), -1);
	stderr_restore();
	assert_int_equal(bm_exit_code(), BM_EXIT_IMAGE);
	bm_reset_errors();
	bm_shmem_objects_free(&objs);
	assert_int_equal(objs.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pages_once),
		cmocka_unit_test_teardown(test_outside_refused, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_restore_objects, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

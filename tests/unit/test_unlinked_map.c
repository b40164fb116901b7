/* Mappings of unlinked files (unlinked_map.c): described at dump from this
 * process's own mapping of a file whose name was removed, with its
 * descriptor or with contents of its own; refused with another hard link
 * left; a memfd without a descriptor, with its seals; the image rules, and round trips through an image
 * (a mapped file without a descriptor included). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "procfs.h"
#include "state.h"
#include "unit_process.h"
#include "unlinked.h"
#include "unlinked_map.h"
#include "wire.h"

#define UNIT_TMPDIR_NAME "delmap"
#include "unit_tmpdir.h"

/* DIR/NAME of two pages, open read-write, mapped shared at *at. */
static int make_mapped(const char *name, char *path, size_t len, void **at)
{
	snprintf(path, len, "%s/%s", dir, name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	assert_int_equal(pwrite(fd, "contents", 8, 4096), 8);
	*at = mmap(NULL, 8192, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(*at != MAP_FAILED);
	return fd;
}

/* The maps entry of this process at addr. */
static struct bm_maps_entry entry_at(const void *addr)
{
	struct bm_maps_entry *maps, found = {0};
	size_t n;
	assert_int_equal(bm_read_maps(getpid(), &maps, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (maps[i].start == (uint64_t)(uintptr_t)addr)
			found = maps[i];
	free(maps);
	assert_true(found.start != 0);
	return found;
}

/* The description of the mapping at E refused, saying TEXT. */
static void expect_refused(const struct bm_maps_entry *e, struct bm_process *p, struct bm_vma *v,
			   const char *text)
{
	quiet_begin();
	int rc = bm_unlinked_map_describe(getpid(), e, p, v);
	stderr_restore();
	assert_int_equal(rc, -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), text));
	bm_reset_errors();
	assert_null(v->path);
}

static void test_describe(void **state)
{
	(void)state;
	char path[PATH_MAX];
	void *at;
	int fd = make_mapped("m", path, sizeof path, &at);
	assert_int_equal(unlink(path), 0);
	struct bm_maps_entry e = entry_at(at);
	assert_true(e.deleted);

	/* Without a descriptor of it described: its contents are read into a
	 * mapped file of the process, once for every mapping of it. */
	struct bm_process p = {0};
	struct bm_vma v = {.kind = BM_VMA_FILE, .flags = BM_VMA_SHARED};
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	for (int twice = 0; twice < 2; twice++) {
		assert_int_equal(bm_unlinked_map_describe(getpid(), &e, &p, &v), 0);
		assert_int_equal(p.nmapped_files, 1);
		const struct bm_mapped_file *m = &p.mapped_files[0];
		assert_ptr_equal(bm_unlinked_map_file(&p, &v), m);
		assert_null(bm_unlinked_map_fd(&p, &v));
		assert_string_equal(m->path, path);
		assert_string_equal(v.path, path);
		assert_true(m->file.ino == st.st_ino && m->file.dev == st.st_dev && m->file.size == 8192);
		assert_int_equal(m->mode, 0600);
		assert_memory_equal(m->data + 4096, "contents", 8);
		free(v.path);
		v = (struct bm_vma){.kind = BM_VMA_FILE, .flags = BM_VMA_SHARED};
	}
	bm_process_free(&p);

	/* With it: carried, named as the descriptor, same inode. */
	struct bm_fd d = {.fd = fd, .shares_with = -1, .mode = st.st_mode, .flags = O_RDWR};
	assert_int_equal(bm_unlinked_describe(getpid(), fd, path, &st, &d), 0);
	p.fds = &d;
	p.nfds = 1;
	assert_int_equal(bm_unlinked_collect(getpid(), &p), 0);
	assert_int_equal(d.data_len, 8192);
	memset(&v, 0, sizeof v);
	v.kind = BM_VMA_FILE;
	v.flags = BM_VMA_SHARED;
	assert_int_equal(bm_unlinked_map_describe(getpid(), &e, &p, &v), 0);
	assert_true(bm_unlinked_map_is(&v));
	assert_int_equal(v.flags, BM_VMA_SHARED | BM_VMA_DELETED | BM_VMA_UNLINKED);
	assert_string_equal(v.path, path);
	assert_true(v.file.ino == st.st_ino && v.file.dev == st.st_dev && v.file.size == 8192);
	assert_ptr_equal(bm_unlinked_map_fd(&p, &v), &d);
	assert_int_equal(p.nmapped_files, 0);
	/* A descriptor a policy replaced does not carry it. */
	d.replaced = BM_FD_TO_NULL;
	assert_null(bm_unlinked_map_fd(&p, &v));
	free(v.path);
	free(d.path);
	free(d.data);
	free(d.holes.x);
	munmap(at, 8192);
	close(fd);
}

static void test_hard_link_refused(void **state)
{
	(void)state;
	char path[PATH_MAX], other[PATH_MAX + 8];
	void *at;
	int fd = make_mapped("h", path, sizeof path, &at);
	snprintf(other, sizeof other, "%s2", path);
	assert_int_equal(link(path, other), 0);
	assert_int_equal(unlink(path), 0);
	struct bm_maps_entry e = entry_at(at);
	assert_true(e.deleted);
	struct bm_process p = {0};
	struct bm_vma v = {0};
	expect_refused(&e, &p, &v, "other hard links to it remain");
	munmap(at, 8192);
	close(fd);
}

/* A memfd mapped with no descriptor held: its contents and seals travel
 * on their own; sealed against future writes, a shared writable mapping
 * of it is refused. */
static void test_memfd_without_descriptor(void **state)
{
	(void)state;
	int fd = memfd_create("unit", MFD_ALLOW_SEALING);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "memfd contents", 14), 14);
	assert_int_equal(ftruncate(fd, 4096), 0);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	void *at = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(at != MAP_FAILED);
	char link[64];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	assert_true(bm_unlinked_is_memfd(link, "/memfd:unit"));
	close(fd);
	struct bm_maps_entry e = entry_at(at);
	assert_true(e.deleted);
	assert_string_equal(e.path, "/memfd:unit");
	struct bm_process p = {0};
	struct bm_vma v = {.kind = BM_VMA_FILE, .flags = BM_VMA_SHARED, .prot = PROT_READ};
	assert_int_equal(bm_unlinked_map_describe(getpid(), &e, &p, &v), 0);
	assert_int_equal(p.nmapped_files, 1);
	const struct bm_mapped_file *m = &p.mapped_files[0];
	assert_int_equal(m->memfd, BM_UNLINKED_MEMFD | F_SEAL_SHRINK);
	assert_string_equal(m->path, "/memfd:unit");
	assert_int_equal(m->file.size, 4096);
	assert_memory_equal(m->data, "memfd contents", 14);
	free(v.path);
	bm_process_free(&p);
	munmap(at, 4096);

	fd = memfd_create("unit", MFD_ALLOW_SEALING);
	assert_true(fd >= 0 && ftruncate(fd, 4096) == 0);
	at = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(at != MAP_FAILED);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), 0);
	close(fd);
	e = entry_at(at);
	p = (struct bm_process){0};
	v = (struct bm_vma){.kind = BM_VMA_FILE, .flags = BM_VMA_SHARED, .prot = PROT_READ | PROT_WRITE};
	expect_refused(&e, &p, &v, "sealed against future writes (F_SEAL_FUTURE_WRITE)");
	bm_process_free(&p);
	munmap(at, 4096);
	/* An unlinked file of the scratch directory is none. */
	char path[PATH_MAX];
	fd = make_mapped("memfd:x", path, sizeof path, &at);
	assert_int_equal(unlink(path), 0);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	assert_false(bm_unlinked_is_memfd(link, path));
	munmap(at, 8192);
	close(fd);
}

static void test_image_rules(void **state)
{
	(void)state;
	struct bm_fd fds[2] = {
		{.fd = 3, .kind = BM_FD_REGULAR, .path = "/a"},
		{.fd = 7, .kind = BM_FD_UNLINKED_FILE, .shares_with = -1, .object_id = 9, .path = "/a",
		 .file = {.dev = 5, .ino = 9, .size = 4}},
	};
	struct bm_vma vmas[2] = {
		{.start = 0x1000, .end = 0x2000, .kind = BM_VMA_FILE, .flags = BM_VMA_DELETED, .path = "/b"},
		{.start = 0x2000, .end = 0x3000, .kind = BM_VMA_FILE, .flags = BM_VMA_DELETED | BM_VMA_UNLINKED,
		 .path = "/a", .file = {.dev = 5, .ino = 9}},
	};
	struct bm_process p = {.fds = fds, .nfds = 2, .vmas = vmas, .nvmas = 2};
	char why[200];
	/* A deleted mapping without the flag is an ordinary file mapping. */
	assert_true(bm_unlinked_map_check(&p, why, sizeof why));
	assert_ptr_equal(bm_unlinked_map_fd(&p, &vmas[1]), &fds[1]);
	vmas[1].path = "/c";
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
	assert_non_null(strstr(why, "its descriptor 7 /a"));
	vmas[1].path = "/a";
	vmas[1].file.ino = 10;
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
	assert_non_null(strstr(why, "neither a descriptor nor contents"));
	/* A file no descriptor holds is carried by contents of its own. */
	struct bm_mapped_file m = {.file = {.dev = 5, .ino = 10}, .path = "/a"};
	p.mapped_files = &m;
	p.nmapped_files = 1;
	assert_true(bm_unlinked_map_check(&p, why, sizeof why));
	assert_ptr_equal(bm_unlinked_map_file(&p, &vmas[1]), &m);
	m.path = "/d";
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
	assert_non_null(strstr(why, "its contents' /d"));
	p.mapped_files = NULL;
	p.nmapped_files = 0;
	vmas[1].file.ino = 9;
	fds[1].kind = BM_FD_REGULAR;
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
	fds[1].kind = BM_FD_UNLINKED_FILE;
	vmas[1].flags = BM_VMA_UNLINKED;
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
	assert_non_null(strstr(why, "not a deleted file mapping"));
	vmas[1].flags = BM_VMA_DELETED | BM_VMA_UNLINKED | BM_VMA_SHMFILE;
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
	vmas[1].flags = BM_VMA_DELETED | BM_VMA_UNLINKED;
	vmas[1].kind = BM_VMA_ANON;
	assert_false(bm_unlinked_map_check(&p, why, sizeof why));
}

/* The small process with an unlinked descriptor and a mapping of it. */
static void make_mapping_process(struct bm_process *p)
{
	make_process(p, false);
	add_fd(p, 9, BM_FD_UNLINKED_FILE, O_RDWR, 0, -1, "/tmp/gone");
	struct bm_fd *d = &p->fds[p->nfds - 1];
	d->object_id = 777;
	d->file = (struct bm_file_id){0x803, 777, 4, 1};
	d->data = (uint8_t *)dup_str("abcd");
	d->data_len = 4;
	add_vma(p, 0x7f0000000000, 0x7f0000002000, PROT_READ | PROT_WRITE, BM_VMA_FILE,
		BM_VMA_SHARED | BM_VMA_DELETED | BM_VMA_UNLINKED, 0, "/tmp/gone");
	p->vmas[p->nvmas - 1].file = d->file;
}

/* Whether p's image is refused by the writer. */
static bool write_refused(const struct bm_process *p)
{
	struct bm_wbuf img;
	bm_wbuf_init(&img);
	struct bm_image_writer w;
	assert_int_equal(bm_image_writer_init(&w, (struct bm_sink){mem_writev, &img}, -1), 0);
	quiet_begin();
	bool refused = bm_image_write_process(&w, p) < 0;
	stderr_restore();
	bm_reset_errors();
	bm_image_writer_free(&w);
	bm_wbuf_free(&img);
	return refused;
}

/* p through an image and back into *got, which must equal it. */
static void round_trip(const struct bm_process *p, struct bm_process *got)
{
	struct bm_wbuf img;
	write_image(&img, p, NULL, 0, -1, NULL);
	struct mem_input in = {img.data, img.len, 0, img.len};
	struct bm_image_reader r;
	memset(got, 0, sizeof *got);
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){mem_read, &in}), 0);
	assert_int_equal(bm_image_read_process(&r, got), 0);
	assert_process_equal(p, got);
	bm_image_reader_free(&r);
	bm_wbuf_free(&img);
}

static void test_image_round_trip(void **state)
{
	(void)state;
	struct bm_process p;
	make_mapping_process(&p);
	struct bm_process got;
	round_trip(&p, &got);
	assert_ptr_equal(bm_unlinked_map_fd(&got, &got.vmas[got.nvmas - 1]), &got.fds[got.nfds - 1]);
	bm_process_free(&got);
	/* Without the descriptor the writer refuses the image. */
	p.fds[p.nfds - 1].kind = BM_FD_REGULAR;
	free(p.fds[p.nfds - 1].data);
	p.fds[p.nfds - 1].data = NULL;
	p.fds[p.nfds - 1].data_len = 0;
	assert_true(write_refused(&p));
	bm_process_free(&p);
}

/* p with one more mapping, of a deleted file that no descriptor holds,
 * carried by contents of its own. */
static void add_mapped_file(struct bm_process *p)
{
	add_vma(p, 0x7f0000004000, 0x7f0000005000, PROT_READ | PROT_EXEC, BM_VMA_FILE,
		BM_VMA_DELETED | BM_VMA_UNLINKED, 4096, "/tmp/lib.so");
	struct bm_vma *v = &p->vmas[p->nvmas - 1];
	v->file = (struct bm_file_id){0x803, 778, 8192, 12345};
	p->mapped_files = calloc(1, sizeof *p->mapped_files);
	assert_non_null(p->mapped_files);
	p->nmapped_files = 1;
	struct bm_mapped_file *m = p->mapped_files;
	*m = (struct bm_mapped_file){v->file, 0750, dup_str("/tmp/lib.so"), malloc(8192)};
	m->owner_uid = 65534, m->owner_gid = 100, m->owner_known = true;
	assert_non_null(m->data);
	for (size_t i = 0; i < 8192; i++)
		m->data[i] = (uint8_t)(i * 13);
}

static void test_mapped_file_round_trip(void **state)
{
	(void)state;
	struct bm_process p;
	make_mapping_process(&p);
	add_mapped_file(&p);
	struct bm_process got;
	round_trip(&p, &got);
	assert_int_equal(got.nmapped_files, 1);
	const struct bm_mapped_file *a = &p.mapped_files[0], *b = &got.mapped_files[0];
	assert_memory_equal(&a->file, &b->file, sizeof a->file);
	assert_int_equal(b->mode, 0750);
	assert_string_equal(b->path, a->path);
	assert_memory_equal(b->data, a->data, 8192);
	assert_ptr_equal(bm_unlinked_map_file(&got, &got.vmas[got.nvmas - 1]), b);
	assert_int_equal(b->memfd, 0);
	bm_process_free(&got);

	/* A memfd's flags travel (version 6); seals on a file that is no
	 * memfd, or a memfd not named /memfd:NAME, are refused. */
	struct bm_mapped_file *f = &p.mapped_files[0];
	char *vpath = p.vmas[p.nvmas - 1].path; /* the mapping's, the same name */
	f->memfd = BM_UNLINKED_MEMFD | F_SEAL_GROW;
	assert_true(write_refused(&p));
	strcpy(f->path, "/memfd:x");
	strcpy(vpath, "/memfd:x");
	round_trip(&p, &got);
	assert_int_equal(got.mapped_files[0].memfd, BM_UNLINKED_MEMFD | F_SEAL_GROW);
	bm_process_free(&got);
	f->memfd = F_SEAL_GROW;
	assert_true(write_refused(&p));
	f->memfd = 0;
	strcpy(f->path, "/tmp/lib.so");
	strcpy(vpath, "/tmp/lib.so");

	/* The writer refuses a mapped file that nothing maps, one also held by
	 * a descriptor, one twice, one with a relative path. */
	struct bm_mapped_file *m = &p.mapped_files[0];
	m->file.ino = 779;
	assert_true(write_refused(&p));
	m->file.ino = 777; /* the descriptor's file */
	assert_true(write_refused(&p));
	m->file.ino = 778;
	m->path[0] = 't';
	assert_true(write_refused(&p));
	m->path[0] = '/';
	struct bm_mapped_file *two = realloc(p.mapped_files, 2 * sizeof *two);
	assert_non_null(two);
	p.mapped_files = two;
	two[1] = (struct bm_mapped_file){two[0].file, 0, dup_str("/tmp/lib.so"), NULL};
	p.nmapped_files = 2;
	assert_true(write_refused(&p));
	p.nmapped_files = 1;
	free(two[1].path);
	assert_false(write_refused(&p));
	bm_process_free(&p);
}

/* The reader holds a process to 128 MiB of unlinked files in all: the
 * descriptors' files (decoded before) count with the mapped ones. */
static void test_mapped_total_with_descriptors(void **state)
{
	(void)state;
	struct bm_fd fds[2] = {
		{.fd = 3, .kind = BM_FD_UNLINKED_FILE, .data_len = BM_UNLINKED_MAX_BYTES},
		{.fd = 4, .kind = BM_FD_UNLINKED_FILE, .data_len = BM_UNLINKED_MAX_BYTES},
	};
	struct bm_process p = {.fds = fds, .nfds = 2};
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_put_u32(&b, 1);
	bm_put_u64(&b, 0x803);
	bm_put_u64(&b, 778);
	bm_put_i64(&b, 0);
	bm_put_u32(&b, 0600);
	bm_put_str(&b, "/tmp/lib.so");
	bm_put_u32(&b, 1);
	bm_put_bytes(&b, "x", 1);
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	c.version = 5;
	bm_decode_mapped_files(&c, &p);
	assert_true(bm_rcur_failed(&c));
	assert_non_null(strstr(c.why, "descriptors' unlinked files included"));
	for (uint32_t i = 0; i < p.nmapped_files; i++) {
		free(p.mapped_files[i].path);
		free(p.mapped_files[i].data);
	}
	free(p.mapped_files);
	bm_wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_link_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memfd_without_descriptor, setup, teardown),
		cmocka_unit_test(test_image_rules),
		cmocka_unit_test_teardown(test_image_round_trip, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_mapped_file_round_trip, restore_stderr_teardown),
		cmocka_unit_test(test_mapped_total_with_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

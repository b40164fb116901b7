/* Tests of the /proc readers: the parsers against files captured from real
 * processes on this kernel (tests/unit/samples/, see README there), against
 * malformed and truncated text, and the readers against this process. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include "procfs.h"

#define PF_KTHREAD 0x00200000u

/* ---- helpers ---- */

static const char *samples_dir(void)
{
	static char dir[PATH_MAX];
	if (dir[0] == '\0') {
		const char *root = getenv("BINMIG_ROOT");
		if (root != NULL) {
			snprintf(dir, sizeof dir, "%s/tests/unit/samples", root);
		} else {
			/* Built from the repository root: __FILE__ is tests/unit/test_procfs.c. */
			snprintf(dir, sizeof dir, "%s", __FILE__);
			char *slash = strrchr(dir, '/');
			snprintf(slash ? slash + 1 : dir, sizeof dir - (size_t)(slash ? slash + 1 - dir : 0), "samples");
		}
	}
	return dir;
}

static char *read_sample(const char *name)
{
	char path[PATH_MAX + 64];
	char *text;
	snprintf(path, sizeof path, "%s/%s", samples_dir(), name);
	int r = bm_read_text(path, &text, NULL);
	if (r < 0)
		fail_msg("cannot read sample %s: %s", path, strerror(-r));
	return text;
}

/* A heap copy of exactly len bytes plus NUL, so ASan sees any overread. */
static char *dup_prefix(const char *s, size_t len)
{
	char *copy = malloc(len + 1);
	assert_non_null(copy);
	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

static size_t offset_after(const char *text, const char *needle)
{
	const char *p = strstr(text, needle);
	if (p == NULL)
		fail_msg("'%s' not in sample", needle);
	return (size_t)(p - text) + strlen(needle);
}

static int make_temp_file(char *path, size_t size)
{
	snprintf(path, size, "/tmp/bm-test-procfs-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

/* ---- maps ---- */

struct expected_vma {
	uint64_t start, end;
	const char *perms;
	uint64_t offset;
	uint32_t major, minor;
	uint64_t inode;
	const char *path;
	bool deleted;
	uint32_t vmflags;
};

/* samples/maps-sampler.txt and smaps-sampler.txt, as the sampler created them. */
static const struct expected_vma sampler_vmas[] = {
	{ 0x5650c540d000, 0x5650c540e000, "r--p", 0x00000000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW },
	{ 0x5650c540e000, 0x5650c540f000, "r-xp", 0x00001000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW },
	{ 0x5650c540f000, 0x5650c5410000, "r--p", 0x00002000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW },
	{ 0x5650c5410000, 0x5650c5411000, "r--p", 0x00002000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW },
	{ 0x5650c5411000, 0x5650c5412000, "rw-p", 0x00003000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW },
	{ 0x5650e9cae000, 0x5650e9ccf000, "rw-p", 0x00000000, 0x00, 0x00, 0, "[heap]", false, BM_VMFLAG_MW },
	{ 0x7fa662600000, 0x7fa662a00000, "r--p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_HG | BM_VMFLAG_MW },
	{ 0x7fa662a8d000, 0x7fa662a8e000, "rw-s", 0x00000000, 0x00, 0x01, 26, "/dev/zero", true, BM_VMFLAG_SH | BM_VMFLAG_MW },
	{ 0x7fa662b8e000, 0x7fa662b90000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_GD | BM_VMFLAG_MW },
	{ 0x7fa662b90000, 0x7fa662b93000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW },
	{ 0x7fa662b93000, 0x7fa662bb9000, "r--p", 0x00000000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662bb9000, 0x7fa662d0f000, "r-xp", 0x00026000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662d0f000, 0x7fa662d62000, "r--p", 0x0017c000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662d62000, 0x7fa662d66000, "r--p", 0x001cf000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662d66000, 0x7fa662d68000, "rw-p", 0x001d3000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662d68000, 0x7fa662d75000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW },
	{ 0x7fa662d75000, 0x7fa662d77000, "---p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_NH | BM_VMFLAG_MW },
	{ 0x7fa662d77000, 0x7fa662d78000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_LO | BM_VMFLAG_MW },
	{ 0x7fa662d78000, 0x7fa662d79000, "r--p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_DD | BM_VMFLAG_MW },
	{ 0x7fa662d79000, 0x7fa662d7c000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW },
	{ 0x7fa662d7c000, 0x7fa662d7d000, "rw-p", 0x00000000, 0xfe, 0x00, 10953086, "/tmp/bm-new\nline.bin", false, BM_VMFLAG_MW },
	{ 0x7fa662d7d000, 0x7fa662d7e000, "rw-p", 0x00000000, 0xfe, 0x00, 10953085, "/tmp/bm-deleted-sample.bin", true, BM_VMFLAG_MW },
	{ 0x7fa662d7e000, 0x7fa662d80000, "rw-s", 0x00000000, 0xfe, 0x00, 10953084, "/tmp/bm sample dir/file with spaces.bin", false, BM_VMFLAG_SH | BM_VMFLAG_MW },
	{ 0x7fa662d80000, 0x7fa662d82000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW },
	{ 0x7fa662d82000, 0x7fa662d86000, "r--p", 0x00000000, 0x00, 0x00, 0, "[vvar]", false, BM_VMFLAG_DD | BM_VMFLAG_IO | BM_VMFLAG_PF },
	{ 0x7fa662d86000, 0x7fa662d88000, "r--p", 0x00000000, 0x00, 0x00, 0, "[vvar_vclock]", false, BM_VMFLAG_DD | BM_VMFLAG_IO | BM_VMFLAG_PF },
	{ 0x7fa662d88000, 0x7fa662d8a000, "r-xp", 0x00000000, 0x00, 0x00, 0, "[vdso]", false, BM_VMFLAG_MW },
	{ 0x7fa662d8a000, 0x7fa662d8b000, "r--p", 0x00000000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662d8b000, 0x7fa662db1000, "r-xp", 0x00001000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662db1000, 0x7fa662dbb000, "r--p", 0x00027000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662dbb000, 0x7fa662dbd000, "r--p", 0x00031000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662dbd000, 0x7fa662dbf000, "rw-p", 0x00033000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7ffdad629000, 0x7ffdad64a000, "rw-p", 0x00000000, 0x00, 0x00, 0, "[stack]", false, BM_VMFLAG_GD | BM_VMFLAG_MW },
	{ 0xffffffffff600000, 0xffffffffff601000, "--xp", 0x00000000, 0x00, 0x00, 0, "[vsyscall]", false, 0 },
};
#define SAMPLER_VMAS (sizeof sampler_vmas / sizeof sampler_vmas[0])

static void check_vma(const struct bm_maps_entry *e, const struct expected_vma *x, bool check_flags)
{
	assert_int_equal(e->start, x->start);
	assert_int_equal(e->end, x->end);
	assert_string_equal(e->perms, x->perms);
	assert_int_equal(e->offset, x->offset);
	assert_int_equal(e->dev_major, x->major);
	assert_int_equal(e->dev_minor, x->minor);
	assert_int_equal(e->inode, x->inode);
	assert_string_equal(e->path, x->path);
	assert_int_equal(e->deleted, x->deleted);
	if (check_flags)
		assert_int_equal(e->vmflags, x->vmflags);
}

static void test_maps_sample(void **state)
{
	(void)state;
	char *text = read_sample("maps-sampler.txt");
	struct bm_maps_entry *e;
	size_t n;
	assert_int_equal(bm_parse_maps(text, &e, &n), 0);
	assert_int_equal(n, SAMPLER_VMAS);
	for (size_t i = 0; i < n; i++) {
		check_vma(&e[i], &sampler_vmas[i], false);
		assert_int_equal(e[i].vmflags, 0);
	}
	free(e);
	free(text);
}

static void test_smaps_sample_vmflags(void **state)
{
	(void)state;
	char *maps = read_sample("maps-sampler.txt");
	char *smaps = read_sample("smaps-sampler.txt");
	struct bm_maps_entry *e;
	size_t n;
	assert_int_equal(bm_parse_maps(maps, &e, &n), 0);
	/* Stale flags are replaced, not merged. */
	for (size_t i = 0; i < n; i++)
		e[i].vmflags = 0xfffffu;
	assert_int_equal(bm_parse_smaps_vmflags(smaps, e, n), 0);
	for (size_t i = 0; i < n; i++)
		check_vma(&e[i], &sampler_vmas[i], true);

	/* Matching is by start address, whatever the order of the entries,
	 * and entries smaps does not mention are left alone. */
	struct bm_maps_entry picked[3] = { e[32], e[24], e[7] };
	picked[0].vmflags = picked[1].vmflags = picked[2].vmflags = 0;
	picked[1].start = 0x1000;
	picked[1].vmflags = 0x8000;
	assert_int_equal(bm_parse_smaps_vmflags(smaps, picked, 3), 0);
	assert_int_equal(picked[0].vmflags, BM_VMFLAG_GD | BM_VMFLAG_MW);
	assert_int_equal(picked[1].vmflags, 0x8000);
	assert_int_equal(picked[2].vmflags, BM_VMFLAG_SH | BM_VMFLAG_MW);
	assert_int_equal(bm_parse_smaps_vmflags(smaps, NULL, 0), 0);
	free(e);
	free(maps);
	free(smaps);
}

static void test_maps_line_forms(void **state)
{
	(void)state;
	struct bm_maps_entry e;
	assert_int_equal(bm_parse_maps_line("7f0000000000-7f0000003000 rw-p 00000000 00:00 0                          [anon:bm arena]\n", &e), 0);
	assert_string_equal(e.path, "[anon:bm arena]");
	assert_int_equal(e.end - e.start, 0x3000);
	assert_int_equal(bm_parse_maps_line("7f0000000000-7f0000001000 rw-s 00000000 00:01 1234                       [anon_shmem:ring]", &e), 0);
	assert_string_equal(e.path, "[anon_shmem:ring]");
	assert_int_equal(e.inode, 1234);
	assert_int_equal(bm_parse_maps_line("1000-2000 r--p ffffffffffff0000 103:1f 18446744073709551615 /x", &e), 0);
	assert_int_equal(e.offset, 0xffffffffffff0000u);
	assert_int_equal(e.dev_major, 0x103);
	assert_int_equal(e.dev_minor, 0x1f);
	assert_int_equal(e.inode, UINT64_MAX);
	assert_string_equal(e.path, "/x");
	assert_int_equal(bm_parse_maps_line("0-1000 r--p 00000000 00:00 0", &e), 0);
	assert_string_equal(e.path, "");
	assert_false(e.deleted);
	assert_int_equal(bm_parse_maps_line("1000-2000 r--s 00000000 00:05 77   /memfd:bm (deleted)\n", &e), 0);
	assert_string_equal(e.path, "/memfd:bm");
	assert_true(e.deleted);
	assert_int_equal(bm_parse_maps_line("1000-2000 r--p 00000000 00:05 77   /a (deleted) b", &e), 0);
	assert_string_equal(e.path, "/a (deleted) b");
	assert_false(e.deleted);
	assert_int_equal(bm_parse_maps_line("1000-2000 r--p 00000000 08:01 77 /trailing space \nnext line", &e), 0);
	assert_string_equal(e.path, "/trailing space ");
	assert_int_equal(bm_parse_maps_line("1000-2000 r--p 00000000 08:01 77 /a\\012b\\012", &e), 0);
	assert_string_equal(e.path, "/a\nb\n");

	/* The longest path that fits, with and without " (deleted)", and one more. */
	char line[PATH_MAX + 100];
	int head = snprintf(line, sizeof line, "1000-2000 r--p 00000000 08:01 77 /");
	memset(line + head, 'p', PATH_MAX - 2);
	line[head + PATH_MAX - 2] = '\0';
	assert_int_equal(bm_parse_maps_line(line, &e), 0);
	assert_int_equal(strlen(e.path), PATH_MAX - 1);
	strcat(line, " (deleted)");
	assert_int_equal(bm_parse_maps_line(line, &e), 0);
	assert_int_equal(strlen(e.path), PATH_MAX - 1);
	assert_true(e.deleted);
	line[head + PATH_MAX - 2] = 'p';
	line[head + PATH_MAX - 1] = '\0';
	assert_int_equal(bm_parse_maps_line(line, &e), -ENAMETOOLONG);
}

static void test_maps_line_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "\n", "garbage", "1000-2000",
		"1000-1000 r--p 00000000 00:00 0",              /* empty range */
		"2000-1000 r--p 00000000 00:00 0",              /* reversed */
		"1000 2000 r--p 00000000 00:00 0",
		"-1000-2000 r--p 00000000 00:00 0",
		"0x1000-2000 r--p 00000000 00:00 0",
		"1000-2000 rw-x 00000000 00:00 0",              /* bad share bit */
		"1000-2000 r-p 00000000 00:00 0",
		"1000-2000 R--p 00000000 00:00 0",
		"1000-2000\tr--p 00000000 00:00 0",
		"1000-2000 r--p 0000000g 00:00 0",
		"1000-2000 r--p 00000000 00-00 0",
		"1000-2000 r--p 00000000 00: 0",
		"1000-2000 r--p 00000000 100000000:00 0",       /* major > 32 bits */
		"1000-2000 r--p 00000000 00:00 x",
		"1000-2000 r--p 00000000 00:00 0x /p",
		"1000-2000 r--p 00000000 00:00 -1",
		"1000-2000 r--p 00000000 00:00 18446744073709551616",
		"10000000000000000-10000000000000001 r--p 00000000 00:00 0",
		"1000-2000 r--p 10000000000000000 00:00 0",
		"1000-2000 r--p 00000000 00:00",
	};
	struct bm_maps_entry e;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bm_parse_maps_line(bad[i], &e) != -EINVAL)
			fail_msg("accepted malformed maps line '%s'", bad[i]);
	}
	struct bm_maps_entry *list;
	size_t n;
	assert_int_equal(bm_parse_maps("1000-2000 r--p 00000000 00:00 0\n\n3000-4000 r--p 00000000 00:00 0\n", &list, &n), -EINVAL);
	assert_null(list);
	assert_int_equal(n, 0);
	assert_int_equal(bm_parse_maps("1000-2000 r--p 00000000 00:00 0\nbroken\n", &list, &n), -EINVAL);
	assert_int_equal(bm_parse_maps("", &list, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bm_parse_maps("1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 00:00 0 /no-newline", &list, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[1].path, "/no-newline");
	free(list);
}

/* Every prefix of every sample line: the fields up to the inode are
 * required, any prefix after that is a valid line with a shorter path. */
static void test_maps_line_truncations(void **state)
{
	(void)state;
	char *text = read_sample("maps-sampler.txt");
	size_t checked_lines = 0;
	for (const char *line = text; *line != '\0'; checked_lines++) {
		size_t len = strcspn(line, "\n");
		struct bm_maps_entry full, cut;
		assert_int_equal(bm_parse_maps_line(line, &full), 0);
		/* The inode is the fifth space-separated field. */
		const char *p = line;
		for (int i = 0; i < 4; i++)
			p = strchr(p, ' ') + 1;
		size_t inode_start = (size_t)(p - line), inode_end = inode_start + strcspn(p, " \n");
		for (size_t k = 0; k <= len; k++) {
			char *copy = dup_prefix(line, k);
			int r = bm_parse_maps_line(copy, &cut);
			if (k <= inode_start) {
				if (r != -EINVAL)
					fail_msg("prefix '%s' gave %d", copy, r);
			} else {
				assert_int_equal(r, 0);
				assert_int_equal(cut.start, full.start);
				assert_int_equal(cut.end, full.end);
				assert_int_equal(cut.offset, full.offset);
				if (k >= inode_end)
					assert_int_equal(cut.inode, full.inode);
			}
			free(copy);
		}
		line += len + (line[len] == '\n');
	}
	assert_int_equal(checked_lines, SAMPLER_VMAS);
	free(text);
}

static void test_smaps_synthetic(void **state)
{
	(void)state;
	struct bm_maps_entry e[2] = { { .start = 0x1000, .end = 0x2000 }, { .start = 0x5000, .end = 0x6000, .vmflags = 0x8000 } };
	assert_int_equal(bm_parse_smaps_vmflags("1000-2000 rw-p 00000000 00:00 0\nSize:                  4 kB\n"
						"VmFlags: rd wr gd sh hg nh dd lo sl io pf dc wf mg sr rr lf nr ss mw zz \n", e, 2), 0);
	assert_int_equal(e[0].vmflags, BM_VMFLAG_GD | BM_VMFLAG_SH | BM_VMFLAG_HG | BM_VMFLAG_NH | BM_VMFLAG_DD |
				       BM_VMFLAG_LO | BM_VMFLAG_SL | BM_VMFLAG_IO | BM_VMFLAG_PF | BM_VMFLAG_DC |
				       BM_VMFLAG_WF | BM_VMFLAG_MG | BM_VMFLAG_SR | BM_VMFLAG_RR | BM_VMFLAG_LF |
				       BM_VMFLAG_NR | BM_VMFLAG_SS | BM_VMFLAG_MW);
	assert_int_equal(e[1].vmflags, 0x8000);
	/* A mapping that is not in the list (it appeared after maps was read). */
	assert_int_equal(bm_parse_smaps_vmflags("9000-a000 rw-p 00000000 00:00 0\nVmFlags: rd gd\n", e, 2), 0);

	static const char *const bad[] = {
		"VmFlags: rd\n",                                            /* before any header */
		"1000-2000 rw-p 00000000 00:00 0\nVmFlags: rdx\n",
		"1000-2000 rw-p 00000000 00:00 0\nVmFlags: rd w\n",
		"1000-2000 rw-p 00000000 00:00 0\nnot a field\n",
		"1000-2000 rw-p 00000000 00:00 0\n\nSize: 4 kB\n",
		"1000-2000 rw-p 00000000 00:00 0\nSize 4 kB\n",
		"1000-2000 rw-p\nSize: 4 kB\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bm_parse_smaps_vmflags(bad[i], e, 2) != -EINVAL)
			fail_msg("accepted malformed smaps '%s'", bad[i]);
	}
}

/* Every line of the smaps sample cut at every length, after its block's
 * header; and the whole sample cut at every line boundary. */
static void test_smaps_truncations(void **state)
{
	(void)state;
	char *maps = read_sample("maps-sampler.txt");
	char *smaps = read_sample("smaps-sampler.txt");
	struct bm_maps_entry *e;
	size_t n;
	assert_int_equal(bm_parse_maps(maps, &e, &n), 0);
	const char *header = NULL;
	size_t header_len = 0;
	for (const char *line = smaps; *line != '\0';) {
		size_t len = strcspn(line, "\n");
		bool is_header = line[strspn(line, "0123456789abcdef")] == '-';
		if (is_header) {
			header = line;
			header_len = len;
		}
		for (size_t k = 0; k <= len; k++) {
			size_t prefix = is_header ? 0 : header_len + 1;
			char *copy = malloc(prefix + k + 1);
			assert_non_null(copy);
			memcpy(copy, header, prefix);
			memcpy(copy + prefix, line, k);
			copy[prefix + k] = '\0';
			int r = bm_parse_smaps_vmflags(copy, e, n);
			bool has_colon = memchr(line, ':', k) != NULL;
			bool vmflags = strncmp(line, "VmFlags:", 8) == 0;
			if (k == len || (!is_header && k == 0) || (!is_header && has_colon && !vmflags))
				assert_int_equal(r, 0);
			else if (!is_header && !has_colon)
				assert_int_equal(r, -EINVAL);  /* neither a field nor a header */
			else if (r != 0 && r != -EINVAL)
				fail_msg("cut smaps line gave %d", r);
			free(copy);
		}
		line += len + (line[len] == '\n');
		char *whole = dup_prefix(smaps, (size_t)(line - smaps));
		assert_int_equal(bm_parse_smaps_vmflags(whole, e, n), 0);
		free(whole);
	}
	free(e);
	free(maps);
	free(smaps);
}

/* ---- status ---- */

struct expected_status {
	const char *file;
	const char *name;
	char state;
	pid_t tgid, pid, ppid, tracer_pid;
	uint32_t umask;
	bool kthread;
	uint64_t sig_pnd, sig_blk, sig_ign, sig_cgt;
};

static const struct expected_status status_samples[] = {
	{ "status-normal.txt", "sampler", 'S', 7859, 7859, 7856, 0, 027, false, 0x200, 0x800000200, 0x1006, 0x4000 },
	{ "status-traced.txt", "bm-traced", 't', 7865, 7865, 7859, 7859, 027, false, 0, 0x800000200, 0x1006, 0x4000 },
	{ "status-kthread.txt", "kthreadd", 'S', 2, 2, 0, 0, 022, true, 0, 0, UINT64_MAX, 0 },
	/* A zombie has no fs struct, so no Umask line: it reads as 0. */
	{ "status-zombie.txt", "bm-zombie", 'Z', 7866, 7866, 7859, 0, 0, false, 0, 0x800000200, 0x1006, 0x4000 },
	{ "status-escaped.txt", "x\\y\nz", 'S', 7863, 7863, 7859, 0, 027, false, 0, 0x800000200, 0x1006, 0x4000 },
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

/* ---- fdinfo ---- */

static void test_fdinfo_samples(void **state)
{
	(void)state;
	struct bm_fdinfo f;
	char *text = read_sample("fdinfo-append.txt");
	assert_int_equal(bm_parse_fdinfo(text, &f), 0);
	assert_int_equal(f.pos, 1234);
	/* The kernel's O_LARGEFILE (0100000; glibc's is 0 on x86-64) | O_APPEND | O_WRONLY */
	assert_int_equal(f.flags, 0100000 | O_APPEND | O_WRONLY);
	assert_int_equal(f.mnt_id, 27);
	assert_int_equal(f.ino, 10953087);
	assert_false(f.has_eventfd);
	free(text);

	text = read_sample("fdinfo-eventfd.txt");
	assert_int_equal(bm_parse_fdinfo(text, &f), 0);
	assert_int_equal(f.pos, 0);
	assert_int_equal(f.flags, O_CLOEXEC | O_NONBLOCK | O_RDWR);
	assert_int_equal(f.mnt_id, 17);
	assert_int_equal(f.ino, 1038);
	assert_true(f.has_eventfd);
	assert_int_equal(f.eventfd_count, 5 + 0x1234567);
	free(text);

	/* Lines of other file types are skipped. */
	assert_int_equal(bm_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99\n"
					 "tfd:        5 events:       19 data:                5  pos:0 ino:3f9 sdev:e\n"
					 "inotify wd:1 ino:2 sdev:3 mask:4 ignored_mask:0\n"
					 "lock:\t1: POSIX  ADVISORY  WRITE 12 fe:00:99 0 EOF\nsomething without colon\n", &f), 0);
	assert_int_equal(f.ino, 99);
	assert_int_equal(f.mnt_id, 15);
}

/* Locks held through a descriptor: counted, the first one named. */
static void test_fdinfo_locks(void **state)
{
	(void)state;
	struct bm_fdinfo f;
	assert_int_equal(bm_parse_fdinfo("pos:\t0\nflags:\t02100001\nmnt_id:\t26\nino:\t10953679\n"
					 "lock:\t1: POSIX  ADVISORY  WRITE 31768 fe:00:10953679 0 EOF\n"
					 "lock:\t2: FLOCK  ADVISORY  WRITE 31768 fe:00:10953679 0 EOF\n",
					 &f),
			 0);
	assert_int_equal(f.locks, 2);
	assert_string_equal(f.lock, "POSIX  ADVISORY  WRITE 31768 fe:00:10953679 0 EOF");
	assert_int_equal(bm_parse_fdinfo("pos:\t0\nflags:\t02\nmnt_id:\t1\nino:\t2\n", &f), 0);
	assert_int_equal(f.locks, 0);
}

static void test_fdinfo_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "flags:\t02\nmnt_id:\t15\nino:\t99\n", "pos:\t0\nmnt_id:\t15\nino:\t99\n",
		"pos:\t0\nflags:\t02\nino:\t99\n", "pos:\t0\nflags:\t02\nmnt_id:\t15\n",
		"pos:\t0\nflags:\t09\nmnt_id:\t15\nino:\t99\n", "pos:\t-1\nflags:\t02\nmnt_id:\t15\nino:\t99\n",
		"pos:\t18446744073709551616\nflags:\t02\nmnt_id:\t15\nino:\t99\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t4294967296\nino:\t99\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99 x\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99\neventfd-count:  xyz\n",
		"pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t99\neventfd-count:\n",
	};
	struct bm_fdinfo f;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (bm_parse_fdinfo(bad[i], &f) != -EINVAL)
			fail_msg("accepted malformed fdinfo '%s'", bad[i]);
	}
}

static void test_fdinfo_truncations(void **state)
{
	(void)state;
	static const char *const files[] = { "fdinfo-append.txt", "fdinfo-eventfd.txt" };
	for (size_t i = 0; i < 2; i++) {
		char *text = read_sample(files[i]);
		size_t len = strlen(text), ino_value = offset_after(text, "ino:\t");
		struct bm_fdinfo f;
		for (size_t k = 0; k <= len; k++) {
			char *copy = dup_prefix(text, k);
			int r = bm_parse_fdinfo(copy, &f);
			if (k <= ino_value)
				assert_int_equal(r, -EINVAL);
			else if (k == len)
				assert_int_equal(r, 0);
			else if (r != 0 && r != -EINVAL)
				fail_msg("cut fdinfo gave %d", r);
			free(copy);
		}
		free(text);
	}
}

/* ---- the live process ---- */

static const struct bm_maps_entry *find_containing(const struct bm_maps_entry *e, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= e[i].start && addr < e[i].end)
			return &e[i];
	return NULL;
}

static void test_live_maps_and_smaps(void **state)
{
	(void)state;
	int local = 0;
	void *dontdump = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(dontdump != MAP_FAILED);
	assert_int_equal(madvise(dontdump, 2 * 4096, MADV_DONTDUMP), 0);
	struct bm_maps_entry *e;
	size_t n;
	assert_int_equal(bm_read_maps(getpid(), &e, &n), 0);
	assert_true(n > 5);
	for (size_t i = 1; i < n; i++)
		assert_true(e[i - 1].end <= e[i].start);

	const struct bm_maps_entry *stack = find_containing(e, n, (uintptr_t)&local);
	assert_non_null(stack);
	assert_string_equal(stack->path, "[stack]");
	const struct bm_maps_entry *vdso = find_containing(e, n, getauxval(AT_SYSINFO_EHDR));
	assert_non_null(vdso);
	assert_string_equal(vdso->path, "[vdso]");
	assert_int_equal(vdso->start, getauxval(AT_SYSINFO_EHDR));
	assert_string_equal(vdso->perms, "r-xp");
	char exe[PATH_MAX];
	bool deleted;
	assert_int_equal(bm_readlink("/proc/self/exe", exe, sizeof exe, &deleted), 0);
	const struct bm_maps_entry *code = find_containing(e, n, (uintptr_t)&test_live_maps_and_smaps);
	assert_non_null(code);
	assert_string_equal(code->path, exe);
	assert_int_equal(code->perms[2], 'x');

	assert_int_equal(bm_read_smaps_vmflags(getpid(), e, n), 0);
	stack = find_containing(e, n, (uintptr_t)&local);
	assert_true(stack->vmflags & BM_VMFLAG_GD);
	assert_true(find_containing(e, n, (uintptr_t)dontdump)->vmflags & BM_VMFLAG_DD);
	assert_false(code->vmflags & (BM_VMFLAG_GD | BM_VMFLAG_DD | BM_VMFLAG_SH));
	free(e);
	munmap(dontdump, 2 * 4096);
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

static void test_live_fdinfo(void **state)
{
	(void)state;
	char path[64];
	int tmp = make_temp_file(path, sizeof path);
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	unlink(path);
	close(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	struct bm_fdinfo f;
	assert_int_equal(bm_read_fdinfo(getpid(), fd, &f), 0);
	assert_int_equal(f.pos, 10);
	assert_int_equal(f.flags & O_ACCMODE, O_RDWR);
	assert_true(f.flags & O_APPEND);
	assert_true(f.flags & O_CLOEXEC);
	assert_false(f.has_eventfd);
	struct statx sx;
	assert_int_equal(statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_MNT_ID, &sx), 0);
	assert_int_equal(f.ino, sx.stx_ino);
	if (sx.stx_mask & STATX_MNT_ID)
		assert_int_equal(f.mnt_id, sx.stx_mnt_id);
	assert_int_equal(lseek(fd, 3, SEEK_SET), 3);
	assert_int_equal(bm_read_fdinfo(getpid(), fd, &f), 0);
	assert_int_equal(f.pos, 3);
	close(fd);

	int efd = eventfd(3, EFD_NONBLOCK);
	assert_true(efd >= 0);
	uint64_t add = 0x100000000ull;
	assert_int_equal(write(efd, &add, 8), 8);
	assert_int_equal(bm_read_fdinfo(getpid(), efd, &f), 0);
	assert_true(f.has_eventfd);
	assert_int_equal(f.eventfd_count, 0x100000003ull);
	assert_true(f.flags & O_NONBLOCK);
	close(efd);
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_live_list_fds(void **state)
{
	(void)state;
	int extra = fcntl(0, F_DUPFD_CLOEXEC, 500);
	assert_true(extra >= 500);
	int *fds;
	size_t n;
	assert_int_equal(bm_list_fds(getpid(), &fds, &n), 0);
	assert_true(n > 0);
	bool found = false;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(fds[i - 1] < fds[i]);
		/* The listing's own directory descriptor must not show. */
		assert_true(fd_is_open(fds[i]));
		found |= fds[i] == extra;
	}
	assert_true(found);
	for (int fd = 0, i = 0; fd <= fds[n - 1] + 64; fd++) {
		bool listed = (size_t)i < n && fds[i] == fd;
		assert_int_equal(listed, fd_is_open(fd));
		i += listed;
	}
	free(fds);
	close(extra);
	assert_int_equal(bm_list_fds(getpid(), &fds, &n), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(fds[i], extra);
	free(fds);
}

struct waiting_thread {
	int report_fd, go_fd;
};

static void *wait_for_go(void *arg)
{
	struct waiting_thread *t = arg;
	pid_t tid = gettid();
	if (write(t->report_fd, &tid, sizeof tid) != sizeof tid)
		return NULL;
	struct pollfd p = { .fd = t->go_fd, .events = POLLIN };
	poll(&p, 1, 10000);
	return NULL;
}

static void test_live_list_tids(void **state)
{
	(void)state;
	pid_t *tids;
	size_t n;
	assert_int_equal(bm_list_tids(getpid(), &tids, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tids[0], getpid());
	free(tids);

	int report[2], go[2];
	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	assert_int_equal(pipe2(go, O_CLOEXEC), 0);
	struct waiting_thread t = { report[1], go[0] };
	pthread_t thread;
	assert_int_equal(pthread_create(&thread, NULL, wait_for_go, &t), 0);
	struct pollfd p = { .fd = report[0], .events = POLLIN };
	pid_t tid = 0;
	int ready = poll(&p, 1, 10000);
	if (ready == 1)
		assert_int_equal(read(report[0], &tid, sizeof tid), sizeof tid);
	int r = bm_list_tids(getpid(), &tids, &n);
	close(go[1]); /* the thread's poll returns */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	assert_int_equal(pthread_timedjoin_np(thread, NULL, &deadline), 0);
	close(go[0]);
	close(report[0]);
	close(report[1]);
	assert_int_equal(ready, 1);
	assert_int_equal(r, 0);
	assert_int_equal(n, 2);
	assert_int_equal(tids[0], getpid() < tid ? getpid() : tid);
	assert_int_equal(tids[1], getpid() < tid ? tid : getpid());
	free(tids);
}

static void test_live_auxv(void **state)
{
	(void)state;
	uint64_t words[512];
	uint32_t n;
	assert_int_equal(bm_read_auxv(getpid(), words, 512, &n), 0);
	assert_true(n >= 4 && n % 2 == 0);
	assert_int_equal(words[n - 2], AT_NULL);
	bool saw_pagesz = false;
	for (uint32_t i = 0; i + 2 < n; i += 2) {
		if (words[i] == AT_PAGESZ) {
			assert_int_equal(words[i + 1], 4096);
			saw_pagesz = true;
		}
		if (words[i] == AT_ENTRY || words[i] == AT_PHDR || words[i] == AT_SYSINFO_EHDR || words[i] == AT_RANDOM)
			assert_int_equal(words[i + 1], getauxval(words[i]));
	}
	assert_true(saw_pagesz);
	uint32_t needed;
	assert_int_equal(bm_read_auxv(getpid(), words, 4, &needed), -ENOSPC);
	assert_int_equal(needed, n);
}

static void test_readlink(void **state)
{
	(void)state;
	char path[64], link[64], buf[PATH_MAX];
	int fd = make_temp_file(path, sizeof path);
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	bool deleted = true;
	assert_int_equal(bm_readlink(link, buf, sizeof buf, &deleted), 0);
	assert_string_equal(buf, path);
	assert_false(deleted);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(bm_readlink(link, buf, sizeof buf, &deleted), 0);
	assert_string_equal(buf, path);
	assert_true(deleted);
	assert_int_equal(bm_readlink(link, buf, sizeof buf, NULL), 0);
	assert_string_equal(buf, path);
	/* The deleted target's name and " (deleted)" fit exactly, but not the NUL. */
	size_t raw = strlen(path) + strlen(" (deleted)");
	assert_int_equal(bm_readlink(link, buf, raw, NULL), -ENAMETOOLONG);
	assert_int_equal(bm_readlink(link, buf, raw + 1, NULL), 0);
	assert_string_equal(buf, path);
	assert_int_equal(bm_readlink(link, buf, 0, NULL), -EINVAL);
	close(fd);
	assert_int_equal(bm_readlink(link, buf, sizeof buf, NULL), -ENOENT);
}

static void test_read_text(void **state)
{
	(void)state;
	char path[64];
	int fd = make_temp_file(path, sizeof path);
	char content[10000];
	for (size_t i = 0; i < sizeof content; i++)
		content[i] = (char)('a' + i % 26);
	content[5000] = '\0'; /* binary content is kept whole */
	assert_int_equal(write(fd, content, sizeof content), (ssize_t)sizeof content);
	char *text;
	size_t len;
	assert_int_equal(bm_read_text(path, &text, &len), 0);
	assert_int_equal(len, sizeof content);
	assert_memory_equal(text, content, sizeof content);
	assert_int_equal(text[len], '\0');
	free(text);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(bm_read_text(path, &text, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(text, "");
	free(text);
	close(fd);
	unlink(path);
	assert_int_equal(bm_read_text(path, &text, &len), -ENOENT);
	assert_null(text);
	/* A proc file longer than the first buffer, which stat reports as empty. */
	assert_int_equal(bm_read_text("/proc/self/smaps", &text, &len), 0);
	assert_true(len > 4096);
	assert_int_equal(strlen(text), len);
	free(text);
}

/* /proc/PID/task/TID/children, as the kernel writes it. */
/* /proc/self/limits against getrlimit, for every resource; then the
 * parser on rows a hostile or future kernel could produce. */
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

static void test_pid_list(void **state)
{
	(void)state;
	pid_t p[2];
	size_t n;
	assert_int_equal(bm_parse_pid_list("", p, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(bm_parse_pid_list("4711 ", p, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0], 4711);
	/* More than there is room for: counted, not stored. */
	assert_int_equal(bm_parse_pid_list("12 34 56 \n", p, 2, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(p[0], 12);
	assert_int_equal(p[1], 34);
	assert_int_equal(bm_parse_pid_list("12 x", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("-3", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("0", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("99999999999", p, 2, &n), -EINVAL);
	assert_int_equal(bm_parse_pid_list("7 8", NULL, 0, &n), 0);
	assert_int_equal(n, 2);
}

static void test_nonexistent_process(void **state)
{
	(void)state;
	const pid_t gone = INT_MAX; /* above PID_MAX_LIMIT: never a process */
	struct bm_maps_entry *e = (void *)1;
	size_t n = 1;
	assert_int_equal(bm_read_maps(gone, &e, &n), -ENOENT);
	assert_null(e);
	assert_int_equal(n, 0);
	struct bm_maps_entry one = { .start = 0x1000, .end = 0x2000 };
	assert_int_equal(bm_read_smaps_vmflags(gone, &one, 1), -ENOENT);
	struct bm_proc_status s;
	assert_int_equal(bm_read_status(gone, &s), -ENOENT);
	struct bm_proc_stat st;
	assert_int_equal(bm_read_stat(gone, &st), -ENOENT);
	struct bm_fdinfo f;
	assert_int_equal(bm_read_fdinfo(gone, 0, &f), -ENOENT);
	int unused = fcntl(0, F_DUPFD, 600);
	assert_true(unused >= 0);
	close(unused);
	assert_int_equal(bm_read_fdinfo(getpid(), unused, &f), -ENOENT);
	int *fds;
	assert_int_equal(bm_list_fds(gone, &fds, &n), -ENOENT);
	pid_t *tids;
	assert_int_equal(bm_list_tids(gone, &tids, &n), -ENOENT);
	uint64_t words[8];
	uint32_t nwords;
	assert_int_equal(bm_read_auxv(gone, words, 8, &nwords), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_maps_sample),
		cmocka_unit_test(test_smaps_sample_vmflags),
		cmocka_unit_test(test_maps_line_forms),
		cmocka_unit_test(test_maps_line_malformed),
		cmocka_unit_test(test_maps_line_truncations),
		cmocka_unit_test(test_smaps_synthetic),
		cmocka_unit_test(test_smaps_truncations),
		cmocka_unit_test(test_status_samples),
		cmocka_unit_test(test_status_malformed),
		cmocka_unit_test(test_status_truncations),
		cmocka_unit_test(test_stat_samples),
		cmocka_unit_test(test_stat_matches_maps),
		cmocka_unit_test(test_stat_malformed),
		cmocka_unit_test(test_stat_truncations),
		cmocka_unit_test(test_fdinfo_samples),
		cmocka_unit_test(test_fdinfo_malformed),
		cmocka_unit_test(test_fdinfo_truncations),
		cmocka_unit_test(test_live_maps_and_smaps),
		cmocka_unit_test(test_live_status_and_stat),
		cmocka_unit_test(test_live_fdinfo),
		cmocka_unit_test(test_live_list_fds),
		cmocka_unit_test(test_live_list_tids),
		cmocka_unit_test(test_live_auxv),
		cmocka_unit_test(test_readlink),
		cmocka_unit_test(test_read_text),
		cmocka_unit_test(test_pid_list),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_fdinfo_locks),
		cmocka_unit_test(test_nonexistent_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

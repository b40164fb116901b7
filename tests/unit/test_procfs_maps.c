/* Tests of the maps and smaps readers (procfs_maps.c): the parsers against
 * the captured samples, malformed and truncated lines, and the readers
 * against this process. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/mman.h>

#include "unit_procfs.h"

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
	{ 0x5650c5410000, 0x5650c5411000, "r--p", 0x00002000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x5650c5411000, 0x5650c5412000, "rw-p", 0x00003000, 0xfe, 0x00, 10952884, "/tmp/procfs-work/sampler", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x5650e9cae000, 0x5650e9ccf000, "rw-p", 0x00000000, 0x00, 0x00, 0, "[heap]", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662600000, 0x7fa662a00000, "r--p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_HG | BM_VMFLAG_MW },
	{ 0x7fa662a8d000, 0x7fa662a8e000, "rw-s", 0x00000000, 0x00, 0x01, 26, "/dev/zero", true, BM_VMFLAG_SH | BM_VMFLAG_MW },
	{ 0x7fa662b8e000, 0x7fa662b90000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_GD | BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662b90000, 0x7fa662b93000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662b93000, 0x7fa662bb9000, "r--p", 0x00000000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662bb9000, 0x7fa662d0f000, "r-xp", 0x00026000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662d0f000, 0x7fa662d62000, "r--p", 0x0017c000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW },
	{ 0x7fa662d62000, 0x7fa662d66000, "r--p", 0x001cf000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d66000, 0x7fa662d68000, "rw-p", 0x001d3000, 0xfe, 0x00, 332835, "/usr/lib/x86_64-linux-gnu/libc.so.6", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d68000, 0x7fa662d75000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d75000, 0x7fa662d77000, "---p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_NH | BM_VMFLAG_MW },
	{ 0x7fa662d77000, 0x7fa662d78000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_LO | BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d78000, 0x7fa662d79000, "r--p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_DD | BM_VMFLAG_MW },
	{ 0x7fa662d79000, 0x7fa662d7c000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d7c000, 0x7fa662d7d000, "rw-p", 0x00000000, 0xfe, 0x00, 10953086, "/tmp/bm-new\nline.bin", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d7d000, 0x7fa662d7e000, "rw-p", 0x00000000, 0xfe, 0x00, 10953085, "/tmp/bm-deleted-sample.bin", true, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d7e000, 0x7fa662d80000, "rw-s", 0x00000000, 0xfe, 0x00, 10953084, "/tmp/bm sample dir/file with spaces.bin", false, BM_VMFLAG_SH | BM_VMFLAG_MW },
	{ 0x7fa662d80000, 0x7fa662d82000, "rw-p", 0x00000000, 0x00, 0x00, 0, "", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662d82000, 0x7fa662d86000, "r--p", 0x00000000, 0x00, 0x00, 0, "[vvar]", false, BM_VMFLAG_DD | BM_VMFLAG_IO | BM_VMFLAG_PF | BM_VMFLAG_DE },
	{ 0x7fa662d86000, 0x7fa662d88000, "r--p", 0x00000000, 0x00, 0x00, 0, "[vvar_vclock]", false, BM_VMFLAG_DD | BM_VMFLAG_IO | BM_VMFLAG_PF | BM_VMFLAG_DE },
	{ 0x7fa662d88000, 0x7fa662d8a000, "r-xp", 0x00000000, 0x00, 0x00, 0, "[vdso]", false, BM_VMFLAG_MW | BM_VMFLAG_DE },
	{ 0x7fa662d8a000, 0x7fa662d8b000, "r--p", 0x00000000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662d8b000, 0x7fa662db1000, "r-xp", 0x00001000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662db1000, 0x7fa662dbb000, "r--p", 0x00027000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW },
	{ 0x7fa662dbb000, 0x7fa662dbd000, "r--p", 0x00031000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7fa662dbd000, 0x7fa662dbf000, "rw-p", 0x00033000, 0xfe, 0x00, 332383, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", false, BM_VMFLAG_MW | BM_VMFLAG_AC },
	{ 0x7ffdad629000, 0x7ffdad64a000, "rw-p", 0x00000000, 0x00, 0x00, 0, "[stack]", false, BM_VMFLAG_GD | BM_VMFLAG_MW | BM_VMFLAG_AC },
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
	if (check_flags) {
		assert_int_equal(e->vmflags, x->vmflags);
		assert_string_equal(e->vmflag_unknown, "");
	}
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
	for (size_t i = 0; i < n; i++) {
		e[i].vmflags = 0xfffffu;
		strcpy(e[i].vmflag_unknown, "zz");
	}
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
	assert_int_equal(picked[0].vmflags, BM_VMFLAG_GD | BM_VMFLAG_MW | BM_VMFLAG_AC);
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

/* ---- smaps ---- */

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
	/* A code binmig does not know is kept, the first one, to be refused by name. */
	assert_string_equal(e[0].vmflag_unknown, "zz");
	assert_int_equal(e[0].pkey, -1); /* no "ProtectionKey:" line: no keys */

	/* Every code Linux 6.18 shows on x86-64: the implied ones set no bit,
	 * none is unknown; ProtectionKey is read. */
	assert_int_equal(bm_parse_smaps_vmflags("1000-2000 rw-p 00000000 00:00 0\nProtectionKey:         7\n"
						"VmFlags: rd wr ex sh mr mw me ms gd pf gu lo io sr rr dc de lf ac nr ht sf ar "
						"wf dd sd mm hg nh mg um uw ui ss dp sl\n", e, 2), 0);
	assert_int_equal(e[0].vmflags, BM_VMFLAG_SH | BM_VMFLAG_MW | BM_VMFLAG_GD | BM_VMFLAG_PF | BM_VMFLAG_GU |
				       BM_VMFLAG_LO | BM_VMFLAG_IO | BM_VMFLAG_SR | BM_VMFLAG_RR | BM_VMFLAG_DC |
				       BM_VMFLAG_DE | BM_VMFLAG_LF | BM_VMFLAG_AC | BM_VMFLAG_NR | BM_VMFLAG_HT |
				       BM_VMFLAG_SF | BM_VMFLAG_AR | BM_VMFLAG_WF | BM_VMFLAG_DD | BM_VMFLAG_MM |
				       BM_VMFLAG_HG | BM_VMFLAG_NH | BM_VMFLAG_MG | BM_VMFLAG_UF | BM_VMFLAG_UW | BM_VMFLAG_SS |
				       BM_VMFLAG_DP | BM_VMFLAG_SL);
	assert_string_equal(e[0].vmflag_unknown, "");
	assert_int_equal(e[0].pkey, 7);
	/* arm64's codes and the kernel's "??" for a flag without a name are unknown. */
	assert_int_equal(bm_parse_smaps_vmflags("1000-2000 rw-p 00000000 00:00 0\nVmFlags: rd mt bt\n", e, 2), 0);
	assert_string_equal(e[0].vmflag_unknown, "mt");
	assert_int_equal(bm_parse_smaps_vmflags("1000-2000 rw-p 00000000 00:00 0\nVmFlags: rd ?? ac\n", e, 2), 0);
	assert_string_equal(e[0].vmflag_unknown, "??");
	assert_int_equal(e[0].vmflags, BM_VMFLAG_AC);
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
		"1000-2000 rw-p 00000000 00:00 0\nProtectionKey: x\n",
		"1000-2000 rw-p 00000000 00:00 0\nProtectionKey: -1\n",
		"1000-2000 rw-p 00000000 00:00 0\nProtectionKey: 1 2\n",
		"1000-2000 rw-p 00000000 00:00 0\nProtectionKey:\n",
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

/* An executable mapping of a file at PATH (created with a page of code
 * bytes, unlinked afterwards if `unlink_it`). */
static void *map_exec_file(const char *path, bool unlink_it)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	static const uint8_t page[4096] = {0xc3};
	assert_int_equal(fwrite(page, 1, sizeof page, f), sizeof page);
	assert_int_equal(fclose(f), 0);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	assert_true(p != MAP_FAILED);
	close(fd);
	if (unlink_it)
		assert_int_equal(unlink(path), 0);
	return p;
}

/* The executable mappings as PROCMAP_QUERY gives them one at a time are
 * those of the text, field for field: the program and its libraries, the
 * vDSO, anonymous code with and without a name, an unlinked file and a
 * file with a newline in its name (which the text escapes). */
static void test_live_exec_query(void **state)
{
	(void)state;
	char dir[] = "/tmp/binmig-maps-query.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char gone[PATH_MAX], odd[PATH_MAX];
	snprintf(gone, sizeof gone, "%s/gone", dir);
	snprintf(odd, sizeof odd, "%s/new\nline", dir);
	void *anon = mmap(NULL, 3 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	/* Named, the middle page only (a name may be refused: then plain). */
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)anon + 4096, 4096, (unsigned long)"jit");
	void *g = map_exec_file(gone, true), *o = map_exec_file(odd, false);

	int fd = bm_maps_query_open(getpid());
	assert_true(fd >= 0);
	struct bm_maps_entry q;
	int rc = bm_maps_query_next_exec(fd, 0, &q);
	if (rc == -ENOTTY) { /* a kernel before 6.11 */
		close(fd);
		unlink(odd);
		rmdir(dir);
		skip();
	}
	struct bm_maps_entry *e;
	size_t n, checked = 0;
	assert_int_equal(bm_read_maps(getpid(), &e, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (e[i].perms[2] != 'x' || strcmp(e[i].path, "[vsyscall]") == 0)
			continue; /* the query does not see the vsyscall page, which is no VMA */
		assert_int_equal(rc, 1);
		assert_int_equal(q.start, e[i].start);
		assert_int_equal(q.end, e[i].end);
		assert_string_equal(q.perms, e[i].perms);
		assert_int_equal(q.offset, e[i].offset);
		assert_int_equal(q.dev_major, e[i].dev_major);
		assert_int_equal(q.dev_minor, e[i].dev_minor);
		assert_int_equal(q.inode, e[i].inode);
		assert_string_equal(q.path, e[i].path);
		assert_int_equal(q.deleted, e[i].deleted);
		checked++;
		rc = bm_maps_query_next_exec(fd, q.end, &q);
	}
	assert_int_equal(rc, 0);
	assert_true(checked >= 6);
	const struct bm_maps_entry *x = find_containing(e, n, (uintptr_t)g);
	assert_true(x && x->deleted);
	assert_string_equal(find_containing(e, n, (uintptr_t)o)->path, odd);
	free(e);
	close(fd);
	munmap(anon, 3 * 4096);
	munmap(g, 4096);
	munmap(o, 4096);
	unlink(odd);
	rmdir(dir);
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
		cmocka_unit_test(test_live_maps_and_smaps),
		cmocka_unit_test(test_live_exec_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

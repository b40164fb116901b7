/* x86_decode.c, isa_classify.c, isa_scan.c and isa_cache.c: instruction
 * lengths agree with Capstone over a whole C library, single instructions
 * are classified as the SDM says, bytes neither decoder takes are counted,
 * the C library's AVX2 code lies in ifunc candidates, and cache entries
 * round-trip and are refused when damaged, symbols are named, and a
 * check that prints nothing names only the examples it is asked for. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <capstone/capstone.h>
#include <link.h>
#include <unistd.h>

#include "isa_cache.h"
#include "isa_cmd.h"
#include "isa_process.h"
#include "isa_scan.h"
#include "log.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

static uint64_t scan_bytes(const uint8_t *b, size_t n, struct bm_isa_counts *c)
{
	memset(c, 0, sizeof *c);
	assert_int_equal(bm_isa_scan_code(b, n, 0x1000, c), 0);
	return c->set;
}

#define EXT(e) BM_EXT_BIT(BM_EXT_##e)
#define SCAN(...)                                                                                            \
	({                                                                                                     \
		static const uint8_t b_[] = {__VA_ARGS__};                                                    \
		struct bm_isa_counts c_;                                                                       \
		scan_bytes(b_, sizeof b_, &c_);                                                                \
	})

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(SCAN(0x48, 0x89, 0xc3, 0xc3), 0);                          /* mov rbx, rax; ret */
	assert_int_equal(SCAN(0xc5, 0xfd, 0xfe, 0xc1), EXT(AVX2));                  /* vpaddd ymm0, ymm0, ymm1 */
	assert_int_equal(SCAN(0xc5, 0xf4, 0x58, 0xc2), EXT(AVX));                   /* vaddps ymm0, ymm1, ymm2 */
	assert_int_equal(SCAN(0x62, 0xf1, 0x7d, 0x48, 0xfe, 0xc1), EXT(AVX512F));   /* vpaddd zmm0, zmm0, zmm1 */
	assert_int_equal(SCAN(0xf3, 0x0f, 0xb8, 0xc0), EXT(POPCNT));
	assert_int_equal(SCAN(0xf3, 0x0f, 0xbc, 0xc0), 0);                          /* tzcnt runs as bsf */
	assert_int_equal(SCAN(0xf3, 0x0f, 0xbd, 0xc0), EXT(ABM));                   /* lzcnt */
	assert_int_equal(SCAN(0x66, 0x0f, 0x38, 0xdc, 0xc1), EXT(AES));             /* aesenc */
	assert_int_equal(SCAN(0x0f, 0x38, 0xcb, 0xc1), EXT(SHA_NI));                /* sha256rnds2 */
	assert_int_equal(SCAN(0xc4, 0xe2, 0x7a, 0xf7, 0xc1), EXT(BMI2));            /* sarx: no AVX needed */
	assert_int_equal(SCAN(0x48, 0x0f, 0xc7, 0xf0), EXT(RDRAND));
	/* Unknown to Capstone 4.0.2, known by encoding: vaesenc ymm (VAES),
	 * vpdpbusd zmm (AVX512-VNNI), movdiri. */
	assert_true(SCAN(0xc4, 0xe2, 0x7d, 0xdc, 0xc1) & EXT(VAES));
	assert_true(SCAN(0x62, 0xf2, 0x7d, 0x48, 0x50, 0xc1) & EXT(AVX512VNNI));
	assert_int_equal(SCAN(0x0f, 0x38, 0xf9, 0x07), EXT(MOVDIRI));
}

static void test_undecodable(void **state)
{
	(void)state;
	struct bm_isa_counts c;
	/* 06 (push es) is invalid in 64-bit mode; then a ret. */
	static const uint8_t junk[] = {0x06, 0x06, 0xc3};
	scan_bytes(junk, sizeof junk, &c);
	assert_int_equal(c.undecodable, 2);
	assert_int_equal(c.first_undecodable, 0x1000);
	assert_int_equal(c.insns, 1);
	/* A VEX instruction cut off at the end of the code: its first byte is
	 * counted, the sweep goes on at the next (fd: std). */
	static const uint8_t cut[] = {0x90, 0xc5, 0xfd};
	scan_bytes(cut, sizeof cut, &c);
	assert_int_equal(c.insns, 2);
	assert_int_equal(c.undecodable, 1);
	assert_int_equal(c.first_undecodable, 0x1001);
	assert_int_equal(c.bytes, 3);
}

/* Every instruction Capstone decodes in the C library has the length
 * x86_decode gives it (the scan steps by x86_decode where Capstone is not
 * asked). */
static void test_lengths_agree(void **state)
{
	(void)state;
	struct bm_elf e;
	if (bm_elf_open(LIBC, &e) < 0)
		skip();
	assert_int_equal(bm_elf_map(&e), 0);
	csh cs;
	assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
	cs_insn *insn = cs_malloc(cs);
	/* The first 256 KiB of .text, as a linear sweep. */
	uint64_t vaddr = 0;
	assert_int_equal(bm_elf_offset_to_vaddr(&e, 0x30000, &vaddr), 0);
	const uint8_t *p = e.data + 0x30000;
	size_t left = 256 << 10, checked = 0, differ = 0;
	uint64_t addr = 0;
	while (left) {
		struct bm_x86_insn x;
		size_t n = bm_x86_decode(p, left, &x);
		const uint8_t *q = p;
		size_t l2 = left;
		if (cs_disasm_iter(cs, &q, &l2, &addr, insn)) {
			checked++;
			if (n != insn->size)
				differ++;
			n = insn->size;
		} else if (!n) {
			n = 1;
		}
		p += n;
		left -= n;
	}
	cs_free(insn, 1);
	cs_close(&cs);
	bm_elf_close(&e);
	assert_true(checked > 30000);
	assert_int_equal(differ, 0);
}

static void test_libc_ifuncs(void **state)
{
	(void)state;
	struct bm_elf e;
	if (bm_elf_open(LIBC, &e) < 0)
		skip();
	struct bm_isa_file f;
	assert_int_equal(bm_isa_scan_elf(&e, LIBC, &f), 0);
	/* glibc's AVX2 code is all in the variants its resolvers choose from. */
	assert_true(f.ncand > 50);
	assert_false(f.always.set & EXT(AVX2));
	uint64_t in_cands = 0;
	bool named = false;
	for (uint32_t i = 0; i < f.ncand; i++) {
		in_cands |= f.cand[i].counts.set;
		named |= strcmp(f.cand[i].ifunc, "strlen") == 0;
		assert_true(f.cand[i].start < f.cand[i].end);
		assert_ptr_equal(bm_isa_find_candidate(&f, f.cand[i].start), &f.cand[i]);
	}
	assert_true(in_cands & EXT(AVX2));
	assert_true(named);
	assert_int_equal(f.always.undecodable, 0);

	/* The cache entry round-trips, and any damage is refused. */
	uint8_t *buf;
	size_t len;
	assert_int_equal(bm_isa_cache_encode(&f, &buf, &len), 0);
	struct bm_isa_file g;
	assert_int_equal(bm_isa_cache_decode(buf, len, &g), 0);
	assert_int_equal(g.ncand, f.ncand);
	assert_int_equal(g.always.set, f.always.set);
	assert_memory_equal(&g.cand[3], &f.cand[3], sizeof g.cand[3]);
	assert_string_equal(g.build_id, e.build_id);
	bm_isa_file_free(&g);
	for (size_t at = 0; at < len; at += len / 97 + 1) {
		buf[at] ^= 0x20;
		assert_int_equal(bm_isa_cache_decode(buf, len, &g), -EINVAL);
		buf[at] ^= 0x20;
	}
	assert_int_equal(bm_isa_cache_decode(buf, len - 1, &g), -EINVAL);
	free(buf);
	bm_isa_file_free(&f);
	bm_elf_close(&e);
}

static void test_cache_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/binmig-isa-cache.XXXXXX";
	assert_non_null(mkdtemp(dir));
	setenv("BINMIG_ISA_CACHE", dir, 1);
	struct bm_elf e;
	assert_int_equal(bm_elf_open("/proc/self/exe", &e), 0);
	struct bm_isa_file f, g;
	int cached = -1;
	assert_int_equal(bm_isa_file_get(&e, "/proc/self/exe", &f, &cached), 0);
	assert_int_equal(cached, 0);
	/* A hit reads the file's tables only: its contents are not mapped. */
	struct bm_elf again;
	assert_int_equal(bm_elf_open("/proc/self/exe", &again), 0);
	assert_int_equal(bm_isa_file_get(&again, "/proc/self/exe", &g, &cached), 0);
	assert_int_equal(cached, 1);
	assert_null(again.data);
	bm_elf_close(&again);
	assert_int_equal(g.always.insns, f.always.insns);
	bm_isa_file_free(&g);
	/* Another path for the same inode is scanned again. */
	assert_int_equal(bm_isa_file_get(&e, "/elsewhere", &g, &cached), 0);
	assert_int_equal(cached, 0);
	bm_isa_file_free(&g);
	bm_isa_file_free(&f);
	bm_elf_close(&e);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	unsetenv("BINMIG_ISA_CACHE");
}

/* The tables read from a file without mapping it are those of the same
 * bytes in memory; a cut or damaged image has fewer or none, never a read
 * out of bounds (ASan watches the exact-size copies). */
static void test_tables_without_mapping(void **state)
{
	(void)state;
	struct bm_elf file, mem;
	assert_int_equal(bm_elf_open("/proc/self/exe", &file), 0);
	assert_null(file.data);
	assert_true(file.phnum > 0 && file.shnum > 0);
	assert_int_not_equal(file.build_id[0], 0);
	uint64_t got[4][2], got_mem[4][2], vaddr, vaddr_mem;
	size_t ngot = bm_elf_got_ranges(&file, got, 4);
	assert_true(ngot > 0);
	assert_int_equal(bm_elf_offset_to_vaddr(&file, 0, &vaddr), 0);
	assert_int_equal(bm_elf_map(&file), 0);
	assert_non_null(file.data);

	uint8_t *copy = malloc(file.len);
	assert_non_null(copy);
	memcpy(copy, file.data, file.len);
	assert_int_equal(bm_elf_from_memory(copy, file.len, &mem), 0);
	assert_int_equal(mem.phnum, file.phnum);
	assert_int_equal(mem.shnum, file.shnum);
	assert_string_equal(mem.build_id, file.build_id);
	assert_int_equal(bm_elf_got_ranges(&mem, got_mem, 4), ngot);
	assert_memory_equal(got_mem, got, ngot * sizeof got[0]);
	assert_int_equal(bm_elf_offset_to_vaddr(&mem, 0, &vaddr_mem), 0);
	assert_int_equal(vaddr_mem, vaddr);
	bm_elf_close(&mem);

	/* Cut inside the section header table (at the end of the file):
	 * no sections, the program headers still there. */
	Elf64_Ehdr eh;
	memcpy(&eh, copy, sizeof eh);
	size_t cut = (size_t)eh.e_shoff + sizeof(Elf64_Shdr) / 2;
	uint8_t *part = malloc(cut);
	assert_non_null(part);
	memcpy(part, copy, cut);
	assert_int_equal(bm_elf_from_memory(part, cut, &mem), 0);
	assert_int_equal(mem.shnum, 0);
	assert_int_equal(mem.phnum, file.phnum);
	assert_int_equal(bm_elf_got_ranges(&mem, got_mem, 4), 0);
	bm_elf_close(&mem);
	/* A program header table said to lie past the end: none. */
	Elf64_Ehdr bad = eh;
	bad.e_phoff = cut - 8;
	memcpy(part, &bad, sizeof bad);
	assert_int_equal(bm_elf_from_memory(part, cut, &mem), 0);
	assert_int_equal(mem.phnum, 0);
	assert_int_equal(bm_elf_offset_to_vaddr(&mem, 0, &vaddr_mem), -ENOENT);
	bm_elf_close(&mem);
	/* Not ELF at all. */
	part[0] = 0;
	assert_int_equal(bm_elf_from_memory(part, cut, &mem), -ENOEXEC);
	assert_int_equal(bm_elf_from_memory(copy, 10, &mem), -ENOEXEC);
	free(part);
	free(copy);
	bm_elf_close(&file);
}

static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(uintptr_t *)data = info->dlpi_addr;
	return 1;
}

static void test_symbolize(void **state)
{
	(void)state;
	uintptr_t bias = 0;
	dl_iterate_phdr(first_object, &bias);
	struct bm_elf e;
	assert_int_equal(bm_elf_open("/proc/self/exe", &e), 0);
	char buf[128];
	bm_elf_symbolize(&e, (uintptr_t)test_classify - bias + 5, buf, sizeof buf);
	assert_string_equal(buf, "test_classify+0x5");
	bm_elf_symbolize(&e, 0x10, buf, sizeof buf); /* before every function */
	assert_string_equal(buf, "");
	bm_elf_close(&e);
}

static void with_cache_dir(char *dir)
{
	assert_non_null(mkdtemp(dir));
	setenv("BINMIG_ISA_CACHE", dir, 1);
}

static void drop_cache_dir(const char *dir)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	unsetenv("BINMIG_ISA_CACHE");
}

/* This process analysed three times: printed (every example named), as
 * a migration's check that would refuse for one extension (that one
 * named, the same way), and as one that refuses for none (nothing named);
 * the verdict's figures are the same each time. */
static void test_names_only_where_wanted(void **state)
{
	(void)state;
	char dir[] = "/tmp/binmig-isa-names.XXXXXX";
	with_cache_dir(dir);
	static struct bm_isa_report full, some, none;
	assert_int_equal(bm_isa_analyze_pid(getpid(), false, 0, &full), 0);
	if (!full.used_set) {
		drop_cache_dir(dir);
		skip();
	}
	int e = __builtin_ctzll(full.used_set);
	assert_int_equal(bm_isa_analyze_pid(getpid(), true, BM_EXT_BIT(e), &some), 0);
	assert_int_equal(bm_isa_analyze_pid(getpid(), true, 0, &none), 0);
	drop_cache_dir(dir);
	assert_int_equal(some.used_set, full.used_set);
	assert_int_equal(none.used_set, full.used_set);
	assert_int_equal(none.unselected_set, full.unselected_set);
	bool symbol = false;
	for (int x = 0; x < BM_EXT_COUNT; x++) {
		if (!(full.used_set & BM_EXT_BIT(x)))
			continue;
		assert_int_equal(some.used[x].count, full.used[x].count);
		assert_int_equal(some.used[x].addr, full.used[x].addr);
		assert_true(full.used[x].where[0]);
		symbol |= strstr(full.used[x].where, "+0x") != NULL;
		if (x == e)
			assert_string_equal(some.used[x].where, full.used[x].where);
		else
			assert_string_equal(some.used[x].where, "");
		assert_string_equal(none.used[x].where, "");
		assert_string_equal(none.unselected[x].where, "");
	}
	assert_true(symbol);
	assert_string_equal(none.first_undecodable, "");
}

/* migrate's check on a thread of its own (bm_isa_job_*): the verdicts of
 * bm_isa_check, for a destination like this machine and for one that
 * lacks an extension this process uses, whose refusal names it with an
 * example; and an ended job that was never judged leaves nothing. */
static void test_job(void **state)
{
	(void)state;
	char dir[] = "/tmp/binmig-isa-job.XXXXXX";
	with_cache_dir(dir);
	static struct bm_cpu_profile here, lacking;
	assert_int_equal(bm_cpu_profile_local(&here), 0);
	struct bm_isa_job *j = bm_isa_job_start(getpid());
	assert_non_null(j);
	assert_int_equal(bm_isa_job_check(j, &here, &here), 0);
	uint64_t used = j->report.used_set & bm_cpu_profile_exts(&here);
	bm_isa_job_end(j);
	if (!used) {
		drop_cache_dir(dir);
		skip();
	}
	int e = 63 - __builtin_clzll(used);
	lacking = here;
	for (size_t i = 0; i < lacking.nflags; i++)
		if (strcmp(lacking.flags[i], bm_ext_info[e].name) == 0) {
			memcpy(lacking.flags[i], lacking.flags[lacking.nflags - 1], sizeof lacking.flags[i]);
			lacking.nflags--;
			break;
		}
	assert_false(bm_cpu_profile_exts(&lacking) & BM_EXT_BIT(e));
	bm_reset_errors();
	j = bm_isa_job_start(getpid());
	assert_int_equal(bm_isa_job_check(j, &here, &lacking), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	char want[64];
	snprintf(want, sizeof want, "lacks %s: ", bm_ext_info[e].name);
	assert_non_null(strstr(bm_error_message(), want));
	assert_non_null(strstr(bm_error_message(), ", e.g. at 0x"));
	bm_isa_job_end(j);
	bm_reset_errors();
	bm_isa_job_end(bm_isa_job_start(getpid()));
	assert_false(bm_error_reported());
	drop_cache_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),      cmocka_unit_test(test_undecodable),
		cmocka_unit_test(test_lengths_agree), cmocka_unit_test(test_libc_ifuncs),
		cmocka_unit_test(test_cache_file),    cmocka_unit_test(test_symbolize),
		cmocka_unit_test(test_names_only_where_wanted), cmocka_unit_test(test_tables_without_mapping),
		cmocka_unit_test(test_job),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

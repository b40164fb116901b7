/* isa_cache.c's content cache of anonymous executable memory: a second
 * scan of the same code comes from the cache with the same counts at the
 * new address, code rewritten with an AVX2 instruction is scanned again
 * and the AVX2 found, a damaged cache file is ignored, and the file holds
 * at most BM_ISA_ANON_MAX entries, dropping the least recently used; an
 * ELF image in memory (the vDSO) is cached by its content. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "isa_cache.h"
#include "isa_scan.h"

#define AVX2 BM_EXT_BIT(BM_EXT_AVX2)

static char dir[] = "/tmp/binmig-isa-anon.XXXXXX";

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	setenv("BINMIG_ISA_CACHE", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	unsetenv("BINMIG_ISA_CACHE");
	return system(cmd) == 0 ? 0 : -1;
}

/* 64 bytes of "add eax, ecx". */
static void baseline(uint8_t *b)
{
	for (int i = 0; i < 64; i += 2) {
		b[i] = 0x01;
		b[i + 1] = 0xc8;
	}
}

static int scan(const uint8_t *b, size_t n, uint64_t base, struct bm_isa_counts *c)
{
	int cached = -1;
	memset(c, 0, sizeof *c);
	assert_int_equal(bm_isa_anon_scan(b, n, base, c, &cached), 0);
	return cached;
}

static void same_as_a_plain_scan(const uint8_t *b, size_t n, uint64_t base, const struct bm_isa_counts *c)
{
	struct bm_isa_counts plain = {0};
	assert_int_equal(bm_isa_scan_code(b, n, base, &plain), 0);
	assert_memory_equal(&plain, c, sizeof plain);
}

static void test_rewritten_code_is_rescanned(void **state)
{
	(void)state;
	uint8_t code[64];
	struct bm_isa_counts c;
	baseline(code);
	assert_int_equal(scan(code, sizeof code, 0x1000, &c), 0);
	assert_false(c.set & AVX2);
	bm_isa_anon_flush();
	/* Again, elsewhere, by a new process (flushed): from the cache. */
	assert_int_equal(scan(code, sizeof code, 0x7000, &c), 1);
	same_as_a_plain_scan(code, sizeof code, 0x7000, &c);
	bm_isa_anon_flush();
	/* The JIT rewrote it: vpaddd ymm0, ymm0, ymm1 at offset 10, same length. */
	memcpy(code + 10, (const uint8_t[]){0xc5, 0xfd, 0xfe, 0xc1}, 4);
	assert_int_equal(scan(code, sizeof code, 0x7000, &c), 0);
	assert_true(c.set & AVX2);
	assert_int_equal(c.example[BM_EXT_AVX2], 0x700a);
	bm_isa_anon_flush();
	assert_int_equal(scan(code, sizeof code, 0x9000, &c), 1);
	assert_true(c.set & AVX2);
	same_as_a_plain_scan(code, sizeof code, 0x9000, &c);
	/* Undecodable bytes keep their address too. */
	code[62] = 0x90;
	code[63] = 0x0f; /* nop, then a lone escape byte: nothing decodes it */
	assert_int_equal(scan(code, sizeof code, 0x3000, &c), 0);
	assert_int_equal(c.undecodable, 1);
	assert_int_equal(c.first_undecodable, 0x303f);
	bm_isa_anon_flush();
	assert_int_equal(scan(code, sizeof code, 0x5000, &c), 1);
	same_as_a_plain_scan(code, sizeof code, 0x5000, &c);
	bm_isa_anon_flush();
}

static void test_damaged_file_ignored(void **state)
{
	(void)state;
	uint8_t code[64];
	struct bm_isa_counts c;
	baseline(code);
	code[0] = 0x90;
	code[1] = 0x90;
	assert_int_equal(scan(code, sizeof code, 0x1000, &c), 0);
	bm_isa_anon_flush();
	char path[256];
	snprintf(path, sizeof path, "%s/anon.isa", dir);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, 30, SEEK_SET);
	fputc(0x5a, f);
	fclose(f);
	assert_int_equal(scan(code, sizeof code, 0x1000, &c), 0);
	same_as_a_plain_scan(code, sizeof code, 0x1000, &c);
	bm_isa_anon_flush();
	assert_int_equal(scan(code, sizeof code, 0x1000, &c), 1);
	bm_isa_anon_flush();
}

/* mov eax, i; then add eax, ecx: a different content for every i. */
static void numbered(uint8_t *b, uint32_t i)
{
	baseline(b);
	b[0] = 0xb8;
	memcpy(b + 1, &i, 4);
	b[5] = 0x90;
}

/* Scans numbered code ids[i], expecting cached[i]; then flushes. */
static void expect_cached(const uint32_t *ids, const int *cached, size_t n)
{
	uint8_t code[64];
	struct bm_isa_counts c;
	for (size_t i = 0; i < n; i++) {
		numbered(code, ids[i]);
		assert_int_equal(scan(code, sizeof code, 0x1000, &c), cached[i]);
	}
	bm_isa_anon_flush();
}

static void test_bounded(void **state)
{
	(void)state;
	uint8_t code[64];
	struct bm_isa_counts c;
	for (uint32_t i = 0; i < BM_ISA_ANON_MAX + 10; i++) {
		numbered(code, i);
		assert_int_equal(scan(code, sizeof code, 0x1000, &c), 0);
	}
	bm_isa_anon_flush();
	char path[256];
	snprintf(path, sizeof path, "%s/anon.isa", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	/* Header, then per entry: length, CRC, hash and counts with no extension. */
	assert_int_equal(st.st_size, 20 + BM_ISA_ANON_MAX * (8 + 4 + 8 + 48));
	/* The newest stay, the oldest went. */
	expect_cached((const uint32_t[]){BM_ISA_ANON_MAX + 9, 10, 0}, (const int[]){1, 1, 0}, 3);
	/* What was used moved to the front: adding new entries keeps it. */
	for (uint32_t i = 0; i < BM_ISA_ANON_MAX - 3; i++) {
		numbered(code, 100000 + i);
		scan(code, sizeof code, 0x1000, &c);
	}
	bm_isa_anon_flush();
	expect_cached((const uint32_t[]){10, 0, 11}, (const int[]){1, 1, 0}, 3);
}

/* An ELF image in memory (as the vDSO is read) is cached by its content. */
static void test_elf_in_memory(void **state)
{
	(void)state;
	struct bm_elf file;
	assert_int_equal(bm_elf_open("/proc/self/exe", &file), 0);
	assert_int_equal(bm_elf_map(&file), 0);
	uint8_t *copy = malloc(file.len);
	assert_non_null(copy);
	memcpy(copy, file.data, file.len);
	struct bm_elf mem;
	assert_int_equal(bm_elf_from_memory(copy, file.len, &mem), 0);
	assert_string_equal(mem.build_id, file.build_id);
	struct bm_isa_file plain, f;
	assert_int_equal(bm_isa_scan_elf(&mem, "[vdso]", &plain), 0);
	int cached = -1;
	assert_int_equal(bm_isa_mem_elf_get(&mem, "[vdso]", &f, &cached), 0);
	assert_int_equal(cached, 0);
	bm_isa_file_free(&f);
	assert_int_equal(bm_isa_mem_elf_get(&mem, "[vdso]", &f, &cached), 0);
	assert_int_equal(cached, 1);
	assert_memory_equal(&f.always, &plain.always, sizeof plain.always);
	assert_int_equal(f.ncand, plain.ncand);
	bm_isa_file_free(&f);
	/* One byte changed: another key, scanned again. */
	copy[file.len - 1] ^= 0x55;
	assert_int_equal(bm_isa_mem_elf_get(&mem, "[vdso]", &f, &cached), 0);
	assert_int_equal(cached, 0);
	bm_isa_file_free(&f);
	bm_isa_file_free(&plain);
	bm_elf_close(&mem);
	free(copy);
	bm_elf_close(&file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewritten_code_is_rescanned),
		cmocka_unit_test(test_damaged_file_ignored),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_elf_in_memory),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

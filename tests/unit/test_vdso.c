/* The vDSO proxy's pure parts (vdso.c): patching a copy of this process's
 * own vDSO so that each exported function jumps to the same function of
 * another copy (near: a 5-byte relative jump; far: a 14-byte absolute one,
 * or a refusal for a function too short), refusing a vDSO that lacks a
 * function or is no ELF image, never reading outside damaged input, and
 * choosing where this kernel's special mappings are parked. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include <cmocka.h>

#include "vdso.h"

#define OLD_BASE 0x7f0000000000ULL

/* A copy of this process's [vdso] and its length. */
static uint8_t *own_vdso(size_t *len)
{
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	assert_true(base != 0);
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	char line[512];
	unsigned long start = 0, end = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &start, &end) == 2)
			break;
	fclose(f);
	assert_true(start == base && end > start);
	*len = end - start;
	uint8_t *copy = malloc(*len);
	assert_non_null(copy);
	memcpy(copy, (const void *)base, *len);
	return copy;
}

/* The offset and size of the exported function NAME in an unpatched vDSO
 * (read the simple way: the test trusts its own image). */
static bool function_of(const uint8_t *img, const char *name, uint64_t *off, uint64_t *size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		const Elf64_Sym *sym = (const Elf64_Sym *)(img + sh[i].sh_offset);
		const char *str = (const char *)(img + sh[sh[i].sh_link].sh_offset);
		for (size_t k = 0; k < sh[i].sh_size / sizeof *sym; k++)
			if (ELF64_ST_TYPE(sym[k].st_info) == STT_FUNC && strcmp(str + sym[k].st_name, name) == 0) {
				*off = sym[k].st_value; /* the vDSO is linked at 0 */
				*size = sym[k].st_size;
				return true;
			}
	}
	return false;
}

static const char *const functions[] = { "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time",
					 "__vdso_getcpu", "__vdso_clock_getres", "clock_gettime", "time" };

static void test_near_jumps(void **state)
{
	(void)state;
	size_t len;
	uint8_t *orig = own_vdso(&len), *old = malloc(len);
	memcpy(old, orig, len);
	const uint64_t new_base = OLD_BASE + (1ULL << 20);
	char why[200] = "";
	int n = bm_vdso_patch(old, len, OLD_BASE, orig, len, new_base, why, sizeof why);
	assert_true(n >= 5);
	for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
		uint64_t off, size;
		assert_true(function_of(orig, functions[i], &off, &size));
		assert_int_equal(old[off], 0xe9);
		int32_t rel;
		memcpy(&rel, old + off + 1, 4);
		assert_true(OLD_BASE + off + 5 + (int64_t)rel == new_base + off);
		/* Only the entry changes; the rest of the function stays. */
		assert_memory_equal(old + off + 5, orig + off + 5, size - 5);
	}
	/* The symbol tables are untouched: the copy is still a vDSO. */
	uint64_t off, size;
	assert_true(function_of(old, "__vdso_time", &off, &size));
	free(orig);
	free(old);
}

static void test_far_jumps(void **state)
{
	(void)state;
	size_t len;
	uint8_t *orig = own_vdso(&len), *old = malloc(len);
	memcpy(old, orig, len);
	const uint64_t new_base = OLD_BASE - (16ULL << 30);
	uint64_t shortest = UINT64_MAX;
	for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
		uint64_t off, size;
		assert_true(function_of(orig, functions[i], &off, &size));
		shortest = size < shortest ? size : shortest;
	}
	char why[200] = "";
	int n = bm_vdso_patch(old, len, OLD_BASE, orig, len, new_base, why, sizeof why);
	if (shortest < 14) {
		/* Out of reach of a relative jump, too short for an absolute one. */
		assert_int_equal(n, -EINVAL);
		assert_non_null(strstr(why, "is too short for a jump"));
	} else {
		assert_true(n >= 5);
		uint64_t off, size, target;
		assert_true(function_of(orig, "__vdso_clock_gettime", &off, &size));
		static const uint8_t jmp_rip[6] = { 0xff, 0x25, 0, 0, 0, 0 };
		assert_memory_equal(old + off, jmp_rip, sizeof jmp_rip);
		memcpy(&target, old + off + 6, 8);
		assert_true(target == new_base + off);
	}
	free(orig);
	free(old);
}

static void test_missing_function(void **state)
{
	(void)state;
	size_t len;
	uint8_t *orig = own_vdso(&len), *old = malloc(len), *new = malloc(len);
	memcpy(old, orig, len);
	memcpy(new, orig, len);
	/* This kernel's vDSO renamed __vdso_getcpu: the image's must be refused. */
	uint8_t *name = memmem(new, len, "__vdso_getcpu", sizeof "__vdso_getcpu");
	assert_non_null(name);
	name[8] = 'X';
	char why[200] = "";
	assert_int_equal(bm_vdso_patch(old, len, OLD_BASE, new, len, OLD_BASE + 8192, why, sizeof why), -EINVAL);
	assert_string_equal(why, "the image's vDSO exports __vdso_getcpu, this kernel's does not");
	/* Nothing was patched on the way to the refusal. */
	assert_memory_equal(old, orig, len);
	free(orig);
	free(old);
	free(new);
}

static void test_damaged_images(void **state)
{
	(void)state;
	size_t len;
	uint8_t *orig = own_vdso(&len), *old = malloc(len);
	char why[200];
	/* Too short, not ELF, headers pointing outside. */
	assert_int_equal(bm_vdso_patch(old, 16, OLD_BASE, orig, len, OLD_BASE + 8192, why, sizeof why), -EINVAL);
	memcpy(old, orig, len);
	old[1] = 'X';
	assert_int_equal(bm_vdso_patch(old, len, OLD_BASE, orig, len, OLD_BASE + 8192, why, sizeof why), -EINVAL);
	assert_string_equal(why, "the image's vDSO is not a 64-bit ELF image");
	memcpy(old, orig, len);
	((Elf64_Ehdr *)old)->e_shoff = len - 8;
	assert_int_equal(bm_vdso_patch(old, len, OLD_BASE, orig, len, OLD_BASE + 8192, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "headers lie outside it"));
	/* Any damaged byte of the headers and tables: a refusal or a patch,
	 * never a read outside (ASan watches). */
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)orig;
	size_t tables = eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr);
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	for (int round = 0; round < 20000; round++) {
		memcpy(old, orig, len);
		for (int k = 0; k < 4; k++) {
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			size_t at = k == 0 ? rng % sizeof(Elf64_Ehdr) : rng % (tables < len ? tables : len);
			old[at] ^= (uint8_t)(rng >> 32);
		}
		int n = bm_vdso_patch(old, len, OLD_BASE, orig, len, OLD_BASE + 8192, why, sizeof why);
		assert_true(n >= 0 || n == -EINVAL);
	}
	free(orig);
	free(old);
}

static void test_park(void **state)
{
	(void)state;
	const uint64_t G = 1ULL << 30, P = 4096;
	struct bm_vma vmas[] = {
		{ .start = 0x400000, .end = 0x500000 },
		{ .start = 0x7f0000000000ULL, .end = 0x7f0000100000ULL },
		{ .start = 0x7f0000104000ULL, .end = 0x7f0000106000ULL }, /* the old [vdso], near a 3-page hole */
		{ .start = 0x7f0000200000ULL, .end = 0x7f0000300000ULL },
	};
	struct bm_process p = { .vmas = vmas, .nvmas = 4 };
	uint64_t at;
	/* Three pages do not fit in the 4-page hole with a guard page at each
	 * end; the nearest place is just above the old [vdso]. */
	assert_int_equal(bm_vdso_park(&p, 3 * P, vmas[2].start, &at), 0);
	assert_true(at == vmas[2].end + P);
	/* Two do fit in the hole below it. */
	assert_int_equal(bm_vdso_park(&p, 2 * P, vmas[2].start, &at), 0);
	assert_true(at == vmas[1].end + P);
	/* Never below 4 GiB (the scratch page's region), even when nearer. */
	assert_int_equal(bm_vdso_park(&p, 2 * P, 0x600000, &at), 0);
	assert_true(at >= 4 * G);
	/* A span that fits nowhere. */
	assert_int_equal(bm_vdso_park(&p, 1ULL << 47, vmas[2].start, &at), -ENOSPC);
}

static void test_mode_names(void **state)
{
	(void)state;
	enum bm_vdso_mode m;
	assert_int_equal(bm_vdso_parse_mode("auto", &m), 0);
	assert_int_equal(m, BM_VDSO_AUTO);
	assert_int_equal(bm_vdso_parse_mode("always", &m), 0);
	assert_int_equal(m, BM_VDSO_ALWAYS);
	assert_int_equal(bm_vdso_parse_mode("never", &m), 0);
	assert_int_equal(m, BM_VDSO_NEVER);
	assert_int_equal(bm_vdso_parse_mode("Always", &m), -EINVAL);
	assert_int_equal(bm_vdso_parse_mode("", &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_near_jumps),	 cmocka_unit_test(test_far_jumps),
		cmocka_unit_test(test_missing_function), cmocka_unit_test(test_damaged_images),
		cmocka_unit_test(test_park),		 cmocka_unit_test(test_mode_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

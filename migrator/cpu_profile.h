/* A machine's CPU profile: the features its CPU has, named as in
 * /proc/cpuinfo's flags, and its xstate layout (the size of the XSAVE
 * area, the enabled component mask XCR0 and each component's offset and
 * size, CPUID leaf 0xD).  `binmig cpu-profile` prints it as text that can
 * be edited by hand (removing the line "avx2" removes AVX2); `check` and
 * `migrate` compare a process against it. */
#ifndef BINMIG_CPU_PROFILE_H
#define BINMIG_CPU_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BM_PROFILE_MAX_FLAGS 1024
#define BM_PROFILE_FLAG_LEN 32
#define BM_PROFILE_MAX_TEXT (64 << 10)

struct bm_cpu_profile {
	char flags[BM_PROFILE_MAX_FLAGS][BM_PROFILE_FLAG_LEN];
	size_t nflags;
	bool has_xstate;
	uint32_t xstate_size;          /* bytes of the (standard format) XSAVE area */
	uint64_t xstate_mask;          /* XCR0 */
	uint32_t comp_offset[64], comp_size[64]; /* components 2..63 present in the mask */
};

/* This machine's: /proc/cpuinfo's first flags line and CPUID. */
int bm_cpu_profile_local(struct bm_cpu_profile *p);

/* Parses the text `binmig cpu-profile` prints (comments with #, blank
 * lines, one flag per line, "xstate size N", "xstate mask 0xHEX",
 * "xstate component N offset N size N").  -EINVAL with the line and the
 * reason in why (not logged). */
int bm_cpu_profile_parse(const char *text, size_t len, struct bm_cpu_profile *p, char *why, size_t why_len);

/* Reads and parses FILE; errors logged (class BM_EXIT_USAGE for a bad file). */
int bm_cpu_profile_load(const char *path, struct bm_cpu_profile *p);

void bm_cpu_profile_print(FILE *out, const struct bm_cpu_profile *p);
/* The same text into a malloc'd buffer. */
int bm_cpu_profile_text(const struct bm_cpu_profile *p, char **text, size_t *len);

bool bm_cpu_profile_has(const struct bm_cpu_profile *p, const char *flag);
/* The extensions of isa_classify.h the profile has (BM_EXT_BIT set). */
uint64_t bm_cpu_profile_exts(const struct bm_cpu_profile *p);

/* Whether a thread's saved xstate from `src` can be restored on `dst`
 * once translated to its layout (xstate.h): 1 with the reason in why when
 * not (no layout there, or a component of another size), 0 when it can.
 * Components that dst lacks are judged per thread after the freeze: only
 * one in use refuses. */
int bm_xstate_incompatible(const struct bm_cpu_profile *src, const struct bm_cpu_profile *dst, char *why,
			   size_t why_len);

#endif

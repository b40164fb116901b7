/* Saved register state between two xstate layouts (xstate.h). */
#include "xstate.h"

#include <cpuid.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wire.h"

#define LEGACY_SIZE 512 /* FXSAVE area: x87 and SSE (components 0 and 1) */
#define HEADER_SIZE 64  /* XSTATE_BV, XCOMP_BV, reserved */
#define SW_BYTES 464    /* struct _fpx_sw_bytes, in the legacy area's software-reserved bytes */
#define FP_XSTATE_MAGIC1 0x46505853u

static const char *component_name(unsigned k)
{
	static const char *const names[] = {
		[2] = "AVX (YMM upper halves)", [3] = "MPX bounds",     [4] = "MPX status",
		[5] = "AVX-512 opmask",         [6] = "AVX-512 ZMM_Hi256", [7] = "AVX-512 Hi16_ZMM",
		[9] = "PKRU",                   [11] = "CET user",      [17] = "AMX tile config",
		[18] = "AMX tile data",         [19] = "APX",
	};
	return k < sizeof names / sizeof names[0] && names[k] ? names[k] : "another";
}

/* The reason into why, and -EINVAL. */
#define fail_why(why, n, ...) (bm_why(why, n, __VA_ARGS__), -EINVAL)

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static bool zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static bool component_fits(const struct bm_cpu_profile *p, unsigned k)
{
	return p->comp_size[k] && p->comp_offset[k] >= LEGACY_SIZE + HEADER_SIZE &&
	       p->comp_offset[k] <= p->xstate_size && p->comp_size[k] <= p->xstate_size - p->comp_offset[k];
}

bool bm_xstate_same_layout(const struct bm_cpu_profile *from, const struct bm_cpu_profile *to)
{
	if (!from->has_xstate || !to->has_xstate)
		return from->has_xstate == to->has_xstate;
	if (from->xstate_size != to->xstate_size || from->xstate_mask != to->xstate_mask)
		return false;
	for (unsigned k = 2; k < 64; k++)
		if ((from->xstate_mask >> k & 1) &&
		    (from->comp_offset[k] != to->comp_offset[k] || from->comp_size[k] != to->comp_size[k]))
			return false;
	return true;
}

int bm_xstate_translate(const uint8_t *src, uint32_t src_len, const struct bm_cpu_profile *from,
			const struct bm_cpu_profile *to, uint8_t **out, uint32_t *out_len, char *why, size_t why_len)
{
	if (!from->has_xstate || !to->has_xstate)
		return fail_why(why, why_len, "%s has no xstate layout", from->has_xstate ? "the destination" : "the source");
	if (src_len != from->xstate_size || src_len < LEGACY_SIZE + HEADER_SIZE)
		return fail_why(why, why_len, "the saved state has %u bytes, the source's layout %u", src_len,
				from->xstate_size);
	if (to->xstate_size < LEGACY_SIZE + HEADER_SIZE)
		return fail_why(why, why_len, "the destination's xstate area of %u bytes is too small", to->xstate_size);
	uint64_t bv = load64(src + LEGACY_SIZE), xcomp = load64(src + LEGACY_SIZE + 8);
	if (xcomp != 0)
		return fail_why(why, why_len, "the saved state is in the compacted format (XCOMP_BV 0x%llx)",
				(unsigned long long)xcomp);
	if (bv & ~from->xstate_mask)
		return fail_why(why, why_len, "the saved state has components 0x%llx the source does not enable",
				(unsigned long long)(bv & ~from->xstate_mask));
	uint64_t keep = bv & 3; /* x87 and SSE live in the legacy area */
	for (unsigned k = 2; k < 64; k++) {
		if (!(bv >> k & 1))
			continue;
		if (!component_fits(from, k))
			return fail_why(why, why_len, "component %u lies outside the source's layout", k);
		const uint8_t *data = src + from->comp_offset[k];
		if (!(to->xstate_mask >> k & 1)) {
			if (zero(data, from->comp_size[k]))
				continue; /* in its initial state: nothing to carry */
			return fail_why(why, why_len, "its saved state uses xstate component %u (%s), which the "
					"destination lacks", k, component_name(k));
		}
		if (!component_fits(to, k) || to->comp_size[k] != from->comp_size[k])
			return fail_why(why, why_len, "xstate component %u (%s) has %u bytes here, %u at the destination",
					k, component_name(k), from->comp_size[k], to->comp_size[k]);
		keep |= 1ULL << k;
	}
	uint8_t *dst = calloc(1, to->xstate_size);
	if (!dst)
		return bm_why(why, why_len, "out of memory"), -ENOMEM;
	memcpy(dst, src, LEGACY_SIZE + HEADER_SIZE);
	memcpy(dst + LEGACY_SIZE, &keep, 8);
	for (unsigned k = 2; k < 64; k++)
		if (keep >> k & 1)
			memcpy(dst + to->comp_offset[k], src + from->comp_offset[k], from->comp_size[k]);
	/* The software-reserved bytes describe the layout they come with. */
	uint32_t magic;
	memcpy(&magic, dst + SW_BYTES, 4);
	if (magic == FP_XSTATE_MAGIC1) {
		uint32_t extended = to->xstate_size + 4 /* FP_XSTATE_MAGIC2 */;
		memcpy(dst + SW_BYTES + 4, &extended, 4);
		memcpy(dst + SW_BYTES + 8, &to->xstate_mask, 8);
		memcpy(dst + SW_BYTES + 16, &to->xstate_size, 4);
	}
	*out = dst;
	*out_len = to->xstate_size;
	return 0;
}

int bm_xstate_translate_threads(struct bm_process *p, const struct bm_cpu_profile *from,
				const struct bm_cpu_profile *to)
{
	if (bm_xstate_same_layout(from, to))
		return 0;
	uint8_t **done = calloc(p->nthreads ? p->nthreads : 1, sizeof *done);
	uint32_t *lens = calloc(p->nthreads ? p->nthreads : 1, sizeof *lens);
	int rc = done && lens ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
	char why[200];
	for (uint32_t i = 0; rc == 0 && i < p->nthreads; i++) {
		const struct bm_thread *t = &p->threads[i];
		if (!t->xstate_len)
			continue;
		int r = bm_xstate_translate(t->xstate, t->xstate_len, from, to, &done[i], &lens[i], why, sizeof why);
		if (r == -ENOMEM)
			rc = bm_error(BM_EXIT_FAILURE, "out of memory");
		else if (r < 0)
			rc = bm_error(BM_EXIT_UNSUPPORTED, "process %d cannot run on the destination: thread %d: %s",
				      (int)p->pid, t->tid, why);
	}
	/* All or nothing: the threads keep their state until every one fits. */
	for (uint32_t i = 0; done && i < p->nthreads; i++) {
		if (rc == 0 && done[i]) {
			free(p->threads[i].xstate);
			p->threads[i].xstate = done[i];
			p->threads[i].xstate_len = lens[i];
		} else {
			free(done[i]);
		}
	}
	if (rc == 0)
		bm_debug("xstate: %u threads' saved state rewritten from a %u-byte layout (mask 0x%llx) to a %u-byte one "
			 "(mask 0x%llx)", p->nthreads, from->xstate_size, (unsigned long long)from->xstate_mask,
			 to->xstate_size, (unsigned long long)to->xstate_mask);
	free(done);
	free(lens);
	return rc;
}

int bm_xstate_fits_here(const struct bm_process *p)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !__get_cpuid_count(0xd, 0, &a, &b, &c, &d))
		return 0; /* no XSAVE here: the kernel's own check speaks */
	uint32_t size = b, lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	uint64_t mask = (uint64_t)hi << 32 | lo;
	for (uint32_t i = 0; i < p->nthreads; i++) {
		const struct bm_thread *t = &p->threads[i];
		uint32_t magic = 0;
		uint64_t theirs = mask;
		if (t->xstate_len >= SW_BYTES + 16) {
			memcpy(&magic, t->xstate + SW_BYTES, 4);
			if (magic == FP_XSTATE_MAGIC1)
				memcpy(&theirs, t->xstate + SW_BYTES + 8, 8);
		}
		if (t->xstate_len && (t->xstate_len != size || theirs != mask))
			return bm_error(BM_EXIT_CONFLICT, "thread %d's saved register state is laid out for another CPU "
					"(%u bytes, components 0x%llx) than this one (%u bytes, components 0x%llx)",
					t->tid, t->xstate_len, (unsigned long long)theirs, size, (unsigned long long)mask);
	}
	return 0;
}

bool bm_xstate_tiles_in_use(const uint8_t *xstate, uint32_t len)
{
	enum { XTILEDATA = 18 };
	uint64_t bv = 0;
	if (len >= LEGACY_SIZE + 8)
		memcpy(&bv, xstate + LEGACY_SIZE, 8);
	return bv & (1ULL << XTILEDATA);
}

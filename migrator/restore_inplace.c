/* Memory a new process keeps in place (restore_inplace.h). */
#include "restore_inplace.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

bool bm_rs_inplace_eligible(const struct bm_vma *v)
{
	return v->kind == BM_VMA_ANON && (v->prot & PROT_WRITE) &&
	       !(v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_SHMFILE | BM_VMA_GROWSDOWN | BM_VMA_NORESERVE));
}

int bm_rs_plan_inplace(const struct bm_process *p, const struct bm_range *pre, size_t npre, struct bm_range **out,
		       size_t *n)
{
	struct bm_range *r = NULL;
	size_t cnt = 0, cap = 0, k = 0;
	for (uint32_t i = 0; i < p->nvmas && k < npre; i++) {
		const struct bm_vma *v = &p->vmas[i];
		while (k < npre && pre[k].end <= v->start)
			k++;
		if (!bm_rs_inplace_eligible(v))
			continue;
		for (size_t j = k; j < npre && pre[j].start < v->end; j++) {
			uint64_t s = pre[j].start > v->start ? pre[j].start : v->start;
			uint64_t e = pre[j].end < v->end ? pre[j].end : v->end;
			if (cnt == cap) {
				size_t c2 = cap ? cap * 2 : 16;
				struct bm_range *r2 = realloc(r, c2 * sizeof *r2);
				if (!r2) {
					free(r);
					return -ENOMEM;
				}
				r = r2;
				cap = c2;
			}
			r[cnt++] = (struct bm_range){s, e};
		}
	}
	*out = r;
	*n = cnt;
	return 0;
}

size_t bm_ranges_after(const struct bm_range *r, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bm_ranges_each_gap(uint64_t start, uint64_t end, const struct bm_range *r, size_t n,
		       int (*fn)(void *arg, uint64_t start, uint64_t end), void *arg)
{
	uint64_t at = start;
	for (size_t i = 0; i < n && at < end; i++) {
		if (r[i].end <= at)
			continue;
		if (r[i].start >= end)
			break;
		int rc;
		if (r[i].start > at && (rc = fn(arg, at, r[i].start)) < 0)
			return rc;
		at = r[i].end;
	}
	return at < end ? fn(arg, at, end) : 0;
}

/* Memory a new process keeps in place (restore_inplace.h). */
#include "restore_inplace.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

bool bm_rs_inplace_eligible(const struct bm_vma *v)
{
	return v->kind == BM_VMA_ANON && (v->prot & PROT_WRITE) &&
	       !(v->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_SHMFILE | BM_VMA_GROWSDOWN | BM_VMA_NORESERVE |
			     BM_VMA_DROPPABLE)); /* userfaultfd refuses droppable memory (its NORESERVE says so too) */
}

bool bm_rs_kept_apart(const struct bm_vma *a, const struct bm_vma *b)
{
	return a->end == b->start && a->kind == BM_VMA_ANON && b->kind == BM_VMA_ANON && a->prot == b->prot &&
	       a->flags == b->flags && !(b->flags & (BM_VMA_SHARED | BM_VMA_SHMEM | BM_VMA_DROPPABLE | BM_VMA_GROWSDOWN));
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
		if (!bm_rs_inplace_eligible(v) || (i > 0 && bm_rs_kept_apart(v - 1, v)))
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


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


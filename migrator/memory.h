/* Memory: which VMAs carry pages in the image, and the zero-page test. */
#ifndef BINMIG_MEMORY_H
#define BINMIG_MEMORY_H

#include <stdbool.h>

#include "state.h"

/* Whether the image may hold pages of this VMA (anonymous memory, private
 * file mappings, shared mappings of /dev/shm files; other shared file
 * mappings come back from the file). */
bool bm_vma_has_pages(const struct bm_vma *v);

bool bm_page_is_zero(const void *page);

#endif

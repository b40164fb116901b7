/* Memory: which VMAs carry pages in the image, and the zero-page test. */
#ifndef BINMIG_MEMORY_H
#define BINMIG_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "state.h"

/* Whether the image may hold pages of this VMA (anonymous memory, private
 * file mappings, shared mappings of /dev/shm files; other shared file
 * mappings come back from the file). */
bool bm_vma_has_pages(const struct bm_vma *v);
/* The kind of a kernel special mapping named PATH in maps ([vdso], [vvar],
 * [vvar_vclock], [vsyscall]), or 0. */
uint32_t bm_vma_special_kind(const char *path);

bool bm_page_is_zero(const void *page);
/* Whether one of the NPAGES pages from ADDR (at most 64) is a guard page
 * (MADV_GUARD_INSTALL), as the pagemap open as PAGEMAP_FD shows it (Linux
 * 6.15 on; before, never). */
bool bm_pagemap_has_guard(int pagemap_fd, uint64_t addr, uint32_t npages);
/* Pages i.. of the n in buf that are all zero (or all not): the end of
 * that run; *zero says which. */
uint32_t bm_same_zero_run(const uint8_t *buf, uint32_t i, uint32_t n, bool *zero);

/* The first of the n sorted ranges r that ends after addr (n if none). */
size_t bm_ranges_after(const struct bm_range *r, size_t n, uint64_t addr);

/* Calls fn for each piece of [start, end) outside the sorted ranges r,
 * in order; stops at the first negative return and returns it. */
int bm_ranges_each_gap(uint64_t start, uint64_t end, const struct bm_range *r, size_t n,
		       int (*fn)(void *arg, uint64_t start, uint64_t end), void *arg);

/* Pages the image leaves out although they are present: pre-copy sent
 * them before the freeze and they have not been written since, or
 * post-copy sends them once the process runs at the destination. */
struct bm_page_skip {
	const struct bm_range *r;
	size_t n;
	/* Optional (pre-copy): the pages the image carries of private
	 * memory within COUNTED (sorted) are added to *carried. */
	const struct bm_range *counted;
	size_t ncounted;
	uint64_t *carried;
};

/* The process binmig's pre-copy tracks (precopy.c) and the ranges it
 * registered with its userfaultfd, write-protected (sorted; kept, not
 * copied, until called again with 0, NULL, 0): the dump takes smaps "uw"
 * within them for binmig's own and refuses it elsewhere. */
void bm_memory_own_uffd(pid_t pid, const struct bm_range *r, size_t n);

/* Whether a page of this private VMA with these PAGEMAP_SCAN categories
 * (pagescan.h) must travel; bm_scan_wanted_query finds the candidates. */
struct bm_scan_query;
bool bm_scan_wanted(const struct bm_vma *v, uint64_t cats);
extern const struct bm_scan_query bm_scan_wanted_query;

#endif

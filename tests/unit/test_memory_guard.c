/* Guard pages as pagemap shows them (memory.c, bm_pagemap_has_guard): the
 * dump's refusal on a kernel whose VmFlags do not show them yet. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>

#include "memory.h"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

static void test_guard_in_pagemap(void **state)
{
	(void)state;
	char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	memset(p, 1, 4 * 4096);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_false(bm_pagemap_has_guard(fd, (uintptr_t)p, 4));
	if (madvise(p + 2 * 4096, 4096, MADV_GUARD_INSTALL) != 0) {
		close(fd);
		munmap(p, 4 * 4096);
		skip(); /* a kernel before 6.13: no guard regions */
	}
	bool shown = bm_pagemap_has_guard(fd, (uintptr_t)p, 4);
	assert_false(bm_pagemap_has_guard(fd, (uintptr_t)p, 2));
	assert_false(bm_pagemap_has_guard(fd, (uintptr_t)p + 3 * 4096, 1));
	close(fd);
	munmap(p, 4 * 4096);
	/* pagemap shows them from Linux 6.15 (PM_GUARD_REGION); 6.13 and
	 * 6.14 have guard regions without it. */
	struct utsname u;
	int major = 0, minor = 0;
	assert_int_equal(uname(&u), 0);
	sscanf(u.release, "%d.%d", &major, &minor);
	if (major < 6 || (major == 6 && minor < 15))
		skip();
	assert_true(shown);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard_in_pagemap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

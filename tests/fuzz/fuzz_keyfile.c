/* The key-file reader (bm_key_load) on the input as the contents of a key
 * file.  keyfile.c parses inside bm_key_load, which takes a path: the
 * input goes into a memory file with mode 0600, opened through
 * /proc/self/fd, so that nothing touches the disk. */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "transport.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("binmig-fuzz-key", MFD_CLOEXEC);
		if (fd >= 0 && fchmod(fd, 0600) < 0) {
			close(fd);
			fd = -1;
		}
		if (fd < 0)
			return 0;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	uint8_t key[BM_KEY_LEN];
	fuzz_quiet_begin();
	bm_key_load(path, key);
	fuzz_quiet_end();
	return 0;
}

/* treeprod MIB READY STOP: the producer of a pipeline test.  Writes MIB
 * MiB of a fixed pseudo-random sequence to stdout: the first half, then
 * "ready" into the file READY, then waits until the file STOP exists
 * (checked every 10 ms), then the second half, and exits 0.  With READY
 * and STOP "-" it writes everything at once (the unmigrated reference
 * run).  The output depends on MIB only, never on timing. */
#include "testprog.h"

static void write_range(uint64_t from, uint64_t to)
{
	static uint64_t buf[8192];
	for (uint64_t at = from; at < to;) {
		uint64_t n = to - at < 8192 ? to - at : 8192;
		for (uint64_t i = 0; i < n; i++)
			buf[i] = mix64(at + i);
		tp_write_all(1, (const char *)buf, n * 8);
		at += n;
	}
}

int main(int argc, char **argv)
{
	if (argc != 4 || atoi(argv[1]) <= 0) {
		say("usage: treeprod MIB READY STOP");
		return 2;
	}
	uint64_t words = (uint64_t)atoi(argv[1]) << 17; /* 8-byte words in MIB MiB */
	write_range(0, words / 2);
	if (strcmp(argv[2], "-") != 0) {
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return 3;
		tp_write_all(fd, "ready\n", 6);
		close(fd);
		struct timespec tick = {0, 10 * 1000 * 1000};
		while (access(argv[3], F_OK) != 0)
			nanosleep(&tick, NULL);
	}
	write_range(words / 2, words);
	return 0;
}

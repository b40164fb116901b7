/* ntree N MIB [cow]: a process tree of N processes (the root and N-1
 * children), each with MIB MiB of private memory filled with its own
 * pattern, for the tree benchmark (tests/bench/run-bench-tree).  With
 * "cow" the root fills its memory before the forks and the children keep
 * the root's, unwritten: the tree shares it copy-on-write.  Prints "ready" once
 * every child has filled its memory, then waits for SIGUSR1; the root
 * passes it on to every child, each checks its memory and exits 0 (1 on
 * a difference), and the root prints PASS once all have, FAIL otherwise. */
#include <sys/mman.h>

#include "testprog.h"

#define MAX_PROCS 256

static uint64_t *fill(size_t mib, uint64_t seed)
{
	size_t words = mib << 17;
	uint64_t *mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	SETUP(mem != MAP_FAILED, "mmap");
	for (size_t i = 0; i < words; i++)
		mem[i] = mix64(seed ^ i);
	return mem;
}

static bool same(const uint64_t *mem, size_t mib, uint64_t seed)
{
	size_t words = mib << 17;
	for (size_t i = 0; i < words; i++)
		if (mem[i] != mix64(seed ^ i))
			return false;
	return true;
}

int main(int argc, char **argv)
{
	int n = argc >= 3 ? atoi(argv[1]) : 0;
	long mib = argc >= 3 ? atol(argv[2]) : 0;
	bool cow = argc == 4 && strcmp(argv[3], "cow") == 0;
	if (n < 1 || n > MAX_PROCS || mib < 1 || mib > 4096 || argc > 4 || (argc == 4 && !cow)) {
		say("FAIL: usage: ntree N MIB [cow] (1 <= N <= %d, 1 <= MIB <= 4096)", MAX_PROCS);
		return 2;
	}
	uint64_t *mem = cow ? fill((size_t)mib, 0) : NULL;
	usr1_setup();
	pid_t kids[MAX_PROCS];
	int ready[2];
	SETUP(pipe(ready) == 0, "pipe");
	for (int i = 1; i < n; i++) {
		kids[i] = fork();
		SETUP(kids[i] >= 0, "fork");
		if (kids[i] == 0) {
			close(ready[0]);
			uint64_t seed = cow ? 0 : (uint64_t)i;
			if (!cow)
				mem = fill((size_t)mib, seed);
			SETUP(write(ready[1], "x", 1) == 1, "report ready");
			close(ready[1]);
			usr1_wait();
			_exit(same(mem, (size_t)mib, seed) && tp_failures == 0 ? 0 : 1);
		}
	}
	close(ready[1]);
	if (!cow)
		mem = fill((size_t)mib, 0);
	for (int i = 1; i < n; i++) {
		char c;
		SETUP(read(ready[0], &c, 1) == 1, "a child is ready");
	}
	close(ready[0]);
	say("ready");
	usr1_wait();
	CHECK(same(mem, (size_t)mib, 0), "the root's memory changed");
	for (int i = 1; i < n; i++)
		SETUP(kill(kids[i], SIGUSR1) == 0, "wake a child");
	for (int i = 1; i < n; i++) {
		int status;
		CHECK(waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child %d (%d) ended with status %#x", i, (int)kids[i], status);
	}
	return tp_finish();
}

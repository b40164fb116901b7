/* shmtree: a parent and eight children that share anonymous memory
 * (mmap MAP_SHARED|MAP_ANONYMOUS before the forks) and pass a token along
 * a ring of pipes, checked after being dumped and restored (or migrated)
 * as one tree.  Before "ready":
 *   - children 0-5 each write a page of the shared area that no other
 *     process touches before the dump (only the object holds it), make
 *     the first 8 pages of their own view read-only (their mapping is
 *     split), and wait; the parent has put the first token in the pipe
 *     to child 0 (bytes in flight); child 2 also has shared anonymous
 *     memory of its own, in two mappings of one object;
 *   - child 6 writes its page and, in a process group of its own, stops
 *     itself (SIGSTOP), the parent does not collect the stop;
 *   - child 7 writes its page and exits with status 7, not reaped;
 *   - the parent writes the upper half, makes it read-only (its mapping is
 *     split: the upper half has an offset in the object) and maps the
 *     whole object a second time (mremap of size 0);
 *   - a memfd, made and sealed against shrinking before the forks, is one
 *     open file description in every process (fd 50), which children 0-5
 *     also map shared.
 * On SIGUSR1 the parent wakes children 0-5; each takes the token, checks
 * that the page its predecessor wrote after the wake-up is there (it is
 * only if the memory is still one), writes its own and passes the token
 * on; the parent checks the ring's result through both of its mappings,
 * continues child 6 (which writes through its view) and reaps everyone;
 * each ring child has also written its number into the memfd through its
 * mapping, which the parent reads through the descriptor.
 * It prints a digest of the whole area and PASS: a run that was moved and
 * one that was not print the same. */
#include <sys/mman.h>

#include "testprog.h"

#define PAGE 4096
#define NPAGES 64
#define NCHILD 8
#define RING 6

static uint8_t *area;
#define MEMFD 50
static int tok[RING + 1][2]; /* tok[k]: into child k; tok[RING]: back to the parent */

static uint64_t *word(uint8_t *base, int page, int i)
{
	return (uint64_t *)(base + (size_t)page * PAGE) + i;
}

static void fill_page(int page, uint64_t seed)
{
	for (int i = 0; i < PAGE / 8; i++)
		*word(area, page, i) = mix64(seed * 4096 + (uint64_t)i);
}

static bool page_is(const uint8_t *base, int page, uint64_t seed)
{
	for (int i = 0; i < PAGE / 8; i++)
		if (*word((uint8_t *)base, page, i) != mix64(seed * 4096 + (uint64_t)i) && i != 1)
			return false;
	return true;
}

static uint64_t read_token(int fd)
{
	uint64_t t = 0;
	size_t got = 0;
	while (got < sizeof t) {
		ssize_t n = read(fd, (char *)&t + got, sizeof t - got);
		if (n < 0 && errno == EINTR)
			continue;
		SETUP(n > 0, "reading the token");
		got += (size_t)n;
	}
	return t;
}

static int ring_child(int k, int ready)
{
	fill_page(8 + k, 100 + (uint64_t)k);
	SETUP(mprotect(area, 8 * PAGE, PROT_READ) == 0, "mprotect");
	uint8_t *own = NULL, *alias = NULL;
	if (k == 2) {
		own = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		SETUP(own != MAP_FAILED, "mmap own");
		alias = mremap(own, 0, 2 * PAGE, MREMAP_MAYMOVE);
		SETUP(alias != MAP_FAILED, "mremap own");
		memset(own + PAGE, 0x5a, PAGE);
	}
	tp_write_all(ready, "r", 1);
	usr1_wait();
	uint64_t t = read_token(tok[k][0]);
	if (k > 0)
		CHECK(*word(area, 8 + k - 1, 1) == mix64(t), "child %d: its predecessor's page says %#llx, not %#llx", k,
		      (unsigned long long)*word(area, 8 + k - 1, 1), (unsigned long long)mix64(t));
	for (int j = 0; j < NCHILD; j++)
		CHECK(page_is(area, 8 + j, 100 + (uint64_t)j), "child %d: page %d is not child %d's", k, 8 + j, j);
	CHECK(page_is(area, 40, 40), "child %d: the parent's page 40 is not there", k);
	t = mix64(t + (uint64_t)k);
	*word(area, 8 + k, 1) = mix64(t);
	if (own) {
		CHECK(own[PAGE + 100] == 0x5a && alias[PAGE + 100] == 0x5a, "child 2: its own memory lost its contents");
		own[0] = 7;
		CHECK(alias[0] == 7, "child 2: its two mappings of one object are no longer one");
	}
	uint8_t *pool = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, MEMFD, 0);
	CHECK(pool != MAP_FAILED, "child %d: cannot map the memfd: %s", k, strerror(errno));
	if (pool != MAP_FAILED)
		pool[k] = (uint8_t)(0x40 + k);
	tp_write_all(tok[k + 1][1], (const char *)&t, sizeof t);
	return tp_failures ? 1 : 0;
}

int main(void)
{
	usr1_setup();
	area = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SETUP(area != MAP_FAILED, "mmap");
	fill_page(0, 1);
	int mfd = memfd_create("shmtree", MFD_ALLOW_SEALING);
	SETUP(mfd >= 0 && ftruncate(mfd, PAGE) == 0 && fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0 &&
	      dup2(mfd, MEMFD) == MEMFD && close(mfd) == 0, "memfd");
	int rp[2];
	SETUP(pipe(rp) == 0, "pipe");
	for (int k = 0; k <= RING; k++)
		SETUP(pipe(tok[k]) == 0, "pipe");
	pid_t kids[NCHILD];
	for (int k = 0; k < NCHILD; k++) {
		kids[k] = fork();
		SETUP(kids[k] >= 0, "fork");
		if (kids[k] > 0)
			continue;
		close(rp[0]);
		for (int j = 0; j <= RING; j++) { /* child k < RING keeps its two ends of the ring */
			if (j != k || k >= RING)
				close(tok[j][0]);
			if (j != k + 1 || k >= RING)
				close(tok[j][1]);
		}
		if (k < RING)
			_exit(ring_child(k, rp[1]));
		fill_page(8 + k, 100 + (uint64_t)k);
		if (k == 7)
			_exit(7);
		/* A job of its own (a group led from outside the tree is refused:
		 * at the destination it could be orphaned and continued). */
		SETUP(setpgid(0, 0) == 0, "setpgid");
		tp_write_all(rp[1], "r", 1);
		raise(SIGSTOP);
		/* Continued after the parent saw the ring through. */
		CHECK(page_is(area, 15, 107), "child 6: the zombie's page is gone");
		*word(area, 14, 1) = 0x66;
		_exit(tp_failures ? 1 : 0);
	}
	close(rp[1]);
	/* The parent writes into child 0's pipe and reads the last child's. */
	for (int k = 0; k <= RING; k++) {
		if (k < RING)
			close(tok[k][0]);
		if (k > 0)
			close(tok[k][1]);
	}
	char got[RING + 1];
	for (size_t n = 0; n < sizeof got;) {
		ssize_t r = read(rp[0], got + n, sizeof got - n);
		SETUP(r > 0, "children ready");
		n += (size_t)r;
	}
	close(rp[0]);
	siginfo_t si;
	SETUP(waitid(P_PID, (id_t)kids[6], &si, WSTOPPED | WNOWAIT) == 0, "waitid stopped");
	SETUP(waitid(P_PID, (id_t)kids[7], &si, WEXITED | WNOWAIT) == 0, "waitid zombie");
	fill_page(40, 40);
	SETUP(mprotect(area + 32 * PAGE, 32 * PAGE, PROT_READ) == 0, "mprotect upper half");
	uint8_t *alias = mremap(area, 0, NPAGES * PAGE, MREMAP_MAYMOVE);
	SETUP(alias != MAP_FAILED, "mremap");
	uint64_t t = 0x1234;
	int first = tok[0][1];
	tp_write_all(first, (const char *)&t, sizeof t);
	say("ready");
	usr1_wait();

	for (int k = 0; k < RING; k++)
		CHECK(kill(kids[k], SIGUSR1) == 0, "kill %d: %s", (int)kids[k], strerror(errno));
	uint64_t back = read_token(tok[RING][0]), want = t;
	for (int k = 0; k < RING; k++)
		want = mix64(want + (uint64_t)k);
	CHECK(back == want, "the token came back as %#llx, not %#llx", (unsigned long long)back,
	      (unsigned long long)want);
	CHECK(*word(area, 8 + RING - 1, 1) == mix64(want) && *word(alias, 8 + RING - 1, 1) == mix64(want),
	      "the last child's page is not seen through both mappings");
	CHECK(page_is(alias, 40, 40), "page 40 is not seen through the second mapping");
	int status = -1;
	CHECK(waitpid(kids[6], &status, WUNTRACED) == kids[6] && WIFSTOPPED(status) && WSTOPSIG(status) == SIGSTOP,
	      "child 6 is not reported stopped (status %#x)", status);
	CHECK(kill(kids[6], SIGCONT) == 0, "SIGCONT: %s", strerror(errno));
	for (int k = 0; k < NCHILD; k++) {
		status = -1;
		CHECK(waitpid(kids[k], &status, 0) == kids[k], "waitpid(%d): %s", (int)kids[k], strerror(errno));
		int code = k == 7 ? 7 : 0;
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == code, "child %d's status is %#x, expected exit %d", k,
		      status, code);
	}
	CHECK(*word(alias, 14, 1) == 0x66, "child 6 wrote to memory the parent does not see");
	uint8_t slots[RING];
	CHECK(pread(MEMFD, slots, RING, 0) == RING, "pread of the memfd: %s", strerror(errno));
	for (int k = 0; k < RING; k++)
		CHECK(slots[k] == 0x40 + k, "child %d's write to the memfd is not seen: %#x", k, slots[k]);
	CHECK(fcntl(MEMFD, F_GET_SEALS) == F_SEAL_SHRINK, "the memfd's seals are %#x", fcntl(MEMFD, F_GET_SEALS));
	uint64_t digest = 0;
	for (int i = 0; i < NPAGES * PAGE / 8; i++)
		digest = mix64(digest ^ ((uint64_t *)area)[i]);
	say("digest %016llx", (unsigned long long)digest);
	return tp_finish();
}

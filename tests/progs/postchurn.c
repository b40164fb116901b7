/* postchurn: memory that changes while post-copy brings it in
 * (tests/e2e/migrate-postcopy.sh).
 *
 * Every page of its areas holds a pattern of its area and index.  Four
 * threads read their quarter of a 32 MiB area over and over, checking
 * each page, so that after a post-copy restore they fault on missing
 * pages at the same time.  It prints "ready", then waits for signals:
 *   SIGUSR1 (once, while most of its memory has not arrived yet): forks a
 *     child that checks its copy of two areas and exits; moves area M
 *     elsewhere (mremap), drops the first half of area Z (MADV_DONTNEED:
 *     it reads zero), unmaps the second half of area U; then checks all
 *     of that and prints "churned OK" (or FAIL and what).
 *   SIGUSR2: stops the threads, checks everything once more and prints
 *     PASS, or FAIL and what; exits.
 * The readers also print FAIL on the first bad page they see. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define A_PAGES 8192ul /* 32 MiB, read by the threads */
#define M_PAGES 2048ul /* 8 MiB, moved */
#define Z_PAGES 1024ul /* 4 MiB, half dropped */
#define U_PAGES 1024ul /* 4 MiB, half unmapped */
#define READERS 4

static uint8_t *A, *M, *Z, *U;
static atomic_int stop, bad;

static uint64_t pattern(char area, uint64_t page, uint64_t word)
{
	return ((uint64_t)area << 56) ^ (page * 0x9e3779b97f4a7c15ull) ^ (word * 0xbf58476d1ce4e5b9ull);
}

static void fill(uint8_t *base, char area, uint64_t pages)
{
	for (uint64_t p = 0; p < pages; p++)
		for (uint64_t w = 0; w < PAGE / 8; w += 64)
			((uint64_t *)(base + p * PAGE))[w] = pattern(area, p, w);
}

/* The first page of [from, to) that does not hold its pattern, or -1. */
static long check(const uint8_t *base, char area, uint64_t from, uint64_t to)
{
	for (uint64_t p = from; p < to; p++)
		for (uint64_t w = 0; w < PAGE / 8; w += 64)
			if (((const uint64_t *)(base + p * PAGE))[w] != pattern(area, p, w))
				return (long)p;
	return -1;
}

static long check_zero(const uint8_t *base, uint64_t from, uint64_t to)
{
	for (uint64_t p = from; p < to; p++)
		for (uint64_t i = 0; i < PAGE; i++)
			if (base[p * PAGE + i])
				return (long)p;
	return -1;
}

static void *reader(void *arg)
{
	uint64_t q = (uint64_t)(uintptr_t)arg, from = q * A_PAGES / READERS, to = (q + 1) * A_PAGES / READERS;
	struct timespec pause = {0, 1000000};
	while (!atomic_load(&stop)) {
		long p = check(A, 'A', from, to);
		if (p >= 0 && atomic_fetch_add(&bad, 1) == 0) {
			printf("FAIL reader %llu: page %ld of A\n", (unsigned long long)q, p);
			fflush(stdout);
		}
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static uint8_t *area(uint64_t pages)
{
	uint8_t *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static int fail(const char *what, long page)
{
	printf("FAIL %s (page %ld)\n", what, page);
	fflush(stdout);
	return 1;
}

/* The changes of SIGUSR1, each checked. */
static int churn(void)
{
	pid_t child = fork();
	if (child < 0)
		return fail("fork", -1);
	if (child == 0)
		_exit(check(A, 'A', 0, A_PAGES) >= 0 || check(M, 'M', 0, M_PAGES) >= 0 ? 1 : 0);
	/* A place for M that is free: reserved, then given to mremap. */
	uint8_t *to = area(M_PAGES);
	uint8_t *moved = mremap(M, M_PAGES * PAGE, M_PAGES * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (moved == MAP_FAILED)
		return fail("mremap", -1);
	M = moved;
	if (madvise(Z, Z_PAGES / 2 * PAGE, MADV_DONTNEED) < 0)
		return fail("madvise", -1);
	if (munmap(U + U_PAGES / 2 * PAGE, U_PAGES / 2 * PAGE) < 0)
		return fail("munmap", -1);
	long p;
	int status;
	if ((p = check(M, 'M', 0, M_PAGES)) >= 0)
		return fail("moved area M", p);
	if ((p = check_zero(Z, 0, Z_PAGES / 2)) >= 0)
		return fail("dropped half of Z is not zero", p);
	if ((p = check(Z, 'Z', Z_PAGES / 2, Z_PAGES)) >= 0)
		return fail("kept half of Z", p);
	if ((p = check(U, 'U', 0, U_PAGES / 2)) >= 0)
		return fail("mapped half of U", p);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("the forked child found its memory wrong", -1);
	printf("churned OK\n");
	fflush(stdout);
	return 0;
}

int main(void)
{
	A = area(A_PAGES);
	M = area(M_PAGES);
	Z = area(Z_PAGES);
	U = area(U_PAGES);
	fill(A, 'A', A_PAGES);
	fill(M, 'M', M_PAGES);
	fill(Z, 'Z', Z_PAGES);
	fill(U, 'U', U_PAGES);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t t[READERS];
	for (uint64_t i = 0; i < READERS; i++)
		pthread_create(&t[i], NULL, reader, (void *)(uintptr_t)i);
	printf("ready\n");
	fflush(stdout);
	int sig, churned = 0, rc = 0;
	while (sigwait(&set, &sig) == 0 && sig == SIGUSR1) {
		if (!churned++)
			rc |= churn();
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	long p;
	if ((p = check(A, 'A', 0, A_PAGES)) >= 0)
		rc |= fail("area A", p);
	if ((p = check(M, 'M', 0, M_PAGES)) >= 0)
		rc |= fail("area M", p);
	if (churned && (p = check_zero(Z, 0, Z_PAGES / 2)) >= 0)
		rc |= fail("dropped half of Z", p);
	if ((p = check(Z, 'Z', churned ? Z_PAGES / 2 : 0, Z_PAGES)) >= 0)
		rc |= fail("area Z", p);
	if ((p = check(U, 'U', 0, churned ? U_PAGES / 2 : U_PAGES)) >= 0)
		rc |= fail("area U", p);
	if (atomic_load(&bad))
		rc = 1;
	printf("%s\n", rc ? "FAIL" : "PASS");
	return rc;
}

/* A build made slower on purpose, for the tests of the A/B regression
 * check only (tests/e2e/harness-ab.sh, make perf-ab-study, docs/harness.md):
 * compiled with -DBM_TEST_SLOW_CHECKPOINT=PCT, the checkpoint phase is
 * stretched to PCT percent of the time it took, a slowdown of known size
 * whose estimate the study checks; with -DBM_TEST_SLOW_CHECKPOINT_MS=MS it
 * takes MS milliseconds more, a slowdown far beyond the noise of a loaded
 * machine, which the end-to-end test must find on a machine of any speed.
 * Without either flag (every ordinary build) it is nothing. */
#ifndef BM_TEST_SLOWDOWN_H
#define BM_TEST_SLOWDOWN_H

#include <stdint.h>

#if defined(BM_TEST_SLOW_CHECKPOINT) || defined(BM_TEST_SLOW_CHECKPOINT_MS)
#include <time.h>

#ifndef BM_TEST_SLOW_CHECKPOINT
#define BM_TEST_SLOW_CHECKPOINT 100
#endif
#ifndef BM_TEST_SLOW_CHECKPOINT_MS
#define BM_TEST_SLOW_CHECKPOINT_MS 0
#endif

#include "ptrace_ctl.h"

/* Waits until the phase that began at START (bm_now_us) has taken
 * BM_TEST_SLOW_CHECKPOINT percent of what it had taken so far, plus
 * BM_TEST_SLOW_CHECKPOINT_MS milliseconds.  The size of the slowdown is
 * what the study checks, so it must be exact: a sleep ends late by the
 * timer slack (50 us) and the wake-up, a few percent of a short phase, so
 * it sleeps only to BM_TEST_SPIN_US before the end and spins the rest. */
#define BM_TEST_SPIN_US 500u
static inline void bm_test_stretch_checkpoint(uint64_t start)
{
	uint64_t took = bm_now_us() - start;
	uint64_t until = start + took * (uint64_t)(BM_TEST_SLOW_CHECKPOINT) / 100u +
			 (uint64_t)(BM_TEST_SLOW_CHECKPOINT_MS) * 1000u;
	for (uint64_t now = bm_now_us(); now + BM_TEST_SPIN_US < until; now = bm_now_us()) {
		uint64_t nap = until - BM_TEST_SPIN_US - now;
		struct timespec ts = { .tv_sec = (time_t)(nap / 1000000u),
				       .tv_nsec = (long)(nap % 1000000u) * 1000 };
		nanosleep(&ts, NULL);
	}
	while (bm_now_us() < until)
		;
}
#else
static inline void bm_test_stretch_checkpoint(uint64_t start)
{
	(void)start;
}
#endif

#endif

/* Process and thread attributes (migrator/attrs.c) without a live process:
 * what /proc/PID/status gives, and the ATTRS section, round trip and
 * every field a reader must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "attrs.h"
#include "image.h"
#include "log.h"

static const char status_text[] =
	"Name:\tsampler\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4711\nPid:\t4711\n"
	"Uid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
	"CapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\nCapEff:\t000001fffeffffff\n"
	"CapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
	"Seccomp_filters:\t1\n";

static void test_parse_status(void **state)
{
	(void)state;
	struct bm_status_caps st;
	assert_int_equal(bm_attrs_parse_status(status_text, &st), 0);
	assert_true(st.has_caps);
	assert_true(st.prm == 0x1fffeffffffULL && st.eff == st.prm && st.bnd == st.prm);
	assert_true(st.inh == 0 && st.amb == 0);
	assert_int_equal(st.no_new_privs, 1);
	assert_int_equal(st.seccomp, 2);
	assert_int_equal(st.euid, 0);
	/* Without the Cap lines the capabilities are unknown, not zero. */
	assert_int_equal(bm_attrs_parse_status("Name:\tx\nNoNewPrivs:\t0\n", &st), 0);
	assert_false(st.has_caps);
	assert_int_equal(bm_attrs_parse_status("CapInh:\tnothex\n", &st), -EINVAL);
}

static void test_numa_bound(void **state)
{
	(void)state;
	uint64_t at = 0;
	char policy[32];
	assert_false(bm_attrs_numa_bound("55e11a3c1000 default file=/bin/x mapped=1 N0=1\n7ff000000000 default\n", &at,
					 policy, sizeof policy));
	assert_true(bm_attrs_numa_bound("1000 default anon=1\n7f0000000000 bind:0 anon=4 N0=4\n", &at, policy,
					sizeof policy));
	assert_true(at == 0x7f0000000000ULL);
	assert_string_equal(policy, "bind:0");
	assert_false(bm_attrs_numa_bound("", &at, policy, sizeof policy));
}

static const int32_t tids[2] = {100, 101};

static void sample(struct bm_attrs *a, struct bm_thread_attrs t[2])
{
	memset(a, 0, sizeof *a);
	memset(t, 0, 2 * sizeof *t);
	a->present = true;
	a->oom_score_adj = 345;
	a->no_new_privs = 1;
	a->thp_disable = 1;
	a->child_subreaper = 1;
	a->securebits = 0x10;
	a->keepcaps = 1;
	a->mce_kill = 2;
	a->tsc = 1;
	a->mlockall = 2 | 4; /* MCL_FUTURE | MCL_ONFAULT */
	a->cap_bounding = 0x1fffeffffffULL;
	a->nthreads = 2;
	a->threads = t;
	for (int i = 0; i < 2; i++) {
		t[i].tid = tids[i];
		t[i].timerslack_ns = 50000 + (uint64_t)i;
		t[i].sched_policy = i ? 3 /* SCHED_BATCH */ : 0;
		t[i].sched_nice = 7;
		t[i].ioprio = (2u << 13) | 4;
		t[i].affinity_all = i == 0;
		t[i].affinity_len = i ? 1 : 0;
		t[i].affinity[0] = i ? 0x2 : 0;
		t[i].spec_store_bypass = 0x3;
	}
	t[1].pdeath_signal = 15;
	t[1].cpuid_faulting = 1;
	t[1].sched_slice = 2500000; /* a custom slice under SCHED_BATCH */
	a->mdwe = 1;         /* PR_MDWE_REFUSE_EXEC_GAIN */
	a->memory_merge = 1;
	a->xcomp_perm = 0x602e7; /* AMX tile data permitted */
	a->membarrier = 0x50;    /* private expedited, with sync-core */
	a->coredump_filter = 0x7b;
	a->loginuid = 4242;
	a->xcomp_guest_perm = 0x602e7;
	a->autogroup_own = 1;
	a->autogroup_nice = -5;
	a->has_modes = true;
	a->futex_slots = 128;
}

/* Decodes LEN bytes at DATA as an ATTRS payload of VERSION for threads
 * READER_TIDS into *out: the decoder's verdict, its reason in why (when
 * not NULL). */
static int decode_as(const uint8_t *data, size_t len, uint32_t version, const int32_t *reader_tids,
		     struct bm_attrs *out, char *why, size_t n)
{
	struct bm_rcur c;
	bm_rcur_init(&c, data, len);
	c.version = version;
	bm_decode_attrs(&c, out, reader_tids, 2);
	bm_rcur_finish(&c);
	if (why)
		snprintf(why, n, "%s", c.why);
	return c.error;
}

/* Encodes a, then decodes it into *out; returns the decoder's verdict. */
static int round_trip(const struct bm_attrs *a, struct bm_attrs *out, int32_t reader_tids_0)
{
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	char why[200];
	/* The encoder checks as the decoder does (test_rejected_fields). */
	int rc = bm_encode_attrs(&b, a, tids, 2, why, sizeof why);
	if (rc < 0) {
		bm_wbuf_free(&b);
		return rc;
	}
	int32_t reader_tids[2] = {reader_tids_0, tids[1]};
	rc = decode_as(b.data, b.len, BM_IMAGE_VERSION, reader_tids, out, NULL, 0);
	bm_wbuf_free(&b);
	return rc;
}

/* The sample's ATTRS payload, in *b (bm_wbuf_free'd by the caller). */
static void encode_sample(struct bm_wbuf *b)
{
	struct bm_attrs a;
	struct bm_thread_attrs t[2];
	sample(&a, t);
	bm_wbuf_init(b);
	char why[200];
	assert_int_equal(bm_encode_attrs(b, &a, tids, 2, why, sizeof why), 0);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bm_attrs a, got;
	struct bm_thread_attrs t[2];
	sample(&a, t);
	assert_int_equal(round_trip(&a, &got, tids[0]), 0);
	assert_true(got.present);
	assert_int_equal(got.oom_score_adj, 345);
	assert_int_equal(got.securebits, 0x10);
	assert_int_equal(got.mlockall, 6);
	assert_true(got.cap_bounding == a.cap_bounding);
	assert_int_equal(got.nthreads, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(got.threads[i].tid, tids[i]);
		assert_int_equal(got.threads[i].sched_policy, t[i].sched_policy);
		assert_int_equal(got.threads[i].sched_nice, 7);
		assert_int_equal(got.threads[i].ioprio, t[i].ioprio);
		assert_int_equal(got.threads[i].affinity_all, t[i].affinity_all);
		assert_int_equal(got.threads[i].affinity_len, t[i].affinity_len);
		assert_memory_equal(got.threads[i].affinity, t[i].affinity, t[i].affinity_len);
		assert_true(got.threads[i].timerslack_ns == t[i].timerslack_ns);
		assert_true(got.threads[i].spec_store_bypass == 3);
		assert_int_equal(got.threads[i].pdeath_signal, t[i].pdeath_signal);
		assert_int_equal(got.threads[i].cpuid_faulting, t[i].cpuid_faulting);
		assert_true(got.threads[i].sched_slice == t[i].sched_slice);
	}
	assert_int_equal(got.mdwe, 1);
	assert_int_equal(got.memory_merge, 1);
	assert_true(got.xcomp_perm == 0x602e7);
	assert_int_equal(got.membarrier, 0x50);
	assert_int_equal(got.coredump_filter, 0x7b);
	assert_int_equal(got.loginuid, 4242);
	assert_true(got.xcomp_guest_perm == 0x602e7);
	assert_int_equal(got.autogroup_own, 1);
	assert_int_equal(got.autogroup_nice, -5);
	assert_true(got.has_modes);
	assert_int_equal(got.futex_slots, 128);
	char line[512];
	bm_attrs_describe(&got, line, sizeof line);
	assert_non_null(strstr(line, "oom_score_adj 345"));
	assert_non_null(strstr(line, "mlockall future on-fault"));
	assert_non_null(strstr(line, "memory-deny-write-execute 0x1, KSM merge-any 1"));
	assert_non_null(strstr(line, "xstate permitted 0x602e7 (guests 0x602e7), membarrier 0x50, coredump_filter 0x7b, loginuid 4242, "
				     "futex hash slots 128, autogroup nice -5 (its own session's)"));
	bm_attrs_free(&got);
	/* THP disabled except in areas advised MADV_HUGEPAGE; a kernel
	 * without private futex hashes. */
	a.thp_disable = 3;
	a.futex_slots = BM_FUTEX_SLOTS_UNKNOWN;
	assert_int_equal(round_trip(&a, &got, tids[0]), 0);
	assert_int_equal(got.thp_disable, 3);
	assert_true(got.futex_slots == BM_FUTEX_SLOTS_UNKNOWN);
	bm_attrs_describe(&got, line, sizeof line);
	assert_non_null(strstr(line, "futex hash slots not read"));
	bm_attrs_free(&got);
	/* A model with nothing recorded (made by hand) stays so. */
	struct bm_attrs none = {0};
	assert_int_equal(round_trip(&none, &got, tids[0]), 0);
	assert_false(got.present);
	bm_attrs_describe(&got, line, sizeof line);
	assert_non_null(strstr(line, "not recorded"));
}

/* Encodes the sample, puts V (little-endian u32) at byte OFF of the
 * payload, decodes: the decoder's verdict, its reason in why. */
static int decode_spoiled(size_t off, uint32_t v, char *why, size_t n)
{
	struct bm_attrs got;
	struct bm_wbuf b;
	encode_sample(&b);
	assert_true(off + 4 <= b.len);
	for (int k = 0; k < 4; k++)
		b.data[off + (size_t)k] = (uint8_t)(v >> (8 * k));
	int rc = decode_as(b.data, b.len, BM_IMAGE_VERSION, tids, &got, why, n);
	bm_attrs_free(&got);
	bm_wbuf_free(&b);
	return rc;
}

/* Each field the reader must refuse, as a damaged image could hold it
 * (the layout of image-format.md: thread 0 starts at byte 52). */
static void test_rejected_fields(void **state)
{
	(void)state;
	static const struct {
		size_t off;
		uint32_t value;
		const char *why;
	} cases[] = {
		{0, 2, "present is 2"},       {4, 5000, "oom_score_adj 5000"}, {8, 2, "neither 0 nor 1"},
		{12, 2, "THP disable 2 is not 0, 1 or 3"}, {12, 7, "THP disable 7"},
		{20, 0x100, "securebits"},    {28, 9, "machine-check policy 9"}, {32, 7, "TSC mode 7"},
		{36, 1, "mlockall flags 0x1"}, {36, 4, "mlockall flags 0x4"},
		{48, 3, "thread count"},      {52, 999, "thread 0 is 999"},      {64, 6, "policy 6"},
		{68, 0x20, "scheduling flags"}, {72, (uint32_t)-30, "nice -30"}, {76, 100, "priority 100"},
		{80, 0x10000, "I/O priority"}, {84, 2, "affinity"},              {88, 200, "affinity of 200 bytes"},
		{108, 99, "parent-death signal 99"}, {112, 2, "CPUID faulting 2"},
		/* after thread 1 (its affinity one byte): the process's modes */
		{181, 4, "memory-deny-write-execute flags 0x4"}, {185, 2, "KSM merge-any 2"},
		{197, 1, "membarrier registrations 0x1"}, {201, 0x200, "coredump_filter 0x200"},
		{209, 48, "futex hash slots 48 is not a power of two"},
		/* each thread's slice, after futex_slots: thread 0's at 213, thread 1's at 221 */
		{221, 5, "time slice 5 ns under policy 3"}, {213, 50, "time slice 50 ns under policy 0"},
		{237, 2, "neither 0 nor 1"}, {241, 20, "autogroup nice 20"},
	};
	char why[200];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int rc = decode_spoiled(cases[i].off, cases[i].value, why, sizeof why);
		if (rc != -EBADMSG || !strstr(why, cases[i].why))
			fail_msg("byte %zu = %u: rc %d, \"%s\", expected \"%s\"", cases[i].off, cases[i].value, rc, why,
				 cases[i].why);
	}
	/* The writer refuses what the reader would. */
	struct bm_attrs a;
	struct bm_thread_attrs t[2];
	struct bm_wbuf b;
	sample(&a, t);
	t[1].sched_policy = 6; /* SCHED_DEADLINE is refused at dump */
	bm_wbuf_init(&b);
	assert_int_equal(bm_encode_attrs(&b, &a, tids, 2, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "policy 6"));
	bm_wbuf_free(&b);
	/* A slice is a fair policy's only. */
	sample(&a, t);
	t[1].sched_policy = 1; /* SCHED_FIFO */
	t[1].sched_priority = 5;
	bm_wbuf_init(&b);
	assert_int_equal(bm_encode_attrs(&b, &a, tids, 2, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "time slice 2500000 ns under policy 1"));
	bm_wbuf_free(&b);
}

/* Version 9, before the modes of attrs_modes.h: no cpuid_faulting after
 * each thread, none of the process's modes at the end; read as none recorded. */
static void test_version_9(void **state)
{
	(void)state;
	struct bm_attrs got;
	struct bm_wbuf b;
	encode_sample(&b);
	assert_int_equal(b.len, 245);
	/* Thread 1's word at 177, thread 0's at 112 (test_rejected_fields), the
	 * last 28 bytes (the process's modes). */
	memmove(b.data + 112, b.data + 116, 177 - 116);
	size_t len = 177 - 4;
	assert_int_equal(decode_as(b.data, len, 9, tids, &got, NULL, 0), 0);
	assert_int_equal(got.threads[1].pdeath_signal, 15);
	assert_int_equal(got.threads[1].cpuid_faulting, 0);
	assert_int_equal(got.mdwe, 0);
	assert_int_equal(got.memory_merge, 0);
	assert_false(got.has_modes); /* the restore leaves them as binmig's */
	bm_attrs_free(&got);
	/* Read as version 10, the same bytes end too early. */
	assert_int_not_equal(decode_as(b.data, len, 10, tids, &got, NULL, 0), 0);
	bm_attrs_free(&got);
	bm_wbuf_free(&b);
}

/* Version 11, before the private futex hash, the threads' slices and the
 * guests' xstate features: the record ends after loginuid (byte 209);
 * the hash reads as not known, which the restore leaves as the kernel
 * makes it, every thread as having the base slice, the guests as
 * permitted nothing more than by default. */
static void test_version_11(void **state)
{
	(void)state;
	struct bm_attrs got;
	struct bm_wbuf b;
	encode_sample(&b);
	size_t len = 209;
	assert_int_equal(decode_as(b.data, len, 11, tids, &got, NULL, 0), 0);
	assert_int_equal(got.loginuid, 4242);
	assert_true(got.has_modes);
	assert_true(got.futex_slots == BM_FUTEX_SLOTS_UNKNOWN);
	assert_true(got.threads[1].sched_slice == 0);
	assert_true(got.xcomp_guest_perm == 0);
	assert_int_equal(got.autogroup_own, 0);
	bm_attrs_free(&got);
	/* Read as version 12, the same bytes end too early. */
	assert_int_not_equal(decode_as(b.data, len, 12, tids, &got, NULL, 0), 0);
	bm_attrs_free(&got);
	bm_wbuf_free(&b);
}

/* A parent-death signal is carried only for a child moved with a parent
 * of one thread (the thread that created it). */
static void test_pdeath(void **state)
{
	(void)state;
	struct bm_thread_attrs t[2];
	struct bm_process child = {.pid = 100, .ppid = 50, .nthreads = 2};
	sample(&child.attrs, t);
	struct bm_process parent = {.pid = 50, .nthreads = 1};
	assert_int_equal(bm_attrs_check_pdeath(&child, &parent), 0);
	assert_int_equal(bm_attrs_check_pdeath(&child, NULL), -1);
	assert_int_equal(bm_exit_code(), BM_EXIT_UNSUPPORTED);
	assert_non_null(strstr(bm_error_message(), "thread 101 asks for signal 15 when its parent dies (PR_SET_PDEATHSIG), "
						   "and its parent, process 50, is not moved with it"));
	bm_reset_errors();
	parent.nthreads = 2;
	assert_int_equal(bm_attrs_check_pdeath(&child, &parent), -1);
	assert_non_null(strstr(bm_error_message(), "process 50, has 2 threads"));
	bm_reset_errors();
	t[1].pdeath_signal = 0; /* none asked */
	assert_int_equal(bm_attrs_check_pdeath(&child, NULL), 0);
}

int main(void)
{
	bm_hold_errors();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test(test_numa_bound),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejected_fields),
		cmocka_unit_test(test_pdeath),
		cmocka_unit_test(test_version_9),
		cmocka_unit_test(test_version_11),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

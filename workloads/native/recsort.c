/* recsort: sorts a large array of 32-byte records with a block odd-even
 * transposition sort run by a pool of threads.
 *
 * --mem MiB of records (key, id, 16 bytes of payload), cut into 512 KiB
 * blocks.  Phase p sorts the window of blocks (i, i+1) for every i with
 * i = p mod 2, which moves the smaller half left; after nblocks phases the
 * whole array is sorted, and later phases keep re-sorting it.  Unit = one
 * window sorted (a merge sort of 32768 records).
 *
 * Threads take units from a shared counter under a mutex and wait on a
 * condition variable at each phase boundary; the windows of one phase are
 * disjoint, so what each unit sees is fixed whichever thread runs it.  Each
 * unit stores the digest of its sorted window in its pair's slot, and the
 * thread that completes a phase folds the slots in pair order, so the
 * result does not depend on --threads or on scheduling.  Keys compare with
 * the unique id as tie-break, so every sort has exactly one answer.
 *
 * With --until the units are handed out in batches of --work: the thread
 * that finishes a batch's last unit decides, under the mutex, whether
 * another batch follows, and threads that find the batch handed out wait
 * for that decision.  A batch may end inside a phase, which then simply goes
 * on; only the phase the whole run stops in is folded part way. */
#include "common.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define BLOCK_RECORDS ((uint64_t)16384)
#define WINDOW_RECORDS (2 * BLOCK_RECORDS)

struct record {
	uint64_t key;
	uint64_t id;
	uint64_t payload[2];
};

#define BLOCK_BYTES (BLOCK_RECORDS * sizeof(struct record))

static const struct wl_spec spec = {
	.name = "recsort",
	.summary = "Block odd-even transposition sort of 32-byte records by a pool of threads.",
	.unit = "sorting one window of two 512 KiB blocks (32768 records)",
	.mem_meaning = "MiB of records (2 blocks per MiB)",
	.accepts = WL_OPT_MEM | WL_OPT_THREADS,
	.default_work = 300,
	.default_mem_mib = 8,
	.min_mem_mib = 2,
	.default_threads = 2,
	.rss_overhead_mib = 4, /* also 1 MiB of merge scratch per thread */
};

struct sorter {
	struct record *records;
	uint64_t nblocks;
	uint64_t pairs_even, pairs_odd; /* windows in even and odd phases */
	struct wl_options *opts; /* its limit too is guarded by lock */

	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t phase_done;
	pthread_cond_t batch_done; /* the limit was raised or made final */
	bool final;		   /* no batch follows the running one */
	uint64_t next_unit;
	uint64_t phase;		 /* the phase now running */
	uint64_t phase_first;	 /* its first unit */
	uint64_t phase_finished; /* its units finished so far */
	uint64_t *slots;	 /* per-pair digests of the running phase */
	uint64_t digest;	 /* of all completed phases */
};

struct worker {
	pthread_t thread;
	struct sorter *sorter;
	struct record *scratch;
};

static uint64_t phase_pairs(const struct sorter *s, uint64_t phase)
{
	return phase % 2 ? s->pairs_odd : s->pairs_even;
}

static int record_less(const struct record *a, const struct record *b)
{
	return a->key < b->key || (a->key == b->key && a->id < b->id);
}

/* Bottom-up merge sort of n records, ping-ponging with scratch. */
static void merge_sort(struct record *data, struct record *scratch, uint64_t n)
{
	struct record *from = data, *to = scratch;
	for (uint64_t width = 1; width < n; width *= 2) {
		for (uint64_t lo = 0; lo < n; lo += 2 * width) {
			uint64_t mid = lo + width < n ? lo + width : n;
			uint64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
			uint64_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				to[k++] = record_less(&from[j], &from[i]) ? from[j++] : from[i++];
			while (i < mid)
				to[k++] = from[i++];
			while (j < hi)
				to[k++] = from[j++];
		}
		struct record *t = from;
		from = to;
		to = t;
	}
	if (from != data)
		memcpy(data, from, n * sizeof(*data));
}

/* Folds the digests of the finished units of the running phase, in pair
 * order, and starts the next phase.  Called with the lock held. */
static void finish_phase(struct sorter *s, uint64_t finished)
{
	for (uint64_t pair = 0; pair < finished; pair++)
		s->digest = wl_fold_word(s->digest, s->slots[pair]);
	s->phase_first += phase_pairs(s, s->phase);
	s->phase++;
	s->phase_finished = 0;
	pthread_cond_broadcast(&s->phase_done);
}

static void sort_unit(struct sorter *s, struct worker *w, uint64_t unit, uint64_t pair,
		      uint64_t phase)
{
	uint64_t block = 2 * pair + phase % 2;
	struct record *window = &s->records[block * BLOCK_RECORDS];
	if (s->opts->flip && unit == s->opts->flip_at) {
		uint64_t offset = block * BLOCK_BYTES + (unit * 4099) % (2 * BLOCK_BYTES);
		wl_flip_byte(&spec, (unsigned char *)s->records + offset, "the records", offset, unit);
	}
	merge_sort(window, w->scratch, WINDOW_RECORDS);
	s->slots[pair] = wl_fold(unit, window, 2 * BLOCK_BYTES);
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct sorter *s = w->sorter;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		uint64_t unit = s->next_unit;
		if (unit == s->opts->limit) {
			if (s->final)
				break;
			/* The batch's last units still run: who finishes them decides. */
			pthread_cond_wait(&s->batch_done, &s->lock);
			continue;
		}
		if (unit >= s->phase_first + phase_pairs(s, s->phase)) {
			/* Its phase has not started: the window may still move. */
			pthread_cond_wait(&s->phase_done, &s->lock);
			continue;
		}
		uint64_t phase = s->phase, pair = unit - s->phase_first;
		s->next_unit++;
		pthread_mutex_unlock(&s->lock);

		sort_unit(s, w, unit, pair, phase);

		pthread_mutex_lock(&s->lock);
		if (++s->phase_finished == phase_pairs(s, phase))
			finish_phase(s, phase_pairs(s, phase));
		if (!s->final && s->phase_first + s->phase_finished == s->opts->limit) {
			s->final = !wl_extend(s->opts);
			pthread_cond_broadcast(&s->batch_done);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int main(int argc, char **argv)
{
	struct wl_options opts;
	wl_parse(&spec, argc, argv, &opts);

	struct sorter s = { .opts = &opts };
	s.nblocks = opts.mem_mib * WL_MIB / BLOCK_BYTES;
	s.pairs_even = s.nblocks / 2;
	s.pairs_odd = (s.nblocks - 1) / 2;
	s.records = wl_alloc(&spec, s.nblocks * BLOCK_BYTES);
	s.slots = wl_alloc(&spec, s.pairs_even * sizeof(uint64_t));
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.phase_done, NULL);
	pthread_cond_init(&s.batch_done, NULL);
	/* Without --until the first limit is the last; with it --work is at
	 * least 1, so some unit ends the first batch and decides. */
	s.final = !opts.until;
	uint64_t rng = wl_stream(opts.seed, 0);
	for (uint64_t i = 0; i < s.nblocks * BLOCK_RECORDS; i++) {
		struct record *r = &s.records[i];
		/* A narrow key range, so equal keys occur and the id decides. */
		r->key = wl_rand(&rng) % (s.nblocks * BLOCK_RECORDS / 2);
		r->id = i;
		r->payload[0] = wl_rand(&rng);
		r->payload[1] = wl_rand(&rng);
	}
	struct worker workers[WL_MAX_THREADS];
	for (uint64_t t = 0; t < opts.threads; t++)
		workers[t] = (struct worker){
			.sorter = &s,
			.scratch = wl_alloc(&spec, 2 * BLOCK_BYTES),
		};
	wl_ready();

	for (uint64_t t = 0; t < opts.threads; t++) {
		int err = pthread_create(&workers[t].thread, NULL, worker_run, &workers[t]);
		if (err)
			wl_die(&spec, "pthread_create: %s", strerror(err));
	}
	for (uint64_t t = 0; t < opts.threads; t++)
		pthread_join(workers[t].thread, NULL);

	/* The last phase may have stopped part way: fold what it did. */
	if (s.phase_finished)
		finish_phase(&s, s.phase_finished);
	if (opts.flip && opts.flip_at == opts.limit)
		wl_flip_byte(&spec, (unsigned char *)s.records + 7, "the records", 7, opts.limit);
	uint64_t digest = wl_fold(s.digest, s.records, s.nblocks * BLOCK_BYTES);

	uint64_t sorted_prefix = 1;
	while (sorted_prefix < s.nblocks * BLOCK_RECORDS &&
	       !record_less(&s.records[sorted_prefix], &s.records[sorted_prefix - 1]))
		sorted_prefix++;
	fprintf(stderr, "recsort: %" PRIu64 " of %" PRIu64 " records in order from the start\n",
		sorted_prefix, s.nblocks * BLOCK_RECORDS);
	return wl_finish(&spec, &opts, digest);
}

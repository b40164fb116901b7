/* threadspawn [--items N] [--cost N] [--batch N] [--gate FILE]: keeps
 * creating short-lived threads, so that a dump catches threads being born
 * and dying while it stops the process.
 *
 * Two spawner threads share the items (spawner s takes items s, s+2, ...);
 * each starts a batch of BATCH child threads at a time, one per item,
 * and joins them.  A child computes its item (COST rounds of a 64-bit
 * mix) into the item's slot and exits.  Main folds the slots in item order.
 * With --gate (N at least 2), a spawner that is done with its items goes
 * on with uncounted batches until FILE exists: the children compute the
 * spawner's own items again, each into a slot of its own that the spawner
 * checks against the item's counted value, but they are left out of the
 * count, the progress lines and the result.  A test keeps the threads
 * coming and going for as long as it dumps, and the output still depends
 * on the options only.
 *
 * Output: "ready" once the spawners run, "spawned K" each time spawner 0
 * has started another 1000 threads, then "result HEX" (which depends
 * only on the options) and exit 0; or "FAIL: ..." lines and exit 1. */
#include "threadstate.h"

#define NSPAWNERS 2
#define MAX_BATCH 16
#define JOIN_TIMEOUT_S 20
#define PROGRESS_EVERY 1000

static struct {
	long items, cost, batch;
	const char *gate;
} opt = { .items = 20000, .cost = 20000, .batch = 4 };

static uint64_t *slots;
static long threads_started[NSPAWNERS];
static struct ts_finished spawners_finished = TS_FINISHED_INIT;

/* A child's work: ITEM's value into OUT. */
struct job {
	long item;
	uint64_t *out;
};

static void *child_main(void *arg)
{
	const struct job *job = arg;
	uint64_t h = (uint64_t)job->item;
	for (long i = 0; i < opt.cost; i++)
		h = mix64(h + i);
	*job->out = h ? h : 1; /* never 0: 0 marks an item not computed */
	return NULL;
}

static void *spawner_main(void *arg)
{
	static const char *names[NSPAWNERS] = { "spawner0", "spawner1" };
	long self = (long)arg;
	struct thread_state st;
	ts_record(&st, names[self]);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	long own_items = (opt.items - self + NSPAWNERS - 1) / NSPAWNERS, uncounted = 0;
	for (long first = self;; first += NSPAWNERS * opt.batch) {
		/* Past its items, uncounted batches until the gate opens. */
		bool counted = first < opt.items;
		if (!counted && tp_gate_open(opt.gate))
			break;
		pthread_t children[MAX_BATCH];
		struct job jobs[MAX_BATCH];
		uint64_t again[MAX_BATCH];
		int started = 0;
		for (long k = 0; k < opt.batch; k++) {
			struct job *job = &jobs[started];
			if (counted) {
				job->item = first + k * NSPAWNERS;
				if (job->item >= opt.items)
					break;
				job->out = &slots[job->item];
			} else {
				job->item = self + NSPAWNERS * (uncounted++ % own_items);
				again[started] = 0;
				job->out = &again[started];
			}
			int rc = pthread_create(&children[started], &attr, child_main, job);
			if (rc != 0) {
				ts_fail("%s: pthread_create: %s", st.name, strerror(rc));
				break;
			}
			started++;
		}
		for (int k = 0; k < started; k++)
			ts_join(children[k], "a child", JOIN_TIMEOUT_S);
		if (!counted) {
			for (int k = 0; k < started; k++)
				if (again[k] != slots[jobs[k].item])
					ts_fail("%s: item %ld computed again as %016llx, was %016llx", st.name,
						jobs[k].item, (unsigned long long)again[k],
						(unsigned long long)slots[jobs[k].item]);
			continue;
		}
		long before = threads_started[self];
		threads_started[self] += started;
		/* Progress (spawner 0 only, so the output is deterministic). */
		if (self == 0 && threads_started[0] / PROGRESS_EVERY != before / PROGRESS_EVERY)
			say("spawned %ld", threads_started[0] / PROGRESS_EVERY * PROGRESS_EVERY);
	}
	pthread_attr_destroy(&attr);
	ts_check(&st);
	ts_finish(&spawners_finished);
	return NULL;
}

static long parse_long(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		say("FAIL: usage: bad number \"%s\" (%ld..%ld)", s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			goto usage;
		if (strcmp(argv[i], "--items") == 0)
			opt.items = parse_long(argv[i + 1], 1, 100000000);
		else if (strcmp(argv[i], "--cost") == 0)
			opt.cost = parse_long(argv[i + 1], 0, 1L << 40);
		else if (strcmp(argv[i], "--batch") == 0)
			opt.batch = parse_long(argv[i + 1], 1, MAX_BATCH);
		else if (strcmp(argv[i], "--gate") == 0)
			opt.gate = argv[i + 1];
		else
			goto usage;
	}
	if (opt.gate && opt.items < NSPAWNERS)
		goto usage; /* a spawner without items of its own has nothing to redo */
	slots = calloc(opt.items, sizeof(*slots));
	SETUP(slots != NULL, "calloc");
	struct thread_state st;
	ts_record(&st, "threadspawn");

	pthread_t spawners[NSPAWNERS];
	for (long s = 0; s < NSPAWNERS; s++)
		SETUP(pthread_create(&spawners[s], NULL, spawner_main, (void *)s) == 0, "pthread_create spawner");
	say("ready");
	ts_wait_finished(&spawners_finished, NSPAWNERS);
	for (int s = 0; s < NSPAWNERS; s++)
		ts_join(spawners[s], "a spawner", JOIN_TIMEOUT_S);
	ts_check(&st);

	uint64_t h = 0x243f6a8885a308d3ull;
	long missing = 0;
	for (long item = 0; item < opt.items; item++) {
		if (slots[item] == 0)
			missing++;
		h = mix64(h ^ slots[item]);
	}
	if (missing)
		ts_fail("%ld items were never computed", missing);
	if (threads_started[0] + threads_started[1] != opt.items)
		ts_fail("%ld threads started for %ld items", threads_started[0] + threads_started[1], opt.items);
	if (tp_failures) {
		say("FAIL");
		return 1;
	}
	say("result %016llx", (unsigned long long)h);
	return 0;
usage:
	say("FAIL: usage: threadspawn [--items N] [--cost N] [--batch N] [--gate FILE (N >= 2)]");
	return 2;
}

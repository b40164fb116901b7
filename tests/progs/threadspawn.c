/* threadspawn [--items N] [--cost N] [--batch N] [--gate FILE]: keeps
 * creating short-lived threads, so that a dump catches threads being born
 * and dying while it stops the process.
 *
 * Two spawner threads share the items (spawner s takes items s, s+2, ...);
 * each starts a batch of BATCH child threads at a time, one per item.  A
 * child computes its item (COST rounds of a 64-bit mix) into the item's
 * slot, then waits until its spawner has started the next batch, and
 * exits; the spawner joins it then.  So from "ready" on each spawner has a
 * whole batch alive at any moment, while the batch before dies and the
 * next is born: a dump must find at least 3 + 2 x BATCH threads (main, the
 * spawners, their batches).  Main folds the slots in item order.
 * With --gate (N at least 2), a spawner that is done with its items goes
 * on with uncounted batches until FILE exists: the children compute the
 * spawner's own items again, each into a slot of its own that the spawner
 * checks against the item's counted value, but they are left out of the
 * count, the progress lines and the result.  A test keeps the threads
 * coming and going for as long as it dumps, and the output still depends
 * on the options only.
 *
 * Output: "ready" once each spawner has a batch alive, "spawned K" each
 * time spawner 0 has started another 1000 threads, then "result HEX"
 * (which depends only on the options) and exit 0; or "FAIL: ..." lines and
 * exit 1. */
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

/* Per spawner: how many batches it has started, and up to which batch its
 * children may exit. */
static struct relay {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long started, released;
	bool done;
} relays[NSPAWNERS];

/* A child's work: ITEM's value into OUT (its slot, or AGAIN when
 * uncounted); it is in its spawner's batch number BATCH, released through
 * RELAY. */
struct job {
	long item, batch;
	struct relay *relay;
	uint64_t *out, again;
};

/* The children of one batch. */
struct batch {
	pthread_t children[MAX_BATCH];
	struct job jobs[MAX_BATCH];
	int started;
	bool counted;
};

static void *child_main(void *arg)
{
	const struct job *job = arg;
	uint64_t h = (uint64_t)job->item;
	for (long i = 0; i < opt.cost; i++)
		h = mix64(h + i);
	*job->out = h ? h : 1; /* never 0: 0 marks an item not computed */
	pthread_mutex_lock(&job->relay->lock);
	while (job->relay->released < job->batch)
		pthread_cond_wait(&job->relay->cond, &job->relay->lock);
	pthread_mutex_unlock(&job->relay->lock);
	return NULL;
}

/* Batch number B has started: the one before may end (with DONE, batch B
 * too: the spawner starts no more). */
static void relay_advance(struct relay *r, long b, bool done)
{
	pthread_mutex_lock(&r->lock);
	r->started = b + 1;
	r->released = done ? b : b - 1;
	r->done = done;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* Joins the children of batch B (released already) and takes in their
 * work: counted, or checked against the counted values. */
static void batch_finish(const struct thread_state *st, long self, struct batch *b)
{
	for (int k = 0; k < b->started; k++)
		ts_join(b->children[k], "a child", JOIN_TIMEOUT_S);
	if (!b->counted) {
		for (int k = 0; k < b->started; k++) {
			const struct job *job = &b->jobs[k];
			if (job->again != slots[job->item])
				ts_fail("%s: item %ld computed again as %016llx, was %016llx", st->name, job->item,
					(unsigned long long)job->again, (unsigned long long)slots[job->item]);
		}
		return;
	}
	long before = threads_started[self];
	threads_started[self] += b->started;
	/* Progress (spawner 0 only, so the output is deterministic). */
	if (self == 0 && threads_started[0] / PROGRESS_EVERY != before / PROGRESS_EVERY)
		say("spawned %ld", threads_started[0] / PROGRESS_EVERY * PROGRESS_EVERY);
}

static void *spawner_main(void *arg)
{
	static const char *names[NSPAWNERS] = { "spawner0", "spawner1" };
	long self = (long)arg;
	struct relay *relay = &relays[self];
	struct thread_state st;
	ts_record(&st, names[self]);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	long own_items = (opt.items - self + NSPAWNERS - 1) / NSPAWNERS, uncounted = 0;
	struct batch batches[2]; /* batch b in batches[b % 2] */
	long b;
	for (b = 0;; b++) {
		/* Past its items, uncounted batches until the gate opens. */
		long first = self + b * NSPAWNERS * opt.batch;
		if (first >= opt.items && tp_gate_open(opt.gate))
			break;
		struct batch *cur = &batches[b % 2];
		cur->counted = first < opt.items;
		cur->started = 0;
		for (long k = 0; k < opt.batch; k++) {
			struct job *job = &cur->jobs[cur->started];
			*job = (struct job){ .batch = b, .relay = relay };
			if (cur->counted) {
				job->item = first + k * NSPAWNERS;
				if (job->item >= opt.items)
					break;
				job->out = &slots[job->item];
			} else {
				job->item = self + NSPAWNERS * (uncounted++ % own_items);
				job->out = &job->again;
			}
			int rc = pthread_create(&cur->children[cur->started], &attr, child_main, job);
			if (rc != 0) {
				ts_fail("%s: pthread_create: %s", st.name, strerror(rc));
				break;
			}
			cur->started++;
		}
		relay_advance(relay, b, false);
		if (b > 0)
			batch_finish(&st, self, &batches[(b - 1) % 2]);
	}
	relay_advance(relay, b - 1, true);
	if (b > 0)
		batch_finish(&st, self, &batches[(b - 1) % 2]);
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
	for (long s = 0; s < NSPAWNERS; s++) {
		pthread_mutex_init(&relays[s].lock, NULL);
		pthread_cond_init(&relays[s].cond, NULL);
		SETUP(pthread_create(&spawners[s], NULL, spawner_main, (void *)s) == 0, "pthread_create spawner");
	}
	/* Ready once each spawner has a batch alive (or is done already). */
	for (int s = 0; s < NSPAWNERS; s++) {
		pthread_mutex_lock(&relays[s].lock);
		while (relays[s].started == 0 && !relays[s].done)
			pthread_cond_wait(&relays[s].cond, &relays[s].lock);
		pthread_mutex_unlock(&relays[s].lock);
	}
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

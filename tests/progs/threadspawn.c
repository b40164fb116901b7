/* threadspawn [--items N] [--cost N] [--batch N]: keeps creating
 * short-lived threads, so that a dump catches threads being born and
 * dying while it stops the process.
 *
 * Two spawner threads share the items (spawner s takes items s, s+2, ...);
 * each starts a batch of BATCH child threads at a time, one per item,
 * and joins them.  A child computes its item (COST rounds of a 64-bit
 * mix) into the item's slot and exits.  Main folds the slots in item order.
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
} opt = { .items = 20000, .cost = 20000, .batch = 4 };

static uint64_t *slots;
static long threads_started[NSPAWNERS];

static void *child_main(void *arg)
{
	long item = (long)arg;
	uint64_t h = (uint64_t)item;
	for (long i = 0; i < opt.cost; i++)
		h = mix64(h + i);
	slots[item] = h ? h : 1; /* never 0: 0 marks an item not computed */
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
	for (long first = self; first < opt.items; first += NSPAWNERS * opt.batch) {
		pthread_t children[MAX_BATCH];
		int started = 0;
		for (long k = 0; k < opt.batch; k++) {
			long item = first + k * NSPAWNERS;
			if (item >= opt.items)
				break;
			int rc = pthread_create(&children[started], &attr, child_main, (void *)item);
			if (rc != 0) {
				ts_fail("%s: pthread_create: %s", st.name, strerror(rc));
				break;
			}
			started++;
		}
		for (int k = 0; k < started; k++)
			ts_join(children[k], "a child", JOIN_TIMEOUT_S);
		long before = threads_started[self];
		threads_started[self] += started;
		/* Progress (spawner 0 only, so the output is deterministic). */
		if (self == 0 && threads_started[0] / PROGRESS_EVERY != before / PROGRESS_EVERY)
			say("spawned %ld", threads_started[0] / PROGRESS_EVERY * PROGRESS_EVERY);
	}
	pthread_attr_destroy(&attr);
	ts_check(&st);
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
		else
			goto usage;
	}
	slots = calloc(opt.items, sizeof(*slots));
	SETUP(slots != NULL, "calloc");
	struct thread_state st;
	ts_record(&st, "threadspawn");

	pthread_t spawners[NSPAWNERS];
	for (long s = 0; s < NSPAWNERS; s++)
		SETUP(pthread_create(&spawners[s], NULL, spawner_main, (void *)s) == 0, "pthread_create spawner");
	say("ready");
	for (int s = 0; s < NSPAWNERS; s++)
		ts_join(spawners[s], "a spawner", JOIN_TIMEOUT_S * 30);
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
	say("FAIL: usage: threadspawn [--items N] [--cost N] [--batch N]");
	return 2;
}

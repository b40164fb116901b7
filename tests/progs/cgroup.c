/* cgroup MODE: control group membership (migrator/cgroup.c).  Started
 * already in the cgroups the test chose.
 *   carried   reads /proc/self/cgroup, waits, and checks it reads the same
 *             after the restore (every hierarchy, the same paths).
 *   thread    as carried, with a second thread that prints "tid N" and
 *             waits with the process: the test places it in another
 *             cgroup, which the dump refuses.
 * Prints "ready" when set up (after "tid N" in thread mode). */
#include <pthread.h>

#include "testprog.h"

static char before[8192];

static void *idle(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "carried") != 0 && strcmp(argv[1], "thread") != 0)) {
		say("FAIL: usage: cgroup carried|thread");
		return 2;
	}
	usr1_setup();
	SETUP(read_file("/proc/self/cgroup", before, sizeof(before) - 1) > 0, "read /proc/self/cgroup");
	if (strcmp(argv[1], "thread") == 0) {
		pthread_t t;
		SETUP(pthread_create(&t, NULL, idle, NULL) == 0, "pthread_create");
		int tid = 0;
		char path[64];
		/* The other thread is the one of the two tasks that is not us
		 * (pthread_create returns once it exists). */
		DIR *d = opendir("/proc/self/task");
		SETUP(d != NULL, "opendir");
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.' && atoi(e->d_name) != getpid())
				tid = atoi(e->d_name);
		closedir(d);
		snprintf(path, sizeof(path), "%d", tid);
		SETUP(tid > 0, "the second thread's id");
		say("tid %s", path);
	}
	say("ready");
	usr1_wait();
	char after[8192] = "";
	CHECK(read_file("/proc/self/cgroup", after, sizeof(after) - 1) > 0 && strcmp(after, before) == 0,
	      "cgroups changed: now\n%s\nwere\n%s", after, before);
	return tp_finish();
}

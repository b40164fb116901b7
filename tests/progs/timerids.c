/* timerids MODE: the id the next timer_create of a process hands out.  The
 * kernel keeps one counter per process and hands out the first free id
 * from it; a timer made with a given id (PR_TIMER_CREATE_RESTORE_IDS) sets
 * it to that id + 1.  Nothing shows the counter, so a restore must carry
 * it or the process's next timer gets another id.  Each mode sets the
 * counter up before "ready"; after the wake-up (SIGUSR1, testprog.h) the
 * timers it kept are still there and new timers get the ids the original
 * would have handed out.
 *   deleted  timers 0-3 made, 1 and 3 (the newest) deleted: next 4, 5.
 *   none     timers 0-4 made and all deleted: next 5.
 *   given    timer 0 made, then 7 and 2 with given ids: next 3, 4, 5, 6, 8
 *            (the counter follows the newest timer, 2, not the highest).
 *   plain    timers 0-2 made, none deleted: next 3 (what any restore gives).
 *   tree     this process as in deleted, with a child as in given (each
 *            process has its own counter); the child checks itself once
 *            this one passes the wake-up on.
 * Prints "ready" when set up. */
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "testprog.h"

#define PR_TIMER_CREATE_RESTORE_IDS 77
#define MAX_TIMERS 16

/* timer_create itself: glibc's wrapper hides the id it passes in. */
static int make(int given)
{
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_NONE;
	int id = given;
	return syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) == 0 ? id : -1;
}

static int made(void)
{
	int id = make(0);
	SETUP(id >= 0, "timer_create");
	return id;
}

static void given(int id)
{
	SETUP(prctl(PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0) == 0, "prctl(PR_TIMER_CREATE_RESTORE_IDS)");
	SETUP(make(id) == id, "timer_create with a given id");
	SETUP(prctl(PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0) == 0, "prctl(PR_TIMER_CREATE_RESTORE_IDS)");
}

static void drop(int id)
{
	SETUP(syscall(SYS_timer_delete, id) == 0, "timer_delete");
}

/* The ids /proc/self/timers lists, sorted, into IDS; their number. */
static int listed(int *ids)
{
	char buf[1 << 14];
	ssize_t n = read_file("/proc/self/timers", buf, sizeof buf - 1);
	int count = 0;
	if (n < 0)
		return -1;
	buf[n] = 0;
	for (char *p = buf; (p = strstr(p, "ID: ")) != NULL && count < MAX_TIMERS; p += 4)
		if (p == buf || p[-1] == '\n') /* not ClockID */
			ids[count++] = atoi(p + 4);
	for (int i = 1; i < count; i++)
		for (int j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
			int t = ids[j];
			ids[j] = ids[j - 1];
			ids[j - 1] = t;
		}
	return count;
}

struct plan {
	int kept[MAX_TIMERS], nkept; /* the timers left, ascending */
	int next[MAX_TIMERS], nnext; /* the ids new timers get, in turn */
};

/* Sets the timers of MODE up; false for an unknown mode. */
static bool set_up(const char *mode, struct plan *p)
{
	memset(p, 0, sizeof *p);
	if (!strcmp(mode, "deleted")) {
		for (int i = 0; i < 4; i++)
			made();
		drop(1);
		drop(3);
		p->kept[p->nkept++] = 0, p->kept[p->nkept++] = 2;
		p->next[p->nnext++] = 4, p->next[p->nnext++] = 5;
	} else if (!strcmp(mode, "none")) {
		for (int i = 0; i < 5; i++)
			drop(made());
		p->next[p->nnext++] = 5;
	} else if (!strcmp(mode, "given")) {
		made();
		given(7);
		given(2);
		p->kept[p->nkept++] = 0, p->kept[p->nkept++] = 2, p->kept[p->nkept++] = 7;
		const int next[] = {3, 4, 5, 6, 8};
		for (int i = 0; i < 5; i++)
			p->next[p->nnext++] = next[i];
	} else if (!strcmp(mode, "plain")) {
		for (int i = 0; i < 3; i++)
			p->kept[p->nkept++] = made();
		p->next[p->nnext++] = 3;
	} else {
		return false;
	}
	int ids[MAX_TIMERS];
	SETUP(listed(ids) == p->nkept && !memcmp(ids, p->kept, (size_t)p->nkept * sizeof *ids), "the timers set up");
	return true;
}

static void check(const struct plan *p)
{
	int ids[MAX_TIMERS];
	int n = listed(ids);
	CHECK(n == p->nkept && !memcmp(ids, p->kept, (size_t)p->nkept * sizeof *ids), "%d timers listed, %d kept", n,
	      p->nkept);
	for (int i = 0; i < p->nkept; i++) {
		struct itimerspec its;
		CHECK(syscall(SYS_timer_gettime, p->kept[i], &its) == 0, "timer %d: %s", p->kept[i], strerror(errno));
	}
	for (int i = 0; i < p->nnext; i++) {
		int id = make(0);
		CHECK(id == p->next[i], "new timer %d got id %d, the original would have given %d", i + 1, id,
		      p->next[i]);
	}
}

/* tree: this process as in "deleted", a child as in "given"; the child
 * checks itself when this one passes the wake-up on, and reports by its
 * exit status. */
static void tree(struct plan *p)
{
	int ready[2];
	SETUP(pipe(ready) == 0, "pipe");
	usr1_setup(); /* inherited: the child waits the same way */
	pid_t child = fork();
	SETUP(child >= 0, "fork");
	if (child == 0) {
		struct plan mine;
		set_up("given", &mine);
		SETUP(write(ready[1], "r", 1) == 1, "write");
		usr1_wait();
		check(&mine);
		_exit(tp_failures ? 1 : 0);
	}
	char c;
	SETUP(read(ready[0], &c, 1) == 1, "the child's timers set up");
	set_up("deleted", p);
	say("ready");
	usr1_wait();
	check(p);
	int status;
	CHECK(kill(child, SIGUSR1) == 0, "waking the child: %s", strerror(errno));
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child (timers made with given ids) failed its checks");
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	struct plan p;
	if (!strcmp(mode, "tree")) {
		tree(&p);
		return tp_finish();
	}
	if (!set_up(mode, &p)) {
		say("FAIL: usage: timerids deleted|none|given|plain|tree");
		return 2;
	}
	usr1_setup();
	say("ready");
	usr1_wait();
	check(&p);
	return tp_finish();
}

/* hostmark LOG GATE: records every host it runs in.  It spins, reading
 * the host name (uname) at each turn, and appends a line with the name to
 * LOG whenever it differs from the last one it appended; the first line
 * is written before "ready".  Once GATE exists it prints "result N" (the
 * lines it appended) and exits.
 *
 * The emulated hosts have their own host names and share the file
 * system, so LOG tells every host in which even one turn of the loop ran:
 * e2e/migrate-hold checks that a copy held at the destination of a failed
 * migration never ran there. */
#include <sys/utsname.h>

#include "testprog.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		say("usage: hostmark LOG GATE");
		return 2;
	}
	int log = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	SETUP(log >= 0, "opening the log");
	char last[sizeof ((struct utsname *)0)->nodename] = "";
	unsigned long lines = 0;
	for (unsigned long turn = 0;; turn++) {
		struct utsname u;
		SETUP(uname(&u) == 0, "uname");
		if (strcmp(u.nodename, last) != 0) {
			char line[sizeof last + 1];
			int n = snprintf(line, sizeof line, "%s\n", u.nodename);
			tp_write_all(log, line, (size_t)n);
			snprintf(last, sizeof last, "%s", u.nodename);
			if (lines++ == 0)
				say("ready");
		}
		if (turn % 4096 == 0 && access(argv[2], F_OK) == 0)
			break;
	}
	say("result %lu", lines);
	return 0;
}

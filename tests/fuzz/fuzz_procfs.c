/* The /proc text parsers (procfs.h) on the input as file contents: every
 * parser (the fdinfo parsers of fd_watch.h and fd_inotify.h too) gets every input, as a NUL-terminated string the way
 * bm_read_text delivers it.  smaps is parsed against the entries of the
 * input's own maps-like lines, as dump parses smaps against the maps it
 * read just before. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fd_inotify.h"
#include "fd_watch.h"
#include "fuzz.h"
#include "procfs.h"

#define MAX_ENTRIES 16

/* The lines of TEXT that parse as maps lines, in order. */
static size_t maps_entries(const char *text, struct bm_maps_entry *e, size_t max)
{
	size_t n = 0;
	for (const char *line = text; *line && n < max;) {
		if (bm_parse_maps_line(line, &e[n]) == 0)
			n++;
		const char *eol = strchrnul(line, '\n');
		line = *eol ? eol + 1 : eol;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct bm_maps_entry *entries = malloc(MAX_ENTRIES * sizeof *entries);
	if (text && entries) {
		memcpy(text, data, size);
		text[size] = '\0';

		struct bm_maps_entry *maps;
		size_t nmaps;
		if (bm_parse_maps(text, &maps, &nmaps) == 0)
			free(maps);
		size_t n = maps_entries(text, entries, MAX_ENTRIES);
		bm_parse_smaps_vmflags(text, entries, n);
		bm_parse_smaps_vmflags(text, NULL, 0);

		struct bm_proc_status status;
		bm_parse_status(text, &status);
		struct bm_proc_stat stat;
		bm_parse_stat(text, &stat);
		struct bm_fdinfo fdinfo;
		bm_parse_fdinfo(text, &fdinfo);
		pid_t pids[4];
		size_t npids;
		bm_parse_pid_list(text, pids, 4, &npids);
		uint64_t limits[16][2];
		bm_parse_limits(text, limits, 16);
		bm_parse_limits(text, limits, 1);
		uint64_t mask;
		bm_parse_signalfd_mask(text, &mask);
		struct bm_watch *watches;
		size_t nwatches;
		if (bm_parse_epoll_watches(text, &watches, &nwatches) == 0)
			free(watches);
		struct bm_inotify_line *lines;
		size_t nlines;
		if (bm_parse_inotify_watches(text, &lines, &nlines) == 0)
			free(lines);
		struct bm_proc_timer *timers;
		size_t ntimers;
		if (bm_parse_timers(text, &timers, &ntimers) == 0)
			free(timers);
	}
	free(entries);
	free(text);
	return 0;
}

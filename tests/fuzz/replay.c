/* Replays inputs through a fuzz target without libFuzzer: `make test`
 * builds every target with this main() and the test build's sanitizers
 * and runs it on the committed corpus (tests/e2e/fuzz-corpus.sh).
 *
 *   replay-TARGET FILE|DIR...   every file given, and every file of each
 *                               directory (not recursive), in name order
 *
 * A sanitizer report ends the process with an error.  Exit status 0 when
 * every input was read and replayed, 1 when one could not be read, 2 for
 * bad usage. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "procfs.h"

static int replay_file(const char *path)
{
	char *text;
	size_t len;
	int rc = bm_read_text(path, &text, &len);
	if (rc < 0) {
		fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(-rc));
		return -1;
	}
	/* An exact-size copy, so that reading past the input is caught. */
	uint8_t *input = malloc(len ? len : 1);
	if (input) {
		memcpy(input, text, len);
		LLVMFuzzerTestOneInput(input, len);
		free(input);
	} else {
		fprintf(stderr, "replay: out of memory for %s\n", path);
	}
	free(text);
	return input ? 0 : -1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays the regular files of DIR; the number replayed, or -1. */
static long replay_dir(const char *dir)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, by_name);
	if (n < 0) {
		fprintf(stderr, "replay: cannot list %s: %s\n", dir, strerror(errno));
		return -1;
	}
	long count = 0;
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
		if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) < 0)
				rc = -1;
			else
				count++;
		}
		free(names[i]);
	}
	free(names);
	return rc < 0 ? -1 : count;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	long total = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long n;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i]) < 0 ? -1 : 1;
		if (n < 0)
			rc = 1;
		else
			total += n;
	}
	printf("%s: replayed %ld input%s\n", argv[0], total, total == 1 ? "" : "s");
	return rc;
}

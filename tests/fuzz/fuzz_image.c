/* The image reader on a whole image from memory, read the way `binmig
 * inspect` reads a file: the header, every process section, the account
 * of each thread (stop analysis and disassembly of the code window), then
 * every page run up to END with all checksums and totals.  No process is
 * touched. */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "image.h"
#include "inspect.h"

struct mem_source {
	const uint8_t *data;
	size_t len, pos;
};

static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem_source *m = ctx;
	size_t n = m->len - m->pos < len ? m->len - m->pos : len;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static void read_image(const uint8_t *data, size_t size)
{
	/* The account is formatted for real (as inspect does into memory),
	 * then thrown away. */
	static FILE *sink;
	if (!sink)
		sink = fopen("/dev/null", "w");
	if (!sink)
		return;
	struct mem_source m = { data, size, 0 };
	struct bm_image_reader r = { 0 };
	fuzz_quiet_begin();
	if (bm_image_reader_init(&r, (struct bm_source){ mem_read, &m }) == 0)
		bm_inspect(sink, &r);
	bm_image_reader_free(&r);
	fuzz_quiet_end();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_run_with_repair(data, size, fuzz_fix_image_crcs, read_image);
	return 0;
}

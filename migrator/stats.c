#include "stats.h"

#include <string.h>

#define FIELDS(X) \
	X(pid) X(suspend_us) X(checkpoint_us) X(transfer_us) X(as_restore_us) X(ctx_restore_us) \
	X(downtime_us) X(total_us) X(cpu_check_us) X(image_bytes) X(wire_bytes) X(pages_total) X(pages_zero) \
	X(pages_stored) X(vmas) X(threads) X(fds) X(syscalls_injected) X(precopy_rounds) X(precopy_pages) \
	X(precopy_bytes) X(precopy_final_pages) X(dirty_pages_per_s) X(postcopy_pages) X(postcopy_bytes) X(postcopy_us) \
	X(postcopy_remote_faults) X(postcopy_fault_p50_us) X(postcopy_fault_p90_us) X(postcopy_fault_p99_us) \
	X(postcopy_fault_max_us)

void bm_stats_init(struct bm_stats *s)
{
#define INIT(f) s->f = -1;
	FIELDS(INIT)
#undef INIT
	s->seal = NULL;
	s->precopy_detail[0] = 0;
}

int bm_stats_parse_format(const char *text, enum bm_stats_format *fmt)
{
	if (strcmp(text, "csv") == 0)
		*fmt = BM_STATS_CSV;
	else if (strcmp(text, "json") == 0)
		*fmt = BM_STATS_JSON;
	else
		return -1;
	return 0;
}

/* Only the fields the operation measured are printed, so every column of
 * a row has a value. */
void bm_stats_print(FILE *out, const struct bm_stats *s, enum bm_stats_format fmt)
{
	const char *sep = "";
	switch (fmt) {
	case BM_STATS_CSV:
#define NAME(f) if (s->f >= 0) { fprintf(out, "%s%s", sep, #f); sep = ","; }
		FIELDS(NAME)
#undef NAME
		if (s->seal)
			fprintf(out, "%sseal", sep);
		if (s->precopy_detail[0])
			fprintf(out, "%sprecopy_round_pages_bytes_us", s->seal || *sep ? "," : "");
		fputc('\n', out);
		sep = "";
#define VALUE(f) if (s->f >= 0) { fprintf(out, "%s%lld", sep, (long long)s->f); sep = ","; }
		FIELDS(VALUE)
#undef VALUE
		if (s->seal)
			fprintf(out, "%s%s", sep, s->seal);
		if (s->precopy_detail[0])
			fprintf(out, "%s%s", s->seal || *sep ? "," : "", s->precopy_detail);
		fputc('\n', out);
		break;
	case BM_STATS_JSON:
		fputc('{', out);
#define JSON(f) if (s->f >= 0) { fprintf(out, "%s\"%s\":%lld", sep, #f, (long long)s->f); sep = ","; }
		FIELDS(JSON)
#undef JSON
		if (s->seal)
			fprintf(out, "%s\"seal\":\"%s\"", sep, s->seal);
		if (s->precopy_detail[0])
			fprintf(out, "%s\"precopy_round_pages_bytes_us\":\"%s\"", s->seal || *sep ? "," : "",
				s->precopy_detail);
		fputs("}\n", out);
		break;
	case BM_STATS_NONE:
		break;
	}
	fflush(out);
}

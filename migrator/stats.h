/* Phase timings and counters of one dump, restore or migration, printed
 * as one CSV row (with a header line) or one JSON object. */
#ifndef BINMIG_STATS_H
#define BINMIG_STATS_H

#include <stdint.h>
#include <stdio.h>

enum bm_stats_format { BM_STATS_NONE = 0, BM_STATS_CSV, BM_STATS_JSON };

/* Each field is -1 when the operation did not measure it; such fields
 * are left out of the output. */
struct bm_stats {
	int64_t pid;
	int64_t suspend_us;
	int64_t checkpoint_us;
	int64_t transfer_us;
	int64_t as_restore_us;    /* address-space restore */
	int64_t ctx_restore_us;   /* context restore */
	int64_t downtime_us;
	int64_t total_us;
	int64_t cpu_check_us;     /* migrate: the CPU compatibility check, before the suspend */
	int64_t image_bytes;
	int64_t wire_bytes;
	int64_t pages_total;      /* present pages examined */
	int64_t pages_zero;
	int64_t pages_stored;
	int64_t vmas;
	int64_t threads;
	int64_t fds;
	int64_t syscalls_injected;
	int64_t precopy_rounds;       /* pre-copy: rounds while the process ran */
	int64_t precopy_pages;        /* pages sent in them (zero runs included) */
	int64_t precopy_bytes;        /* page bytes sent in them */
	int64_t precopy_final_pages;  /* pages of the tracked memory that the final image carried */
	int64_t dirty_pages_per_s;    /* pages written per second during the last round */
	int64_t postcopy_pages;       /* post-copy: pages moved after the process ran at the destination */
	int64_t postcopy_bytes;       /* their bytes on the wire (zero runs carry none) */
	int64_t postcopy_us;          /* from the process running at the destination to the last page placed */
	int64_t postcopy_remote_faults; /* faults on which a thread waited for the source */
	int64_t postcopy_fault_p50_us;  /* their latency: median, 90th and 99th percentile, maximum */
	int64_t postcopy_fault_p90_us;
	int64_t postcopy_fault_p99_us;
	int64_t postcopy_fault_max_us;
	char precopy_detail[512];     /* per round "pages/bytes/us", ';'-separated; "" when none */
	const char *seal;         /* what the image was sealed with ("none", "aes-256-gcm", ...); NULL: not said */
};

void bm_stats_init(struct bm_stats *s);
int bm_stats_parse_format(const char *text, enum bm_stats_format *fmt);
void bm_stats_print(FILE *out, const struct bm_stats *s, enum bm_stats_format fmt);

#endif

/* Stream mode's memory plan: destination memory ready before the freeze.
 *
 * Memory the destination has not touched for a while costs far more to
 * fault in than to copy into (on a virtual machine, the host may have
 * taken it back: about 3.7 s/GiB here), and in stream mode the restore
 * faults in every page of the process while the process is frozen.  So,
 * before the freeze, the source names the process's private writable
 * anonymous memory and the pages present in it (MEM_PLAN, read from
 * /proc/PID/maps and PAGEMAP_SCAN while the process runs); the
 * destination maps those areas at their own addresses and faults those
 * pages in (precopy.h's store, placed only), answers MEM_READY, and the
 * new process keeps that memory in place (restore_inplace.h): the image's
 * pages are then written into memory already there.  The plan is a hint:
 * pages that appear later are faulted in as before, and an area the
 * destination cannot place is simply left out.  docs/protocol.md §7.2. */
#ifndef BINMIG_MEMPLAN_H
#define BINMIG_MEMPLAN_H

#include <stdint.h>
#include <sys/types.h>

#include "precopy.h"
#include "transport.h"

#define BM_MEMPLAN_MAX_RUNS 524288 /* runs of present pages in one plan (8 MiB); beyond, not listed */
#define BM_MEMPLAN_BUDGET_MS 60000 /* the destination faults pages in for at most this long (the source waits 120 s) */

/* Source: MEM_PLAN for process pid (running), then waits for MEM_READY
 * (at most timeout_ms).  0 or a reported error. */
int bm_memplan_send(pid_t pid, struct bm_conn *conn, int timeout_ms);

struct bm_memplan_figures {
	uint32_t areas, placed;
	uint64_t populated_bytes, us;
};

/* Destination: receives MEM_PLAN into st (an empty store, then freed by
 * bm_precopy_store_free in every case), faults the pages in within
 * max_bytes, lists the placed areas (st->placed) and sends MEM_READY.
 * 0 or a reported error. */
int bm_memplan_receive(struct bm_precopy_store *st, struct bm_conn *conn, uint64_t max_bytes, int timeout_ms,
		       struct bm_memplan_figures *fig);

#endif

/* Stream mode's memory plan (memplan.h). */
#include "memplan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault.h"
#include "log.h"
#include "pagescan.h"
#include "procfs.h"
#include "wire.h"

/* Present or swapped pages, told apart from the shared zero page and
 * page-cache pages (neither will be written at the destination). */
static const struct bm_scan_query q_present = {
	0, 0, BM_PAGE_IS_PRESENT | BM_PAGE_IS_SWAPPED, BM_PAGE_IS_FILE | BM_PAGE_IS_PFNZERO,
};

static bool planned(const struct bm_maps_entry *e)
{
	return e->perms[1] == 'w' && e->perms[3] == 'p' &&
	       (e->path[0] == 0 || strcmp(e->path, "[heap]") == 0 || strncmp(e->path, "[anon:", 6) == 0);
}

struct plan {
	struct bm_wbuf runs;
	uint32_t nruns;
};

static int add_run(void *ctx, const struct bm_scan_run *run)
{
	struct plan *p = ctx;
	if ((run->cats & (BM_PAGE_IS_FILE | BM_PAGE_IS_PFNZERO)) || p->nruns == BM_MEMPLAN_MAX_RUNS)
		return 0;
	bm_put_u64(&p->runs, run->start);
	bm_put_u64(&p->runs, run->end);
	p->nruns++;
	return 0;
}

/* MEM_READY, or the destination's reason for giving up (a failed RESULT,
 * or ERROR), reported as such. */
static int await_ready(struct bm_conn *conn, int timeout_ms)
{
	static uint8_t buf[BM_RESULT_FIXED_SIZE + BM_MESSAGE_MAX];
	uint8_t type;
	size_t len;
	struct bm_result res = {0};
	int rc = bm_frame_recv(conn, &type, buf, sizeof buf, &len, timeout_ms);
	if (rc < 0 || (type == BM_MSG_MEM_READY && len == 0))
		return rc;
	if (!bm_peer_failure(type, buf, len, &res))
		return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "unexpected %s in place of MEM_READY", bm_msg_name(type));
	return bm_error(res.status <= BM_EXIT_NETWORK ? (enum bm_exit)res.status : BM_EXIT_FAILURE,
			"the destination gave up: %s", res.message[0] ? res.message : "no reason given");
}

int bm_memplan_send(pid_t pid, struct bm_conn *conn, int timeout_ms)
{
	struct bm_maps_entry *maps;
	size_t nmaps;
	int rc = bm_read_maps(pid, &maps, &nmaps);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_TARGET, -rc, "cannot read the memory map of process %d", pid);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/pagemap", (int)pid);
	int pagemap = open(path, O_RDONLY | O_CLOEXEC);
	bool scan = pagemap >= 0 && bm_pagescan_available(pagemap);
	struct bm_wbuf areas;
	struct plan p = {.nruns = 0};
	bm_wbuf_init(&areas);
	bm_wbuf_init(&p.runs);
	uint32_t nareas = 0;
	for (size_t i = 0; i < nmaps && nareas < BM_PRECOPY_MAX_RANGES; i++) {
		if (!planned(&maps[i]))
			continue;
		bm_put_u64(&areas, maps[i].start);
		bm_put_u64(&areas, maps[i].end);
		nareas++;
		/* A process changing its map meanwhile makes a run fail: the
		 * plan is a hint, the runs found so far stand. */
		if (scan)
			bm_pagescan(pagemap, maps[i].start, maps[i].end, &q_present, add_run, &p);
	}
	free(maps);
	if (pagemap >= 0)
		close(pagemap);
	struct bm_wbuf msg;
	bm_wbuf_init(&msg);
	bm_put_u32(&msg, nareas);
	bm_put_u32(&msg, p.nruns);
	bm_put_bytes(&msg, areas.data, areas.len);
	bm_put_bytes(&msg, p.runs.data, p.runs.len);
	rc = bm_wbuf_status(&msg) || bm_wbuf_status(&areas) || bm_wbuf_status(&p.runs)
		     ? bm_error(BM_EXIT_FAILURE, "out of memory")
	     : bm_fault(BM_FP_MEMPLAN_SEND) ? bm_error_errno(BM_EXIT_NETWORK, errno, "sending the memory plan")
					    : bm_frame_send_buf(conn, BM_MSG_MEM_PLAN, msg.data, msg.len, timeout_ms);
	bm_wbuf_free(&msg);
	bm_wbuf_free(&areas);
	bm_wbuf_free(&p.runs);
	return rc < 0 ? rc : await_ready(conn, timeout_ms);
}

static int proto(const char *what)
{
	return bm_error_errno(BM_EXIT_NETWORK, EPROTO, "malformed MEM_PLAN: %s", what);
}

/* n ranges, each bm_precopy_range_ok after the one before. */
static bool valid_ranges(struct bm_rcur *c, uint32_t n, struct bm_range *out)
{
	uint64_t prev_end = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = bm_get_u64(c), e = bm_get_u64(c);
		if (bm_rcur_failed(c) || !bm_precopy_range_ok(s, e, prev_end))
			return false;
		out[i] = (struct bm_range){s, e};
		prev_end = e;
	}
	return true;
}

static int build(struct bm_precopy_store *st, const uint8_t *buf, size_t len, uint64_t max_bytes,
		 struct bm_memplan_figures *fig)
{
	struct bm_rcur c;
	bm_rcur_init(&c, buf, len);
	uint32_t nareas = bm_get_u32(&c), nruns = bm_get_u32(&c);
	if (bm_rcur_failed(&c) || nareas > BM_PRECOPY_MAX_RANGES || nruns > BM_MEMPLAN_MAX_RUNS ||
	    bm_rcur_left(&c) != ((size_t)nareas + nruns) * 16)
		return proto("counts");
	struct bm_range *areas = malloc(((size_t)nareas + nruns + 1) * sizeof *areas), *runs = areas + nareas;
	if (!areas)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = valid_ranges(&c, nareas, areas) && valid_ranges(&c, nruns, runs) ? 0 : proto("ranges");
	for (uint32_t i = 0; rc == 0 && i < nruns; i++) {
		ssize_t a = bm_range_find(areas, nareas, sizeof *areas, runs[i].start);
		if (a < 0 || runs[i].end > areas[a].end)
			rc = proto("pages outside the areas");
	}
	if (rc == 0)
		rc = bm_precopy_store_init(st, nareas, max_bytes);
	for (uint32_t i = 0; rc == 0 && i < nareas; i++)
		rc = bm_precopy_store_add(st, areas[i].start, areas[i].end, true);
	fig->areas = nareas;
	fig->placed = (uint32_t)st->nareas;
	/* Pages of an area that did not fit, pages beyond the bound and
	 * pages left when the time is up are faulted in by the restore, as
	 * without a plan. */
	uint64_t until = bm_now_us() + BM_MEMPLAN_BUDGET_MS * 1000ULL;
	for (uint32_t i = 0; rc == 0 && i < nruns && bm_now_us() < until; i++) {
		int r = bm_precopy_store_populate(st, runs[i].start, runs[i].end);
		if (r == -ENOSPC)
			break;
		if (r == 0)
			fig->populated_bytes += runs[i].end - runs[i].start;
	}
	free(areas);
	return rc;
}

int bm_memplan_receive(struct bm_precopy_store *st, struct bm_conn *conn, uint64_t max_bytes, int timeout_ms,
		       struct bm_memplan_figures *fig)
{
	memset(st, 0, sizeof *st);
	memset(fig, 0, sizeof *fig);
	uint64_t t0 = bm_now_us();
	size_t cap = 8 + ((size_t)BM_PRECOPY_MAX_RANGES + BM_MEMPLAN_MAX_RUNS) * 16, len;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	int rc = bm_frame_expect(conn, BM_MSG_MEM_PLAN, buf, cap, &len, timeout_ms);
	if (rc == 0)
		rc = bm_fault(BM_FP_MEMPLAN_READY) ? bm_error_errno(BM_EXIT_FAILURE, errno, "making the planned memory ready")
						   : build(st, buf, len, max_bytes, fig);
	free(buf);
	if (rc == 0)
		rc = bm_precopy_store_list_placed(st);
	fig->us = bm_now_us() - t0;
	if (rc == 0)
		rc = bm_frame_send_buf(conn, BM_MSG_MEM_READY, NULL, 0, timeout_ms);
	return rc;
}

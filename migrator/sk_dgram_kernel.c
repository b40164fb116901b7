/* Socket receive queues as the kernel's structures show them
 * (sk_dgram_kernel.h). */
#include "sk_dgram_kernel.h"

#include <stdio.h>
#include <stdlib.h>

#include "bpf/kstate_rec.h"
#include "fd_policy.h"
#include "kstate.h"
#include "log.h"

/* Why UDP socket D (its queue Q) is refused. */
static int refuse_udp(pid_t pid, const struct bm_fd *d, const struct bm_kstate_queue *q)
{
	char why[300];
	if (q->empty_behind)
		snprintf(why, sizeof why, ", a UDP socket holding an empty datagram behind others (a peek at an offset "
			 "skips one a peek showed before, so that the dump may not see it)");
	else if (q->head_empty && !q->head_marked)
		snprintf(why, sizeof why, ", a UDP socket whose next datagram is empty and no peek has shown it (binmig's "
			 "peeks would mark it, in the process and in its copy, and a peek at an offset skips a marked one)");
	else
		snprintf(why, sizeof why, ", a UDP socket holding more than %u datagrams", BM_KSTATE_DGRAM_MAX);
	return bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why);
}

int bm_sk_dgram_kernel_check(pid_t pid, struct bm_process *p)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		p->fds[i].queue_seen = 0;
		n += (d->kind == BM_FD_UDP || d->kind == BM_FD_UNIX_SOCKET) && d->shares_with < 0 && !d->in_flight;
	}
	if (!n)
		return 0;
	struct bm_kstate_queue *q = calloc(p->nfds, sizeof *q);
	if (!q)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	char why[700];
	if (bm_kstate_dgram(p, q, why, sizeof why) < 0)
		bm_debug("process %d: its socket queues unread by BPF (%s)", pid, why);
	int rc = 0;
	for (uint32_t i = 0; i < p->nfds && rc == 0; i++) {
		struct bm_fd *d = &p->fds[i];
		if (!q[i].read)
			continue;
		if (d->kind == BM_FD_UNIX_SOCKET)
			d->queue_seen = BM_QUEUE_READ | (q[i].empty_behind ? BM_QUEUE_HIDDEN : 0) |
					(q[i].more ? BM_QUEUE_TOO_LONG : 0) |
					(q[i].head_empty && q[i].head_marked ? BM_QUEUE_HEAD_MARKED : 0) |
					(q[i].head_empty && !q[i].head_marked ? BM_QUEUE_HEAD_UNMARKED : 0);
		else if (q[i].empty_behind || q[i].more || (q[i].head_empty && !q[i].head_marked))
			rc = refuse_udp(pid, d, &q[i]);
	}
	free(q);
	return rc;
}

int bm_sk_dgram_unix_check(pid_t pid, const struct bm_fd *d, bool runs_on)
{
	char why[300];
	if (d->queue_seen & BM_QUEUE_HIDDEN)
		snprintf(why, sizeof why, " holding an empty message behind others (a peek at an offset skips one a peek "
			 "showed before, so that the dump may not see it), in a queue binmig does not take");
	else if (d->queue_seen & BM_QUEUE_TOO_LONG)
		snprintf(why, sizeof why, " holding more than %u messages in a queue binmig does not take",
			 BM_KSTATE_DGRAM_MAX);
	else if (runs_on && (d->queue_seen & BM_QUEUE_HEAD_UNMARKED))
		snprintf(why, sizeof why, " whose queue, which binmig does not take, has at its head an empty message no "
			 "peek has shown: the dump's peek would mark it in the process, which runs on (a later peek at an "
			 "offset would skip it)");
	else
		return 0;
	return bm_fd_refuse(pid, d->fd, d->path ? d->path : "socket", d->mode, why);
}

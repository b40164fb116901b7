/* Descriptors in flight (SCM_RIGHTS) in a unix socket's queue, at dump:
 * what each one is, seen through the copy a peek installs in binmig.
 * The restore side is bm_unix_fill_rights (sk_unix_restore.c). */
#include "sk_unix_rights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include "fd_policy.h"
#include "wire.h"

const char *bm_unix_rights_kind(int f)
{
	struct stat st;
	if (fstat(f, &st) < 0)
		return "a descriptor binmig cannot look at";
	switch (st.st_mode & S_IFMT) {
	case S_IFREG:
		return st.st_nlink ? "a regular file not open in the process" : "an unlinked file";
	case S_IFIFO:
		return "a pipe end not open in the process";
	case S_IFSOCK:
		return "a socket not open in the process";
	case S_IFCHR:
	case S_IFBLK:
		return "a device";
	case S_IFDIR:
		return "a directory not open in the process";
	default:
		return "an anonymous file (epoll, eventfd, signalfd, timerfd, pidfd...) not open in the process";
	}
}

int bm_unix_rights_name(const struct bm_process *p, const int *fl, uint32_t n, uint8_t *out, int *bad)
{
	pid_t self = getpid();
	for (uint32_t k = 0; k < n; k++) {
		int same = -1;
		for (uint32_t j = 0; j < p->nfds && same < 0; j++) {
			const struct bm_fd *d = &p->fds[j];
			if (d->kind != BM_FD_CLOSED && syscall(SYS_kcmp, self, p->pid, KCMP_FILE, fl[k], d->fd) == 0)
				same = d->fd;
		}
		if (same < 0) {
			*bad = fl[k];
			return 1;
		}
		bm_store_le32(out + 4 * (size_t)k, (uint32_t)same);
	}
	return 0;
}

int bm_unix_rights_close(struct msghdr *mh)
{
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int k = 0; k < nfd; k++) {
			int f;
			memcpy(&f, CMSG_DATA(c) + k * sizeof(int), sizeof f);
			close(f);
			n++;
		}
	}
	return n;
}

/* The descriptor of P numbered FD, or NULL. */
static const struct bm_fd *fd_of(const struct bm_process *p, int fd)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd == fd)
			return &p->fds[i];
	return NULL;
}

int bm_unix_rights_check_policies(struct bm_process *const *procs, size_t nprocs)
{
	for (size_t k = 0; k < nprocs; k++) {
		const struct bm_process *p = procs[k];
		for (uint32_t i = 0; i < p->nfds; i++) {
			const struct bm_fd *d = &p->fds[i];
			struct bm_unix_sock s;
			if (!bm_unix_head(d, &s) || !(s.flags & BM_UNIX_RIGHTS))
				continue;
			uint32_t at = 0;
			for (uint32_t m = 0; m < s.nmsgs; m++) {
				struct bm_unix_msg msg;
				bm_unix_next_msg(&s, &at, &msg);
				for (uint32_t r = 0; r < msg.nrights; r++) {
					const struct bm_fd *o = fd_of(p, bm_unix_right(&msg, r));
					if (o && o->kind != BM_FD_CLOSED && o->replaced == BM_FD_CARRIED)
						continue;
					char detail[200];
					snprintf(detail, sizeof detail, " with a descriptor in flight (SCM_RIGHTS) that is fd %d "
						 "of the process, which a policy replaces or leaves out", bm_unix_right(&msg, r));
					return bm_fd_refuse(p->pid, d->fd, d->path ? d->path : "socket", d->mode, detail);
				}
			}
		}
	}
	return 0;
}

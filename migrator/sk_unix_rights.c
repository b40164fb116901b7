/* Descriptors in flight (SCM_RIGHTS) in a unix socket's queue, at dump:
 * what each one is, seen through the copy a peek installs in binmig.
 * The restore side is bm_unix_fill_rights (sk_unix_restore.c). */
#include "sk_unix_rights.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

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

/* Sending descriptors in flight (SCM_RIGHTS) over this process's own
 * sockets, for the unix socket tests (test_sk_unix_rights.c,
 * test_sk_unix_adopt.c). */
#ifndef BINMIG_UNIT_RIGHTS_H
#define BINMIG_UNIT_RIGHTS_H

#include <string.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* Sends TEXT on S with FL[0..n) in flight (n <= 4). */
static inline void unit_send_fds(int s, const char *text, const int *fl, int n)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(4 * sizeof(int))];
	} control;
	struct iovec iov = {(void *)text, strlen(text)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
			    .msg_controllen = CMSG_SPACE(n * sizeof(int))};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fl, n * sizeof(int));
	assert_int_equal(sendmsg(s, &mh, 0), (ssize_t)strlen(text));
}

#endif

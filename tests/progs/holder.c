/* holder MODE [FILE]: holds one kernel object that is not a plain file, and keeps
 * working.  binmig carries some (eventfd, a pipe with both ends inside, an
 * epoll instance, a socket pair) and refuses others (a socket whose peer is
 * elsewhere, System V memory).
 *   none     nothing special (the plain spinning worker)
 *   socket   a connected AF_UNIX socket pair (both ends here) holding 18 bytes
 *   socket-out  one end of such a pair, the other end (which wrote the 18
 *            bytes) in a process of its own until this one exits
 *   tcp      a TCP connection over loopback, both ends here, 18 bytes unread
 *   eventfd  an eventfd holding the count 41
 *   pipe     an anonymous pipe (both ends here) holding 16 bytes
 *   shared-out  such a pipe, whose ends a process of its own holds too
 *            until this one exits
 *   mqueue   a POSIX message queue holding one message (removed on exit)
 *   mountns  FILE.d/held, a file on a tmpfs mounted at FILE.d in a mount
 *            namespace of its own: its name leads to nothing outside
 *   epoll    an epoll instance watching the read end of such a pipe
 *   sysvshm  a System V shared memory segment attached (removed once
 *            detached: IPC_RMID right away)
 *   owner    a pipe whose read end has an owner for its signals, the
 *            process group (F_SETOWN_EX), without O_ASYNC: a group that
 *            processes not dumped are in (the test's shell)
 *   dnotify  FILE.d, a directory watched with F_NOTIFY (DN_MULTISHOT),
 *            with F_SETSIG: fdinfo shows neither
 *   packet   a packet-mode pipe (pipe2 O_DIRECT) holding two packets
 *   shmem-out  anonymous memory mapped shared (MAP_SHARED|MAP_ANONYMOUS)
 *            and mapped by a process of its own too, until this one exits
 *   delmap   FILE written, mapped privately, given a second name
 *            FILE.link, then deleted, its descriptor closed (refused:
 *            binmig cannot name a file whose other name remains)
 *   netlink, af-packet  a socket of another family than binmig carries
 *            (NETLINK_ROUTE; AF_PACKET, root only)
 *   pidfd, userfaultfd, fanotify  such a descriptor (pidfd_open of
 *            itself; userfaultfd; fanotify_init, root only)
 * Prints "fds A B" (the object's descriptors, -1 if none) and "ready", then
 * spins until SIGUSR1 (a chain of register-heavy steps, checked afterwards
 * by recomputing it), then checks that the object still works (data sent
 * before "ready" comes out), prints "spun N" with a fixed width and "PASS".
 * A refused dump must leave all of this undisturbed; a migration must carry
 * it. */
#include <mqueue.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/shm.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/fanotify.h>
#include <linux/netlink.h>
#include <netinet/in.h>

#include "testprog.h"

static char mq_name[64];

int main(int argc, char **argv)
{
	const char *mode = argc >= 2 ? argv[1] : "";
	int fds[2] = { -1, -1 };
	if (strcmp(mode, "socket") == 0) {
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");
		SETUP(write(fds[0], "through the socket", 18) == 18, "write socket");
	} else if (strcmp(mode, "socket-out") == 0) {
		SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0, "socketpair");
		if (tp_fork_peer() == 0) {
			close(fds[1]);
			char c;
			if (write(fds[0], "through the socket", 18) == 18)
				while (read(fds[0], &c, 1) > 0)
					;
			_exit(0);
		}
		close(fds[0]);
		fds[0] = -1;
		char c;
		SETUP(recv(fds[1], &c, 1, MSG_PEEK) == 1, "the peer's bytes");
	} else if (strcmp(mode, "shmem-out") == 0) {
		char *at = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		SETUP(at != MAP_FAILED, "mmap");
		at[0] = 1;
		pid_t self = getpid();
		if (tp_fork_peer() == 0) {
			struct pollfd q = {.fd = (int)syscall(SYS_pidfd_open, self, 0), .events = POLLIN};
			_exit(q.fd >= 0 && poll(&q, 1, -1) == 1 ? 0 : 1);
		}
	} else if (strcmp(mode, "tcp") == 0) {
		int l = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t len = sizeof addr;
		SETUP(l >= 0 && bind(l, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(l, 1) == 0 &&
		      getsockname(l, (struct sockaddr *)&addr, &len) == 0, "listen on 127.0.0.1");
		fds[0] = socket(AF_INET, SOCK_STREAM, 0);
		SETUP(fds[0] >= 0 && connect(fds[0], (struct sockaddr *)&addr, sizeof addr) == 0, "connect");
		fds[1] = accept(l, NULL, NULL);
		SETUP(fds[1] >= 0 && close(l) == 0, "accept");
		SETUP(write(fds[0], "through the socket", 18) == 18, "write socket");
	} else if (strcmp(mode, "eventfd") == 0) {
		fds[0] = eventfd(0, 0);
		SETUP(fds[0] >= 0 && eventfd_write(fds[0], 41) == 0, "eventfd");
	} else if (strcmp(mode, "pipe") == 0) {
		SETUP(pipe(fds) == 0, "pipe");
		SETUP(write(fds[1], "through the pipe", 16) == 16, "write pipe");
	} else if (strcmp(mode, "shared-out") == 0) {
		SETUP(pipe(fds) == 0 && write(fds[1], "through the pipe", 16) == 16, "pipe");
		pid_t self = getpid();
		if (tp_fork_peer() == 0) {
			struct pollfd q = {.fd = (int)syscall(SYS_pidfd_open, self, 0), .events = POLLIN};
			_exit(q.fd >= 0 && poll(&q, 1, -1) == 1 ? 0 : 1);
		}
	} else if (strcmp(mode, "mqueue") == 0) {
		struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
		snprintf(mq_name, sizeof mq_name, "/binmig-holder-%d", (int)getpid());
		fds[0] = mq_open(mq_name, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
		SETUP(fds[0] >= 0 && mq_send(fds[0], "through the queue", 17, 0) == 0, "mq_open, mq_send");
	} else if (strcmp(mode, "epoll") == 0) {
		int pipefd[2];
		SETUP(pipe(pipefd) == 0 && write(pipefd[1], "x", 1) == 1, "pipe");
		fds[0] = epoll_create1(0);
		fds[1] = pipefd[0];
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 4242 };
		SETUP(fds[0] >= 0 && epoll_ctl(fds[0], EPOLL_CTL_ADD, pipefd[0], &ev) == 0, "epoll");
	} else if (strcmp(mode, "sysvshm") == 0) {
		int id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
		char *at = id >= 0 ? shmat(id, NULL, 0) : (char *)-1;
		SETUP(at != (char *)-1 && shmctl(id, IPC_RMID, NULL) == 0, "shmget/shmat");
		at[0] = 1;
	} else if (strcmp(mode, "owner") == 0) {
		struct f_owner_ex owner = {F_OWNER_PGRP, getpgrp()};
		SETUP(pipe(fds) == 0 && fcntl(fds[0], F_SETOWN_EX, &owner) == 0, "pipe with an owner");
	} else if (strcmp(mode, "dnotify") == 0 && argc == 3) {
		char dir[4200];
		snprintf(dir, sizeof dir, "%s.d", argv[2]);
		signal(SIGRTMIN + 3, SIG_IGN);
		SETUP(mkdir(dir, 0700) == 0 && (fds[0] = open(dir, O_RDONLY | O_DIRECTORY)) >= 0 &&
		      fcntl(fds[0], F_SETSIG, SIGRTMIN + 3) == 0 && fcntl(fds[0], F_NOTIFY, DN_CREATE | DN_MULTISHOT) == 0,
		      "dnotify");
	} else if (strcmp(mode, "packet") == 0) {
		SETUP(pipe2(fds, O_DIRECT) == 0 && write(fds[1], "one", 3) == 3 && write(fds[1], "two", 3) == 3,
		      "packet pipe");
	} else if (strcmp(mode, "mountns") == 0 && argc == 3) {
		char dir[4200], held[4300];
		snprintf(dir, sizeof dir, "%s.d", argv[2]);
		snprintf(held, sizeof held, "%s/held", dir);
		SETUP(mkdir(dir, 0700) == 0 && unshare(CLONE_NEWNS) == 0 &&
		      mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		      mount("tmpfs", dir, "tmpfs", 0, "size=64k") == 0, "a tmpfs of its own");
		fds[0] = open(held, O_RDWR | O_CREAT, 0600);
		SETUP(fds[0] >= 0 && write(fds[0], "held", 4) == 4, "the file on it");
	} else if (strcmp(mode, "delmap") == 0 && argc == 3) {
		int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
		SETUP(fd >= 0 && write(fd, "mapped and deleted", 18) == 18, "write FILE");
		char *at = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
		char other[4200];
		snprintf(other, sizeof other, "%s.link", argv[2]);
		SETUP(at != MAP_FAILED && link(argv[2], other) == 0 && unlink(argv[2]) == 0, "map and delete FILE");
		close(fd);
	} else if (strcmp(mode, "netlink") == 0) {
		SETUP((fds[0] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) >= 0, "netlink socket");
	} else if (strcmp(mode, "af-packet") == 0) {
		/* Protocol 0: bound to no traffic, so it taps none. */
		SETUP((fds[0] = socket(AF_PACKET, SOCK_DGRAM, 0)) >= 0, "AF_PACKET socket");
	} else if (strcmp(mode, "pidfd") == 0) {
		SETUP((fds[0] = (int)syscall(SYS_pidfd_open, getpid(), 0)) >= 0, "pidfd_open");
	} else if (strcmp(mode, "userfaultfd") == 0) {
		SETUP((fds[0] = (int)syscall(SYS_userfaultfd, O_CLOEXEC)) >= 0, "userfaultfd");
	} else if (strcmp(mode, "fanotify") == 0) {
		SETUP((fds[0] = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY)) >= 0, "fanotify_init");
	} else if (strcmp(mode, "none") != 0) {
		say("FAIL: usage: holder none|socket|socket-out|tcp|eventfd|pipe|shared-out|mqueue|mountns|epoll|sysvshm|shmem-out|owner|dnotify|packet|delmap|netlink|af-packet|pidfd|userfaultfd|fanotify FILE");
		return 2;
	}
	usr1_setup();
	say("fds %d %d", fds[0], fds[1]);
	say("ready");
	uint64_t steps = usr1_spin();

	char buf[32] = { 0 };
	if (strcmp(mode, "socket") == 0 || strcmp(mode, "socket-out") == 0 || strcmp(mode, "tcp") == 0) {
		CHECK(read(fds[1], buf, sizeof(buf)) == 18 && memcmp(buf, "through the socket", 18) == 0,
		      "socket data \"%s\"", buf);
	} else if (strcmp(mode, "eventfd") == 0) {
		eventfd_t value = 0;
		CHECK(eventfd_read(fds[0], &value) == 0 && value == 41, "eventfd value %llu", (unsigned long long)value);
	} else if (strcmp(mode, "pipe") == 0 || strcmp(mode, "shared-out") == 0) {
		CHECK(read(fds[0], buf, sizeof(buf)) == 16 && memcmp(buf, "through the pipe", 16) == 0,
		      "pipe data \"%s\"", buf);
	} else if (strcmp(mode, "mqueue") == 0) {
		CHECK(mq_receive(fds[0], buf, sizeof(buf), NULL) == 17 && memcmp(buf, "through the queue", 17) == 0,
		      "queue data \"%s\"", buf);
		mq_unlink(mq_name);
	} else if (strcmp(mode, "packet") == 0) {
		CHECK(read(fds[0], buf, sizeof(buf)) == 3 && read(fds[0], buf, sizeof(buf)) == 3, "two packets");
	} else if (strcmp(mode, "owner") == 0) {
		struct f_owner_ex owner = {0};
		CHECK(fcntl(fds[0], F_GETOWN_EX, &owner) == 0 && owner.type == F_OWNER_PGRP && owner.pid == getpgrp(),
		      "owner lost");
	} else if (strcmp(mode, "dnotify") == 0) {
		CHECK(fcntl(fds[0], F_GETSIG) == SIGRTMIN + 3, "signal lost");
	}
	if (strcmp(mode, "epoll") == 0) {
		struct epoll_event ev = { 0 };
		CHECK(epoll_wait(fds[0], &ev, 1, 0) == 1 && ev.data.u64 == 4242 && (ev.events & EPOLLIN),
		      "epoll does not report the readable pipe");
	}
	say("spun %020llu", (unsigned long long)steps);
	return tp_finish();
}

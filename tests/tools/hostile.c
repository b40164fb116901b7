/* hostile ADDR:PORT [--idle N] [--garbage] [--trickle] [--bind ADDR] [--limit SECONDS]
 *
 * Strangers without the key, against a binmig serve, for as long as it
 * runs, so that a test can check that an honest migration still goes
 * through and that the daemon stays bounded:
 *
 *   --idle N     N connections that never send a byte;
 *   --garbage    one connection that sends random bytes as fast as the
 *                daemon takes them;
 *   --trickle    one connection that sends a well-formed HELLO one byte
 *                a second;
 *   --bind ADDR  connect from that local address.
 *
 * Whenever the daemon closes one of them, it is opened again at once, so
 * the pressure never lets up.  Prints "ready" once every connection has
 * been opened, then runs until SIGTERM or SIGINT (or --limit seconds,
 * default 300, with exit 1), and prints at the end one line
 * "opened O closed C sent S" (connections opened, connections the daemon
 * closed, bytes sent).  Exit codes: 0 stopped by a signal, 1 limit or
 * error, 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024

enum kind { IDLE, GARBAGE, TRICKLE };

struct conn {
	int fd;
	enum kind kind;
	bool connected;
	size_t sent;        /* TRICKLE: bytes of the HELLO sent */
	uint64_t next_ns;   /* TRICKLE: when the next byte goes */
};

static struct sockaddr_in target, local;
static bool bind_local;
static uint64_t opened, closed, sent_bytes;
static uint8_t hello[48];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A HELLO frame as docs/protocol.md lays it out. */
static void build_hello(void)
{
	uint8_t *h = hello, *nonce = hello + 16;
	for (int i = 0; i < 32; i++)
		nonce[i] = (uint8_t)(i * 7 + 1);
	h[0] = 'B', h[1] = 'M', h[2] = 1, h[3] = 1;
	put32(h + 4, 32);
	put32(h + 8, crc32c(0, nonce, 32));
	put32(h + 12, crc32c(0, h, 12));
}

static int open_conn(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (bind_local && bind(c->fd, (struct sockaddr *)&local, sizeof local) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	c->connected = false;
	c->sent = 0;
	c->next_ns = now_ns();
	opened++;
	return 0;
}

static void reopen(struct conn *c)
{
	close(c->fd);
	closed++;
	if (open_conn(c) < 0) {
		fprintf(stderr, "hostile: cannot connect again: %s\n", strerror(errno));
		exit(1);
	}
}

/* Reads and discards what the daemon sent; true when it closed. */
static bool drained_to_end(int fd)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0)
			continue;
		return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
	}
}

static void feed(struct conn *c, uint64_t now)
{
	if (c->kind == GARBAGE) {
		uint8_t junk[4096];
		for (size_t i = 0; i < sizeof junk; i++)
			junk[i] = (uint8_t)rand();
		ssize_t n = send(c->fd, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			sent_bytes += (uint64_t)n;
	} else if (c->kind == TRICKLE && c->sent < sizeof hello && now >= c->next_ns) {
		if (send(c->fd, hello + c->sent, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) {
			c->sent++;
			sent_bytes++;
			c->next_ns = now + 1000000000u;
		}
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: hostile ADDR:PORT [--idle N] [--garbage] [--trickle] [--bind ADDR] [--limit SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	char host[64];
	int port;
	if (sscanf(argv[1], "%63[^:]:%d", host, &port) != 2 || inet_pton(AF_INET, host, &target.sin_addr) != 1)
		return usage();
	target.sin_family = AF_INET;
	target.sin_port = htons((uint16_t)port);
	int idle = 0, limit_s = 300;
	bool garbage = false, trickle = false;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc)
			idle = atoi(argv[++i]);
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc)
			limit_s = atoi(argv[++i]);
		else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) {
			if (inet_pton(AF_INET, argv[++i], &local.sin_addr) != 1)
				return usage();
			local.sin_family = AF_INET;
			bind_local = true;
		} else if (strcmp(argv[i], "--garbage") == 0)
			garbage = true;
		else if (strcmp(argv[i], "--trickle") == 0)
			trickle = true;
		else
			return usage();
	}
	if (idle < 0 || idle + 2 > MAX_CONNS || limit_s <= 0)
		return usage();
	build_hello();
	srand(1);

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return perror("hostile: signalfd"), 1;

	static struct conn conns[MAX_CONNS];
	int n = 0;
	for (int i = 0; i < idle; i++)
		conns[n++].kind = IDLE;
	if (garbage)
		conns[n++].kind = GARBAGE;
	if (trickle)
		conns[n++].kind = TRICKLE;
	for (int i = 0; i < n; i++)
		if (open_conn(&conns[i]) < 0)
			return perror("hostile: connect"), 1;
	printf("ready\n");
	fflush(stdout);

	uint64_t end = now_ns() + (uint64_t)limit_s * 1000000000u;
	static struct pollfd p[MAX_CONNS + 1];
	for (;;) {
		uint64_t now = now_ns();
		if (now >= end) {
			fprintf(stderr, "hostile: --limit %d s reached\n", limit_s);
			printf("opened %llu closed %llu sent %llu\n", (unsigned long long)opened,
			       (unsigned long long)closed, (unsigned long long)sent_bytes);
			return 1;
		}
		p[0] = (struct pollfd){sfd, POLLIN, 0};
		for (int i = 0; i < n; i++) {
			short ev = POLLIN;
			if (!conns[i].connected || conns[i].kind == GARBAGE)
				ev |= POLLOUT;
			p[i + 1] = (struct pollfd){conns[i].fd, ev, 0};
		}
		/* At most 100 ms, for the trickle's next byte. */
		if (poll(p, (nfds_t)n + 1, 100) < 0 && errno != EINTR)
			return perror("hostile: poll"), 1;
		if (p[0].revents & POLLIN)
			break;
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[i];
			short re = p[i + 1].revents;
			if (re & (POLLERR | POLLHUP) || ((re & POLLIN) && drained_to_end(c->fd))) {
				reopen(c);
				continue;
			}
			if (re & POLLOUT)
				c->connected = true;
			if (c->connected)
				feed(c, now);
		}
	}
	printf("opened %llu closed %llu sent %llu\n", (unsigned long long)opened, (unsigned long long)closed,
	       (unsigned long long)sent_bytes);
	return 0;
}

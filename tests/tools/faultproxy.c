/* faultproxy LISTEN_ADDR:PORT TARGET_ADDR:PORT [FAULT] [--record FILE] [--idle SECONDS]
 * faultproxy --replay FILE TARGET_ADDR:PORT [--idle SECONDS]
 *
 * Forwards one TCP connection both ways and damages it in one chosen way,
 * mostly in the client -> server direction, so that the migration tests can make a
 * transfer fail at a known point: a man in the middle.  FAULT is at most
 * one of:
 *
 *   --drop-after N         forward exactly N bytes, then close both sides
 *   --flip-at N            flip the lowest bit of byte N (counting from 0)
 *   --flip-header-after N  flip the lowest bit of the length field (byte 4)
 *                          of the first frame header (docs/protocol.md, 16-byte
 *                          headers) that starts at byte N or later
 *   --hold-after N         forward exactly N bytes, then stop reading from
 *                          the client (the server -> client direction keeps
 *                          flowing); SIGUSR1 releases the hold
 *   --flip-back-at N       flip the lowest bit of byte N of the server ->
 *                          client direction (the client's bytes pass intact)
 *   --flip-back-frame K    flip the lowest bit of the first payload byte of
 *                          the server's frame K (CHALLENGE is 0, its PROOF 1)
 *
 * or one that works on whole frames, counted from 0 in the client ->
 * server direction (HELLO is frame 0, PROOF 1, START 2):
 *
 *   --drop-frame K         frame K is not forwarded
 *   --repeat-frame K       frame K is forwarded twice
 *   --swap-frames K        frames K and K + 1 are forwarded in the other order
 *   --cut-frame K          frames 0 .. K - 1 are forwarded, then both sides
 *                          are closed: the stream ends cleanly between frames
 *
 * --record FILE writes the client -> server bytes, as forwarded, to FILE.
 * --replay FILE connects to the target, sends FILE, reads what comes back
 * until the server closes, and prints "replayed N back M".
 *
 * SIGUSR2 or SIGTERM close both sides abortively (RST) at any time.  When
 * the server side goes away (it resets, or ends while the client is held or
 * still sending), whatever the server sent last is delivered to the client
 * and then the client side is reset: what a client talking to that server
 * directly would see (queued data first, then the reset).
 *
 * Prints one line per event on stdout, flushed: "listening" once it
 * listens, "connected", then "holding N", "released", "dropped N",
 * "flipped N (frame K header|payload byte X)", "flipped back N (frame K payload byte 0)" (the frame
 * only for --flip-back-frame), "dropped frame K (type T,
 * L bytes)", "repeated frame K (...)", "swapped frames K and K+1 (...)" or
 * "cut at frame K (byte N)" when the fault happens, and "closed up U down
 * D" (bytes each way) at the end.  Every wait has a timeout: no
 * connection, or no byte either way, for --idle seconds (default 60) ends
 * it with exit 1.
 *
 * Exit codes: 0 the connection ended (whatever the fault did to it), 1
 * timeout or network error, 2 usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_HEADER 16
#define BUF_SIZE (1 << 16)

enum fault {
	FAULT_NONE, FAULT_DROP, FAULT_FLIP, FAULT_FLIP_HEADER, FAULT_HOLD, FAULT_FLIP_BACK, FAULT_FLIP_BACK_FRAME,
	/* on whole frames: */
	FAULT_DROP_FRAME, FAULT_REPEAT_FRAME, FAULT_SWAP_FRAMES, FAULT_CUT_FRAME,
};

/* Bytes on their way, grown as needed: a held frame can be 16 MiB. */
struct queue {
	uint8_t *data;
	size_t len, off, cap;
};

struct direction {
	int from, to;
	struct queue q;    /* read from `from`, not yet written to `to` */
	uint64_t count;    /* bytes read from `from` so far */
	bool eof;          /* `from` ended; `to` shut down once q is empty */
	bool shut;
};

/* Where the client -> server stream is in its frames, to report where a
 * flip landed, to find header starts and to act on whole frames. */
struct framer {
	uint64_t frame;       /* index of the current frame */
	unsigned hdr_pos;     /* bytes of its header seen (FRAME_HEADER: in the payload) */
	uint8_t hdr[FRAME_HEADER];
	uint64_t payload_left;
	uint64_t payload_pos; /* payload bytes of this frame seen */
	struct queue held;    /* a frame kept back (repeat, swap) */
	bool cut;             /* the stream ends here (--cut-frame) */
};

static enum fault fault = FAULT_NONE;
static uint64_t fault_at;
static bool fault_done;
static FILE *record;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "usage: faultproxy LISTEN_ADDR:PORT TARGET_ADDR:PORT [--drop-after N | --flip-at N |\n"
			"                  --flip-header-after N | --hold-after N | --flip-back-at N |\n"
			"                  --flip-back-frame K | --drop-frame K | --repeat-frame K | --swap-frames K |\n"
			"                  --cut-frame K] [--record FILE] [--idle SECONDS]\n"
			"       faultproxy --replay FILE TARGET_ADDR:PORT [--idle SECONDS]\n");
	return 2;
}

static void q_put(struct queue *q, const uint8_t *p, size_t n)
{
	if (q->off == q->len)
		q->off = q->len = 0;
	if (q->len + n > q->cap) {
		size_t cap = q->cap ? q->cap : BUF_SIZE;
		while (cap < q->len + n)
			cap *= 2;
		q->data = realloc(q->data, cap);
		if (!q->data) {
			fprintf(stderr, "faultproxy: out of memory\n");
			exit(1);
		}
		q->cap = cap;
	}
	memcpy(q->data + q->len, p, n);
	q->len += n;
}

static size_t q_size(const struct queue *q)
{
	return q->len - q->off;
}

static int resolve(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void reset_close(int fd)
{
	struct linger lg = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* Waits up to timeout_ms for fd to become ready for `events`; 1 ready,
 * 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {fd, events, 0};
	for (;;) {
		int n = poll(&p, 1, timeout_ms);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

static int connect_to(const struct sockaddr_storage *addr, socklen_t len, int timeout_ms)
{
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)addr, len) < 0) {
		if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, timeout_ms) != 1) {
			close(fd);
			return -1;
		}
		int err = 0;
		socklen_t el = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
			errno = err;
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* The server is gone: hands the client what the server sent before it
 * went (still buffered here or in the kernel), then resets the client. */
static void drain_server_then_reset(struct direction *down, int idle_ms)
{
	static uint8_t buf[BUF_SIZE];
	for (;;) {
		if (q_size(&down->q)) {
			if (wait_fd(down->to, POLLOUT, idle_ms) != 1)
				break;
			ssize_t put = write(down->to, down->q.data + down->q.off, q_size(&down->q));
			if (put < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (put < 0)
				break;
			down->q.off += (size_t)put;
			continue;
		}
		if (wait_fd(down->from, POLLIN, idle_ms) != 1)
			break;
		ssize_t got = read(down->from, buf, BUF_SIZE);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			break;
		q_put(&down->q, buf, (size_t)got);
		down->count += (uint64_t)got;
	}
	reset_close(down->from);
	reset_close(down->to);
}

/* Bytes on their way to the server, and into the recording. */
static void forward(struct queue *out, const uint8_t *p, size_t n)
{
	q_put(out, p, n);
	if (record && n && fwrite(p, 1, n, record) != n) {
		fprintf(stderr, "faultproxy: writing the recording failed\n");
		exit(1);
	}
}

static const char *frame_desc(const struct framer *fr, uint64_t len)
{
	static char buf[64];
	snprintf(buf, sizeof buf, "type %u, %llu bytes", fr->hdr[3], (unsigned long long)len);
	return buf;
}

/* The bytes of the current frame: forwarded, or held back while it is the
 * frame a frame fault is about. */
static void route(struct framer *fr, struct queue *out, const uint8_t *p, size_t n)
{
	if (fault >= FAULT_DROP_FRAME && !fault_done && fr->frame == fault_at)
		q_put(&fr->held, p, n);
	else
		forward(out, p, n);
}

/* The current frame has passed: what a frame fault does with it. */
static void frame_end(struct framer *fr, struct queue *out)
{
	if (fault < FAULT_DROP_FRAME || fault_done)
		return;
	struct queue *held = &fr->held;
	unsigned long long k = (unsigned long long)fault_at;
	if (fr->frame == fault_at && fault == FAULT_DROP_FRAME) {
		say("dropped frame %llu (%s)", k, frame_desc(fr, q_size(held)));
		fault_done = true;
	} else if (fr->frame == fault_at && fault == FAULT_REPEAT_FRAME) {
		forward(out, held->data + held->off, q_size(held));
		forward(out, held->data + held->off, q_size(held));
		say("repeated frame %llu (%s)", k, frame_desc(fr, q_size(held)));
		fault_done = true;
	} else if (fr->frame == fault_at + 1 && fault == FAULT_SWAP_FRAMES) {
		forward(out, held->data + held->off, q_size(held));
		say("swapped frames %llu and %llu (the second: %s)", k, k + 1, frame_desc(fr, fr->payload_pos + FRAME_HEADER));
		fault_done = true;
	}
}

/* Feeds the bytes read from the client to the framer, which applies a
 * flip on the way and puts what is to be forwarded into out. */
static void frame_bytes(struct framer *fr, uint8_t *data, size_t n, uint64_t base, struct queue *out)
{
	size_t i = 0;
	while (i < n && !fr->cut) {
		uint64_t at = base + i;
		size_t take = 1;
		if (fr->hdr_pos < FRAME_HEADER) {
			if (fr->hdr_pos == 0 && fault == FAULT_CUT_FRAME && fr->frame == fault_at) {
				fr->cut = true;
				fault_done = true;
				say("cut at frame %llu (byte %llu)", (unsigned long long)fr->frame, (unsigned long long)at);
				break;
			}
			if (fr->hdr_pos == 0 && fault == FAULT_FLIP_HEADER && !fault_done && at >= fault_at)
				fault_at = at + 4; /* this header's length field: flipped below */
			fr->hdr[fr->hdr_pos] = data[i]; /* as sent, before any flip */
			bool flip = (fault == FAULT_FLIP || fault == FAULT_FLIP_HEADER) && !fault_done && at == fault_at &&
				    (fault == FAULT_FLIP || fr->hdr_pos == 4);
			if (flip) {
				data[i] ^= 1;
				fault_done = true;
				say("flipped %llu (frame %llu header byte %u)", (unsigned long long)at,
				    (unsigned long long)fr->frame, fr->hdr_pos);
			}
			route(fr, out, data + i, 1);
			if (++fr->hdr_pos == FRAME_HEADER) {
				fr->payload_left = (uint64_t)fr->hdr[4] | (uint64_t)fr->hdr[5] << 8 |
						   (uint64_t)fr->hdr[6] << 16 | (uint64_t)fr->hdr[7] << 24;
				fr->payload_pos = 0;
			}
		} else {
			take = n - i < fr->payload_left ? n - i : (size_t)fr->payload_left;
			if (fault == FAULT_FLIP && !fault_done && fault_at >= at && fault_at < at + take) {
				data[i + (fault_at - at)] ^= 1;
				fault_done = true;
				say("flipped %llu (frame %llu payload byte %llu)", (unsigned long long)fault_at,
				    (unsigned long long)fr->frame, (unsigned long long)(fr->payload_pos + (fault_at - at)));
			}
			route(fr, out, data + i, take);
			fr->payload_left -= take;
			fr->payload_pos += take;
		}
		i += take;
		if (fr->hdr_pos == FRAME_HEADER && fr->payload_left == 0) {
			frame_end(fr, out);
			fr->frame++;
			fr->hdr_pos = 0;
		}
	}
}

/* Where the server -> client stream is in its frames (--flip-back-frame). */
static struct {
	uint64_t frame;
	unsigned hdr_pos;
	uint8_t hdr[FRAME_HEADER];
	uint64_t payload_left;
} back;

/* The server's bytes on their way to the client, one flipped by
 * --flip-back-at or --flip-back-frame. */
static void flip_back(uint8_t *data, size_t n, uint64_t base, struct queue *out)
{
	if (fault == FAULT_FLIP_BACK && !fault_done && fault_at >= base && fault_at < base + n) {
		data[fault_at - base] ^= 1;
		fault_done = true;
		say("flipped back %llu", (unsigned long long)fault_at);
	}
	for (size_t i = 0; i < n && fault == FAULT_FLIP_BACK_FRAME && !fault_done;) {
		if (back.hdr_pos < FRAME_HEADER) {
			back.hdr[back.hdr_pos++] = data[i++];
			if (back.hdr_pos == FRAME_HEADER)
				back.payload_left = (uint64_t)back.hdr[4] | (uint64_t)back.hdr[5] << 8 |
						    (uint64_t)back.hdr[6] << 16 | (uint64_t)back.hdr[7] << 24;
		} else if (back.frame == fault_at) {
			data[i] ^= 1;
			fault_done = true;
			say("flipped back %llu (frame %llu payload byte 0)", (unsigned long long)(base + i),
			    (unsigned long long)back.frame);
		} else {
			size_t take = n - i < back.payload_left ? n - i : (size_t)back.payload_left;
			i += take;
			back.payload_left -= take;
		}
		if (back.hdr_pos == FRAME_HEADER && back.payload_left == 0 && !fault_done) {
			back.frame++;
			back.hdr_pos = 0;
		}
	}
	q_put(out, data, n);
}

/* --replay FILE TARGET: sends FILE to the target as one client would, and
 * reads what comes back until the server closes. */
static int replay(const char *file, const struct sockaddr_storage *target, socklen_t target_len, int idle_ms)
{
	FILE *f = fopen(file, "rb");
	if (!f) {
		fprintf(stderr, "faultproxy: cannot read %s: %s\n", file, strerror(errno));
		return 1;
	}
	struct queue data = {0};
	uint8_t buf[BUF_SIZE];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		q_put(&data, buf, n);
	fclose(f);
	int fd = connect_to(target, target_len, idle_ms);
	if (fd < 0) {
		fprintf(stderr, "faultproxy: cannot connect: %s\n", strerror(errno));
		return 1;
	}
	say("connected");
	uint64_t back = 0;
	bool sending = true;
	for (;;) {
		if (sending && !q_size(&data)) {
			shutdown(fd, SHUT_WR);
			sending = false;
		}
		struct pollfd p = {fd, (short)(POLLIN | (sending ? POLLOUT : 0)), 0};
		int r = poll(&p, 1, idle_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "faultproxy: %s\n", r == 0 ? "idle timeout" : strerror(errno));
			close(fd);
			return 1;
		}
		if (p.revents & POLLIN) {
			ssize_t got = read(fd, buf, sizeof buf);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0)
				break; /* the server closed (or reset): the replay is over */
			back += (uint64_t)got;
		} else if (p.revents & POLLOUT) {
			ssize_t put = send(fd, data.data + data.off, q_size(&data), MSG_NOSIGNAL);
			if (put < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (put < 0) {
				sending = false; /* the server went away: what it said is still to read */
				data.off = data.len;
				continue;
			}
			data.off += (size_t)put;
		} else {
			break;
		}
	}
	close(fd);
	say("replayed %zu back %llu", data.off, (unsigned long long)back);
	return 0;
}

static void parse_u64(const char *text, uint64_t *out, int *bad)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || !*text || *end || text[0] == '-')
		*bad = 1;
	*out = v;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	uint64_t idle_s = 60;
	int bad = 0;
	const char *record_path = NULL, *replay_path = NULL;
	bool replaying = strcmp(argv[1], "--replay") == 0;
	int first = 3;
	if (replaying) {
		if (argc < 4)
			return usage();
		replay_path = argv[2];
		first = 4;
	}
	for (int i = first; i < argc; i++) {
		static const struct { const char *name; enum fault f; } opts[] = {
			{"--drop-after", FAULT_DROP}, {"--flip-at", FAULT_FLIP},
			{"--flip-header-after", FAULT_FLIP_HEADER}, {"--hold-after", FAULT_HOLD},
			{"--flip-back-at", FAULT_FLIP_BACK}, {"--flip-back-frame", FAULT_FLIP_BACK_FRAME},
			{"--drop-frame", FAULT_DROP_FRAME}, {"--repeat-frame", FAULT_REPEAT_FRAME},
			{"--swap-frames", FAULT_SWAP_FRAMES}, {"--cut-frame", FAULT_CUT_FRAME},
		};
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--idle") == 0) {
			parse_u64(argv[++i], &idle_s, &bad);
			continue;
		}
		if (strcmp(argv[i], "--record") == 0 && !replaying) {
			record_path = argv[++i];
			continue;
		}
		bool known = false;
		for (size_t k = 0; k < sizeof opts / sizeof opts[0] && !replaying; k++) {
			if (strcmp(argv[i], opts[k].name) == 0) {
				if (fault != FAULT_NONE)
					return usage();
				fault = opts[k].f;
				parse_u64(argv[++i], &fault_at, &bad);
				known = true;
			}
		}
		if (!known)
			return usage();
	}
	if (bad || idle_s == 0 || idle_s > 3600)
		return usage();
	int idle_ms = (int)idle_s * 1000;

	struct sockaddr_storage listen_addr, target_addr;
	socklen_t listen_len, target_len;
	if ((!replaying && resolve(argv[1], &listen_addr, &listen_len) < 0) ||
	    resolve(replaying ? argv[3] : argv[2], &target_addr, &target_len) < 0) {
		fprintf(stderr, "faultproxy: addresses are numeric ADDR:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (replaying)
		return replay(replay_path, &target_addr, target_len, idle_ms);
	if (record_path && !(record = fopen(record_path, "wbe"))) {
		fprintf(stderr, "faultproxy: cannot create %s: %s\n", record_path, strerror(errno));
		return 1;
	}
	if (record)
		setvbuf(record, NULL, _IONBF, 0); /* complete on any exit */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	int lfd = socket(listen_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (sfd < 0 || lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&listen_addr, listen_len) < 0 || listen(lfd, 1) < 0) {
		fprintf(stderr, "faultproxy: cannot listen on %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	say("listening");
	if (wait_fd(lfd, POLLIN, idle_ms) != 1) {
		fprintf(stderr, "faultproxy: no connection within %llu s\n", (unsigned long long)idle_s);
		return 1;
	}
	int client = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	close(lfd);
	if (client < 0) {
		fprintf(stderr, "faultproxy: accept: %s\n", strerror(errno));
		return 1;
	}
	int server = connect_to(&target_addr, target_len, idle_ms);
	if (server < 0) {
		fprintf(stderr, "faultproxy: cannot connect to %s: %s\n", argv[2], strerror(errno));
		reset_close(client);
		return 1;
	}
	say("connected");

	static struct direction up, down; /* client -> server, server -> client */
	static uint8_t buf[BUF_SIZE];
	up.from = client, up.to = server;
	down.from = server, down.to = client;
	struct framer fr = {0};
	bool holding = false;
	/* Faults that stop forwarding once fault_at client bytes have gone through. */
	bool limited = fault == FAULT_DROP || fault == FAULT_HOLD;
	for (;;) {
		if (limited && !fault_done && up.count == fault_at && !q_size(&up.q)) {
			fault_done = true;
			if (fault == FAULT_DROP) {
				close(client);
				close(server);
				say("dropped %llu", (unsigned long long)up.count);
				return 0;
			}
			holding = true;
			say("holding %llu", (unsigned long long)up.count);
		}
		/* After a cut, the stream ends once everything before it is through. */
		if ((fr.cut && !q_size(&up.q)) || (up.shut && down.shut))
			break;
		struct direction *dirs[2] = {&up, &down};
		struct pollfd p[5];
		int np = 0;
		p[np++] = (struct pollfd){sfd, POLLIN, 0};
		int idx[2][2]; /* [direction][0: read fd slot, 1: write fd slot], -1 none */
		for (int d = 0; d < 2; d++) {
			struct direction *dir = dirs[d];
			idx[d][0] = idx[d][1] = -1;
			bool may_read = !dir->eof && !q_size(&dir->q) &&
					!(d == 0 && (holding || fr.cut || (limited && !fault_done && up.count == fault_at)));
			if (may_read) {
				idx[d][0] = np;
				p[np++] = (struct pollfd){dir->from, POLLIN, 0};
			}
			if (q_size(&dir->q)) {
				idx[d][1] = np;
				p[np++] = (struct pollfd){dir->to, POLLOUT, 0};
			}
		}
		int n = poll(p, (nfds_t)np, idle_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "faultproxy: %s\n", n == 0 ? "idle timeout" : strerror(errno));
			reset_close(client);
			reset_close(server);
			return 1;
		}
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == sizeof si) {
				if (si.ssi_signo == SIGUSR1 && holding) {
					holding = false;
					say("released");
				} else if (si.ssi_signo != SIGUSR1) {
					reset_close(client);
					reset_close(server);
					say("closed on signal %u: up %llu down %llu", si.ssi_signo,
					    (unsigned long long)up.count, (unsigned long long)down.count);
					return 0;
				}
			}
		}
		for (int d = 0; d < 2; d++) {
			struct direction *dir = dirs[d];
			int r = idx[d][0], w = idx[d][1];
			if (r >= 0 && p[r].revents) {
				size_t cap = BUF_SIZE;
				if (d == 0 && limited && !fault_done && fault_at - up.count < cap)
					cap = (size_t)(fault_at - up.count);
				ssize_t got = read(dir->from, buf, cap);
				if (got < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				if (got < 0 && d == 0) {
					int e = errno;
					reset_close(client);
					reset_close(server);
					say("closed: client side: %s: up %llu down %llu", strerror(e),
					    (unsigned long long)up.count, (unsigned long long)down.count);
					return 0;
				}
				if (got < 0 || (got == 0 && d == 1 && holding)) {
					/* The server reset, or ended while the client is
					 * held (no write will ever find out that it is
					 * gone). */
					const char *why = got < 0 ? strerror(errno) : "ended";
					drain_server_then_reset(&down, idle_ms);
					say("closed: server side %s%s: up %llu down %llu", why, holding ? " while holding" : "",
					    (unsigned long long)up.count, (unsigned long long)down.count);
					return 0;
				}
				if (got == 0) {
					dir->eof = true;
				} else {
					if (d == 0)
						frame_bytes(&fr, buf, (size_t)got, dir->count, &dir->q);
					else
						flip_back(buf, (size_t)got, dir->count, &dir->q);
					dir->count += (uint64_t)got;
				}
			}
			if (w >= 0 && p[w].revents) {
				ssize_t put = write(dir->to, dir->q.data + dir->q.off, q_size(&dir->q));
				if (put < 0 && (errno == EINTR || errno == EAGAIN))
					continue;
				if (put < 0) {
					int e = errno;
					if (d == 0) {
						drain_server_then_reset(&down, idle_ms);
					} else {
						reset_close(client);
						reset_close(server);
					}
					say("closed: writing to the %s: %s: up %llu down %llu", d == 0 ? "server" : "client",
					    strerror(e), (unsigned long long)up.count, (unsigned long long)down.count);
					return 0;
				}
				dir->q.off += (size_t)put;
			}
			if (dir->eof && !q_size(&dir->q) && !dir->shut) {
				shutdown(dir->to, SHUT_WR);
				dir->shut = true;
			}
		}
	}
	if (record)
		fclose(record);
	close(client);
	close(server);
	say("closed up %llu down %llu", (unsigned long long)up.count, (unsigned long long)down.count);
	return 0;
}

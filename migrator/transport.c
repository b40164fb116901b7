/* Framing, plain and sealed (the cryptography is seal.c's), the small
 * messages (ERROR, ABORT, RESULT) and the image stream over IMAGE_DATA
 * frames.  Layout and rules: docs/protocol.md. */
#include "transport.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fault.h"
#include "wire.h"

/* How long a wait may last: timeout_ms for each wait, or until an absolute
 * deadline when deadline_ns is set (timeout_ms then only for messages). */
struct wait_spec {
	int timeout_ms;
	uint64_t deadline_ns;
};

struct frame_header {
	uint8_t raw[BM_FRAME_HEADER_SIZE]; /* as received: a sealed frame's associated data */
	uint8_t type;
	uint32_t len;            /* bytes after the header, a sealed frame's tag included */
	uint32_t plain;          /* payload bytes once opened */
	uint32_t payload_crc;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *bm_msg_name(unsigned type)
{
	static const char *const names[] = {
		[BM_MSG_HELLO] = "HELLO",     [BM_MSG_CHALLENGE] = "CHALLENGE",   [BM_MSG_PROOF] = "PROOF",
		[BM_MSG_IMAGE_DATA] = "IMAGE_DATA", [BM_MSG_IMAGE_END] = "IMAGE_END", [BM_MSG_RESULT] = "RESULT",
		[BM_MSG_CONFIRM] = "CONFIRM", [BM_MSG_ABORT] = "ABORT",           [BM_MSG_ERROR] = "ERROR",
		[BM_MSG_START] = "START",
		[BM_MSG_PROFILE] = "PROFILE",
		[BM_MSG_PRECOPY_BEGIN] = "PRECOPY_BEGIN", [BM_MSG_PRECOPY_PAGES] = "PRECOPY_PAGES",
		[BM_MSG_PRECOPY_ROUND] = "PRECOPY_ROUND", [BM_MSG_PRECOPY_KEEP] = "PRECOPY_KEEP",
		[BM_MSG_PRECOPY_KEEP_END] = "PRECOPY_KEEP_END", [BM_MSG_RUNNING] = "RUNNING",
		[BM_MSG_MEM_PLAN] = "MEM_PLAN", [BM_MSG_MEM_READY] = "MEM_READY",
		[BM_MSG_POSTCOPY_RUNS] = "POSTCOPY_RUNS", [BM_MSG_POSTCOPY_RUNS_END] = "POSTCOPY_RUNS_END",
		[BM_MSG_POSTCOPY_PAGES] = "POSTCOPY_PAGES", [BM_MSG_POSTCOPY_REQUEST] = "POSTCOPY_REQUEST",
		[BM_MSG_POSTCOPY_DONE] = "POSTCOPY_DONE",
		[BM_MSG_MOVE_ADDRS] = "MOVE_ADDRS", [BM_MSG_MOVE_ADDRS_OK] = "MOVE_ADDRS_OK",
	};
	if (type < sizeof names / sizeof names[0] && names[type])
		return names[type];
	return "unknown";
}

/* 0 when fd is ready for events, -ETIMEDOUT, or another negative errno. */
static int wait_ready(int fd, short events, const struct wait_spec *w)
{
	for (;;) {
		int ms = w->timeout_ms;
		if (w->deadline_ns) {
			uint64_t now = now_ns();
			if (now >= w->deadline_ns)
				return -ETIMEDOUT;
			uint64_t left_ms = (w->deadline_ns - now + 999999) / 1000000;
			ms = left_ms > INT_MAX ? INT_MAX : (int)left_ms;
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, ms);
		if (n > 0)
			return (p.revents & POLLNVAL) ? -EBADF : 0;
		if (n == 0 && !w->deadline_ns)
			return -ETIMEDOUT;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Reads exactly len bytes.  0 when done, 1 at end of stream, or a negative
 * errno; *got says how many bytes arrived in every case.  Reports nothing. */
static int recv_exact(int fd, void *buf, size_t len, const struct wait_spec *w, size_t *got)
{
	size_t done = 0;
	int ret = 0;
	while (done < len) {
		ssize_t n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0) {
			ret = 1;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			ret = -errno;
			break;
		}
		ret = wait_ready(fd, POLLIN, w);
		if (ret < 0)
			break;
	}
	*got = done;
	return ret;
}

/* Sends everything in iov (which it advances in place).  Reports nothing. */
static int send_all(int fd, struct iovec *iov, int iovcnt, const struct wait_spec *w)
{
	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)(iovcnt < IOV_MAX ? iovcnt : IOV_MAX) };
		ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int r = wait_ready(fd, POLLOUT, w);
			if (r < 0)
				return r;
			continue;
		}
		size_t left = (size_t)n;
		while (left > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (left > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* The fault points of sending and of expecting each message of a
 * migration (fault.h); BM_FP_NONE for the others. */
static enum bm_fault_point send_point(uint8_t type)
{
	switch (type) {
	case BM_MSG_HELLO: return BM_FP_SEND_HELLO;
	case BM_MSG_PROOF: return BM_FP_SEND_PROOF;
	case BM_MSG_START: return BM_FP_SEND_START;
	case BM_MSG_IMAGE_DATA: return BM_FP_SEND_IMAGE;
	case BM_MSG_IMAGE_END: return BM_FP_SEND_IMAGE_END;
	case BM_MSG_RESULT: return BM_FP_SEND_RESULT;
	case BM_MSG_CONFIRM: return BM_FP_SEND_CONFIRM;
	default: return BM_FP_NONE;
	}
}

static enum bm_fault_point recv_point(uint8_t type)
{
	switch (type) {
	case BM_MSG_CHALLENGE: return BM_FP_RECV_CHALLENGE;
	case BM_MSG_PROOF: return BM_FP_RECV_PROOF;
	case BM_MSG_START: return BM_FP_RECV_START;
	case BM_MSG_RESULT: return BM_FP_RECV_RESULT;
	case BM_MSG_CONFIRM: return BM_FP_RECV_CONFIRM;
	default: return BM_FP_NONE;
	}
}

void bm_frame_header_encode(uint8_t out[BM_FRAME_HEADER_SIZE], uint8_t type, uint32_t len, uint32_t payload_crc)
{
	out[0] = BM_FRAME_MAGIC0;
	out[1] = BM_FRAME_MAGIC1;
	out[2] = BM_PROTO_VERSION;
	out[3] = type;
	bm_store_le32(out + 4, len);
	bm_store_le32(out + 8, payload_crc);
	bm_store_le32(out + 12, bm_crc32c(0, out, 12));
}

size_t bm_conn_max_payload(const struct bm_conn *c)
{
	return BM_FRAME_MAX_PAYLOAD - (c->suite ? BM_SEAL_TAG_LEN : 0);
}

size_t bm_conn_frame_size(const struct bm_conn *c, size_t len)
{
	return BM_FRAME_HEADER_SIZE + len + (c->suite ? BM_SEAL_TAG_LEN : 0);
}

static int report_send_error(int err, uint8_t type, const struct wait_spec *w)
{
	if (err == -ETIMEDOUT)
		bm_error(BM_EXIT_NETWORK, "timed out after %d ms sending %s: the peer does not read", w->timeout_ms,
			 bm_msg_name(type));
	else if (err == -EPIPE || err == -ECONNRESET)
		bm_error(BM_EXIT_NETWORK, "connection closed by peer while sending %s", bm_msg_name(type));
	else
		bm_error_errno(BM_EXIT_NETWORK, -err, "sending %s", bm_msg_name(type));
	return err;
}

/* A plain frame: header with the payload's CRC, then the payload as it is. */
static int send_plain(int fd, uint8_t type, const struct iovec *iov, int iovcnt, size_t len, const struct wait_spec *w)
{
	uint32_t crc = 0;
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			crc = bm_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	uint8_t header[BM_FRAME_HEADER_SIZE];
	bm_frame_header_encode(header, type, (uint32_t)len, crc);

	struct iovec local[16];
	struct iovec *all = local;
	if (iovcnt + 1 > (int)(sizeof local / sizeof local[0])) {
		all = malloc(sizeof *all * ((size_t)iovcnt + 1));
		if (!all)
			return -ENOMEM;
	}
	all[0] = (struct iovec){ .iov_base = header, .iov_len = sizeof header };
	memcpy(all + 1, iov, sizeof *iov * (size_t)iovcnt);
	int r = send_all(fd, all, iovcnt + 1, w);
	if (all != local)
		free(all);
	return r;
}

struct emit_ctx {
	int fd;
	const struct wait_spec *w;
};

static int emit_to_socket(void *ctx, struct iovec *iov, int iovcnt)
{
	struct emit_ctx *e = ctx;
	return send_all(e->fd, iov, iovcnt, e->w);
}

/* Sends one frame, sealed on a sealed connection; *wire_bytes (if given)
 * grows by what was sent.  A failure is reported only when `report` is
 * set. */
static int send_frame_quietly(struct bm_conn *c, uint8_t type, const struct iovec *iov, int iovcnt,
			      const struct wait_spec *w, uint64_t *wire_bytes, bool report)
{
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > bm_conn_max_payload(c)) {
		if (report)
			bm_error(BM_EXIT_FAILURE, "internal error: %s frame of %zu bytes exceeds the %zu-byte limit",
				 bm_msg_name(type), len, bm_conn_max_payload(c));
		return -EMSGSIZE;
	}
	int r = bm_fault_rc(send_point(type));
	if (r == 0 && c->suite) {
		struct emit_ctx e = { c->fd, w };
		r = bm_seal_frame(&c->send, type, iov, iovcnt, c->scratch, emit_to_socket, &e);
		len += BM_SEAL_TAG_LEN;
	} else if (r == 0) {
		r = send_plain(c->fd, type, iov, iovcnt, len, w);
	}
	if (r == -ENOMEM && report)
		return bm_error(BM_EXIT_FAILURE, "out of memory sending a frame"), r;
	if (r < 0)
		return report ? report_send_error(r, type, w) : r;
	if (wire_bytes)
		*wire_bytes += BM_FRAME_HEADER_SIZE + len;
	return 0;
}

static int send_frame(struct bm_conn *c, uint8_t type, const struct iovec *iov, int iovcnt, const struct wait_spec *w,
		      uint64_t *wire_bytes)
{
	return send_frame_quietly(c, type, iov, iovcnt, w, wire_bytes, true);
}

/* Reports a failed or short receive of a frame's header or payload. */
static int report_recv_error(int r, size_t got, size_t want, bool header, const char *waiting_for,
			     const struct wait_spec *w)
{
	const char *what = header ? "header" : "payload";
	if (r == 1 && got == 0 && header) {
		bm_error(BM_EXIT_NETWORK, "connection closed by peer while waiting for %s", waiting_for);
		return -ECONNRESET;
	}
	if (r == 1) {
		bm_error(BM_EXIT_NETWORK,
			 "connection closed by peer in the middle of a frame (%zu of %zu %s bytes received, waiting for %s)",
			 got, want, what, waiting_for);
		return -ECONNABORTED;
	}
	if (r == -ETIMEDOUT) {
		if (w->deadline_ns)
			bm_error(BM_EXIT_NETWORK, "timed out waiting for %s: the exchange did not finish within %d ms",
				 waiting_for, w->timeout_ms);
		else
			bm_error(BM_EXIT_NETWORK, "timed out waiting for %s: nothing from the peer for %d ms",
				 waiting_for, w->timeout_ms);
		return r;
	}
	bm_error_errno(BM_EXIT_NETWORK, -r, "receiving %s", waiting_for);
	return r;
}

/* On a sealed connection a frame that does not fit is not damage the CRCs
 * happened to catch but a stream someone altered, or cut and spliced:
 * every such failure says so. */
static const char *auth_prefix(bool sealed)
{
	return sealed ? "authentication failed: " : "";
}

/* Checks a received frame header (h->raw): magic, header CRC, version,
 * the protocol's length limit, and for a sealed frame room for its tag
 * and no payload CRC; reports what is wrong. */
static int decode_header(struct frame_header *h, bool sealed)
{
	const uint8_t *raw = h->raw;
	const char *pre = auth_prefix(sealed);
	if (raw[0] != BM_FRAME_MAGIC0 || raw[1] != BM_FRAME_MAGIC1)
		return bm_error(BM_EXIT_NETWORK,
				"%speer does not speak the binmig protocol (frame starts with 0x%02x 0x%02x, expected \"BM\")",
				pre, raw[0], raw[1]),
		       -EPROTO;
	uint32_t want = bm_load_le32(raw + 12), crc = bm_crc32c(0, raw, 12);
	if (crc != want)
		return bm_error(BM_EXIT_NETWORK, "%sframe header CRC mismatch (computed 0x%08x, header says 0x%08x)", pre,
				crc, want),
		       -EBADMSG;
	if (raw[2] != BM_PROTO_VERSION)
		return bm_error(BM_EXIT_NETWORK, "%speer speaks protocol version %u, this binmig speaks version %u", pre,
				raw[2], BM_PROTO_VERSION),
		       -EPROTO;
	h->type = raw[3];
	h->len = bm_load_le32(raw + 4);
	h->payload_crc = bm_load_le32(raw + 8);
	if (h->len > BM_FRAME_MAX_PAYLOAD)
		return bm_error(BM_EXIT_NETWORK, "%speer announced %u bytes of %s in one frame, beyond the protocol's limit of %u",
				pre, h->len, bm_msg_name(h->type), BM_FRAME_MAX_PAYLOAD),
		       -EMSGSIZE;
	h->plain = h->len;
	if (sealed && (h->len < BM_SEAL_TAG_LEN || h->payload_crc != 0))
		return bm_error(BM_EXIT_NETWORK, "%ssealed %s frame of %u bytes with payload CRC field 0x%08x (a sealed "
				"frame has at least its %d-byte tag, and 0 there)", pre, bm_msg_name(h->type), h->len,
				h->payload_crc, BM_SEAL_TAG_LEN),
		       -EPROTO;
	if (sealed)
		h->plain -= BM_SEAL_TAG_LEN;
	return 0;
}

/* Receives and checks a frame header. */
static int recv_header(struct bm_conn *c, struct frame_header *h, const char *waiting_for, const struct wait_spec *w,
		       uint64_t *wire_bytes)
{
	size_t got;
	int r = recv_exact(c->fd, h->raw, sizeof h->raw, w, &got);
	/* A sealed stream cut at a frame boundary lacks its authenticated end;
	 * nobody can tell a peer that stopped from a cut, so the message names
	 * both.  Either way the exchange fails, it is never taken as complete. */
	if (r == 1 && got == 0 && c->suite != BM_SEAL_NONE)
		return bm_error(BM_EXIT_NETWORK,
				"connection closed by peer while waiting for %s, after %" PRIu64 " sealed frames: "
				"the stream has no authenticated end (the peer stopped, or someone cut the connection)",
				waiting_for, c->recv.seq),
		       -ECONNRESET;
	if (r != 0)
		return report_recv_error(r, got, sizeof h->raw, true, waiting_for, w);
	if (wire_bytes)
		*wire_bytes += sizeof h->raw;
	return decode_header(h, c->suite != BM_SEAL_NONE);
}

static int reject_length(const struct frame_header *h, size_t max, bool sealed)
{
	bm_error(BM_EXIT_NETWORK, "%speer sent %u bytes of %s in one frame, at most %zu expected", auth_prefix(sealed),
		 h->plain, bm_msg_name(h->type), max);
	return -EMSGSIZE;
}

/* A frame of a type that has no place here. */
static int reject_type(const struct frame_header *h, const char *expected, bool sealed)
{
	return bm_error(BM_EXIT_NETWORK, "%speer sent frame type %u (%s) where %s was expected", auth_prefix(sealed),
			h->type, bm_msg_name(h->type), expected),
	       -EPROTO;
}

static int check_payload(const struct frame_header *h, const void *payload)
{
	uint32_t crc = h->len ? bm_crc32c(0, payload, h->len) : 0;
	if (crc != h->payload_crc)
		return bm_error(BM_EXIT_NETWORK, "frame CRC mismatch in %s (%u bytes; computed 0x%08x, header says 0x%08x)",
				bm_msg_name(h->type), h->len, crc, h->payload_crc),
		       -EBADMSG;
	return 0;
}

/* A sealed frame's payload as it arrives (bm_open_frame's fill). */
struct fill_ctx {
	int fd;
	const struct wait_spec *w;
	const char *waiting_for;
	size_t got, want;        /* payload bytes received, expected */
};

static int fill_from_socket(void *ctx, void *buf, size_t len)
{
	struct fill_ctx *f = ctx;
	size_t got;
	int r = recv_exact(f->fd, buf, len, f->w, &got);
	f->got += got;
	return r == 0 ? 0 : report_recv_error(r, f->got, f->want, false, f->waiting_for, f->w);
}

/* Receives a payload whose header was read, into dst (h->plain bytes of
 * room): a plain one with its CRC checked, a sealed one opened in place. */
static int recv_payload(struct bm_conn *c, const struct frame_header *h, void *dst, const char *waiting_for,
			const struct wait_spec *w, uint64_t *wire_bytes)
{
	if (!c->suite) {
		size_t got;
		int r = recv_exact(c->fd, dst, h->len, w, &got);
		if (r != 0)
			return report_recv_error(r, got, h->len, false, waiting_for, w);
		if (wire_bytes)
			*wire_bytes += h->len;
		return check_payload(h, dst);
	}
	struct fill_ctx f = { c->fd, w, waiting_for, 0, h->len };
	uint64_t seq = c->recv.seq;
	int r = bm_open_frame(&c->recv, h->raw, dst, h->plain, fill_from_socket, &f);
	if (wire_bytes)
		*wire_bytes += f.got;
	if (r == -EBADMSG)
		bm_error(BM_EXIT_NETWORK, "authentication failed: sealed %s frame %llu from the peer does not verify "
			 "(altered, dropped, repeated or out of order)", bm_msg_name(h->type), (unsigned long long)seq);
	return r;
}

/* Reads the payload of an ERROR or ABORT frame and reports the peer's
 * message.  Returns -EREMOTEIO or -ECANCELED, or the receive error. */
static int report_peer_message(struct bm_conn *c, const struct frame_header *h, const char *waiting_for,
			       const struct wait_spec *w, uint64_t *wire_bytes)
{
	uint8_t payload[4 + BM_MESSAGE_MAX];
	if (h->plain > sizeof payload)
		return reject_length(h, sizeof payload, c->suite);
	int r = recv_payload(c, h, payload, waiting_for, w, wire_bytes);
	if (r < 0)
		return r;
	enum bm_exit class;
	char msg[BM_MESSAGE_MAX + 1];
	r = bm_decode_message(payload, h->plain, &class, msg, sizeof msg);
	if (r < 0)
		return r;
	if (h->type == BM_MSG_ABORT) {
		bm_error(class, "peer aborted the migration: %s", msg);
		return -ECANCELED;
	}
	bm_error(class, "peer reported an error: %s", msg);
	return -EREMOTEIO;
}

int bm_frame_send(struct bm_conn *c, enum bm_msg_type type, const struct iovec *iov, int iovcnt, int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms };
	return send_frame(c, (uint8_t)type, iov, iovcnt, &w, NULL);
}

int bm_frame_send_buf(struct bm_conn *c, enum bm_msg_type type, const void *buf, size_t len, int timeout_ms)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return bm_frame_send(c, type, &iov, len ? 1 : 0, timeout_ms);
}

int bm_frame_send_until(int fd, enum bm_msg_type type, const void *buf, size_t len, uint64_t deadline_ns,
			int timeout_ms)
{
	struct bm_conn c = bm_conn_plain(fd);
	struct wait_spec w = { .timeout_ms = timeout_ms, .deadline_ns = deadline_ns };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return send_frame(&c, (uint8_t)type, &iov, len ? 1 : 0, &w, NULL);
}

int bm_frame_recv(struct bm_conn *c, uint8_t *type, void *buf, size_t max, size_t *len, int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms };
	struct frame_header h;
	int r = recv_header(c, &h, "a frame", &w, NULL);
	if (r < 0)
		return r;
	if (h.type < BM_MSG_HELLO || h.type > BM_MSG_LAST || strcmp(bm_msg_name(h.type), "unknown") == 0)
		return bm_error(BM_EXIT_NETWORK, "%speer sent a frame of unknown type %u", auth_prefix(c->suite), h.type),
		       -EPROTO;
	if (h.plain > max)
		return reject_length(&h, max, c->suite);
	r = recv_payload(c, &h, buf, bm_msg_name(h.type), &w, NULL);
	if (r < 0)
		return r;
	*type = h.type;
	*len = h.plain;
	return 0;
}

static int expect_frame(struct bm_conn *c, enum bm_msg_type type, void *buf, size_t max, size_t *len,
			const struct wait_spec *w)
{
	const char *name = bm_msg_name(type);
	struct frame_header h;
	int r = bm_fault_rc(recv_point(type));
	if (r < 0)
		return report_recv_error(r, 0, BM_FRAME_HEADER_SIZE, true, name, w);
	r = recv_header(c, &h, name, w, NULL);
	if (r < 0)
		return r;
	if (h.type != type && (h.type == BM_MSG_ERROR || h.type == BM_MSG_ABORT))
		return report_peer_message(c, &h, name, w, NULL);
	if (h.type != type)
		return reject_type(&h, name, c->suite);
	if (h.plain > max)
		return reject_length(&h, max, c->suite);
	r = recv_payload(c, &h, buf, name, w, NULL);
	if (r < 0)
		return r;
	*len = h.plain;
	return 0;
}

int bm_frame_expect(struct bm_conn *c, enum bm_msg_type type, void *buf, size_t max, size_t *len, int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms };
	return expect_frame(c, type, buf, max, len, &w);
}

int bm_frame_expect_until(int fd, enum bm_msg_type type, void *buf, size_t max, size_t *len, uint64_t deadline_ns,
			  int timeout_ms)
{
	struct bm_conn c = bm_conn_plain(fd);
	struct wait_spec w = { .timeout_ms = timeout_ms, .deadline_ns = deadline_ns };
	return expect_frame(&c, type, buf, max, len, &w);
}

size_t bm_frame_encode(uint8_t *out, enum bm_msg_type type, const void *payload, size_t len)
{
	bm_frame_header_encode(out, (uint8_t)type, (uint32_t)len, len ? bm_crc32c(0, payload, len) : 0);
	if (len)
		memcpy(out + BM_FRAME_HEADER_SIZE, payload, len);
	return BM_FRAME_HEADER_SIZE + len;
}

/* ---- Frames received piece by piece ---- */

void bm_frame_in_init(struct bm_frame_in *f, void *payload, size_t max)
{
	memset(f, 0, sizeof *f);
	f->payload = payload;
	f->max = max;
}

int bm_frame_in_recv(int fd, struct bm_frame_in *f, const char *waiting_for)
{
	for (;;) {
		bool in_header = f->got < BM_FRAME_HEADER_SIZE;
		uint8_t *dst = in_header ? f->raw + f->got : f->payload + (f->got - BM_FRAME_HEADER_SIZE);
		size_t want = in_header ? BM_FRAME_HEADER_SIZE - f->got : BM_FRAME_HEADER_SIZE + f->len - f->got;
		if (want == 0)
			break;
		/* Never past the frame's end: what follows belongs to whoever
		 * reads the connection next. */
		ssize_t n = recv(fd, dst, want, MSG_DONTWAIT);
		if (n == 0) {
			struct wait_spec w = { 0 };
			return report_recv_error(1, in_header ? f->got : f->got - BM_FRAME_HEADER_SIZE,
						 in_header ? BM_FRAME_HEADER_SIZE : f->len, in_header, waiting_for, &w);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return 0;
			return bm_error_errno(BM_EXIT_NETWORK, e, "receiving %s", waiting_for), -e;
		}
		f->got += (size_t)n;
		if (in_header && f->got == BM_FRAME_HEADER_SIZE) {
			struct frame_header h;
			memcpy(h.raw, f->raw, sizeof h.raw);
			int r = decode_header(&h, false);
			if (r < 0)
				return r;
			if (h.len > f->max)
				return reject_length(&h, f->max, false);
			f->type = h.type;
			f->len = h.len;
			f->payload_crc = h.payload_crc;
		}
	}
	struct frame_header h = { .type = f->type, .len = f->len, .payload_crc = f->payload_crc };
	int r = check_payload(&h, f->payload);
	return r < 0 ? r : 1;
}

/* ---- ERROR and ABORT (their payloads: messages.c) ---- */

int bm_send_message(struct bm_conn *c, enum bm_msg_type type, enum bm_exit class, const char *message, int timeout_ms)
{
	uint8_t payload[4 + BM_MESSAGE_MAX];
	struct iovec iov = { .iov_base = payload, .iov_len = bm_encode_message(payload, class, message) };
	struct wait_spec w = { .timeout_ms = timeout_ms };
	/* Not reported: the caller is failing already and has said why. */
	return send_frame_quietly(c, (uint8_t)type, &iov, 1, &w, NULL, false);
}

/* ---- The image stream, sending side ---- */

int bm_frame_sink_init(struct bm_wire_sink *ws, bm_frame_send_fn send, void *ctx, size_t frame_max)
{
	memset(ws, 0, sizeof *ws);
	ws->send = send;
	ws->send_ctx = ctx;
	ws->frame_max = frame_max;
	ws->buf = malloc(BM_WIRE_CHUNK);
	if (!ws->buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory for the image stream buffer"), -ENOMEM;
	return 0;
}

static int send_on_conn(void *ctx, uint8_t type, const struct iovec *iov, int iovcnt, uint64_t *wire_bytes)
{
	struct bm_wire_sink *ws = ctx;
	struct wait_spec w = { .timeout_ms = ws->timeout_ms };
	return send_frame(ws->conn, type, iov, iovcnt, &w, wire_bytes);
}

int bm_wire_sink_init(struct bm_wire_sink *ws, struct bm_conn *c, int timeout_ms)
{
	int r = bm_frame_sink_init(ws, send_on_conn, ws, bm_conn_max_payload(c));
	ws->conn = c;
	ws->timeout_ms = timeout_ms;
	return r;
}

/* Sends iov as IMAGE_DATA frames of at most ws->frame_max bytes, cutting
 * entries where a frame is full. */
static int send_image_frames(struct bm_wire_sink *ws, const struct iovec *iov, int iovcnt)
{
	struct iovec local[16];
	struct iovec *part = local;
	if (iovcnt > (int)(sizeof local / sizeof local[0])) {
		part = malloc(sizeof *part * (size_t)iovcnt);
		if (!part)
			return bm_error(BM_EXIT_FAILURE, "out of memory sending the image"), -ENOMEM;
	}
	int i = 0, r = 0;
	size_t offset = 0;
	while (i < iovcnt) {
		int n = 0;
		size_t frame_len = 0;
		while (i < iovcnt && frame_len < ws->frame_max) {
			size_t take = iov[i].iov_len - offset;
			if (take > ws->frame_max - frame_len)
				take = ws->frame_max - frame_len;
			if (take > 0)
				part[n++] = (struct iovec){ .iov_base = (char *)iov[i].iov_base + offset, .iov_len = take };
			frame_len += take;
			offset += take;
			if (offset == iov[i].iov_len) {
				i++;
				offset = 0;
			}
		}
		if (frame_len == 0)
			break;
		r = ws->send(ws->send_ctx, BM_MSG_IMAGE_DATA, part, n, &ws->wire_bytes);
		if (r < 0)
			break;
		ws->frames++;
	}
	if (part != local)
		free(part);
	return r;
}

static int flush_buffer(struct bm_wire_sink *ws)
{
	if (ws->buffered == 0)
		return 0;
	struct iovec iov = { .iov_base = ws->buf, .iov_len = ws->buffered };
	int r = send_image_frames(ws, &iov, 1);
	ws->buffered = 0;
	return r;
}

static int wire_sink_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct bm_wire_sink *ws = ctx;
	if (ws->failed)
		return -EIO;
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;

	int r = 0;
	if (ws->buffered + total <= BM_WIRE_CHUNK) {
		for (int i = 0; i < iovcnt; i++) {
			memcpy(ws->buf + ws->buffered, iov[i].iov_base, iov[i].iov_len);
			ws->buffered += iov[i].iov_len;
		}
		if (ws->buffered == BM_WIRE_CHUNK)
			r = flush_buffer(ws);
	} else {
		/* What is gathered goes first, in the same frame, uncopied. */
		struct iovec local[17];
		struct iovec *all = local;
		if (iovcnt + 1 > (int)(sizeof local / sizeof local[0])) {
			all = malloc(sizeof *all * ((size_t)iovcnt + 1));
			if (!all) {
				ws->failed = true;
				return bm_error(BM_EXIT_FAILURE, "out of memory sending the image"), -ENOMEM;
			}
		}
		all[0] = (struct iovec){ .iov_base = ws->buf, .iov_len = ws->buffered };
		memcpy(all + 1, iov, sizeof *iov * (size_t)iovcnt);
		r = send_image_frames(ws, all, iovcnt + 1);
		ws->buffered = 0;
		if (all != local)
			free(all);
	}
	if (r < 0) {
		ws->failed = true;
		return r;
	}
	ws->image_bytes += total;
	return 0;
}

struct bm_sink bm_wire_sink_as_sink(struct bm_wire_sink *ws)
{
	return (struct bm_sink){ .writev = wire_sink_writev, .ctx = ws };
}

int bm_wire_sink_finish(struct bm_wire_sink *ws)
{
	if (ws->failed)
		return -EIO;
	int r = flush_buffer(ws);
	if (r == 0) {
		uint8_t count[8];
		bm_store_le64(count, ws->image_bytes);
		struct iovec iov = { .iov_base = count, .iov_len = sizeof count };
		r = ws->send(ws->send_ctx, BM_MSG_IMAGE_END, &iov, 1, &ws->wire_bytes);
	}
	if (r < 0)
		ws->failed = true;
	else
		ws->frames++;
	return r;
}

void bm_wire_sink_free(struct bm_wire_sink *ws)
{
	free(ws->buf);
	ws->buf = NULL;
}

/* ---- The image stream, receiving side ---- */

void bm_frame_source_init(struct bm_wire_source *src, bm_next_frame_fn next, void *ctx)
{
	memset(src, 0, sizeof *src);
	src->next = next;
	src->next_ctx = ctx;
}

uint8_t *bm_wire_source_buffer(struct bm_wire_source *src, size_t len)
{
	if (len > src->buf_size) {
		uint8_t *bigger = realloc(src->buf, len);
		if (!bigger)
			return bm_error(BM_EXIT_FAILURE, "out of memory for a %zu-byte IMAGE_DATA frame", len), NULL;
		src->buf = bigger;
		src->buf_size = len;
	}
	return src->buf;
}

/* The next frame on the connection (bm_next_frame_fn). */
static ssize_t next_stream_frame(struct bm_wire_source *src, uint8_t *dst, size_t room)
{
	static const char waiting_for[] = "the image stream";
	struct wait_spec w = { .timeout_ms = src->timeout_ms };
	struct frame_header h;
	int r = bm_fault_rc(BM_FP_RECV_IMAGE);
	if (r < 0)
		return report_recv_error(r, 0, BM_FRAME_HEADER_SIZE, true, waiting_for, &w);
	bool sealed = src->conn->suite != BM_SEAL_NONE;
	r = recv_header(src->conn, &h, waiting_for, &w, &src->wire_bytes);
	if (r < 0)
		return r;
	if (!src->first_frame_ns)
		src->first_frame_ns = now_ns();
	src->frames++;

	switch (h.type) {
	case BM_MSG_IMAGE_DATA:
		if (h.plain == 0)
			return bm_error(BM_EXIT_NETWORK, "%speer sent an empty IMAGE_DATA frame", auth_prefix(sealed)),
			       -EPROTO;
		/* Where the reader wants the bytes, if they fit: a sealed frame
		 * is opened right there. */
		if (dst && h.plain <= room) {
			r = recv_payload(src->conn, &h, dst, waiting_for, &w, &src->wire_bytes);
			if (r < 0)
				return r;
			src->image_bytes += h.plain;
			return h.plain;
		}
		if (!bm_wire_source_buffer(src, h.plain))
			return -ENOMEM;
		r = recv_payload(src->conn, &h, src->buf, waiting_for, &w, &src->wire_bytes);
		if (r < 0)
			return r;
		src->image_bytes += h.plain;
		src->frame_len = h.plain;
		src->frame_pos = 0;
		return 0;
	case BM_MSG_IMAGE_END: {
		uint8_t count[8];
		if (h.plain != sizeof count)
			return bm_error(BM_EXIT_NETWORK, "%smalformed IMAGE_END from peer (%u bytes, 8 expected)",
					auth_prefix(sealed), h.plain),
			       -EPROTO;
		r = recv_payload(src->conn, &h, count, waiting_for, &w, &src->wire_bytes);
		if (r < 0)
			return r;
		uint64_t sent = bm_load_le64(count);
		if (sent != src->image_bytes)
			return bm_error(BM_EXIT_NETWORK, "image stream: the peer sent %llu bytes but %llu arrived",
					(unsigned long long)sent, (unsigned long long)src->image_bytes),
			       -EPROTO;
		src->ended = true;
		src->end_ns = now_ns();
		return 0;
	}
	case BM_MSG_ERROR:
	case BM_MSG_ABORT:
		return report_peer_message(src->conn, &h, waiting_for, &w, &src->wire_bytes);
	default:
		return reject_type(&h, "IMAGE_DATA or IMAGE_END", sealed);
	}
}

void bm_wire_source_init(struct bm_wire_source *src, struct bm_conn *c, int timeout_ms)
{
	bm_frame_source_init(src, next_stream_frame, NULL);
	src->conn = c;
	src->timeout_ms = timeout_ms;
}

static ssize_t wire_source_read(void *ctx, void *buf, size_t len)
{
	struct bm_wire_source *src = ctx;
	uint8_t *out = buf;
	size_t done = 0;
	while (done < len) {
		if (src->frame_pos < src->frame_len) {
			size_t n = src->frame_len - src->frame_pos;
			if (n > len - done)
				n = len - done;
			memcpy(out + done, src->buf + src->frame_pos, n);
			src->frame_pos += n;
			done += n;
			continue;
		}
		if (src->ended)
			break;
		ssize_t direct = src->next(src, out + done, len - done);
		if (direct < 0)
			return direct;
		done += (size_t)direct;
	}
	if (done == len)
		return (ssize_t)len;
	if (done == 0)
		return 0;
	bm_error(BM_EXIT_IMAGE, "image stream ended after %llu bytes, %zu bytes short of the data being read",
		 (unsigned long long)src->image_bytes, len - done);
	return -ENODATA;
}

struct bm_source bm_wire_source_as_source(struct bm_wire_source *src)
{
	return (struct bm_source){ .read = wire_source_read, .ctx = src };
}

int bm_wire_source_finish(struct bm_wire_source *src)
{
	for (;;) {
		if (src->frame_pos < src->frame_len)
			return bm_error(BM_EXIT_IMAGE, "image stream carries %zu bytes after the end of the image",
					src->frame_len - src->frame_pos),
			       -EPROTO;
		if (src->ended)
			return 0;
		ssize_t r = src->next(src, NULL, 0);
		if (r < 0)
			return (int)r;
	}
}

void bm_wire_source_free(struct bm_wire_source *src)
{
	free(src->buf);
	src->buf = NULL;
	src->buf_size = 0;
}

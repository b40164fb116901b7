/* Framing, the small messages (ERROR, ABORT, RESULT) and the image stream
 * over IMAGE_DATA frames.  Layout and rules: docs/protocol.md. */
#include "transport.h"

#include <errno.h>
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
	uint8_t type;
	uint32_t len;
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

static void encode_header(uint8_t out[BM_FRAME_HEADER_SIZE], uint8_t type, uint32_t len, uint32_t payload_crc)
{
	out[0] = BM_FRAME_MAGIC0;
	out[1] = BM_FRAME_MAGIC1;
	out[2] = BM_PROTO_VERSION;
	out[3] = type;
	bm_store_le32(out + 4, len);
	bm_store_le32(out + 8, payload_crc);
	bm_store_le32(out + 12, bm_crc32c(0, out, 12));
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

/* Sends one frame; *wire_bytes (if given) grows by what was sent.  A
 * failure is reported only when `report` is set. */
static int send_frame_quietly(int fd, uint8_t type, const struct iovec *iov, int iovcnt, const struct wait_spec *w,
			      uint64_t *wire_bytes, bool report)
{
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len > BM_FRAME_MAX_PAYLOAD) {
		if (report)
			bm_error(BM_EXIT_FAILURE, "internal error: %s frame of %zu bytes exceeds the %u-byte limit",
				 bm_msg_name(type), len, BM_FRAME_MAX_PAYLOAD);
		return -EMSGSIZE;
	}

	uint32_t crc = 0;
	for (int i = 0; i < iovcnt; i++)
		if (iov[i].iov_len)
			crc = bm_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	uint8_t header[BM_FRAME_HEADER_SIZE];
	encode_header(header, type, (uint32_t)len, crc);

	struct iovec local[16];
	struct iovec *all = local;
	if (iovcnt + 1 > (int)(sizeof local / sizeof local[0])) {
		all = malloc(sizeof *all * ((size_t)iovcnt + 1));
		if (!all) {
			if (report)
				bm_error(BM_EXIT_FAILURE, "out of memory sending a frame");
			return -ENOMEM;
		}
	}
	all[0] = (struct iovec){ .iov_base = header, .iov_len = sizeof header };
	memcpy(all + 1, iov, sizeof *iov * (size_t)iovcnt);
	int r = bm_fault_rc(send_point(type));
	if (r == 0)
		r = send_all(fd, all, iovcnt + 1, w);
	if (all != local)
		free(all);
	if (r < 0)
		return report ? report_send_error(r, type, w) : r;
	if (wire_bytes)
		*wire_bytes += BM_FRAME_HEADER_SIZE + len;
	return 0;
}

static int send_frame(int fd, uint8_t type, const struct iovec *iov, int iovcnt, const struct wait_spec *w,
		      uint64_t *wire_bytes)
{
	return send_frame_quietly(fd, type, iov, iovcnt, w, wire_bytes, true);
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

/* Checks a received frame header: magic, header CRC, version, and the
 * protocol's length limit; reports what is wrong. */
static int decode_header(const uint8_t raw[BM_FRAME_HEADER_SIZE], struct frame_header *h)
{
	if (raw[0] != BM_FRAME_MAGIC0 || raw[1] != BM_FRAME_MAGIC1)
		return bm_error(BM_EXIT_NETWORK,
				"peer does not speak the binmig protocol (frame starts with 0x%02x 0x%02x, expected \"BM\")",
				raw[0], raw[1]),
		       -EPROTO;
	uint32_t want = bm_load_le32(raw + 12), crc = bm_crc32c(0, raw, 12);
	if (crc != want)
		return bm_error(BM_EXIT_NETWORK, "frame header CRC mismatch (computed 0x%08x, header says 0x%08x)", crc,
				want),
		       -EBADMSG;
	if (raw[2] != BM_PROTO_VERSION)
		return bm_error(BM_EXIT_NETWORK, "peer speaks protocol version %u, this binmig speaks version %u", raw[2],
				BM_PROTO_VERSION),
		       -EPROTO;
	h->type = raw[3];
	h->len = bm_load_le32(raw + 4);
	h->payload_crc = bm_load_le32(raw + 8);
	if (h->len > BM_FRAME_MAX_PAYLOAD)
		return bm_error(BM_EXIT_NETWORK, "peer announced %u bytes of %s in one frame, beyond the protocol's limit of %u",
				h->len, bm_msg_name(h->type), BM_FRAME_MAX_PAYLOAD),
		       -EMSGSIZE;
	return 0;
}

/* Receives and checks a frame header. */
static int recv_header(int fd, struct frame_header *h, const char *waiting_for, const struct wait_spec *w,
		       uint64_t *wire_bytes)
{
	uint8_t raw[BM_FRAME_HEADER_SIZE];
	size_t got;
	int r = recv_exact(fd, raw, sizeof raw, w, &got);
	if (r != 0)
		return report_recv_error(r, got, sizeof raw, true, waiting_for, w);
	if (wire_bytes)
		*wire_bytes += sizeof raw;
	return decode_header(raw, h);
}

static int reject_length(const struct frame_header *h, size_t max)
{
	bm_error(BM_EXIT_NETWORK, "peer sent %u bytes of %s in one frame, at most %zu expected", h->len,
		 bm_msg_name(h->type), max);
	return -EMSGSIZE;
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

/* Receives a payload whose header was read, into dst (h->len bytes of room),
 * and checks its CRC. */
static int recv_payload(int fd, const struct frame_header *h, void *dst, const char *waiting_for,
			const struct wait_spec *w, uint64_t *wire_bytes)
{
	size_t got;
	int r = recv_exact(fd, dst, h->len, w, &got);
	if (r != 0)
		return report_recv_error(r, got, h->len, false, waiting_for, w);
	if (wire_bytes)
		*wire_bytes += h->len;
	return check_payload(h, dst);
}

/* Reads the payload of an ERROR or ABORT frame and reports the peer's
 * message.  Returns -EREMOTEIO or -ECANCELED, or the receive error. */
static int report_peer_message(int fd, const struct frame_header *h, const char *waiting_for,
			       const struct wait_spec *w, uint64_t *wire_bytes)
{
	uint8_t payload[4 + BM_MESSAGE_MAX];
	if (h->len > sizeof payload)
		return reject_length(h, sizeof payload);
	int r = recv_payload(fd, h, payload, waiting_for, w, wire_bytes);
	if (r < 0)
		return r;
	enum bm_exit class;
	char msg[BM_MESSAGE_MAX + 1];
	r = bm_decode_message(payload, h->len, &class, msg, sizeof msg);
	if (r < 0)
		return r;
	if (h->type == BM_MSG_ABORT) {
		bm_error(class, "peer aborted the migration: %s", msg);
		return -ECANCELED;
	}
	bm_error(class, "peer reported an error: %s", msg);
	return -EREMOTEIO;
}

int bm_frame_send(int fd, enum bm_msg_type type, const struct iovec *iov, int iovcnt, int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms };
	return send_frame(fd, (uint8_t)type, iov, iovcnt, &w, NULL);
}

int bm_frame_send_buf(int fd, enum bm_msg_type type, const void *buf, size_t len, int timeout_ms)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return bm_frame_send(fd, type, &iov, len ? 1 : 0, timeout_ms);
}

int bm_frame_send_until(int fd, enum bm_msg_type type, const void *buf, size_t len, uint64_t deadline_ns,
			int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms, .deadline_ns = deadline_ns };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	return send_frame(fd, (uint8_t)type, &iov, len ? 1 : 0, &w, NULL);
}

int bm_frame_recv(int fd, uint8_t *type, void *buf, size_t max, size_t *len, int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms };
	struct frame_header h;
	int r = recv_header(fd, &h, "a frame", &w, NULL);
	if (r < 0)
		return r;
	if (h.type < BM_MSG_HELLO || h.type > BM_MSG_LAST)
		return bm_error(BM_EXIT_NETWORK, "peer sent a frame of unknown type %u", h.type), -EPROTO;
	if (h.len > max)
		return reject_length(&h, max);
	r = recv_payload(fd, &h, buf, bm_msg_name(h.type), &w, NULL);
	if (r < 0)
		return r;
	*type = h.type;
	*len = h.len;
	return 0;
}

static int expect_frame(int fd, enum bm_msg_type type, void *buf, size_t max, size_t *len, const struct wait_spec *w)
{
	const char *name = bm_msg_name(type);
	struct frame_header h;
	int r = bm_fault_rc(recv_point(type));
	if (r < 0)
		return report_recv_error(r, 0, BM_FRAME_HEADER_SIZE, true, name, w);
	r = recv_header(fd, &h, name, w, NULL);
	if (r < 0)
		return r;
	if (h.type != type && (h.type == BM_MSG_ERROR || h.type == BM_MSG_ABORT))
		return report_peer_message(fd, &h, name, w, NULL);
	if (h.type != type)
		return bm_error(BM_EXIT_NETWORK, "peer sent frame type %u (%s) where %s was expected", h.type,
				bm_msg_name(h.type), name),
		       -EPROTO;
	if (h.len > max)
		return reject_length(&h, max);
	r = recv_payload(fd, &h, buf, name, w, NULL);
	if (r < 0)
		return r;
	*len = h.len;
	return 0;
}

int bm_frame_expect(int fd, enum bm_msg_type type, void *buf, size_t max, size_t *len, int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms };
	return expect_frame(fd, type, buf, max, len, &w);
}

int bm_frame_expect_until(int fd, enum bm_msg_type type, void *buf, size_t max, size_t *len, uint64_t deadline_ns,
			  int timeout_ms)
{
	struct wait_spec w = { .timeout_ms = timeout_ms, .deadline_ns = deadline_ns };
	return expect_frame(fd, type, buf, max, len, &w);
}

size_t bm_frame_encode(uint8_t *out, enum bm_msg_type type, const void *payload, size_t len)
{
	encode_header(out, (uint8_t)type, (uint32_t)len, len ? bm_crc32c(0, payload, len) : 0);
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
			int r = decode_header(f->raw, &h);
			if (r < 0)
				return r;
			if (h.len > f->max)
				return reject_length(&h, f->max);
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

int bm_send_message(int fd, enum bm_msg_type type, enum bm_exit class, const char *message, int timeout_ms)
{
	uint8_t payload[4 + BM_MESSAGE_MAX];
	struct iovec iov = { .iov_base = payload, .iov_len = bm_encode_message(payload, class, message) };
	struct wait_spec w = { .timeout_ms = timeout_ms };
	/* Not reported: the caller is failing already and has said why. */
	return send_frame_quietly(fd, (uint8_t)type, &iov, 1, &w, NULL, false);
}

/* ---- The image stream, sending side ---- */

int bm_wire_sink_init(struct bm_wire_sink *ws, int fd, int timeout_ms)
{
	memset(ws, 0, sizeof *ws);
	ws->fd = fd;
	ws->timeout_ms = timeout_ms;
	ws->buf = malloc(BM_WIRE_CHUNK);
	if (!ws->buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory for the image stream buffer"), -ENOMEM;
	return 0;
}

/* Sends iov as IMAGE_DATA frames of at most BM_FRAME_MAX_PAYLOAD bytes,
 * cutting entries where a frame is full. */
static int send_image_frames(struct bm_wire_sink *ws, const struct iovec *iov, int iovcnt)
{
	struct iovec local[16];
	struct iovec *part = local;
	if (iovcnt > (int)(sizeof local / sizeof local[0])) {
		part = malloc(sizeof *part * (size_t)iovcnt);
		if (!part)
			return bm_error(BM_EXIT_FAILURE, "out of memory sending the image"), -ENOMEM;
	}
	struct wait_spec w = { .timeout_ms = ws->timeout_ms };
	int i = 0, r = 0;
	size_t offset = 0;
	while (i < iovcnt) {
		int n = 0;
		size_t frame_len = 0;
		while (i < iovcnt && frame_len < BM_FRAME_MAX_PAYLOAD) {
			size_t take = iov[i].iov_len - offset;
			if (take > BM_FRAME_MAX_PAYLOAD - frame_len)
				take = BM_FRAME_MAX_PAYLOAD - frame_len;
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
		r = send_frame(ws->fd, BM_MSG_IMAGE_DATA, part, n, &w, &ws->wire_bytes);
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
		struct wait_spec w = { .timeout_ms = ws->timeout_ms };
		r = send_frame(ws->fd, BM_MSG_IMAGE_END, &iov, 1, &w, &ws->wire_bytes);
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

void bm_wire_source_init(struct bm_wire_source *src, int fd, int timeout_ms)
{
	memset(src, 0, sizeof *src);
	src->fd = fd;
	src->timeout_ms = timeout_ms;
}

/* Receives the next frame of the stream.  An IMAGE_DATA payload that fits
 * in `room` bytes at dst is received there (its length is returned);
 * otherwise into src->buf (0 is returned).  IMAGE_END sets src->ended. */
static ssize_t next_stream_frame(struct bm_wire_source *src, uint8_t *dst, size_t room)
{
	static const char waiting_for[] = "the image stream";
	struct wait_spec w = { .timeout_ms = src->timeout_ms };
	struct frame_header h;
	int r = bm_fault_rc(BM_FP_RECV_IMAGE);
	if (r < 0)
		return report_recv_error(r, 0, BM_FRAME_HEADER_SIZE, true, waiting_for, &w);
	r = recv_header(src->fd, &h, waiting_for, &w, &src->wire_bytes);
	if (r < 0)
		return r;
	if (!src->first_frame_ns)
		src->first_frame_ns = now_ns();
	src->frames++;

	switch (h.type) {
	case BM_MSG_IMAGE_DATA:
		if (h.len == 0)
			return bm_error(BM_EXIT_NETWORK, "peer sent an empty IMAGE_DATA frame"), -EPROTO;
		if (dst && h.len <= room) {
			r = recv_payload(src->fd, &h, dst, waiting_for, &w, &src->wire_bytes);
			if (r < 0)
				return r;
			src->image_bytes += h.len;
			return h.len;
		}
		if (h.len > src->buf_size) {
			uint8_t *bigger = realloc(src->buf, h.len);
			if (!bigger)
				return bm_error(BM_EXIT_FAILURE, "out of memory for a %u-byte IMAGE_DATA frame", h.len),
				       -ENOMEM;
			src->buf = bigger;
			src->buf_size = h.len;
		}
		r = recv_payload(src->fd, &h, src->buf, waiting_for, &w, &src->wire_bytes);
		if (r < 0)
			return r;
		src->image_bytes += h.len;
		src->frame_len = h.len;
		src->frame_pos = 0;
		return 0;
	case BM_MSG_IMAGE_END: {
		uint8_t count[8];
		if (h.len != sizeof count)
			return bm_error(BM_EXIT_NETWORK, "malformed IMAGE_END from peer (%u bytes, 8 expected)", h.len),
			       -EPROTO;
		r = recv_payload(src->fd, &h, count, waiting_for, &w, &src->wire_bytes);
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
		return report_peer_message(src->fd, &h, waiting_for, &w, &src->wire_bytes);
	default:
		return bm_error(BM_EXIT_NETWORK, "peer sent frame type %u (%s) in the middle of the image stream", h.type,
				bm_msg_name(h.type)),
		       -EPROTO;
	}
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
		ssize_t direct = next_stream_frame(src, out + done, len - done);
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
		ssize_t r = next_stream_frame(src, NULL, 0);
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

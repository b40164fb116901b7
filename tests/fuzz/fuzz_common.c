/* Shared pieces of the fuzz targets: see fuzz.h. */
#include "fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "image.h"
#include "log.h"
#include "transport.h"
#include "wire.h"

/* Layouts from docs/image-format.md and docs/protocol.md. */
#define IMAGE_FILE_HEADER 20u    /* magic, version, flags, CRC of bytes 0..15 */
#define IMAGE_SECTION_HEADER 20u /* type, flags, length, payload CRC, CRC of bytes 0..15 */

void fuzz_quiet_begin(void)
{
	bm_reset_errors();
	bm_hold_errors();
}

void fuzz_quiet_end(void)
{
	bm_release_errors(false);
	bm_reset_errors();
}

/* ---- a peer on a socket pair ---- */

/* Sends what is left: true when done (or the reader is gone), false when
 * the socket would block (only with MSG_DONTWAIT). */
static bool send_rest(struct fuzz_peer *p, int flags)
{
	while (p->sent < p->len) {
		ssize_t n = send(p->peer, p->data + p->sent, p->len - p->sent, MSG_NOSIGNAL | flags);
		if (n > 0) {
			p->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
	return true;
}

static void *writer(void *arg)
{
	struct fuzz_peer *p = arg;
	send_rest(p, 0);
	shutdown(p->peer, SHUT_WR);
	return NULL;
}

int fuzz_peer_start(struct fuzz_peer *p, const uint8_t *data, size_t len)
{
	memset(p, 0, sizeof *p);
	p->data = data;
	p->len = len;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	p->fd = sv[0];
	p->peer = sv[1];
	if (send_rest(p, MSG_DONTWAIT)) {
		shutdown(p->peer, SHUT_WR);
		return 0;
	}
	if (pthread_create(&p->thread, NULL, writer, p) != 0) {
		close(p->fd);
		close(p->peer);
		return -1;
	}
	p->threaded = true;
	return 0;
}

void fuzz_peer_stop(struct fuzz_peer *p)
{
	/* A writer still sending gets EPIPE once the reading end is closed. */
	close(p->fd);
	if (p->threaded)
		pthread_join(p->thread, NULL);
	close(p->peer);
}

/* ---- checksum repairs ---- */

/* Image sections and frames alike: a header whose u32 at length_at is the
 * payload length, the payload's CRC at crc_at and right after it the CRC
 * of the header bytes before that; then the payload. */
struct framing {
	size_t header_size, length_at, crc_at;
};
static const struct framing image_sections = { IMAGE_SECTION_HEADER, 8, 12 };
static const struct framing frames = { BM_FRAME_HEADER_SIZE, 4, 8 };

typedef void (*record_fn)(const struct framing *f, uint8_t *header, uint8_t *payload, size_t n, void *ctx);

/* Calls FN on each record of STREAM with as much of its payload as the
 * stream holds. */
static void for_each_record(const struct framing *f, uint8_t *stream, size_t len, record_fn fn, void *ctx)
{
	size_t off = 0;
	while (len - off >= f->header_size) {
		uint8_t *h = stream + off;
		size_t left = len - off - f->header_size;
		size_t n = bm_load_le32(h + f->length_at);
		if (n > left)
			n = left;
		fn(f, h, h + f->header_size, n, ctx);
		off += f->header_size + n;
	}
}

static bool set_crc(uint8_t *at, uint32_t crc)
{
	if (bm_load_le32(at) == crc)
		return false;
	bm_store_le32(at, crc);
	return true;
}

static void fix_record(const struct framing *f, uint8_t *header, uint8_t *payload, size_t n, void *ctx)
{
	bool *changed = ctx;
	/* The payload CRC first: the header CRC covers it. */
	*changed |= set_crc(header + f->crc_at, bm_crc32c(0, payload, n));
	*changed |= set_crc(header + f->crc_at + 4, bm_crc32c(0, header, f->crc_at + 4));
}

bool fuzz_fix_image_crcs(uint8_t *image, size_t len)
{
	if (len < IMAGE_FILE_HEADER)
		return false;
	bool changed = set_crc(image + 16, bm_crc32c(0, image, 16));
	for_each_record(&image_sections, image + IMAGE_FILE_HEADER, len - IMAGE_FILE_HEADER, fix_record, &changed);
	return changed;
}

/* The image carried by the IMAGE_DATA frames, gathered or scattered back. */
struct image_bytes {
	uint8_t *image;          /* NULL while only counting */
	size_t len;
	bool scatter;
};

static void move_image_bytes(const struct framing *f, uint8_t *header, uint8_t *payload, size_t n, void *ctx)
{
	(void)f;
	struct image_bytes *ib = ctx;
	if (header[3] != BM_MSG_IMAGE_DATA)
		return;
	if (ib->image && ib->scatter)
		memcpy(payload, ib->image + ib->len, n);
	else if (ib->image)
		memcpy(ib->image + ib->len, payload, n);
	ib->len += n;
}

bool fuzz_fix_frame_crcs(uint8_t *stream, size_t len)
{
	bool changed = false;
	struct image_bytes ib = { 0 };
	for_each_record(&frames, stream, len, move_image_bytes, &ib);
	if (ib.len) {
		ib.image = malloc(ib.len);
		if (ib.image) {
			ib.len = 0;
			for_each_record(&frames, stream, len, move_image_bytes, &ib);
			if (fuzz_fix_image_crcs(ib.image, ib.len)) {
				changed = true;
				ib.len = 0;
				ib.scatter = true;
				for_each_record(&frames, stream, len, move_image_bytes, &ib);
			}
			free(ib.image);
		}
	}
	for_each_record(&frames, stream, len, fix_record, &changed);
	return changed;
}

void fuzz_run_with_repair(const uint8_t *data, size_t len, bool (*fix)(uint8_t *, size_t),
			  void (*run)(const uint8_t *, size_t))
{
	run(data, len);
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, data, len);
	if (fix(copy, len))
		run(copy, len);
	free(copy);
}

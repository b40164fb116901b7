/* Sealed image files (sealed_image.h): the header, and the image in sealed
 * frames through the image stream's own sink and source (transport.c), so
 * that a file is sealed exactly as the wire is. */
#include "sealed_image.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "log.h"
#include "wire.h"

/* Header layout (docs/image-format.md §8). */
#define OFF_VERSION 8
#define OFF_SUITE 12
#define OFF_SALT 16
#define OFF_CHECK (OFF_SALT + BM_SEALED_SALT_LEN)
#define OFF_CRC (OFF_CHECK + BM_SEALED_CHECK_LEN)
_Static_assert(OFF_CRC + 4 == BM_SEALED_HEADER_SIZE, "sealed header layout");

int bm_sealed_keys(const uint8_t key[BM_KEY_LEN], enum bm_seal_suite suite, const uint8_t salt[BM_SEALED_SALT_LEN],
		   uint8_t image_key[BM_SEAL_KEY_LEN], uint8_t check[BM_SEALED_CHECK_LEN])
{
	static const char key_label[] = "binmig sealed image key", check_label[] = "binmig sealed image check";
	uint8_t info[sizeof check_label];
	memcpy(info, key_label, sizeof key_label - 1);
	info[sizeof key_label - 1] = (uint8_t)suite;
	int r = bm_hkdf_sha256(key, BM_KEY_LEN, salt, BM_SEALED_SALT_LEN, info, sizeof key_label, image_key,
			       BM_SEAL_KEY_LEN);
	memcpy(info, check_label, sizeof check_label - 1);
	info[sizeof check_label - 1] = (uint8_t)suite;
	if (r == 0)
		r = bm_hkdf_sha256(key, BM_KEY_LEN, salt, BM_SEALED_SALT_LEN, info, sizeof check_label, check,
				   BM_SEALED_CHECK_LEN);
	return r;
}

/* ---- Writing ---- */

static int emit_to_sink(void *ctx, struct iovec *iov, int iovcnt)
{
	struct bm_sink *out = ctx;
	return out->writev(out->ctx, iov, iovcnt);
}

/* The image stream sink's frame sender (bm_frame_send_fn). */
static int seal_to_file(void *ctx, uint8_t type, const struct iovec *iov, int iovcnt, uint64_t *wire_bytes)
{
	struct bm_sealed_writer *w = ctx;
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	int r = bm_seal_frame(&w->aead, type, iov, iovcnt, w->scratch, emit_to_sink, &w->out);
	if (r < 0)
		return bm_error_errno(BM_EXIT_IO, -r, "writing the sealed image"), r;
	*wire_bytes += BM_FRAME_HEADER_SIZE + len + BM_SEAL_TAG_LEN;
	return 0;
}

int bm_sealed_writer_init(struct bm_sealed_writer *w, struct bm_sink out, const uint8_t key[BM_KEY_LEN],
			  enum bm_seal_suite suite)
{
	memset(w, 0, sizeof *w);
	w->out = out;
	uint8_t h[BM_SEALED_HEADER_SIZE], image_key[BM_SEAL_KEY_LEN];
	memcpy(h, BM_SEALED_MAGIC, 8);
	bm_store_le32(h + OFF_VERSION, BM_SEALED_VERSION);
	bm_store_le32(h + OFF_SUITE, suite);
	/* A fresh salt, so that no two files share a key (nor a nonce). */
	if (RAND_bytes(h + OFF_SALT, BM_SEALED_SALT_LEN) != 1)
		return bm_error(BM_EXIT_FAILURE, "libcrypto could not provide random bytes for the image's salt"), -EIO;
	int r = bm_sealed_keys(key, suite, h + OFF_SALT, image_key, h + OFF_CHECK);
	bm_store_le32(h + OFF_CRC, bm_crc32c(0, h, OFF_CRC));
	if (r == 0)
		r = bm_aead_init(&w->aead, suite, image_key, true);
	OPENSSL_cleanse(image_key, sizeof image_key);
	if (r == 0 && !(w->scratch = malloc(BM_SEAL_PIECE)))
		r = (bm_error(BM_EXIT_FAILURE, "out of memory for sealing"), -ENOMEM);
	if (r == 0)
		r = bm_frame_sink_init(&w->frames, seal_to_file, w, BM_FRAME_MAX_PAYLOAD - BM_SEAL_TAG_LEN);
	if (r == 0) {
		struct iovec iov = { h, sizeof h };
		r = out.writev(out.ctx, &iov, 1);
		if (r < 0)
			bm_error_errno(BM_EXIT_IO, -r, "writing the sealed image");
	}
	return r;
}

struct bm_sink bm_sealed_writer_as_sink(struct bm_sealed_writer *w)
{
	return bm_wire_sink_as_sink(&w->frames);
}

int bm_sealed_writer_finish(struct bm_sealed_writer *w)
{
	return bm_wire_sink_finish(&w->frames);
}

void bm_sealed_writer_free(struct bm_sealed_writer *w)
{
	bm_wire_sink_free(&w->frames);
	bm_aead_free(&w->aead);
	free(w->scratch);
	w->scratch = NULL;
}

/* ---- Reading ---- */

/* Reads exactly len bytes at the file's current offset: 0, 1 at its end
 * before the first byte, or -ENODATA (reported) in the middle of `what`. */
static int read_exact(struct bm_sealed_reader *r, void *buf, size_t len, const char *what)
{
	ssize_t n = r->in.read(r->in.ctx, buf, len);
	if (n < 0)
		return bm_error_errno(BM_EXIT_IO, (int)-n, "reading the sealed image"), (int)n;
	r->offset += (uint64_t)n;
	if ((size_t)n == len)
		return 0;
	if (n == 0)
		return 1;
	bm_error(BM_EXIT_IMAGE, "sealed image cut short: it ends at byte %llu, in the middle of %s",
		 (unsigned long long)r->offset, what);
	return -ENODATA;
}

static int fill_from_file(void *ctx, void *buf, size_t len)
{
	int r = read_exact(ctx, buf, len, "a frame");
	if (r == 1)
		return bm_error(BM_EXIT_IMAGE, "sealed image cut short: it ends in the middle of a frame"), -ENODATA;
	return r;
}

static int altered(const struct bm_sealed_reader *r, uint64_t at, const char *what)
{
	return bm_error(BM_EXIT_IMAGE, "sealed image altered: %s (frame %llu at byte %llu)", what,
			(unsigned long long)r->aead.seq, (unsigned long long)at),
	       -EBADMSG;
}

/* Opens the next frame into dst (the image stream source's next frame). */
static ssize_t next_sealed_frame(struct bm_wire_source *src, uint8_t *dst, size_t room)
{
	struct bm_sealed_reader *r = src->next_ctx;
	uint64_t at = r->offset;
	uint8_t h[BM_FRAME_HEADER_SIZE];
	int rc = read_exact(r, h, sizeof h, "a frame header");
	if (rc == 1)
		return bm_error(BM_EXIT_IMAGE, "sealed image cut short: it ends at byte %llu, before its last frame",
				(unsigned long long)at),
		       -ENODATA;
	if (rc < 0)
		return rc;
	/* The header is the frame's associated data: a change anywhere in
	 * it fails the tag, but its length must be sane before it is used. */
	uint8_t type = h[3];
	uint32_t len = bm_load_le32(h + 4);
	if (h[0] != BM_FRAME_MAGIC0 || h[1] != BM_FRAME_MAGIC1 || h[2] != BM_PROTO_VERSION ||
	    bm_load_le32(h + 12) != bm_crc32c(0, h, 12) || bm_load_le32(h + 8) != 0 || len < BM_SEAL_TAG_LEN ||
	    len > BM_FRAME_MAX_PAYLOAD)
		return altered(r, at, "a frame header is not one binmig writes");
	size_t plain = len - BM_SEAL_TAG_LEN;
	uint8_t count[8];
	uint8_t *into;
	if (type == BM_MSG_IMAGE_END && plain == sizeof count)
		into = count;
	else if (type != BM_MSG_IMAGE_DATA || plain == 0)
		return altered(r, at, "a frame of a type or length binmig does not write");
	else if (dst && plain <= room)
		into = dst; /* opened where the image reader wants it */
	else if (!(into = bm_wire_source_buffer(src, plain)))
		return -ENOMEM;
	rc = bm_open_frame(&r->aead, h, into, plain, fill_from_file, r);
	if (rc == -EBADMSG)
		return altered(r, at, "a frame does not verify (changed, moved, or sealed with another key)");
	if (rc < 0)
		return rc;
	src->frames++;
	if (into == count) {
		if (bm_load_le64(count) != src->image_bytes)
			return altered(r, at, "the image's length differs from what its last frame says");
		src->ended = true;
		return 0;
	}
	src->image_bytes += plain;
	if (into == dst)
		return (ssize_t)plain;
	src->frame_len = plain;
	src->frame_pos = 0;
	return 0;
}

int bm_sealed_reader_init(struct bm_sealed_reader *r, struct bm_source in, const uint8_t key[BM_KEY_LEN])
{
	memset(r, 0, sizeof *r);
	r->in = in;
	bm_frame_source_init(&r->frames, next_sealed_frame, r);
	uint8_t h[BM_SEALED_HEADER_SIZE];
	ssize_t n = in.read(in.ctx, h, sizeof h);
	if (n < 0)
		return bm_error_errno(BM_EXIT_IO, (int)-n, "reading the sealed image"), (int)n;
	r->offset = (uint64_t)n;
	if (n >= 8 && memcmp(h, BM_IMAGE_MAGIC, 8) == 0)
		/* Someone may have put a plain image in the sealed one's place:
		 * with a key, only what the key sealed is taken. */
		return bm_error(BM_EXIT_IMAGE, "the image is not sealed, but --key was given: only an image sealed "
					       "with the key is restored with it (restore a plain image without --key)"),
		       -EBADMSG;
	if (n < 8 || memcmp(h, BM_SEALED_MAGIC, 8) != 0)
		return bm_error(BM_EXIT_IMAGE, "not a sealed binmig image (bad magic)"), -EBADMSG;
	if ((size_t)n < sizeof h)
		return bm_error(BM_EXIT_IMAGE, "sealed image cut short in its header, at byte %zd", n), -ENODATA;
	if (bm_load_le32(h + OFF_CRC) != bm_crc32c(0, h, OFF_CRC))
		return bm_error(BM_EXIT_IMAGE, "sealed image header damaged or altered (CRC mismatch)"), -EBADMSG;
	uint32_t version = bm_load_le32(h + OFF_VERSION), suite = bm_load_le32(h + OFF_SUITE);
	if (version != BM_SEALED_VERSION)
		return bm_error(BM_EXIT_IMAGE, "sealed image version %u is not supported (this binmig reads version %d)",
				version, BM_SEALED_VERSION),
		       -EBADMSG;
	if (suite != BM_SEAL_AES_256_GCM && suite != BM_SEAL_CHACHA20_POLY1305)
		return bm_error(BM_EXIT_IMAGE, "sealed image with unknown seal suite %u", suite), -EBADMSG;
	uint8_t image_key[BM_SEAL_KEY_LEN], check[BM_SEALED_CHECK_LEN];
	int rc = bm_sealed_keys(key, suite, h + OFF_SALT, image_key, check);
	if (rc == 0 && CRYPTO_memcmp(check, h + OFF_CHECK, sizeof check) != 0)
		rc = (bm_error(BM_EXIT_IMAGE, "the image was sealed with another key (or its header was altered)"),
		      -EKEYREJECTED);
	if (rc == 0)
		rc = bm_aead_init(&r->aead, suite, image_key, false);
	OPENSSL_cleanse(image_key, sizeof image_key);
	r->suite = suite;
	return rc;
}

struct bm_source bm_sealed_reader_as_source(struct bm_sealed_reader *r)
{
	return bm_wire_source_as_source(&r->frames);
}

int bm_sealed_reader_finish(struct bm_sealed_reader *r)
{
	int rc = bm_wire_source_finish(&r->frames);
	uint8_t more;
	if (rc == 0 && (rc = read_exact(r, &more, 1, "")) == 0)
		return bm_error(BM_EXIT_IMAGE, "sealed image altered: bytes follow its last frame, at byte %llu",
				(unsigned long long)r->offset - 1),
		       -EBADMSG;
	return rc == 1 ? 0 : rc;
}

void bm_sealed_reader_free(struct bm_sealed_reader *r)
{
	bm_wire_source_free(&r->frames);
	bm_aead_free(&r->aead);
}

/* The sealed-frame decoders (seal.c's bm_open_frame, the sealed paths of
 * transport.c, sealed_image.c), on bytes from someone who does not hold
 * the key.  An input that starts with the sealed image magic is a sealed
 * image file, read as `restore --key` reads it, the image decoded behind
 * it; any other input is what a server receives after the handshake on a
 * sealed connection (AES-256-GCM, fixed test key and nonces), played as
 * the destination plays it in stream mode (START, then the image out of
 * IMAGE_DATA frames up to IMAGE_END) and frame by frame as in file mode.
 *
 * A mutated input never verifies; so that mutations also reach what lies
 * behind the tags, each input runs a second time repaired: every frame
 * decrypted with the key it should have been sealed with, the image
 * behind the IMAGE_DATA frames given right CRCs, and everything sealed
 * again with right tags (and, for a file, a right header). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fuzz.h"
#include "image.h"
#include "log.h"
#include "sealed_image.h"
#include "transport.h"
#include "wire.h"

static const uint8_t test_key[BM_KEY_LEN] = { [0 ... BM_KEY_LEN - 1] = 0x5a }; /* a test key, not a secret */

static const struct bm_session session = {
	.suite = BM_SEAL_AES_256_GCM,
	.nonce_client = { [0 ... BM_NONCE_LEN - 1] = 0x11 },
	.nonce_server = { [0 ... BM_NONCE_LEN - 1] = 0x22 },
};

/* ---- the receivers ---- */

static void read_image(struct bm_source source)
{
	struct bm_image_reader r = { 0 };
	struct bm_process p = { 0 };
	int rc = bm_image_reader_init(&r, source);
	if (rc == 0)
		rc = bm_image_read_process(&r, &p);
	struct bm_page_run run;
	while (rc == 0 && (rc = bm_image_next_pages(&r, &run)) > 0)
		rc = 0;
	bm_process_free(&p);
	bm_image_reader_free(&r);
}

static void stream_mode(struct bm_conn *c)
{
	uint8_t start[8];
	size_t len;
	if (bm_frame_expect(c, BM_MSG_START, start, sizeof start, &len, FUZZ_TIMEOUT_MS) < 0)
		return;
	struct bm_wire_source src;
	bm_wire_source_init(&src, c, FUZZ_TIMEOUT_MS);
	read_image(bm_wire_source_as_source(&src));
	bm_wire_source_finish(&src);
	bm_wire_source_free(&src);
}

static void frame_by_frame(struct bm_conn *c)
{
	static uint8_t *buf;
	if (!buf)
		buf = malloc(BM_FRAME_MAX_PAYLOAD);
	uint8_t type;
	size_t len;
	while (buf && bm_frame_recv(c, &type, buf, BM_FRAME_MAX_PAYLOAD, &len, FUZZ_TIMEOUT_MS) == 0)
		if (type == BM_MSG_ERROR || type == BM_MSG_ABORT) {
			enum bm_exit class;
			char msg[BM_MESSAGE_MAX + 1];
			bm_decode_message(buf, len, &class, msg, sizeof msg);
		}
}

static void receive(const uint8_t *data, size_t size)
{
	void (*const receivers[])(struct bm_conn *) = { stream_mode, frame_by_frame };
	for (size_t i = 0; i < sizeof receivers / sizeof receivers[0]; i++) {
		struct fuzz_peer peer;
		if (fuzz_peer_start(&peer, data, size) < 0)
			continue;
		fuzz_quiet_begin();
		struct bm_conn c;
		if (bm_conn_open(&c, peer.fd, test_key, &session, BM_ROLE_SERVER) == 0) {
			receivers[i](&c);
			bm_conn_free(&c);
		}
		fuzz_quiet_end();
		fuzz_peer_stop(&peer);
	}
}

static void open_file(const uint8_t *data, size_t size)
{
	int fd = memfd_create("sealed", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0) {
		fuzz_quiet_begin();
		struct bm_sealed_reader r;
		if (bm_sealed_reader_init(&r, bm_fd_source(&fd), test_key) == 0) {
			read_image(bm_sealed_reader_as_source(&r));
			bm_sealed_reader_finish(&r);
		}
		bm_sealed_reader_free(&r);
		fuzz_quiet_end();
	}
	close(fd);
}

static bool is_file(const uint8_t *data, size_t size)
{
	return size >= 8 && memcmp(data, BM_SEALED_MAGIC, 8) == 0;
}

static void run(const uint8_t *data, size_t size)
{
	if (is_file(data, size))
		open_file(data, size);
	else
		receive(data, size);
}

/* ---- the repair ---- */

/* Calls fn on each whole frame of at least a tag, with its number. */
static void each_frame(uint8_t *stream, size_t len, void (*fn)(uint8_t *frame, size_t plain, uint64_t seq, void *ctx),
		       void *ctx)
{
	uint64_t seq = 0;
	for (size_t off = 0; len - off >= BM_FRAME_HEADER_SIZE; seq++) {
		uint8_t *h = stream + off;
		size_t n = bm_load_le32(h + 4);
		if (n < BM_SEAL_TAG_LEN || n > len - off - BM_FRAME_HEADER_SIZE)
			return;
		fn(h, n - BM_SEAL_TAG_LEN, seq, ctx);
		off += BM_FRAME_HEADER_SIZE + n;
	}
}

struct repair {
	struct bm_aead open, seal;
	uint8_t *image;          /* the IMAGE_DATA payloads gathered, or NULL while counting */
	size_t image_len;
	bool scatter;
};

static void decrypt_frame(uint8_t *h, size_t plain, uint64_t seq, void *ctx)
{
	struct repair *r = ctx;
	r->open.seq = seq;
	/* The plaintext the bytes stand for, tag unchecked: a stream
	 * cipher, so a mutated byte is a mutated plaintext byte. */
	if (bm_aead_begin(&r->open, h, BM_FRAME_HEADER_SIZE) == 0)
		bm_aead_update(&r->open, h + BM_FRAME_HEADER_SIZE, h + BM_FRAME_HEADER_SIZE, plain);
}

static void move_image(uint8_t *h, size_t plain, uint64_t seq, void *ctx)
{
	(void)seq;
	struct repair *r = ctx;
	if (h[3] != BM_MSG_IMAGE_DATA)
		return;
	if (r->image && r->scatter)
		memcpy(h + BM_FRAME_HEADER_SIZE, r->image + r->image_len, plain);
	else if (r->image)
		memcpy(r->image + r->image_len, h + BM_FRAME_HEADER_SIZE, plain);
	r->image_len += plain;
}

static void seal_frame(uint8_t *h, size_t plain, uint64_t seq, void *ctx)
{
	struct repair *r = ctx;
	bm_frame_header_encode(h, h[3], (uint32_t)(plain + BM_SEAL_TAG_LEN), 0);
	r->seal.seq = seq;
	uint8_t *payload = h + BM_FRAME_HEADER_SIZE;
	if (bm_aead_begin(&r->seal, h, BM_FRAME_HEADER_SIZE) == 0 && bm_aead_update(&r->seal, payload, payload, plain) == 0)
		bm_aead_seal_end(&r->seal, payload + plain);
}

/* Re-seals the frames in stream with key and suite; true (always, once
 * there is a frame): the tags are new. */
static bool reseal(uint8_t *stream, size_t len, enum bm_seal_suite suite, const uint8_t key[BM_SEAL_KEY_LEN])
{
	struct repair r = { 0 };
	if (bm_aead_init(&r.open, suite, key, false) < 0 || bm_aead_init(&r.seal, suite, key, true) < 0) {
		bm_aead_free(&r.open);
		return false;
	}
	each_frame(stream, len, decrypt_frame, &r);
	each_frame(stream, len, move_image, &r);
	if (r.image_len && (r.image = malloc(r.image_len))) {
		r.image_len = 0;
		each_frame(stream, len, move_image, &r);
		if (fuzz_fix_image_crcs(r.image, r.image_len)) {
			r.image_len = 0;
			r.scatter = true;
			each_frame(stream, len, move_image, &r);
		}
		free(r.image);
	}
	each_frame(stream, len, seal_frame, &r);
	bm_aead_free(&r.open);
	bm_aead_free(&r.seal);
	return len >= BM_FRAME_HEADER_SIZE;
}

static bool repair(uint8_t *data, size_t len)
{
	fuzz_quiet_begin();
	bool changed = false;
	if (!is_file(data, len)) {
		uint8_t to_server[BM_SEAL_KEY_LEN], to_client[BM_SEAL_KEY_LEN];
		if (bm_seal_session_keys(test_key, session.suite, session.nonce_client, session.nonce_server, to_server,
					 to_client) == 0)
			changed = reseal(data, len, session.suite, to_server);
	} else if (len >= BM_SEALED_HEADER_SIZE) {
		/* The header as the key would have written it. */
		uint32_t suite = bm_load_le32(data + 12);
		suite = suite == BM_SEAL_CHACHA20_POLY1305 ? suite : BM_SEAL_AES_256_GCM;
		bm_store_le32(data + 8, BM_SEALED_VERSION);
		bm_store_le32(data + 12, suite);
		uint8_t image_key[BM_SEAL_KEY_LEN];
		if (bm_sealed_keys(test_key, suite, data + 16, image_key, data + 48) == 0) {
			bm_store_le32(data + 64, bm_crc32c(0, data, 64));
			reseal(data + BM_SEALED_HEADER_SIZE, len - BM_SEALED_HEADER_SIZE, suite, image_key);
			changed = true;
		}
	}
	fuzz_quiet_end();
	return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_run_with_repair(data, size, repair, run);
	return 0;
}

/* Sealed image files (`dump --key`, `restore --key`, `inspect --key`):
 * the image encrypted and authenticated the way the wire does it, so that
 * images on shared storage can be neither read nor altered without the
 * key.  A 68-byte header (magic "\x89BMS\r\n\x1a\n", version, suite, a
 * random salt, a key check), then the image in sealed IMAGE_DATA frames
 * and a sealed IMAGE_END, exactly as on a sealed connection, with a key
 * derived from the shared key and the salt.  Layout: docs/image-format.md
 * §8. */
#ifndef BINMIG_SEALED_IMAGE_H
#define BINMIG_SEALED_IMAGE_H

#include "image.h"
#include "seal.h"
#include "transport.h"

#define BM_SEALED_VERSION 1
#define BM_SEALED_SALT_LEN 32
#define BM_SEALED_CHECK_LEN 16
#define BM_SEALED_HEADER_SIZE (8 + 4 + 4 + BM_SEALED_SALT_LEN + BM_SEALED_CHECK_LEN + 4)

/* The image key and the key check of a file sealed with suite and salt:
 * HKDF-SHA256 of the shared key, salted with salt, with info "binmig
 * sealed image key" or "binmig sealed image check" and the suite's byte. */
int bm_sealed_keys(const uint8_t key[BM_KEY_LEN], enum bm_seal_suite suite, const uint8_t salt[BM_SEALED_SALT_LEN],
		   uint8_t image_key[BM_SEAL_KEY_LEN], uint8_t check[BM_SEALED_CHECK_LEN]);

/* Writing: the header goes to `out` at once; the sink seals what the
 * image writer produces, frame by frame as it comes (the writer's large
 * writes are sealed straight from its buffers); finish seals what is
 * gathered and IMAGE_END.  The file is complete only after finish.
 * Errors are reported (BM_EXIT_IO for the file). */
struct bm_sealed_writer {
	struct bm_sink out;
	struct bm_aead aead;
	struct bm_wire_sink frames;  /* gathers and cuts the image into frames */
	uint8_t *scratch;            /* BM_SEAL_PIECE bytes of ciphertext on their way out */
};
int bm_sealed_writer_init(struct bm_sealed_writer *w, struct bm_sink out, const uint8_t key[BM_KEY_LEN],
			  enum bm_seal_suite suite);
struct bm_sink bm_sealed_writer_as_sink(struct bm_sealed_writer *w);
int bm_sealed_writer_finish(struct bm_sealed_writer *w);
void bm_sealed_writer_free(struct bm_sealed_writer *w);

/* Reading: checks the header (a plain image, another version, another
 * key are refused, each with its own message) and gives the plain image
 * as a struct bm_source; every frame is opened, in the caller's buffer
 * when it fits, before any of its bytes is handed on.  finish, after the
 * image reader's END, reads IMAGE_END and checks that the file ends
 * there: a sealed image cut short or lengthened is refused.  Errors are
 * reported, BM_EXIT_IMAGE for what is wrong with the file. */
struct bm_sealed_reader {
	struct bm_source in;
	enum bm_seal_suite suite;
	struct bm_aead aead;
	struct bm_wire_source frames;
	uint64_t offset;             /* bytes of the file read */
};
int bm_sealed_reader_init(struct bm_sealed_reader *r, struct bm_source in, const uint8_t key[BM_KEY_LEN]);
struct bm_source bm_sealed_reader_as_source(struct bm_sealed_reader *r);
int bm_sealed_reader_finish(struct bm_sealed_reader *r);
void bm_sealed_reader_free(struct bm_sealed_reader *r);

#endif

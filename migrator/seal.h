/* Sealing: every frame between the hosts after the handshake, and image
 * files at rest, encrypted and authenticated with an AEAD (AES-256-GCM or
 * ChaCha20-Poly1305, through libcrypto's EVP), the frame's sequence number
 * in the nonce, so that a frame altered, dropped, repeated, reordered or
 * cut off is refused.  Keys come from the shared key by HKDF-SHA256: on
 * the wire one per direction, from both handshake nonces; for an image
 * file, from a random salt in its header.
 *
 * Layouts, derivations and known answers: docs/protocol.md §4 (frames) and
 * docs/image-format.md §8 (sealed image files, sealed_image.h). */
#ifndef BINMIG_SEAL_H
#define BINMIG_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* The number goes on the wire (HELLO) and into image files. */
enum bm_seal_suite {
	BM_SEAL_NONE = 0,               /* plain frames, CRCs only */
	BM_SEAL_AES_256_GCM = 1,
	BM_SEAL_CHACHA20_POLY1305 = 2,
};
#define BM_SEAL_SUITE_LAST BM_SEAL_CHACHA20_POLY1305
/* Masks of suites a server accepts: bit (1 << suite). */
#define BM_SEAL_ACCEPT(suite) (1u << (suite))
#define BM_SEAL_ACCEPT_AEAD (BM_SEAL_ACCEPT(BM_SEAL_AES_256_GCM) | BM_SEAL_ACCEPT(BM_SEAL_CHACHA20_POLY1305))

#define BM_SEAL_KEY_LEN 32
#define BM_SEAL_TAG_LEN 16
#define BM_SEAL_NONCE_LEN 12
/* Bytes encrypted or decrypted in one go: small enough to stay in the
 * cache between the cipher and the copy to or from the socket. */
#define BM_SEAL_PIECE (256u * 1024)

/* "aes-256-gcm", "chacha20-poly1305", "none" ("?" for anything else). */
const char *bm_seal_name(enum bm_seal_suite suite);
/* The --seal argument of migrate, dump (suite) and serve (accept mask):
 * "auto" (migrate, dump: bm_seal_preferred(); serve: either AEAD), a
 * suite's name, or "none".  -EINVAL for anything else (not reported). */
int bm_seal_parse(const char *text, enum bm_seal_suite *suite, unsigned *accept);
/* AES-256-GCM where the CPU has AES-NI and carry-less multiplication
 * (where GCM is fast), ChaCha20-Poly1305 otherwise. */
enum bm_seal_suite bm_seal_preferred(void);

/* HKDF-SHA256 (RFC 5869): out_len bytes from ikm, salt and info. */
int bm_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len, const uint8_t *info,
		   size_t info_len, uint8_t *out, size_t out_len);

/* The two keys of a sealed connection, from the shared key, the suite and
 * both handshake nonces (32 bytes each): HKDF-SHA256 with salt Nc || Ns
 * and info "binmig v2 client to server" or "binmig v2 server to client"
 * followed by the suite's number as one byte. */
int bm_seal_session_keys(const uint8_t key[BM_SEAL_KEY_LEN], enum bm_seal_suite suite, const uint8_t nonce_client[32],
			 const uint8_t nonce_server[32], uint8_t client_to_server[BM_SEAL_KEY_LEN],
			 uint8_t server_to_client[BM_SEAL_KEY_LEN]);

/* One direction of a sealed stream: a keyed AEAD and the sequence number
 * of its next frame.  A frame is sealed or opened in pieces: begin (the
 * nonce from the sequence number, the frame's header as associated data),
 * update on each piece (in place allowed), then seal_end or open_end,
 * which move on to the next sequence number. */
struct bm_aead {
	enum bm_seal_suite suite;
	bool sealing;            /* encrypts (true) or decrypts */
	uint64_t seq;
	void *ctx;               /* EVP_CIPHER_CTX with the key set */
};

/* Errors are reported (BM_EXIT_FAILURE: libcrypto failed). */
int bm_aead_init(struct bm_aead *a, enum bm_seal_suite suite, const uint8_t key[BM_SEAL_KEY_LEN], bool sealing);
void bm_aead_free(struct bm_aead *a);
/* The nonce of frame seq: seq as 8 little-endian bytes, then 4 zero bytes. */
void bm_seal_nonce(uint64_t seq, uint8_t nonce[BM_SEAL_NONCE_LEN]);
int bm_aead_begin(struct bm_aead *a, const uint8_t *aad, size_t aad_len);
int bm_aead_update(struct bm_aead *a, const void *in, void *out, size_t len);
int bm_aead_seal_end(struct bm_aead *a, uint8_t tag[BM_SEAL_TAG_LEN]);
/* 0, or -EBADMSG when the tag does not match (fault point OPEN_FRAME):
 * not reported, the caller names the frame. */
int bm_aead_open_end(struct bm_aead *a, const uint8_t tag[BM_SEAL_TAG_LEN]);

/* Seals the payload gathered from iov as one frame of `type`: its header
 * (docs/protocol.md §4: the length counts the tag, no payload CRC), the
 * ciphertext, the tag.  The bytes go to emit in pieces, at most
 * BM_SEAL_PIECE bytes of ciphertext each, the header with the first and
 * the tag with the last, so that a small frame goes out in one piece.
 * scratch holds BM_SEAL_PIECE bytes.  emit returns 0 or a negative errno;
 * its error is returned as it is. */
typedef int (*bm_emit_fn)(void *ctx, struct iovec *iov, int iovcnt);
int bm_seal_frame(struct bm_aead *a, uint8_t type, const struct iovec *iov, int iovcnt, uint8_t *scratch,
		  bm_emit_fn emit, void *ctx);

/* Opens a sealed frame whose 16-byte header has been read and checked:
 * its plain_len payload bytes are received into dst by fill (exactly the
 * length asked, or a negative errno) and decrypted there piece by piece
 * as they arrive, then its tag; 0, fill's error, or -EBADMSG (the frame
 * does not verify; not reported).  dst holds nothing to act on unless 0
 * is returned. */
typedef int (*bm_fill_fn)(void *ctx, void *buf, size_t len);
int bm_open_frame(struct bm_aead *a, const uint8_t *header, uint8_t *dst, size_t plain_len, bm_fill_fn fill,
		  void *ctx);

#endif

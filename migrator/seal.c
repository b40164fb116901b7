/* Sealing (seal.h): suites, key derivation, the AEAD one frame at a time,
 * and the sealed frame itself.  libcrypto does the cryptography; what is
 * here is how binmig uses it, as docs/protocol.md §4 specifies. */
#include "seal.h"

#include <cpuid.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "fault.h"
#include "log.h"
#include "transport.h"
#include "wire.h"

static const char *const suite_names[] = {
	[BM_SEAL_NONE] = "none",
	[BM_SEAL_AES_256_GCM] = "aes-256-gcm",
	[BM_SEAL_CHACHA20_POLY1305] = "chacha20-poly1305",
};

const char *bm_seal_name(enum bm_seal_suite suite)
{
	return (unsigned)suite <= BM_SEAL_SUITE_LAST ? suite_names[suite] : "?";
}

enum bm_seal_suite bm_seal_preferred(void)
{
	unsigned a, b, c, d;
	/* CPUID leaf 1, ECX: bit 25 AES-NI, bit 1 PCLMULQDQ (GHASH). */
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 25)) && (c & (1u << 1)))
		return BM_SEAL_AES_256_GCM;
	return BM_SEAL_CHACHA20_POLY1305;
}

int bm_seal_parse(const char *text, enum bm_seal_suite *suite, unsigned *accept)
{
	if (strcmp(text, "auto") == 0) {
		*suite = bm_seal_preferred();
		*accept = BM_SEAL_ACCEPT_AEAD;
		return 0;
	}
	for (unsigned s = 0; s <= BM_SEAL_SUITE_LAST; s++) {
		if (strcmp(text, suite_names[s]) == 0) {
			*suite = (enum bm_seal_suite)s;
			*accept = BM_SEAL_ACCEPT(s);
			return 0;
		}
	}
	return -EINVAL;
}

int bm_hkdf_sha256(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len, const uint8_t *info,
		   size_t info_len, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
		OSSL_PARAM_construct_end(),
	};
	int ok = ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (!ok)
		return bm_error(BM_EXIT_FAILURE, "HKDF-SHA256 failed in libcrypto"), -EIO;
	return 0;
}

/* label || suite as one byte: binding the suite into every key means a
 * key can never serve under another cipher. */
static int derive(const uint8_t key[BM_SEAL_KEY_LEN], const uint8_t *salt, size_t salt_len, const char *label,
		  enum bm_seal_suite suite, uint8_t *out, size_t out_len)
{
	uint8_t info[64];
	size_t n = strlen(label);
	memcpy(info, label, n);
	info[n++] = (uint8_t)suite;
	return bm_hkdf_sha256(key, BM_SEAL_KEY_LEN, salt, salt_len, info, n, out, out_len);
}

int bm_seal_session_keys(const uint8_t key[BM_SEAL_KEY_LEN], enum bm_seal_suite suite, const uint8_t nonce_client[32],
			 const uint8_t nonce_server[32], uint8_t client_to_server[BM_SEAL_KEY_LEN],
			 uint8_t server_to_client[BM_SEAL_KEY_LEN])
{
	uint8_t salt[64];
	memcpy(salt, nonce_client, 32);
	memcpy(salt + 32, nonce_server, 32);
	int r = derive(key, salt, sizeof salt, "binmig v2 client to server", suite, client_to_server, BM_SEAL_KEY_LEN);
	if (r == 0)
		r = derive(key, salt, sizeof salt, "binmig v2 server to client", suite, server_to_client, BM_SEAL_KEY_LEN);
	return r;
}

/* ---- The AEAD, one frame at a time ---- */

static const EVP_CIPHER *cipher_of(enum bm_seal_suite suite)
{
	switch (suite) {
	case BM_SEAL_AES_256_GCM: return EVP_aes_256_gcm();
	case BM_SEAL_CHACHA20_POLY1305: return EVP_chacha20_poly1305();
	default: return NULL;
	}
}

static int crypto_failed(const char *what)
{
	return bm_error(BM_EXIT_FAILURE, "%s failed in libcrypto", what), -EIO;
}

int bm_aead_init(struct bm_aead *a, enum bm_seal_suite suite, const uint8_t key[BM_SEAL_KEY_LEN], bool sealing)
{
	memset(a, 0, sizeof *a);
	const EVP_CIPHER *cipher = cipher_of(suite);
	if (!cipher)
		return bm_error(BM_EXIT_FAILURE, "internal error: no cipher for seal suite %u", suite), -EINVAL;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	/* The key is set once; each frame sets only its nonce, so the key
	 * schedule is not redone per frame.  Both ciphers take 12-byte nonces
	 * by default. */
	if (!ctx || EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, sealing) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return crypto_failed("setting up the cipher");
	}
	a->suite = suite;
	a->sealing = sealing;
	a->ctx = ctx;
	return 0;
}

void bm_aead_free(struct bm_aead *a)
{
	EVP_CIPHER_CTX_free(a->ctx);
	a->ctx = NULL;
}

void bm_seal_nonce(uint64_t seq, uint8_t nonce[BM_SEAL_NONCE_LEN])
{
	bm_store_le64(nonce, seq);
	memset(nonce + 8, 0, 4);
}

int bm_aead_begin(struct bm_aead *a, const uint8_t *aad, size_t aad_len)
{
	uint8_t nonce[BM_SEAL_NONCE_LEN];
	int n;
	bm_seal_nonce(a->seq, nonce);
	if (EVP_CipherInit_ex(a->ctx, NULL, NULL, NULL, nonce, a->sealing) != 1 ||
	    EVP_CipherUpdate(a->ctx, NULL, &n, aad, (int)aad_len) != 1)
		return crypto_failed("starting a sealed frame");
	return 0;
}

int bm_aead_update(struct bm_aead *a, const void *in, void *out, size_t len)
{
	const uint8_t *src = in;
	uint8_t *dst = out;
	while (len > 0) {
		/* Both ciphers are stream ciphers here: out grows as in. */
		int chunk = len > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)len, n;
		if (EVP_CipherUpdate(a->ctx, dst, &n, src, chunk) != 1 || n != chunk)
			return crypto_failed(a->sealing ? "encrypting" : "decrypting");
		src += chunk;
		dst += chunk;
		len -= (size_t)chunk;
	}
	return 0;
}

int bm_aead_seal_end(struct bm_aead *a, uint8_t tag[BM_SEAL_TAG_LEN])
{
	uint8_t none[16];
	int n;
	if (EVP_CipherFinal_ex(a->ctx, none, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, BM_SEAL_TAG_LEN, tag) != 1)
		return crypto_failed("sealing a frame");
	a->seq++;
	return 0;
}

int bm_aead_open_end(struct bm_aead *a, const uint8_t tag[BM_SEAL_TAG_LEN])
{
	uint8_t none[16];
	int n;
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, BM_SEAL_TAG_LEN, (void *)tag) != 1)
		return crypto_failed("opening a frame");
	if (bm_fault(BM_FP_OPEN_FRAME) || EVP_CipherFinal_ex(a->ctx, none, &n) != 1)
		return -EBADMSG;
	a->seq++;
	return 0;
}

/* ---- Sealed frames ---- */

int bm_seal_frame(struct bm_aead *a, uint8_t type, const struct iovec *iov, int iovcnt, uint8_t *scratch,
		  bm_emit_fn emit, void *ctx)
{
	size_t len = 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	uint8_t header[BM_FRAME_HEADER_SIZE], tag[BM_SEAL_TAG_LEN];
	bm_frame_header_encode(header, type, (uint32_t)(len + BM_SEAL_TAG_LEN), 0);
	int r = bm_aead_begin(a, header, sizeof header);
	int i = 0;
	size_t offset = 0, left = len;
	bool first = true;
	while (r == 0) {
		/* The next piece: up to BM_SEAL_PIECE bytes across the entries. */
		size_t piece = 0;
		while (i < iovcnt && piece < BM_SEAL_PIECE) {
			size_t take = iov[i].iov_len - offset;
			if (take > BM_SEAL_PIECE - piece)
				take = BM_SEAL_PIECE - piece;
			r = bm_aead_update(a, (const uint8_t *)iov[i].iov_base + offset, scratch + piece, take);
			if (r < 0)
				return r;
			piece += take;
			offset += take;
			if (offset == iov[i].iov_len) {
				i++;
				offset = 0;
			}
		}
		left -= piece;
		struct iovec out[3];
		int n = 0;
		if (first)
			out[n++] = (struct iovec){ header, sizeof header };
		if (piece)
			out[n++] = (struct iovec){ scratch, piece };
		if (left == 0) {
			r = bm_aead_seal_end(a, tag);
			if (r < 0)
				return r;
			out[n++] = (struct iovec){ tag, sizeof tag };
		}
		r = emit(ctx, out, n);
		first = false;
		if (left == 0)
			break;
	}
	return r;
}

int bm_open_frame(struct bm_aead *a, const uint8_t *header, uint8_t *dst, size_t plain_len, bm_fill_fn fill,
		  void *ctx)
{
	int r = bm_aead_begin(a, header, BM_FRAME_HEADER_SIZE);
	/* Each piece is decrypted right after it arrives, while it is still
	 * in the cache, and where it arrived. */
	for (size_t done = 0; r == 0 && done < plain_len;) {
		size_t piece = plain_len - done < BM_SEAL_PIECE ? plain_len - done : BM_SEAL_PIECE;
		r = fill(ctx, dst + done, piece);
		if (r == 0)
			r = bm_aead_update(a, dst + done, dst + done, piece);
		done += piece;
	}
	uint8_t tag[BM_SEAL_TAG_LEN];
	if (r == 0)
		r = fill(ctx, tag, sizeof tag);
	if (r == 0)
		r = bm_aead_open_end(a, tag);
	return r;
}

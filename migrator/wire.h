/* Little-endian serialisation with bounds checks, for the image payloads.
 *
 * Writing goes into a growable buffer; a failed allocation is remembered
 * and every later put is ignored, so an encoder can put all its fields and
 * check once at the end.  Reading goes through a cursor over a byte array;
 * reading past the end, or a field the caller finds out of range, records
 * the first error with the offset where it occurred, and every later get
 * returns zero without moving, so a decoder too checks once at the end. */
#ifndef BINMIG_WIRE_H
#define BINMIG_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void bm_store_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void bm_store_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void bm_store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t bm_load_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t bm_load_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64_t bm_load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

struct bm_wbuf {
	uint8_t *data;
	size_t len, cap;
	bool failed;             /* an allocation failed; the contents are incomplete */
};

void bm_wbuf_init(struct bm_wbuf *b);
void bm_wbuf_free(struct bm_wbuf *b);
/* Empties the buffer, keeping its memory (and any recorded failure). */
void bm_wbuf_clear(struct bm_wbuf *b);
/* 0, or -ENOMEM if any put since init failed. */
int bm_wbuf_status(const struct bm_wbuf *b);

void bm_put_u8(struct bm_wbuf *b, uint8_t v);
void bm_put_u16(struct bm_wbuf *b, uint16_t v);
void bm_put_u32(struct bm_wbuf *b, uint32_t v);
void bm_put_u64(struct bm_wbuf *b, uint64_t v);
void bm_put_i32(struct bm_wbuf *b, int32_t v);
void bm_put_i64(struct bm_wbuf *b, int64_t v);
void bm_put_bytes(struct bm_wbuf *b, const void *data, size_t len);
/* A string: u32 byte length, then the bytes without a terminator.  NULL
 * is written as length 0 (and read back as NULL). */
void bm_put_str(struct bm_wbuf *b, const char *s);

struct bm_rcur {
	const uint8_t *data;
	size_t len, pos;
	int error;               /* 0, -EBADMSG (bad content) or -ENOMEM */
	size_t error_pos;        /* offset of the field that failed */
	char why[200];           /* what failed, for the caller's message */
	uint32_t version;        /* of the format being read, where a layout depends on it (0 if none) */
};

void bm_rcur_init(struct bm_rcur *c, const void *data, size_t len);
static inline bool bm_rcur_failed(const struct bm_rcur *c) { return c->error != 0; }
static inline size_t bm_rcur_left(const struct bm_rcur *c) { return c->len - c->pos; }

/* For the model checkers that explain a refusal: formats the reason into
 * why (n bytes) and returns false (bm_why) or rc (bm_why_rc). */
bool bm_why(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int bm_why_rc(int rc, char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record a content error at offset POS (or at the current position). Only
 * the first error is kept. */
void bm_rcur_fail_at(struct bm_rcur *c, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void bm_rcur_fail(struct bm_rcur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bm_rcur_nomem(struct bm_rcur *c);

uint8_t bm_get_u8(struct bm_rcur *c);
uint16_t bm_get_u16(struct bm_rcur *c);
uint32_t bm_get_u32(struct bm_rcur *c);
uint64_t bm_get_u64(struct bm_rcur *c);
int32_t bm_get_i32(struct bm_rcur *c);
int64_t bm_get_i64(struct bm_rcur *c);
/* Copies LEN bytes to DST (zero-filled on failure). */
bool bm_get_bytes(struct bm_rcur *c, void *dst, size_t len);
/* Pointer to the next LEN bytes inside the buffer, or NULL. */
const uint8_t *bm_get_span(struct bm_rcur *c, size_t len);
/* A u32 element count that must be <= MAX and leave room for COUNT
 * elements of at least MIN_SIZE bytes each, so that a crafted count cannot
 * make the caller allocate more than the input could describe.  WHAT names
 * the count in the error. */
uint32_t bm_get_count(struct bm_rcur *c, uint32_t max, size_t min_size, const char *what);
/* A string as bm_put_str writes it, at most MAX_LEN bytes, no NUL inside.
 * *OUT is malloc'd and NUL-terminated, or NULL for length 0. */
bool bm_get_str(struct bm_rcur *c, size_t max_len, const char *what, char **out);
/* The same into BUF of BUF_SIZE bytes (length 0 gives ""). */
bool bm_get_str_buf(struct bm_rcur *c, char *buf, size_t buf_size, const char *what);
/* True if everything was read without error; records "N trailing bytes"
 * when the input is longer than what was read. */
bool bm_rcur_finish(struct bm_rcur *c);

#endif

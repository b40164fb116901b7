#include "wire.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bm_wbuf_init(struct bm_wbuf *b)
{
	memset(b, 0, sizeof *b);
}

void bm_wbuf_free(struct bm_wbuf *b)
{
	free(b->data);
	bm_wbuf_init(b);
}

void bm_wbuf_clear(struct bm_wbuf *b)
{
	b->len = 0;
}

int bm_wbuf_status(const struct bm_wbuf *b)
{
	return b->failed ? -ENOMEM : 0;
}

/* Room for N more bytes: a pointer to where they go, or NULL (failed). */
static uint8_t *reserve(struct bm_wbuf *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (n > SIZE_MAX / 2 - b->len) {
		b->failed = true;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *data = realloc(b->data, cap);
		if (!data) {
			b->failed = true;
			return NULL;
		}
		b->data = data;
		b->cap = cap;
	}
	uint8_t *p = b->data + b->len;
	b->len += n;
	return p;
}

void bm_put_u8(struct bm_wbuf *b, uint8_t v)
{
	uint8_t *p = reserve(b, 1);
	if (p)
		*p = v;
}

void bm_put_u16(struct bm_wbuf *b, uint16_t v)
{
	uint8_t *p = reserve(b, 2);
	if (p)
		bm_store_le16(p, v);
}

void bm_put_u32(struct bm_wbuf *b, uint32_t v)
{
	uint8_t *p = reserve(b, 4);
	if (p)
		bm_store_le32(p, v);
}

void bm_put_u64(struct bm_wbuf *b, uint64_t v)
{
	uint8_t *p = reserve(b, 8);
	if (p)
		bm_store_le64(p, v);
}

void bm_put_i32(struct bm_wbuf *b, int32_t v)
{
	bm_put_u32(b, (uint32_t)v);
}

void bm_put_i64(struct bm_wbuf *b, int64_t v)
{
	bm_put_u64(b, (uint64_t)v);
}

void bm_put_bytes(struct bm_wbuf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	uint8_t *p = reserve(b, len);
	if (p)
		memcpy(p, data, len);
}

void bm_put_str(struct bm_wbuf *b, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	if (len > UINT32_MAX) {
		b->failed = true;
		return;
	}
	bm_put_u32(b, (uint32_t)len);
	bm_put_bytes(b, s, len);
}

void bm_rcur_init(struct bm_rcur *c, const void *data, size_t len)
{
	c->data = data;
	c->len = len;
	c->pos = 0;
	c->error = 0;
	c->error_pos = 0;
	c->why[0] = '\0';
	c->version = 0;
}

static void vfail(struct bm_rcur *c, int error, size_t pos, const char *fmt, va_list ap)
{
	if (c->error)
		return;
	c->error = error;
	c->error_pos = pos;
	vsnprintf(c->why, sizeof c->why, fmt, ap);
}

int bm_why_rc(int rc, char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return rc;
}

bool bm_why(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return false;
}

void bm_rcur_fail_at(struct bm_rcur *c, size_t pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, -EBADMSG, pos, fmt, ap);
	va_end(ap);
}

void bm_rcur_fail(struct bm_rcur *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(c, -EBADMSG, c->pos, fmt, ap);
	va_end(ap);
}

void bm_rcur_nomem(struct bm_rcur *c)
{
	if (c->error)
		return;
	c->error = -ENOMEM;
	c->error_pos = c->pos;
	snprintf(c->why, sizeof c->why, "out of memory");
}

/* The next N bytes, or NULL after recording why not. */
static const uint8_t *take(struct bm_rcur *c, size_t n)
{
	if (c->error)
		return NULL;
	if (n > c->len - c->pos) {
		bm_rcur_fail(c, "field of %zu bytes runs past the end of the section (%zu bytes left)", n,
			     c->len - c->pos);
		return NULL;
	}
	const uint8_t *p = c->data + c->pos;
	c->pos += n;
	return p;
}

uint8_t bm_get_u8(struct bm_rcur *c)
{
	const uint8_t *p = take(c, 1);
	return p ? *p : 0;
}

uint16_t bm_get_u16(struct bm_rcur *c)
{
	const uint8_t *p = take(c, 2);
	return p ? bm_load_le16(p) : 0;
}

uint32_t bm_get_u32(struct bm_rcur *c)
{
	const uint8_t *p = take(c, 4);
	return p ? bm_load_le32(p) : 0;
}

uint64_t bm_get_u64(struct bm_rcur *c)
{
	const uint8_t *p = take(c, 8);
	return p ? bm_load_le64(p) : 0;
}

int32_t bm_get_i32(struct bm_rcur *c)
{
	return (int32_t)bm_get_u32(c);
}

int64_t bm_get_i64(struct bm_rcur *c)
{
	return (int64_t)bm_get_u64(c);
}

bool bm_get_bytes(struct bm_rcur *c, void *dst, size_t len)
{
	const uint8_t *p = take(c, len);
	if (!p) {
		memset(dst, 0, len);
		return false;
	}
	memcpy(dst, p, len);
	return true;
}

const uint8_t *bm_get_span(struct bm_rcur *c, size_t len)
{
	return take(c, len);
}

uint32_t bm_get_count(struct bm_rcur *c, uint32_t max, size_t min_size, const char *what)
{
	size_t at = c->pos;
	uint32_t n = bm_get_u32(c);
	if (c->error)
		return 0;
	if (n > max) {
		bm_rcur_fail_at(c, at, "%s %u exceeds the limit of %u", what, n, max);
		return 0;
	}
	if (min_size && n > bm_rcur_left(c) / min_size) {
		bm_rcur_fail_at(c, at, "%s %u does not fit in the %zu bytes left", what, n, bm_rcur_left(c));
		return 0;
	}
	return n;
}

/* The bytes of a string, checked; *LEN set.  NULL on failure or for "". */
static const uint8_t *get_str_bytes(struct bm_rcur *c, size_t max_len, const char *what, size_t *len)
{
	size_t at = c->pos;
	*len = 0;
	uint32_t n = bm_get_u32(c);
	if (c->error)
		return NULL;
	if (n > max_len) {
		bm_rcur_fail_at(c, at, "%s: length %u exceeds the limit of %zu", what, n, max_len);
		return NULL;
	}
	const uint8_t *p = take(c, n);
	if (!p)
		return NULL;
	if (memchr(p, '\0', n)) {
		bm_rcur_fail_at(c, at, "%s contains a NUL byte", what);
		return NULL;
	}
	*len = n;
	return p;
}

bool bm_get_str(struct bm_rcur *c, size_t max_len, const char *what, char **out)
{
	size_t len;
	*out = NULL;
	const uint8_t *p = get_str_bytes(c, max_len, what, &len);
	if (c->error)
		return false;
	if (len == 0)
		return true;
	char *s = malloc(len + 1);
	if (!s) {
		bm_rcur_nomem(c);
		return false;
	}
	memcpy(s, p, len);
	s[len] = '\0';
	*out = s;
	return true;
}

bool bm_get_str_buf(struct bm_rcur *c, char *buf, size_t buf_size, const char *what)
{
	size_t len;
	memset(buf, 0, buf_size);
	if (buf_size == 0)
		return false;
	const uint8_t *p = get_str_bytes(c, buf_size - 1, what, &len);
	if (c->error)
		return false;
	if (len)
		memcpy(buf, p, len);
	return true;
}

bool bm_rcur_finish(struct bm_rcur *c)
{
	if (!c->error && c->pos != c->len)
		bm_rcur_fail(c, "%zu trailing bytes after the last field", c->len - c->pos);
	return c->error == 0;
}

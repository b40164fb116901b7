/* Data extents and holes of unlinked files (unlinked_holes.h). */
#include "unlinked_holes.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* The most extents an entry may list: a 64 MiB file of alternating
 * pages. */
#define MAX_EXTENTS 8192u

static int add(struct bm_holes *h, uint64_t start, uint64_t end)
{
	if (h->n >= MAX_EXTENTS)
		return -E2BIG;
	struct bm_extent *grown = realloc(h->x, (h->n + 1) * sizeof *grown);
	if (!grown)
		return -ENOMEM;
	h->x = grown;
	h->x[h->n++] = (struct bm_extent){start, end};
	return 0;
}

int bm_holes_read(int fd, uint64_t size, struct bm_holes *out)
{
	*out = (struct bm_holes){0};
	uint64_t at = 0;
	int rc = 0;
	while (rc == 0 && at < size) {
		off_t data = lseek(fd, (off_t)at, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break; /* only a hole up to the end */
		if (data < 0) {
			rc = -errno;
			break;
		}
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			rc = -errno;
			break;
		}
		uint64_t end = (uint64_t)hole < size ? (uint64_t)hole : size;
		if ((uint64_t)data >= end)
			break;
		rc = add(out, (uint64_t)data, end);
		at = end;
	}
	if (rc == -E2BIG) { /* too many extents to list: written back whole, as before version 10 */
		bm_holes_free(out);
		rc = size ? add(out, 0, size) : 0;
	}
	if (rc < 0) {
		bm_holes_free(out);
		return rc;
	}
	out->known = true;
	return 0;
}

static int write_range(int fd, const uint8_t *data, uint64_t start, uint64_t end)
{
	while (start < end) {
		ssize_t n = pwrite(fd, data + start, end - start, (off_t)start);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		start += (uint64_t)n;
	}
	return 0;
}

int bm_holes_write(int fd, const uint8_t *data, size_t len, const struct bm_holes *h)
{
	if (!h || !h->known)
		return write_range(fd, data, 0, len);
	if (ftruncate(fd, (off_t)len) < 0)
		return -1;
	for (uint32_t i = 0; i < h->n; i++)
		if (write_range(fd, data, h->x[i].start, h->x[i].end) < 0)
			return -1;
	return 0;
}

void bm_holes_encode(struct bm_wbuf *b, const struct bm_holes *h)
{
	bm_put_u32(b, h->n);
	for (uint32_t i = 0; i < h->n; i++) {
		bm_put_u64(b, h->x[i].start);
		bm_put_u64(b, h->x[i].end);
	}
}

void bm_holes_decode(struct bm_rcur *c, uint64_t size, struct bm_holes *h)
{
	*h = (struct bm_holes){0};
	size_t at = c->pos;
	uint32_t n = bm_get_count(c, MAX_EXTENTS, 16, "data extent count");
	if (bm_rcur_failed(c))
		return;
	h->x = n ? calloc(n, sizeof *h->x) : NULL;
	if (n && !h->x) {
		bm_rcur_nomem(c);
		return;
	}
	uint64_t after = 0;
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		uint64_t start = bm_get_u64(c), end = bm_get_u64(c);
		if (!bm_rcur_failed(c) && (start < after || (i && start == after) || end <= start || end > size)) {
			bm_rcur_fail_at(c, at, "data extent %u [%llu, %llu) is not after the previous one and within the "
					"file's %llu bytes", i, (unsigned long long)start, (unsigned long long)end,
					(unsigned long long)size);
			break;
		}
		h->x[i] = (struct bm_extent){start, end};
		h->n = i + 1;
		after = end;
	}
	h->known = !bm_rcur_failed(c);
}

void bm_holes_free(struct bm_holes *h)
{
	free(h->x);
	*h = (struct bm_holes){0};
}

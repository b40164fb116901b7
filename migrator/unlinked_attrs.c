/* Access time, extended attributes, inode flags and space reserved past
 * the end of unlinked files (unlinked_attrs.h). */
#include "unlinked_attrs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fiemap.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "log.h"

void bm_file_attrs_free(struct bm_file_attrs *a)
{
	for (uint32_t i = 0; a->xattrs && i < a->nxattrs; i++) {
		free(a->xattrs[i].name);
		free(a->xattrs[i].value);
	}
	free(a->xattrs);
	free(a->reserved.x);
	*a = (struct bm_file_attrs){0};
}

/* --- dump --------------------------------------------------------------- */

/* The value of xattr NAME of FD into x (name taken over).  0 or -errno. */
static int read_value(int fd, char *name, struct bm_xattr *x)
{
	*x = (struct bm_xattr){.name = name};
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = fgetxattr(fd, name, NULL, 0);
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		uint8_t *v = malloc((size_t)n);
		if (!v)
			return -ENOMEM;
		ssize_t got = fgetxattr(fd, name, v, (size_t)n);
		if (got >= 0) {
			x->value = v;
			x->len = (uint32_t)got;
			return 0;
		}
		free(v);
		if (errno != ERANGE) /* grown meanwhile: again */
			return -errno;
	}
	return -ERANGE;
}

static int read_xattrs(int fd, const char *what, struct bm_file_attrs *out)
{
	ssize_t len = flistxattr(fd, NULL, 0);
	if (len < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return 0; /* the file system has none */
	char *names = len > 0 ? malloc((size_t)len) : NULL;
	if (len > 0 && !names)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	if (len > 0)
		len = flistxattr(fd, names, (size_t)len);
	if (len < 0) {
		free(names);
		return bm_error_errno(BM_EXIT_UNSUPPORTED, errno, "cannot list the extended attributes of %s, which "
				      "binmig would carry", what);
	}
	uint32_t count = 0;
	for (ssize_t at = 0; at < len; at += (ssize_t)strlen(names + at) + 1)
		count++;
	if (count > BM_XATTR_MAX_COUNT) {
		free(names);
		return bm_error(BM_EXIT_UNSUPPORTED, "%s has %u extended attributes, more than the %u binmig carries", what,
				count, BM_XATTR_MAX_COUNT);
	}
	out->xattrs = count ? calloc(count, sizeof *out->xattrs) : NULL;
	if (count && !out->xattrs) {
		free(names);
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	}
	uint64_t bytes = 0;
	int rc = 0;
	for (ssize_t at = 0; rc == 0 && at < len; at += (ssize_t)strlen(names + at) + 1) {
		char *name = strdup(names + at);
		struct bm_xattr *x = &out->xattrs[out->nxattrs];
		int err = name ? read_value(fd, name, x) : -ENOMEM;
		if (name)
			out->nxattrs++; /* freed with out whatever happened */
		if (err == -ENODATA)
			continue; /* removed meanwhile */
		if (err < 0)
			rc = bm_error_errno(err == -ENOMEM ? BM_EXIT_FAILURE : BM_EXIT_UNSUPPORTED, -err, "cannot read the "
					    "extended attribute %s of %s, which binmig would carry", name ? name : "", what);
		else if ((bytes += strlen(name) + x->len) > BM_XATTR_MAX_BYTES)
			rc = bm_error(BM_EXIT_UNSUPPORTED, "the extended attributes of %s hold more than the %u KiB binmig "
				      "carries", what, BM_XATTR_MAX_BYTES >> 10);
	}
	free(names);
	return rc;
}

/* The inode flags chattr sets; a file system without them has none. */
static int read_iflags(int fd, const char *what, uint32_t *out)
{
	int flags = 0;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
		if (errno == ENOTTY || errno == ENOTSUP || errno == EOPNOTSUPP || errno == EINVAL) {
			*out = 0;
			return 0;
		}
		return bm_error_errno(BM_EXIT_UNSUPPORTED, errno, "cannot read the inode flags of %s", what);
	}
	if ((uint32_t)flags & FS_VERITY_FL)
		return bm_error(BM_EXIT_UNSUPPORTED, "%s is protected by fs-verity, which binmig cannot make again", what);
	*out = (uint32_t)flags & BM_IFLAGS_CARRIED;
	return 0;
}

static int add_range(struct bm_holes *h, uint64_t start, uint64_t end, const char *what)
{
	if (h->n && h->x[h->n - 1].end >= start) {
		if (end > h->x[h->n - 1].end)
			h->x[h->n - 1].end = end;
		return 0;
	}
	if (h->n >= BM_RESERVED_MAX_RANGES)
		return bm_error(BM_EXIT_UNSUPPORTED, "%s has space reserved past its end in more than %u ranges, more than "
				"binmig carries", what, BM_RESERVED_MAX_RANGES);
	struct bm_extent *grown = realloc(h->x, (h->n + 1) * sizeof *grown);
	if (!grown)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	h->x = grown;
	h->x[h->n++] = (struct bm_extent){start, end};
	return 0;
}

#define FIEMAP_BATCH 64

/* Whether [start, end) lies within the data extents H (all data when H
 * lists none it knows). */
static bool is_data(const struct bm_holes *h, uint64_t start, uint64_t end)
{
	if (!h->known)
		return true;
	for (uint32_t i = 0; i < h->n && start < end; i++)
		if (h->x[i].start <= start && h->x[i].end > start)
			start = h->x[i].end;
	return start >= end;
}

/* With FIEMAP: the ranges allocated past the block holding the last byte
 * are reserved.  Space allocated but unwritten within the size is data
 * where SEEK_DATA says so (written, not yet on the disk), else it reads
 * as zeros, a hole to SEEK_DATA, and would come back a hole: refused.  1
 * when the file system has no FIEMAP.  (No FIEMAP_FLAG_SYNC: the dump
 * writes nothing back.) */
static int reserved_by_fiemap(int fd, const struct stat *st, const struct bm_holes *holes, const char *what,
			      struct bm_holes *out)
{
	uint64_t blk = st->st_blksize > 0 ? (uint64_t)st->st_blksize : 4096;
	uint64_t eof = ((uint64_t)st->st_size + blk - 1) / blk * blk;
	struct fiemap *fm = calloc(1, sizeof *fm + FIEMAP_BATCH * sizeof(struct fiemap_extent));
	if (!fm)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	uint64_t at = 0, total = 0;
	int rc = 0;
	for (bool last = false, first = true; rc == 0 && !last; first = false) {
		*fm = (struct fiemap){.fm_start = at, .fm_length = FIEMAP_MAX_OFFSET - at,
				      .fm_extent_count = FIEMAP_BATCH};
		if (ioctl(fd, FS_IOC_FIEMAP, fm) < 0) {
			int e = errno;
			rc = first && (e == ENOTTY || e == EOPNOTSUPP || e == ENOTSUP)
				     ? 1
				     : bm_error_errno(BM_EXIT_UNSUPPORTED, e, "cannot map the extents of %s", what);
			break;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		for (uint32_t i = 0; rc == 0 && i < fm->fm_mapped_extents; i++) {
			const struct fiemap_extent *x = &fm->fm_extents[i];
			uint64_t start = x->fe_logical, end = x->fe_logical + x->fe_length;
			last = x->fe_flags & FIEMAP_EXTENT_LAST;
			at = end;
			uint64_t size = (uint64_t)st->st_size;
			if ((x->fe_flags & FIEMAP_EXTENT_UNWRITTEN) && start < size &&
			    !is_data(holes, start, end < size ? end : size))
				rc = bm_error(BM_EXIT_UNSUPPORTED, "%s has space reserved (fallocate) but not written within its "
					      "size at %llu, which binmig cannot tell from a hole", what,
					      (unsigned long long)start);
			else if (end > eof && (total += end - (start > eof ? start : eof)) > BM_RESERVED_MAX_BYTES)
				rc = bm_error(BM_EXIT_UNSUPPORTED, "%s has more than the %u MiB binmig carries reserved past its "
					      "end (fallocate FALLOC_FL_KEEP_SIZE)", what, BM_RESERVED_MAX_BYTES >> 20);
			else if (end > eof)
				rc = add_range(out, start > eof ? start : eof, end, what);
		}
	}
	free(fm);
	return rc;
}

/* Without FIEMAP (a memory file system, whose blocks are pages and which
 * keeps nothing else in them): the blocks beyond those of the data
 * extents were reserved, within the size or past it, which cannot be told
 * apart: refused. */
static int reserved_by_blocks(const struct stat *st, const struct bm_holes *holes, const char *what)
{
	uint64_t pg = (uint64_t)sysconf(_SC_PAGESIZE), data = 0;
	if (!holes->known)
		data = ((uint64_t)st->st_size + pg - 1) / pg * pg;
	for (uint32_t i = 0; holes->known && i < holes->n; i++)
		data += (holes->x[i].end + pg - 1) / pg * pg - holes->x[i].start / pg * pg;
	if ((uint64_t)st->st_blocks * 512 > data)
		return bm_error(BM_EXIT_UNSUPPORTED, "%s has %llu bytes allocated beyond its data (fallocate), which binmig "
				"cannot place on its file system (no FIEMAP)", what,
				(unsigned long long)((uint64_t)st->st_blocks * 512 - data));
	return 0;
}

int bm_file_attrs_read(int fd, const struct stat *st, const struct bm_holes *holes, const char *what,
		       struct bm_file_attrs *out)
{
	*out = (struct bm_file_attrs){.atime_ns = (int64_t)st->st_atim.tv_sec * 1000000000 + st->st_atim.tv_nsec};
	int rc = read_iflags(fd, what, &out->iflags);
	if (rc == 0)
		rc = read_xattrs(fd, what, out);
	if (rc == 0 && (rc = reserved_by_fiemap(fd, st, holes, what, &out->reserved)) == 1)
		rc = reserved_by_blocks(st, holes, what);
	if (rc < 0) {
		bm_file_attrs_free(out);
		return rc;
	}
	out->reserved.known = true;
	out->known = true;
	return 0;
}

/* The namespaces an extended attribute's name may start with. */
static bool known_namespace(const char *name)
{
	static const char *const ns[] = {"user.", "trusted.", "security.", "system."};
	for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
		if (strncmp(name, ns[i], strlen(ns[i])) == 0 && name[strlen(ns[i])])
			return true;
	return false;
}

/* --- restore ------------------------------------------------------------ */

struct timespec bm_ns_timespec(int64_t ns)
{
	int64_t sec = ns / 1000000000, nsec = ns % 1000000000;
	if (nsec < 0)
		sec--, nsec += 1000000000;
	return (struct timespec){(time_t)sec, (long)nsec};
}

static bool in_image(const struct bm_file_attrs *a, const char *name)
{
	for (uint32_t i = 0; i < a->nxattrs; i++)
		if (strcmp(a->xattrs[i].name, name) == 0)
			return true;
	return false;
}

int bm_file_attrs_make(int fd, const struct bm_file_attrs *a)
{
	if (!a || !a->known)
		return 0;
	for (uint32_t i = 0; i < a->reserved.n; i++)
		if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)a->reserved.x[i].start,
			      (off_t)(a->reserved.x[i].end - a->reserved.x[i].start)) < 0)
			return -1;
	for (uint32_t i = 0; i < a->nxattrs; i++)
		if (fsetxattr(fd, a->xattrs[i].name, a->xattrs[i].len ? (const void *)a->xattrs[i].value : "", a->xattrs[i].len, 0) < 0)
			return -1;
	/* What the new file got by itself (a directory's default ACL): away. */
	char names[BM_XATTR_MAX_COUNT * (XATTR_NAME_MAX + 1)];
	ssize_t len = flistxattr(fd, names, sizeof names);
	if (len < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
		return a->nxattrs ? -1 : 0;
	if (len < 0)
		return -1;
	for (ssize_t at = 0; at < len; at += (ssize_t)strlen(names + at) + 1)
		if (!in_image(a, names + at) && fremovexattr(fd, names + at) < 0)
			return -1;
	return 0;
}

static int failed(char *err, size_t errlen, const char *what, uint32_t flags)
{
	int e = errno;
	snprintf(err, errlen, what, flags, strerror(e));
	errno = e;
	return -1;
}

int bm_file_attrs_finish(int fd, const struct bm_file_attrs *a, int64_t mtime_ns, char *err, size_t errlen)
{
	if (!a->known)
		return 0;
	struct stat st;
	int flags = 0;
	struct timespec times[2] = {bm_ns_timespec(a->atime_ns), bm_ns_timespec(mtime_ns)};
	if (fstat(fd, &st) < 0)
		return failed(err, errlen, "cannot stat it%.0u: %s", 0);
	if ((st.st_atim.tv_sec != times[0].tv_sec || st.st_atim.tv_nsec != times[0].tv_nsec ||
	     st.st_mtim.tv_sec != times[1].tv_sec || st.st_mtim.tv_nsec != times[1].tv_nsec) &&
	    futimens(fd, times) < 0)
		return failed(err, errlen, "cannot give it its access and modification times again%.0u: %s", 0);
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0) {
		if (a->iflags)
			return failed(err, errlen, "cannot set its inode flags %#x again: %s", a->iflags);
		return 0; /* a file system without them */
	}
	if (((uint32_t)flags & BM_IFLAGS_CARRIED) == a->iflags)
		return 0;
	int want = (int)(((uint32_t)flags & ~BM_IFLAGS_CARRIED) | a->iflags);
	if (ioctl(fd, FS_IOC_SETFLAGS, &want) < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
		return failed(err, errlen, "cannot set its inode flags %#x again: %s", a->iflags);
	if (((uint32_t)flags & BM_IFLAGS_CARRIED) != a->iflags) {
		errno = EOPNOTSUPP;
		return failed(err, errlen, "its file system does not keep the inode flags %#x: %s", a->iflags);
	}
	return 0;
}

/* --- image -------------------------------------------------------------- */

void bm_file_attrs_encode(struct bm_wbuf *b, const struct bm_file_attrs *a)
{
	bm_put_u32(b, a->known);
	if (!a->known)
		return;
	bm_put_i64(b, a->atime_ns);
	bm_put_u32(b, a->iflags);
	bm_put_u32(b, a->nxattrs);
	for (uint32_t i = 0; i < a->nxattrs; i++) {
		bm_put_str(b, a->xattrs[i].name);
		bm_put_u32(b, a->xattrs[i].len);
		bm_put_bytes(b, a->xattrs[i].value, a->xattrs[i].len);
	}
	bm_put_u32(b, a->reserved.n);
	for (uint32_t i = 0; i < a->reserved.n; i++) {
		bm_put_u64(b, a->reserved.x[i].start);
		bm_put_u64(b, a->reserved.x[i].end);
	}
}

static void decode_xattrs(struct bm_rcur *c, struct bm_file_attrs *a)
{
	size_t at = c->pos;
	uint32_t n = bm_get_count(c, BM_XATTR_MAX_COUNT, 4 + 4, "extended attribute count");
	a->xattrs = n ? calloc(n, sizeof *a->xattrs) : NULL;
	if (n && !a->xattrs) {
		bm_rcur_nomem(c);
		return;
	}
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		struct bm_xattr *x = &a->xattrs[i];
		a->nxattrs = i + 1;
		bm_get_str(c, XATTR_NAME_MAX, "extended attribute name", &x->name);
		x->len = bm_get_u32(c);
		if (bm_rcur_failed(c))
			break;
		if (!x->name || !known_namespace(x->name) || x->len > BM_XATTR_MAX_VALUE ||
		    (bytes += strlen(x->name) + x->len) > BM_XATTR_MAX_BYTES) {
			bm_rcur_fail_at(c, at, "extended attribute %u (%s, %u bytes) is unnamed, without a namespace, or "
					"passes the limits", i, x->name ? x->name : "", x->len);
			break;
		}
		const uint8_t *v = bm_get_span(c, x->len);
		if (v && x->len && !(x->value = malloc(x->len)))
			bm_rcur_nomem(c);
		else if (v && x->len)
			memcpy(x->value, v, x->len);
		for (uint32_t j = 0; j < i && !bm_rcur_failed(c); j++)
			if (strcmp(a->xattrs[j].name, x->name) == 0)
				bm_rcur_fail_at(c, at, "extended attribute %s is there twice", x->name);
	}
}

static void decode_reserved(struct bm_rcur *c, uint64_t size, struct bm_holes *r)
{
	size_t at = c->pos;
	uint32_t n = bm_get_count(c, BM_RESERVED_MAX_RANGES, 16, "reserved range count");
	r->x = n ? calloc(n, sizeof *r->x) : NULL;
	if (n && !r->x) {
		bm_rcur_nomem(c);
		return;
	}
	uint64_t after = size, total = 0;
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		uint64_t start = bm_get_u64(c), end = bm_get_u64(c);
		if (bm_rcur_failed(c))
			break;
		if (start < after || (i && start == after) || end <= start ||
		    (total += end - start) > BM_RESERVED_MAX_BYTES || end > (uint64_t)INT64_MAX) {
			bm_rcur_fail_at(c, at, "reserved range %u [%llu, %llu) is not past the file's end (%llu) and the "
					"previous range, or passes the limits", i, (unsigned long long)start,
					(unsigned long long)end, (unsigned long long)size);
			break;
		}
		r->x[i] = (struct bm_extent){start, end};
		r->n = i + 1;
		after = end;
	}
	r->known = !bm_rcur_failed(c);
}

void bm_file_attrs_decode(struct bm_rcur *c, uint64_t size, struct bm_file_attrs *a)
{
	*a = (struct bm_file_attrs){0};
	size_t at = c->pos;
	uint32_t known = bm_get_u32(c);
	if (bm_rcur_failed(c) || !known)
		return;
	if (known != 1) {
		bm_rcur_fail_at(c, at, "the attributes of an unlinked file are marked %u, not 0 or 1", known);
		return;
	}
	a->atime_ns = bm_get_i64(c);
	a->iflags = bm_get_u32(c);
	if (!bm_rcur_failed(c) && (a->iflags & ~(uint32_t)BM_IFLAGS_CARRIED))
		bm_rcur_fail_at(c, at, "an unlinked file has the inode flags %#x, beyond those carried", a->iflags);
	if (!bm_rcur_failed(c))
		decode_xattrs(c, a);
	if (!bm_rcur_failed(c))
		decode_reserved(c, size, &a->reserved);
	a->known = !bm_rcur_failed(c);
}

/* The image stream: file header, CRC-checked sections, page runs, END.
 * Layout and rules: docs/image-format.md.  Section payloads of the process
 * model are in image_model.c.
 *
 * The section callback's last argument is the PAGES encoding (0 raw,
 * 1 zlib) for PAGES sections and 0 for every other section. */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "file_locks.h"
#include "unlinked_map.h"
#include "image_model.h"
#include "attrs.h"
#include "fault.h"
#include "log.h"
#include "wire.h"

static const uint8_t image_magic[8] = BM_IMAGE_MAGIC;

#define FILE_HEADER_SIZE 20u    /* magic, version, flags, CRC */
#define SECTION_HEADER_SIZE 20u /* type, flags, length, payload CRC, header CRC */
#define PAGES_PREFIX_SIZE 16u   /* addr, npages, encoding */
#define ZERO_PAYLOAD_SIZE 12u   /* addr, npages */
#define END_PAYLOAD_SIZE 32u    /* sections, pages stored, zero pages, bytes */
#define MODEL_PAYLOAD_MAX (256u << 20)
#define RUN_BYTES_MAX ((size_t)BM_IMAGE_MAX_RUN_PAGES * BM_PAGE_SIZE)
#define READ_CHUNK (1u << 20)
#define DEFLATE_PROBE (64u << 10)

enum page_encoding { ENCODING_RAW = 0, ENCODING_ZLIB = 1 };

/* Sections before the first page run, at least: PROCESS, VMAS, FDS, SIGNALS,
 * THREAD (and TIMERS from version 3). */
#define MODEL_SECTIONS_MIN 5u

const char *bm_section_name(uint32_t type)
{
	switch (type) {
	case BM_SEC_PROCESS: return "PROCESS";
	case BM_SEC_VMAS: return "VMAS";
	case BM_SEC_FDS: return "FDS";
	case BM_SEC_SIGNALS: return "SIGNALS";
	case BM_SEC_THREAD: return "THREAD";
	case BM_SEC_PAGES: return "PAGES";
	case BM_SEC_ZERO: return "ZERO";
	case BM_SEC_END: return "END";
	case BM_SEC_ATTRS: return "ATTRS";
	case BM_SEC_TIMERS: return "TIMERS";
	case BM_SEC_TREE: return "TREE";
	case BM_SEC_LOCKS: return "LOCKS";
	case BM_SEC_MAPPED_FILES: return "MAPPED_FILES";
	default: return "unknown";
	}
}

static uint32_t payload_limit(uint32_t type)
{
	switch (type) {
	case BM_SEC_PAGES: return PAGES_PREFIX_SIZE + RUN_BYTES_MAX;
	case BM_SEC_ZERO: return ZERO_PAYLOAD_SIZE;
	case BM_SEC_END: return END_PAYLOAD_SIZE;
	default: return MODEL_PAYLOAD_MAX;
	}
}

static bool run_is_valid(uint64_t addr, uint32_t npages)
{
	return !(addr & (BM_PAGE_SIZE - 1)) && npages >= 1 && npages <= BM_IMAGE_MAX_RUN_PAGES &&
	       addr <= UINT64_MAX - (uint64_t)npages * BM_PAGE_SIZE + 1;
}

/* ==== sinks and sources over a descriptor ==== */

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_writev(void *ctx, const struct iovec *iov, int iovcnt)
{
	int fd = *(int *)ctx;
	if (bm_fault(BM_FP_WRITE_IMAGE))
		return -errno;
	while (iovcnt > 0) {
		ssize_t n = writev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		size_t done = (size_t)n;
		while (iovcnt > 0 && done >= iov->iov_len) {
			done -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0 && done > 0) {
			/* A short write stopped inside one buffer: finish it alone. */
			int rc = write_all(fd, (const uint8_t *)iov->iov_base + done, iov->iov_len - done);
			if (rc < 0)
				return rc;
			iov++;
			iovcnt--;
		} else if (n == 0 && iovcnt > 0) {
			return -EIO;
		}
	}
	return 0;
}

/* Fills BUF unless the input ends: returns LEN, or fewer bytes (0 at once)
 * when it ends early, or a negative errno. */
static ssize_t fd_read(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	if (bm_fault(BM_FP_READ_IMAGE))
		return -errno;
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

struct bm_sink bm_fd_sink(int *fd)
{
	return (struct bm_sink){ .writev = fd_writev, .ctx = fd };
}

struct bm_source bm_fd_source(int *fd)
{
	return (struct bm_source){ .read = fd_read, .ctx = fd };
}

/* ==== writer ==== */

static void make_section_header(uint8_t *h, uint32_t type, uint32_t length, uint32_t payload_crc)
{
	bm_store_le32(h, type);
	bm_store_le32(h + 4, 0);
	bm_store_le32(h + 8, length);
	bm_store_le32(h + 12, payload_crc);
	bm_store_le32(h + 16, bm_crc32c(0, h, 16));
}

static int sink_write(struct bm_image_writer *w, const struct iovec *iov, int iovcnt)
{
	uint64_t total = 0;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	int rc = w->sink.writev(w->sink.ctx, iov, iovcnt);
	if (rc < 0)
		return bm_error_errno(BM_EXIT_IO, -rc, "writing the image"), rc;
	w->count.bytes += total;
	return 0;
}

static int write_section(struct bm_image_writer *w, uint32_t type, const void *payload, size_t len)
{
	if (len > payload_limit(type))
		return bm_error(BM_EXIT_FAILURE, "cannot write image section %s: %zu bytes exceed the limit of %u",
				bm_section_name(type), len, payload_limit(type)),
		       -E2BIG;
	uint8_t header[SECTION_HEADER_SIZE];
	make_section_header(header, type, (uint32_t)len, bm_crc32c(0, payload, len));
	struct iovec iov[2] = { { header, sizeof header }, { (void *)payload, len } };
	int rc = sink_write(w, iov, len ? 2 : 1);
	if (rc == 0)
		w->count.sections++;
	return rc;
}

static int writer_misuse(const char *what)
{
	bm_error(BM_EXIT_FAILURE, "image writer: %s", what);
	return -EINVAL;
}

int bm_image_writer_init(struct bm_image_writer *w, struct bm_sink sink, int zlib_level)
{
	memset(w, 0, sizeof *w);
	w->sink = sink;
	w->zlib_level = zlib_level;
	if (zlib_level != -1 && (zlib_level < 1 || zlib_level > 9))
		return writer_misuse("zlib level must be -1 (off) or 1..9");
	uint8_t header[FILE_HEADER_SIZE];
	memcpy(header, image_magic, sizeof image_magic);
	bm_store_le32(header + 8, BM_IMAGE_VERSION);
	bm_store_le32(header + 12, 0);
	bm_store_le32(header + 16, bm_crc32c(0, header, 16));
	struct iovec iov = { header, sizeof header };
	return sink_write(w, &iov, 1);
}

typedef int (*encode_fn)(struct bm_wbuf *, const struct bm_process *, char *, size_t);

/* All model sections are encoded into one buffer before anything is
 * written, so that a model the reader would reject leaves the stream
 * untouched, and the whole lot goes out in one write. */
int bm_image_write_process(struct bm_image_writer *w, const struct bm_process *p)
{
	if (w->finished || (w->count.sections != 0 && !w->tree))
		return writer_misuse("the process sections must come first, once");
	if ((p->nvmas && !p->vmas) || (p->nfds && !p->fds) || (p->nthreads && !p->threads) ||
	    (p->nshared_pending && !p->shared_pending))
		return writer_misuse("the process model has a count without its array");
	static const struct { uint32_t type; encode_fn encode; } model[] = {
		{ BM_SEC_PROCESS, bm_encode_process },
		{ BM_SEC_VMAS, bm_encode_vmas },
		{ BM_SEC_FDS, bm_encode_fds },
		{ BM_SEC_SIGNALS, bm_encode_signals },
	};
	const size_t nmodel = sizeof model / sizeof model[0];
	const size_t nsections = nmodel + p->nthreads + 4; /* and ATTRS, TIMERS, LOCKS, MAPPED_FILES */
	int32_t *tids = calloc(p->nthreads ? p->nthreads : 1, sizeof *tids);
	if (!tids)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	for (uint32_t i = 0; i < p->nthreads; i++)
		tids[i] = p->threads[i].tid;
	struct bm_wbuf b;
	char why[256];
	int rc = 0;
	bm_wbuf_init(&b);
	for (size_t i = 0; i < nsections && rc == 0; i++) {
		uint32_t type = i < nmodel ? model[i].type
				: i < nmodel + p->nthreads ? BM_SEC_THREAD
				: i + 4 == nsections ? BM_SEC_ATTRS
				: i + 3 == nsections ? BM_SEC_TIMERS
				: i + 2 == nsections ? BM_SEC_LOCKS
						     : BM_SEC_MAPPED_FILES;
		size_t header_at = b.len;
		uint8_t zero_header[SECTION_HEADER_SIZE] = { 0 };
		bm_put_bytes(&b, zero_header, sizeof zero_header);
		if (i < nmodel)
			rc = model[i].encode(&b, p, why, sizeof why);
		else if (type == BM_SEC_THREAD)
			rc = bm_encode_thread(&b, p, (uint32_t)(i - nmodel), why, sizeof why);
		else if (type == BM_SEC_ATTRS)
			rc = bm_encode_attrs(&b, &p->attrs, tids, p->nthreads, why, sizeof why);
		else if (type == BM_SEC_TIMERS)
			rc = bm_encode_timers(&b, p, why, sizeof why);
		else if (type == BM_SEC_LOCKS)
			rc = bm_encode_locks(&b, p, why, sizeof why);
		else
			rc = bm_encode_mapped_files(&b, p, why, sizeof why);
		size_t len = b.len - header_at - SECTION_HEADER_SIZE;
		if (rc == -ENOMEM) {
			bm_error(BM_EXIT_FAILURE, "out of memory encoding image section %s", bm_section_name(type));
		} else if (rc < 0) {
			bm_error(BM_EXIT_FAILURE, "cannot write image section %s: %s", bm_section_name(type), why);
		} else if (len > payload_limit(type)) {
			bm_error(BM_EXIT_FAILURE, "cannot write image section %s: %zu bytes exceed the limit of %u",
				 bm_section_name(type), len, payload_limit(type));
			rc = -E2BIG;
		} else {
			uint8_t *payload = b.data + header_at + SECTION_HEADER_SIZE;
			make_section_header(b.data + header_at, type, (uint32_t)len, bm_crc32c(0, payload, len));
		}
	}
	if (rc == 0) {
		struct iovec iov = { b.data, b.len };
		rc = sink_write(w, &iov, 1);
	}
	if (rc == 0)
		w->count.sections += nsections;
	bm_wbuf_free(&b);
	free(tids);
	return rc;
}

/* Deflates DATA into w->zbuf; the compressed length, or 0 when the result
 * would not be smaller than the input (the run is then stored raw). */
static size_t deflate_run(struct bm_image_writer *w, const void *data, size_t len)
{
	if (!w->zstream) {
		z_stream *z = calloc(1, sizeof *z);
		if (!z)
			return 0;
		if (deflateInit(z, w->zlib_level) != Z_OK) {
			free(z);
			return 0;
		}
		w->zstream = z;
	}
	if (!w->zbuf) {
		w->zbuf = malloc(RUN_BYTES_MAX);
		if (!w->zbuf)
			return 0;
		w->zbuf_size = RUN_BYTES_MAX;
	}
	z_stream *z = w->zstream;
	if (deflateReset(z) != Z_OK)
		return 0;
	z->next_in = (Bytef *)data;
	z->next_out = w->zbuf;
	z->avail_out = (uInt)(len - 1); /* anything longer is no gain */
	if (len >= 2 * DEFLATE_PROBE) {
		/* Deflating random data runs at a fraction of the speed of
		 * compressible data and gains nothing: judge a long run by its
		 * start and store it raw if that does not shrink by an eighth. */
		z->avail_in = DEFLATE_PROBE;
		if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->total_out > DEFLATE_PROBE / 8 * 7)
			return 0;
		z->avail_in = (uInt)(len - DEFLATE_PROBE);
	} else {
		z->avail_in = (uInt)len;
	}
	if (deflate(z, Z_FINISH) != Z_STREAM_END)
		return 0;
	return z->total_out;
}

int bm_image_write_pages(struct bm_image_writer *w, uint64_t addr, const void *data, uint32_t npages)
{
	if (w->finished || w->count.sections < MODEL_SECTIONS_MIN)
		return writer_misuse("page runs must follow the process sections and precede END");
	if (!run_is_valid(addr, npages) || !data)
		return writer_misuse("page run not aligned, empty, too long or without data");
	size_t raw_len = (size_t)npages * BM_PAGE_SIZE;
	const void *stored = data;
	size_t stored_len = raw_len;
	uint32_t encoding = ENCODING_RAW;
	if (w->zlib_level > 0) {
		size_t zlen = deflate_run(w, data, raw_len);
		if (zlen) {
			stored = w->zbuf;
			stored_len = zlen;
			encoding = ENCODING_ZLIB;
		}
	}
	uint8_t head[SECTION_HEADER_SIZE + PAGES_PREFIX_SIZE];
	uint8_t *prefix = head + SECTION_HEADER_SIZE;
	bm_store_le64(prefix, addr);
	bm_store_le32(prefix + 8, npages);
	bm_store_le32(prefix + 12, encoding);
	uint32_t crc = bm_crc32c(bm_crc32c(0, prefix, PAGES_PREFIX_SIZE), stored, stored_len);
	make_section_header(head, BM_SEC_PAGES, (uint32_t)(PAGES_PREFIX_SIZE + stored_len), crc);
	struct iovec iov[2] = { { head, sizeof head }, { (void *)stored, stored_len } };
	int rc = sink_write(w, iov, 2);
	if (rc < 0)
		return rc;
	w->count.sections++;
	w->count.pages_stored += npages;
	w->count.page_bytes_raw += raw_len;
	w->count.page_bytes_encoded += stored_len;
	return 0;
}

int bm_image_write_zero(struct bm_image_writer *w, uint64_t addr, uint32_t npages)
{
	if (w->finished || w->count.sections < MODEL_SECTIONS_MIN)
		return writer_misuse("zero runs must follow the process sections and precede END");
	if (!run_is_valid(addr, npages))
		return writer_misuse("zero run not aligned, empty or too long");
	uint8_t payload[ZERO_PAYLOAD_SIZE];
	bm_store_le64(payload, addr);
	bm_store_le32(payload + 8, npages);
	int rc = write_section(w, BM_SEC_ZERO, payload, sizeof payload);
	if (rc == 0)
		w->count.pages_zero += npages;
	return rc;
}

int bm_image_write_tree(struct bm_image_writer *w, const void *payload, size_t len)
{
	if (w->finished || w->count.sections != 0)
		return writer_misuse("the tree table must come first, once");
	int rc = write_section(w, BM_SEC_TREE, payload, len);
	if (rc == 0)
		w->tree = true;
	return rc;
}

int bm_image_write_member_end(struct bm_image_writer *w, uint32_t member)
{
	if (w->finished || !w->tree)
		return writer_misuse("a member mark belongs in a tree image");
	uint8_t payload[8];
	bm_store_le32(payload, BM_TREE_MARK_MEMBER_END);
	bm_store_le32(payload + 4, member);
	return write_section(w, BM_SEC_TREE, payload, sizeof payload);
}

int bm_image_writer_finish(struct bm_image_writer *w)
{
	if (w->finished || w->count.sections < MODEL_SECTIONS_MIN)
		return writer_misuse("END must follow the process sections, once");
	uint8_t payload[END_PAYLOAD_SIZE];
	bm_store_le64(payload, w->count.sections);
	bm_store_le64(payload + 8, w->count.pages_stored);
	bm_store_le64(payload + 16, w->count.pages_zero);
	bm_store_le64(payload + 24, w->count.bytes);
	int rc = write_section(w, BM_SEC_END, payload, sizeof payload);
	if (rc == 0)
		w->finished = true;
	return rc;
}

void bm_image_writer_free(struct bm_image_writer *w)
{
	if (w->zstream) {
		deflateEnd(w->zstream);
		free(w->zstream);
	}
	free(w->zbuf);
	w->zstream = NULL;
	w->zbuf = NULL;
	w->zbuf_size = 0;
}

/* ==== reader ==== */

struct section {
	uint32_t index;          /* 1-based position in the image */
	uint32_t type;
	uint64_t offset;         /* of the section header */
	uint32_t length;         /* payload bytes */
	const uint8_t *payload;  /* the whole payload, or for PAGES the prefix */
	const uint8_t *data;     /* PAGES: the stored page data */
	size_t data_len;
};

static uint64_t payload_offset(const struct section *s)
{
	return s->offset + SECTION_HEADER_SIZE;
}

static int section_error(const struct section *s, uint64_t at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int section_error(const struct section *s, uint64_t at, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	bm_error(BM_EXIT_IMAGE, "image section %u (%s) at byte %llu: %s", s->index, bm_section_name(s->type),
		 (unsigned long long)at, why);
	return -EBADMSG;
}

/* Reads up to LEN bytes: *GOT is LEN unless the input ended.  0, or a
 * negative errno after reporting the failure. */
static int source_read(struct bm_image_reader *r, void *buf, size_t len, size_t *got)
{
	*got = 0;
	while (*got < len) {
		ssize_t n = r->source.read(r->source.ctx, (uint8_t *)buf + *got, len - *got);
		if (n < 0)
			return bm_error_errno(BM_EXIT_IO, (int)-n, "reading the image after byte %llu",
					      (unsigned long long)r->count.bytes),
			       (int)n;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

static int ensure_buffer(uint8_t **buf, size_t *size, size_t need)
{
	if (need <= *size)
		return 0;
	size_t new_size = *size ? *size : 4096;
	while (new_size < need)
		new_size *= 2;
	uint8_t *p = realloc(*buf, new_size);
	if (!p)
		return bm_error(BM_EXIT_FAILURE, "out of memory reading the image"), -ENOMEM;
	*buf = p;
	*size = new_size;
	return 0;
}

static int truncated_in(const struct section *s, uint64_t at)
{
	bm_error(BM_EXIT_IMAGE, "image truncated in section %u (%s) at byte %llu", s->index,
		 bm_section_name(s->type), (unsigned long long)at);
	return -EBADMSG;
}

/* Reads LEN payload bytes into r->buf from offset OFF, growing the buffer
 * only as the bytes arrive, so that a length that lies costs no memory. */
static int read_into_buf(struct bm_image_reader *r, const struct section *s, size_t off, size_t len)
{
	size_t done = 0;
	while (done < len) {
		size_t chunk = len - done < READ_CHUNK ? len - done : READ_CHUNK;
		int rc = ensure_buffer(&r->buf, &r->buf_size, off + done + chunk);
		if (rc < 0)
			return rc;
		size_t got;
		rc = source_read(r, r->buf + off + done, chunk, &got);
		if (rc < 0)
			return rc;
		done += got;
		if (got < chunk)
			return truncated_in(s, payload_offset(s) + off + done);
	}
	return 0;
}

/* The payload of a PAGES section: raw page data goes straight into the
 * page buffer, anything else into r->buf after the prefix. */
static int read_pages_payload(struct bm_image_reader *r, struct section *s)
{
	size_t prefix_len = s->length < PAGES_PREFIX_SIZE ? s->length : PAGES_PREFIX_SIZE;
	int rc = read_into_buf(r, s, 0, prefix_len);
	if (rc < 0)
		return rc;
	size_t data_len = s->length - prefix_len;
	bool raw_fits = prefix_len == PAGES_PREFIX_SIZE && bm_load_le32(r->buf + 12) == ENCODING_RAW &&
			data_len == (size_t)bm_load_le32(r->buf + 8) * BM_PAGE_SIZE && data_len <= RUN_BYTES_MAX;
	if (raw_fits) {
		rc = ensure_buffer(&r->pages, &r->pages_size, data_len);
		if (rc < 0)
			return rc;
		size_t got;
		rc = source_read(r, r->pages, data_len, &got);
		if (rc < 0)
			return rc;
		if (got < data_len)
			return truncated_in(s, payload_offset(s) + prefix_len + got);
		s->data = r->pages;
	} else {
		rc = read_into_buf(r, s, prefix_len, data_len);
		if (rc < 0)
			return rc;
		/* Nothing may be allocated yet when the section is empty. */
		s->data = data_len ? r->buf + prefix_len : NULL;
	}
	s->payload = r->buf;
	s->data_len = data_len;
	return 0;
}

/* Reads and checks the framing of the next section.  1 with *S filled, 0
 * at the end of the input exactly at a section boundary (not reported),
 * negative after reporting. */
static int read_section(struct bm_image_reader *r, struct section *s)
{
	memset(s, 0, sizeof *s);
	s->index = (uint32_t)r->count.sections + 1;
	s->offset = r->count.bytes;
	if (r->peeked) {
		/* Read ahead by bm_image_read_tree: its payload is still in r->buf. */
		r->peeked = false;
		s->type = r->peek_type;
		s->length = r->peek_length;
		s->payload = r->buf;
		return 1;
	}
	uint8_t h[SECTION_HEADER_SIZE];
	size_t got;
	int rc = source_read(r, h, sizeof h, &got);
	if (rc < 0)
		return rc;
	if (got == 0)
		return 0;
	if (got < sizeof h) {
		bm_error(BM_EXIT_IMAGE, "image truncated in the header of section %u at byte %llu", s->index,
			 (unsigned long long)(s->offset + got));
		return -EBADMSG;
	}
	if (bm_crc32c(0, h, 16) != bm_load_le32(h + 16)) {
		bm_error(BM_EXIT_IMAGE, "image section %u at byte %llu: section header CRC mismatch", s->index,
			 (unsigned long long)s->offset);
		return -EBADMSG;
	}
	s->type = bm_load_le32(h);
	uint32_t flags = bm_load_le32(h + 4);
	s->length = bm_load_le32(h + 8);
	uint32_t payload_crc = bm_load_le32(h + 12);
	if (s->type < BM_SEC_PROCESS || s->type > BM_SEC_LAST)
		return section_error(s, s->offset, "unknown section type %u", s->type);
	if (flags)
		return section_error(s, s->offset + 4, "unknown section flags %#x", flags);
	if (s->length > payload_limit(s->type))
		return section_error(s, s->offset + 8, "payload length %u exceeds the limit of %u", s->length,
				     payload_limit(s->type));
	if (s->type == BM_SEC_PAGES) {
		rc = read_pages_payload(r, s);
	} else {
		rc = read_into_buf(r, s, 0, s->length);
		s->payload = r->buf;
	}
	if (rc < 0)
		return rc;
	uint32_t crc = bm_crc32c(0, s->payload, s->length - s->data_len);
	crc = bm_crc32c(crc, s->data, s->data_len);
	if (crc != payload_crc)
		return section_error(s, s->offset, "payload CRC mismatch");
	return 1;
}

/* Bookkeeping once a section has been accepted. */
static void accept_section(struct bm_image_reader *r, const struct section *s, uint32_t encoded_flags)
{
	r->count.sections++;
	r->count.bytes += SECTION_HEADER_SIZE + (uint64_t)s->length;
	if (r->on_section)
		r->on_section(r->on_section_ctx, s->type, s->offset, s->length, encoded_flags);
}

static int truncated_after(struct bm_image_reader *r, const char *what)
{
	bm_error(BM_EXIT_IMAGE, "image truncated: it ends at byte %llu after %llu sections, %s",
		 (unsigned long long)r->count.bytes, (unsigned long long)r->count.sections, what);
	return -EBADMSG;
}

int bm_image_reader_init(struct bm_image_reader *r, struct bm_source source)
{
	memset(r, 0, sizeof *r);
	r->source = source;
	uint8_t h[FILE_HEADER_SIZE];
	size_t got;
	int rc = source_read(r, h, sizeof h, &got);
	if (rc < 0)
		return rc;
	if (got == 0)
		return bm_error(BM_EXIT_IMAGE, "image is empty"), -EBADMSG;
	if (got >= 8 && memcmp(h, BM_SEALED_MAGIC, 8) == 0)
		return bm_error(BM_EXIT_USAGE, "the image is sealed: it needs the key it was dumped with (--key KEYFILE)"),
		       -ENOKEY;
	if (got < sizeof image_magic || memcmp(h, image_magic, sizeof image_magic))
		return bm_error(BM_EXIT_IMAGE, "not a binmig image (bad magic)"), -EBADMSG;
	if (got < sizeof h)
		return bm_error(BM_EXIT_IMAGE, "image truncated in the file header at byte %zu", got), -EBADMSG;
	if (bm_crc32c(0, h, 16) != bm_load_le32(h + 16))
		return bm_error(BM_EXIT_IMAGE, "image file header at byte 0: CRC mismatch"), -EBADMSG;
	r->version = bm_load_le32(h + 8);
	if (r->version < BM_IMAGE_VERSION_OLDEST || r->version > BM_IMAGE_VERSION)
		return bm_error(BM_EXIT_IMAGE, "image version %u is not supported (this binmig reads versions %d to %d)",
				r->version, BM_IMAGE_VERSION_OLDEST, BM_IMAGE_VERSION),
		       -EBADMSG;
	uint32_t flags = bm_load_le32(h + 12);
	if (flags)
		return bm_error(BM_EXIT_IMAGE, "image file header at byte 12: unknown flags %#x", flags), -EBADMSG;
	r->count.bytes = sizeof h;
	return 0;
}

typedef void (*decode_fn)(struct bm_rcur *, struct bm_process *);

static void decode_attrs(struct bm_rcur *c, struct bm_process *p)
{
	int32_t *tids = calloc(p->nthreads ? p->nthreads : 1, sizeof *tids);
	if (!tids) {
		bm_rcur_nomem(c);
		return;
	}
	for (uint32_t i = 0; i < p->nthreads; i++)
		tids[i] = p->threads[i].tid;
	bm_decode_attrs(c, &p->attrs, tids, p->nthreads);
	free(tids);
}

static int decode_section(struct bm_image_reader *r, struct bm_process *p, uint32_t expected,
			  decode_fn decode, uint32_t thread_index)
{
	struct section s;
	int rc = read_section(r, &s);
	if (rc == 0) {
		char what[64];
		snprintf(what, sizeof what, "before its %s section", bm_section_name(expected));
		return truncated_after(r, what);
	}
	if (rc < 0)
		return rc;
	if (s.type != expected)
		return section_error(&s, s.offset, "a %s section was expected here", bm_section_name(expected));
	struct bm_rcur c;
	bm_rcur_init(&c, s.payload, s.length);
	c.version = r->version;
	if (decode)
		decode(&c, p);
	else if (expected == BM_SEC_THREAD)
		bm_decode_thread(&c, p, thread_index);
	else
		decode_attrs(&c, p);
	bm_rcur_finish(&c);
	if (c.error == -ENOMEM)
		return bm_error(BM_EXIT_FAILURE, "out of memory decoding image section %u (%s)", s.index,
				bm_section_name(s.type)),
		       -ENOMEM;
	if (c.error)
		return section_error(&s, payload_offset(&s) + c.error_pos, "%s", c.why);
	accept_section(r, &s, 0);
	return 0;
}

int bm_image_read_process(struct bm_image_reader *r, struct bm_process *p)
{
	memset(p, 0, sizeof *p);
	if ((r->count.sections != 0 && !r->tree) || r->ended)
		return bm_error(BM_EXIT_FAILURE, "image reader: the process sections are read first, once"), -EINVAL;
	static const struct { uint32_t type; decode_fn decode; } model[] = {
		{ BM_SEC_PROCESS, bm_decode_process },
		{ BM_SEC_VMAS, bm_decode_vmas },
		{ BM_SEC_FDS, bm_decode_fds },
		{ BM_SEC_SIGNALS, bm_decode_signals },
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof model / sizeof model[0] && rc == 0; i++)
		rc = decode_section(r, p, model[i].type, model[i].decode, 0);
	for (uint32_t i = 0; i < p->nthreads && rc == 0; i++)
		rc = decode_section(r, p, BM_SEC_THREAD, NULL, i);
	/* Before version 3 neither attributes nor timers were carried: the
	 * process had none that binmig knew of. */
	if (rc == 0 && r->version >= 3)
		rc = decode_section(r, p, BM_SEC_ATTRS, NULL, 0);
	if (rc == 0 && r->version >= 3)
		rc = decode_section(r, p, BM_SEC_TIMERS, bm_decode_timers, 0);
	/* Before version 4 a process with file locks was refused at dump. */
	if (rc == 0 && r->version >= 4)
		rc = decode_section(r, p, BM_SEC_LOCKS, bm_decode_locks, 0);
	/* Before version 5 a mapped unlinked file came only with a descriptor. */
	if (rc == 0 && r->version >= 5)
		rc = decode_section(r, p, BM_SEC_MAPPED_FILES, bm_decode_mapped_files, 0);
	if (rc < 0)
		bm_process_free(p);
	return rc;
}

static int inflate_run(struct bm_image_reader *r, const struct section *s, size_t raw_len)
{
	if (!r->zstream) {
		z_stream *z = calloc(1, sizeof *z);
		if (!z || inflateInit(z) != Z_OK) {
			free(z);
			return bm_error(BM_EXIT_FAILURE, "cannot set up zlib to read the image"), -ENOMEM;
		}
		r->zstream = z;
	}
	int rc = ensure_buffer(&r->pages, &r->pages_size, raw_len);
	if (rc < 0)
		return rc;
	z_stream *z = r->zstream;
	if (inflateReset(z) != Z_OK)
		return bm_error(BM_EXIT_FAILURE, "cannot reset zlib"), -EIO;
	z->next_in = (Bytef *)s->data;
	z->avail_in = (uInt)s->data_len;
	z->next_out = r->pages;
	z->avail_out = (uInt)raw_len;
	int zrc = inflate(z, Z_FINISH);
	uint64_t at = payload_offset(s) + PAGES_PREFIX_SIZE;
	if (zrc == Z_MEM_ERROR)
		return bm_error(BM_EXIT_FAILURE, "out of memory inflating image section %u", s->index), -ENOMEM;
	if (zrc != Z_STREAM_END)
		return section_error(s, at, "compressed data is corrupt or inflates to more than %zu bytes (%s)",
				     raw_len, z->msg ? z->msg : "incomplete stream");
	if (z->total_out != raw_len || z->avail_in != 0)
		return section_error(s, at, "compressed data inflates to %lu bytes with %u bytes left over, expected %zu",
				     (unsigned long)z->total_out, z->avail_in, raw_len);
	return 0;
}

static int accept_pages(struct bm_image_reader *r, const struct section *s, struct bm_page_run *run)
{
	uint64_t at = payload_offset(s);
	if (s->length < PAGES_PREFIX_SIZE)
		return section_error(s, at, "payload of %u bytes is shorter than the %u-byte run header", s->length,
				     PAGES_PREFIX_SIZE);
	uint64_t addr = bm_load_le64(s->payload);
	uint32_t npages = bm_load_le32(s->payload + 8);
	uint32_t encoding = bm_load_le32(s->payload + 12);
	if (!run_is_valid(addr, npages))
		return section_error(s, at, "run of %u pages at %#llx is unaligned, empty, longer than %d pages or wraps",
				     npages, (unsigned long long)addr, BM_IMAGE_MAX_RUN_PAGES);
	size_t raw_len = (size_t)npages * BM_PAGE_SIZE;
	if (encoding == ENCODING_RAW) {
		if (s->data_len != raw_len)
			return section_error(s, at + PAGES_PREFIX_SIZE, "raw run of %u pages carries %zu bytes, expected %zu",
					     npages, s->data_len, raw_len);
	} else if (encoding == ENCODING_ZLIB) {
		if (s->data_len == 0 || s->data_len >= raw_len)
			return section_error(s, at + PAGES_PREFIX_SIZE,
					     "compressed run of %u pages carries %zu bytes, not fewer than raw", npages,
					     s->data_len);
		int rc = inflate_run(r, s, raw_len);
		if (rc < 0)
			return rc;
	} else {
		return section_error(s, at + 12, "unknown page encoding %u", encoding);
	}
	run->addr = addr;
	run->npages = npages;
	run->zero = false;
	run->data = r->pages;
	r->count.pages_stored += npages;
	r->count.page_bytes_raw += raw_len;
	r->count.page_bytes_encoded += s->data_len;
	accept_section(r, s, encoding);
	return 1;
}

static int accept_zero(struct bm_image_reader *r, const struct section *s, struct bm_page_run *run)
{
	if (s->length != ZERO_PAYLOAD_SIZE)
		return section_error(s, payload_offset(s), "payload is %u bytes, expected %u", s->length,
				     ZERO_PAYLOAD_SIZE);
	uint64_t addr = bm_load_le64(s->payload);
	uint32_t npages = bm_load_le32(s->payload + 8);
	if (!run_is_valid(addr, npages))
		return section_error(s, payload_offset(s),
				     "run of %u pages at %#llx is unaligned, empty, longer than %d pages or wraps", npages,
				     (unsigned long long)addr, BM_IMAGE_MAX_RUN_PAGES);
	run->addr = addr;
	run->npages = npages;
	run->zero = true;
	run->data = NULL;
	r->count.pages_zero += npages;
	accept_section(r, s, 0);
	return 1;
}

static int accept_end(struct bm_image_reader *r, const struct section *s)
{
	if (s->length != END_PAYLOAD_SIZE)
		return section_error(s, payload_offset(s), "payload is %u bytes, expected %u", s->length,
				     END_PAYLOAD_SIZE);
	static const char *const names[] = { "sections", "stored pages", "zero pages", "bytes" };
	const uint64_t actual[] = { r->count.sections, r->count.pages_stored, r->count.pages_zero, s->offset };
	for (int i = 0; i < 4; i++) {
		uint64_t recorded = bm_load_le64(s->payload + 8 * i);
		if (recorded != actual[i])
			return section_error(s, payload_offset(s) + 8 * i,
					     "END records %llu %s but the image has %llu before END",
					     (unsigned long long)recorded, names[i], (unsigned long long)actual[i]);
	}
	accept_section(r, s, 0);
	r->ended = true;
	return 0;
}

int bm_image_read_tree(struct bm_image_reader *r, uint8_t **payload, uint32_t *len)
{
	*payload = NULL;
	*len = 0;
	if (r->count.sections != 0 || r->peeked)
		return bm_error(BM_EXIT_FAILURE, "image reader: the tree table is read first, once"), -EINVAL;
	struct section s;
	int rc = read_section(r, &s);
	if (rc == 0)
		return truncated_after(r, "before its first section");
	if (rc < 0)
		return rc;
	if (s.type != BM_SEC_TREE) {
		r->peeked = true;
		r->peek_type = s.type;
		r->peek_length = s.length;
		return 0;
	}
	if (s.length < 4 || bm_load_le32(s.payload) != BM_TREE_MARK_TABLE)
		return section_error(&s, payload_offset(&s), "a tree image must begin with its table");
	*payload = malloc(s.length);
	if (!*payload)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	memcpy(*payload, s.payload, s.length);
	*len = s.length;
	r->tree = true;
	accept_section(r, &s, 0);
	return 1;
}

/* A mark after a member's pages: kind and index. */
static int accept_member_end(struct bm_image_reader *r, const struct section *s)
{
	if (!r->tree)
		return section_error(s, s->offset, "a TREE section outside a tree image");
	if (s->length != 8 || bm_load_le32(s->payload) != BM_TREE_MARK_MEMBER_END)
		return section_error(s, payload_offset(s), "expected a member mark of 8 bytes");
	r->member_ended = true;
	r->member_mark = bm_load_le32(s->payload + 4);
	accept_section(r, s, 0);
	return 0;
}

int bm_image_next_pages(struct bm_image_reader *r, struct bm_page_run *run)
{
	if (r->ended)
		return 0;
	r->member_ended = false;
	if (r->count.sections < MODEL_SECTIONS_MIN)
		return bm_error(BM_EXIT_FAILURE, "image reader: page runs are read after the process sections"), -EINVAL;
	struct section s;
	int rc = read_section(r, &s);
	if (rc == 0)
		return truncated_after(r, "without an END section");
	if (rc < 0)
		return rc;
	switch (s.type) {
	case BM_SEC_PAGES: return accept_pages(r, &s, run);
	case BM_SEC_ZERO: return accept_zero(r, &s, run);
	case BM_SEC_END: return accept_end(r, &s);
	case BM_SEC_TREE: return accept_member_end(r, &s);
	default: return section_error(&s, s.offset, "only PAGES, ZERO or END may follow the process sections");
	}
}

void bm_image_reader_free(struct bm_image_reader *r)
{
	if (r->zstream) {
		inflateEnd(r->zstream);
		free(r->zstream);
	}
	free(r->buf);
	free(r->pages);
	r->zstream = NULL;
	r->buf = NULL;
	r->pages = NULL;
	r->buf_size = r->pages_size = 0;
}

/* An image split into its sections, to change one thing and rebuild it
 * with valid CRCs (test_image_damage.c, test_image_crafted.c,
 * test_image_versions.c). */
#ifndef BINMIG_UNIT_RAW_IMAGE_H
#define BINMIG_UNIT_RAW_IMAGE_H

#include "unit_process.h"

/* The image split into its sections, to rebuild with valid CRCs after a
 * deliberate change. */
struct raw_section {
	uint32_t type, flags;
	uint8_t *payload;
	uint32_t len;
};

struct raw_image {
	uint8_t file_header[20];
	struct raw_section s[32];
	int n;
};

static inline void split_image(const struct bm_wbuf *img, struct raw_image *ri)
{
	memset(ri, 0, sizeof *ri);
	memcpy(ri->file_header, img->data, 20);
	size_t off = 20;
	while (off < img->len) {
		assert_true(ri->n < 32);
		struct raw_section *s = &ri->s[ri->n++];
		s->type = bm_load_le32(img->data + off);
		s->flags = bm_load_le32(img->data + off + 4);
		s->len = bm_load_le32(img->data + off + 8);
		s->payload = malloc(s->len + 64);
		assert_non_null(s->payload);
		memcpy(s->payload, img->data + off + 20, s->len);
		off += 20 + s->len;
	}
	assert_true(off == img->len);
}

static inline void free_raw_image(struct raw_image *ri)
{
	for (int i = 0; i < ri->n; i++)
		free(ri->s[i].payload);
}

/* Reassembles with fresh CRCs.  FIX_END rewrites END's section and byte
 * totals so that only the deliberate change is wrong. */
static inline void assemble(struct raw_image *ri, struct bm_wbuf *out, bool fix_end)
{
	bm_wbuf_init(out);
	bm_put_bytes(out, ri->file_header, 20);
	for (int i = 0; i < ri->n; i++) {
		struct raw_section *s = &ri->s[i];
		if (fix_end && s->type == BM_SEC_END && s->len == 32) {
			bm_store_le64(s->payload, (uint64_t)i);
			bm_store_le64(s->payload + 24, out->len);
		}
		uint8_t h[20];
		bm_store_le32(h, s->type);
		bm_store_le32(h + 4, s->flags);
		bm_store_le32(h + 8, s->len);
		bm_store_le32(h + 12, bm_crc32c(0, s->payload, s->len));
		bm_store_le32(h + 16, bm_crc32c(0, h, 16));
		bm_put_bytes(out, h, 20);
		bm_put_bytes(out, s->payload, s->len);
	}
	assert_int_equal(bm_wbuf_status(out), 0);
}

static inline int find_section(struct raw_image *ri, uint32_t type, int nth)
{
	for (int i = 0; i < ri->n; i++)
		if (ri->s[i].type == type && nth-- == 0)
			return i;
	fail_msg("no section of type %u", type);
	return -1;
}

/* Takes the first section of TYPE out. */
static inline void drop_section(struct raw_image *ri, uint32_t type)
{
	int i = find_section(ri, type, 0);
	free(ri->s[i].payload);
	memmove(&ri->s[i], &ri->s[i + 1], (size_t)(ri->n - i - 1) * sizeof ri->s[0]);
	ri->n--;
}

/* A full-process image split up, the changes applied by the caller. */
static inline void full_raw_image(struct raw_image *ri, struct bm_process *p)
{
	make_process(p, true);
	struct run runs[] = {
		compressible_run(0x600000, 2, 1),
		random_run(0x602000, 1),
		{ 0x603000, 1, true, NULL, 0 },
	};
	struct bm_wbuf img;
	write_image(&img, p, runs, 3, 1, NULL);
	split_image(&img, ri);
	bm_wbuf_free(&img);
	free_runs(runs, 3);
}

static inline void expect_crafted_rejection(struct raw_image *ri, bool fix_end, const char *message)
{
	struct bm_wbuf img;
	assemble(ri, &img, fix_end);
	assert_rejected(img.data, img.len, message);
	bm_wbuf_free(&img);
}

/* Where the fields of descriptor entry INDEX are in an FDS payload (version 2). */
struct fd_layout {
	size_t start, kind, flags, shares, path, object_flags, replaced, replaced_by, was, was_link, in_flight, owner,
		holes, sigio, attrs, end;
};

static inline size_t skip_string(const uint8_t *at)
{
	return 4 + bm_load_le32(at);
}

static inline struct fd_layout fd_entry(const struct raw_section *fds, uint32_t index)
{
	struct fd_layout l = {0};
	size_t at = 4;
	for (uint32_t i = 0; i <= index; i++) {
		assert_true(at < fds->len);
		l.start = at;
		l.kind = at + 4;
		l.flags = at + 8;
		l.shares = at + 20;
		l.path = at + 36;
		size_t after_path = l.path + skip_string(fds->payload + l.path);
		l.object_flags = after_path + 32 + 8;
		size_t data_len_at = l.object_flags + 4;
		l.replaced = data_len_at + 4 + bm_load_le32(fds->payload + data_len_at);
		l.replaced_by = l.replaced + 4;
		l.was = l.replaced_by + 4;
		l.was_link = l.was + 4;
		l.in_flight = l.was_link + skip_string(fds->payload + l.was_link);
		l.owner = l.in_flight + 4;
		l.holes = l.owner + 8;
		l.sigio = l.holes + 4 + 16 * (size_t)bm_load_le32(fds->payload + l.holes);
		l.attrs = l.sigio + 12;
		l.end = l.attrs + 4; /* the attributes of an unlinked file (version 11): none */
		if (i < index) /* (entry INDEX itself may lack the fields of later versions) */
			at = l.end;
	}
	return l;
}

/* Takes the unlinked file attributes (version 11, none) and, unless
 * ATTRS_ONLY, the data extents (version 10, none) off each entry of RI's
 * MAPPED_FILES section. */
static inline void drop_mapped_tails(struct raw_image *ri, bool attrs_only)
{
	struct raw_section *mf = &ri->s[find_section(ri, BM_SEC_MAPPED_FILES, 0)];
	uint32_t n = bm_load_le32(mf->payload);
	size_t at = 4;
	for (uint32_t i = 0; i < n; i++) {
		at += 8 + 8 + 8 + 4;                       /* dev, ino, mtime, mode */
		at += skip_string(mf->payload + at);       /* path */
		at += 4 + bm_load_le32(mf->payload + at);  /* size, bytes */
		at += 4 + 8;                               /* memfd, owner */
		if (attrs_only)
			at += 4 + 16 * (size_t)bm_load_le32(mf->payload + at);
		size_t cut = attrs_only ? 4 : 8;
		assert_int_equal(bm_load_le32(mf->payload + at), 0);
		assert_int_equal(bm_load_le32(mf->payload + at + cut - 4), 0);
		memmove(mf->payload + at, mf->payload + at + cut, mf->len - at - cut);
		mf->len -= (uint32_t)cut;
	}
}

/* Takes the guard ranges (version 11, none) off the end of RI's VMAS
 * section, for an image of an earlier version. */
static inline void drop_guards(struct raw_image *ri)
{
	struct raw_section *vmas = &ri->s[find_section(ri, BM_SEC_VMAS, 0)];
	assert_true(vmas->len >= 4);
	assert_int_equal(bm_load_le32(vmas->payload + vmas->len - 4), 0);
	vmas->len -= 4;
}

/* Takes what version 14 added off RI (its first process), for an image
 * of an earlier version (which reads as not having read them,
 * forget_counters): the inotify next watch numbers after the descriptor
 * table's size at the end of FDS, and the timer id counter at the end of
 * TIMERS, where there is one (and what version 15 added after them). */
static inline void drop_v14(struct raw_image *ri)
{
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	uint32_t nfds = bm_load_le32(fds->payload);
	size_t size_at = nfds ? fd_entry(fds, nfds - 1).end : 4;
	assert_true(fds->len >= size_at + 8);
	fds->len = (uint32_t)(size_at + 4);
	for (int i = 0; i < ri->n; i++)
		if (ri->s[i].type == BM_SEC_TIMERS) {
			assert_true(ri->s[i].len >= 8);
			ri->s[i].len -= 8;
			break;
		}
}

/* Where the pipe layouts (version 15) begin in FDS: after the table's size
 * and the inotify next watch numbers. */
static inline size_t pipe_layouts_at(const struct raw_section *fds)
{
	uint32_t nfds = bm_load_le32(fds->payload);
	size_t at = (nfds ? fd_entry(fds, nfds - 1).end : 4) + 4;
	return at + 4 + 8 * (size_t)bm_load_le32(fds->payload + at);
}

/* Takes what version 15 added off the end of RI's FDS section (its first
 * process), for an image of version 14 (which reads as none read:
 * forget_layouts, forget_sigio): the pipe layouts and what the dump read
 * of signal-driven I/O. */
static inline void drop_v15(struct raw_image *ri, uint32_t nfds)
{
	(void)nfds;
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	size_t at = pipe_layouts_at(fds);
	assert_true(fds->len >= at + 8);
	fds->len = (uint32_t)at;
}

/* Takes what version 16 added off the end of RI's FDS section (its first
 * process), for an image of version 15: the stream layouts, of which the
 * test processes have none (a count of 0), and what version 18 added
 * after them (no openers either). */
static inline void drop_v16(struct raw_image *ri, uint32_t nfds)
{
	(void)nfds;
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	assert_true(fds->len >= 12);
	assert_int_equal(bm_load_le32(fds->payload + fds->len - 4), 0);
	assert_int_equal(bm_load_le32(fds->payload + fds->len - 8), 0);
	fds->len -= 8;
}

/* Takes what version 18 added off the end of RI's FDS section (its first
 * process), for an image of version 17: its list of openers, of one
 * entry without groups (84 bytes with its count). */
static inline void drop_v18(struct raw_image *ri, uint32_t nfds)
{
	(void)nfds;
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	assert_true(fds->len >= 88);
	assert_int_equal(bm_load_le32(fds->payload + fds->len - 84), 1);
	fds->len -= 84;
}

/* Takes the last N bytes off each lock of RI's LOCKS sections, locks of
 * SIZE bytes (each N zero bytes where ZERO), for an image of an earlier
 * version. */
static inline void drop_lock_tail(struct raw_image *ri, size_t size, size_t n, bool zero)
{
	for (int i = 0; i < ri->n; i++) {
		struct raw_section *ls = &ri->s[i];
		if (ls->type != BM_SEC_LOCKS)
			continue;
		uint32_t count = bm_load_le32(ls->payload);
		assert_int_equal(ls->len, 4 + (size_t)count * size);
		for (uint32_t k = 0; k < count; k++) {
			uint8_t *tail = ls->payload + 4 + (size_t)k * (size - n) + (size - n); /* after those cut */
			for (size_t b = 0; zero && b < n; b++)
				assert_int_equal(tail[b], 0);
			memmove(tail, tail + n, ls->len - (size_t)(tail + n - ls->payload));
			ls->len -= n;
		}
	}
}

/* What version 17 added to each lock: none is taken by a stand-in in
 * the test processes (two zero words). */
static inline void drop_v17(struct raw_image *ri)
{
	drop_lock_tail(ri, 36, 8, true);
}

/* What version 19 added to each lock: its order, whatever the dump read. */
static inline void drop_v19(struct raw_image *ri)
{
	drop_lock_tail(ri, 40, 4, false);
}

/* What version 20 added to each lock: the member it is taken through,
 * none in the test processes (a zero word). */
static inline void drop_v20(struct raw_image *ri)
{
	drop_lock_tail(ri, 44, 4, true);
}

/* Makes RI an image of VERSION: its file header says so, and what
 * versions 17, 19 and 20 added to the locks is taken off an image of an
 * earlier one. */
static inline void set_version(struct raw_image *ri, uint32_t version)
{
	if (version < 20)
		drop_v20(ri);
	if (version < 19)
		drop_v19(ri);
	if (version < 17)
		drop_v17(ri);
	bm_store_le32(ri->file_header + 8, version);
	bm_store_le32(ri->file_header + 16, bm_crc32c(0, ri->file_header, 16));
}

/* Takes the descriptor table's size (version 13) off the end of RI's FDS
 * section, and what version 14 added, for an image of an earlier version
 * (which reads as not knowing it: 0). */
static inline void drop_fd_table_size(struct raw_image *ri)
{
	drop_v14(ri);
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	assert_true(fds->len >= 8);
	fds->len -= 4;
}

/* For an image of version 12: no table size. */
static inline void drop_v13(struct raw_image *ri, uint32_t nfds)
{
	(void)nfds;
	drop_fd_table_size(ri);
}

static inline size_t sigio_field(struct fd_layout l)
{
	return l.sigio;
}

/* Cuts the fields of each of the NFDS entries of RI's FDS section from
 * the one FIELD_OF gives to the end of the entry: its unlinked file
 * attributes (version 11, none), where its signals go (version 11), its
 * data extents (version 10, none) and those before them; and what those
 * versions and later ones added to MAPPED_FILES, VMAS and FDS. */
static inline void cut_fd_tails(struct raw_image *ri, uint32_t nfds, size_t (*field_of)(struct fd_layout))
{
	drop_fd_table_size(ri);
	struct raw_section *fds = &ri->s[find_section(ri, BM_SEC_FDS, 0)];
	/* From the last: the entries before one stay where fd_entry finds them. */
	for (uint32_t i = nfds; i-- > 0;) {
		struct fd_layout l = fd_entry(fds, i);
		assert_int_equal(bm_load_le32(fds->payload + l.attrs), 0);
		size_t at = field_of(l), cut = l.end - at;
		if (at < l.sigio)
			assert_int_equal(bm_load_le32(fds->payload + l.holes), 0);
		if (at == l.in_flight) /* only a process holding all its descriptors can go back so far */
			assert_int_equal(bm_load_le32(fds->payload + at), 0);
		memmove(fds->payload + at, fds->payload + at + cut, fds->len - at - cut);
		fds->len -= (uint32_t)cut;
	}
	drop_mapped_tails(ri, field_of == sigio_field);
	drop_guards(ri);
}

static inline size_t holes_field(struct fd_layout l)
{
	return l.holes;
}

static inline size_t owner_field(struct fd_layout l)
{
	return l.owner;
}

static inline size_t in_flight_field(struct fd_layout l)
{
	assert_int_equal(l.in_flight + 4, l.owner);
	return l.in_flight;
}

/* For an image of version 10: nothing of where signals go, no unlinked
 * file attributes. */
static inline void drop_v11(struct raw_image *ri, uint32_t nfds)
{
	cut_fd_tails(ri, nfds, sigio_field);
}

/* For an image of version 9: no data extents. */
static inline void drop_holes(struct raw_image *ri, uint32_t nfds)
{
	cut_fd_tails(ri, nfds, holes_field);
}

/* For an image of version 8: no owner words (version 9) either. */
static inline void drop_owner(struct raw_image *ri, uint32_t nfds)
{
	cut_fd_tails(ri, nfds, owner_field);
}

/* For an image before version 8: no in_flight word (zero) either. */
static inline void drop_in_flight(struct raw_image *ri, uint32_t nfds)
{
	cut_fd_tails(ri, nfds, in_flight_field);
}

#endif

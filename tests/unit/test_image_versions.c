/* Images of earlier versions (1 to 4, 7 to 10, 12 to 14), rebuilt from a current
 * one: still read, as what they could hold, and held to it. */

#include <netinet/in.h>
#include <sys/socket.h>

#include "unit_raw_image.h"
#include "image_model.h"
#include "sk_inet.h"
#include "unlinked.h"

/* The process without file locks and cgroups, which only version 4 holds. */
static void strip_locks(struct bm_process *q)
{
	free(q->locks);
	q->locks = NULL;
	q->nlocks = 0;
	free(q->cgroups);
	q->cgroups = NULL;
}

/* Takes the cgroups string (version 4, empty) off the end of PROCESS. */
static void drop_cgroups(struct raw_image *ri)
{
	struct raw_section *proc = &ri->s[find_section(ri, BM_SEC_PROCESS, 0)];
	assert_int_equal(bm_load_le32(proc->payload + proc->len - 4), 0);
	proc->len -= 4;
}

/* The process without what version 2 cannot hold: timers and the
 * descriptor kinds of version 3 (timerfds, signalfds, epoll instances,
 * unlinked objects). */
static void strip_timers(struct bm_process *q)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < q->nfds; i++) {
		if (q->fds[i].kind >= BM_FD_TIMERFD) { /* the kinds version 3 brought */
			free(q->fds[i].path);
			free(q->fds[i].data);
			continue;
		}
		q->fds[kept++] = q->fds[i];
	}
	q->nfds = kept;
	free(q->timers.posix);
	free(q->timers.timerfds);
	int64_t read_at = q->timers.realtime_ns; /* the writer wants one */
	memset(&q->timers, 0, sizeof q->timers);
	q->timers.realtime_ns = read_at;
	strip_locks(q);
}

/* Takes the cwd-removed word (version 3) out of the PROCESS section of
 * Q's image RI, for an image of an earlier version. */
static void drop_cwd_removed(struct raw_image *ri, const struct bm_process *q)
{
	struct raw_section *proc = &ri->s[find_section(ri, BM_SEC_PROCESS, 0)];
	size_t removed_at = 16 + 4 + strlen(q->comm) + 8 + 32 + 4 + 4 * q->ngroups + 4 + 4 + strlen(q->cwd) + 4 +
			    strlen(q->root);
	assert_int_equal(bm_load_le32(proc->payload + removed_at), 0);
	memmove(proc->payload + removed_at, proc->payload + removed_at + 4, proc->len - removed_at - 4);
	proc->len -= 4;
}

/* IMG, of a VERSION before timers were carried, reads as Q, without timers,
 * to its END. */
static void assert_old_image_reads_as(const struct bm_wbuf *img, uint32_t version, struct bm_process *q)
{
	struct mem_input in = { img->data, img->len, 0, 0 };
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(r.version, version);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	int64_t read_at = q->timers.realtime_ns;
	q->timers.realtime_ns = 0; /* not read: the image has no timers */
	forget_owners(q);
	q->fd_table_size = 0; /* nor the table's size (version 13) */
	forget_counters(q);   /* nor the counters (version 14) */
	forget_layouts(q);    /* nor the pipes' layouts (version 15) */
	assert_process_equal(q, &got);
	q->timers.realtime_ns = read_at;
	struct bm_page_run run;
	assert_int_equal(bm_image_next_pages(&r, &run), 0);
	bm_process_free(&got);
	bm_image_reader_free(&r);
}

/* Version 1, written before descriptor policies existed, is the same
 * but for the four fields at the end of each descriptor entry: it is
 * still read, and means that no descriptor was replaced. */
static void test_version_1_is_still_read(void **state)
{
	(void)state;
	/* The full process without its replaced descriptors and the kinds
	 * version 3 brought (signalfd, epoll, inotify), which version 1 cannot hold. */
	struct bm_process q;
	make_process(&q, true);
	strip_timers(&q);
	uint32_t kept = 0;
	for (uint32_t i = 0; i < q.nfds; i++) {
		if (q.fds[i].replaced || q.fds[i].kind >= BM_FD_SIGNALFD) {
			free(q.fds[i].path);
			free(q.fds[i].was_link);
			free(q.fds[i].data);
			continue;
		}
		q.fds[kept++] = q.fds[i];
	}
	q.nfds = kept;
	struct bm_wbuf img;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct raw_image v1;
	split_image(&img, &v1);
	bm_wbuf_free(&img);
	/* Nor the cwd-removed word after root in PROCESS (version 3)... */
	drop_cwd_removed(&v1, &q);
	/* ...nor its ATTRS and TIMERS sections. */
	drop_section(&v1, BM_SEC_ATTRS);
	drop_section(&v1, BM_SEC_TIMERS);
	drop_section(&v1, BM_SEC_LOCKS);
	drop_section(&v1, BM_SEC_MAPPED_FILES);
	drop_cgroups(&v1);
	drop_guards(&v1);
	drop_fd_table_size(&v1);
	struct raw_section *fds = &v1.s[find_section(&v1, BM_SEC_FDS, 0)];
	for (uint32_t i = q.nfds; i-- > 0;) {
		struct fd_layout l = fd_entry(fds, i);
		assert_int_equal(bm_load_le32(fds->payload + l.was_link), 0);
		size_t end = l.end, cut = end - l.replaced; /* with in_flight, the owner, no extents, where signals go
								and no attributes (versions 8 to 11) */
		memmove(fds->payload + l.replaced, fds->payload + end, fds->len - end);
		fds->len -= (uint32_t)cut;
	}
	set_version(&v1, 1);
	assemble(&v1, &img, true);
	assert_old_image_reads_as(&img, 1, &q);
	/* A version 1 image cannot name the kinds only a policy gives. */
	bm_store_le32(fds->payload + fd_entry(fds, 0).kind, BM_FD_CLOSED);
	bm_wbuf_free(&img);
	assemble(&v1, &img, true);
	assert_rejected(img.data, img.len, "descriptor of kind 7 that no policy replaced");
	bm_wbuf_free(&img);
	free_raw_image(&v1);
	bm_process_free(&q);
}

/* P's image with its file header saying version 2, without the
 * cwd-removed word and its ATTRS section, and without its TIMERS section when DROP_TIMERS. */
static void version_2_image(const struct bm_process *p, bool drop_timers, struct bm_wbuf *img)
{
	struct bm_wbuf v3;
	struct raw_image ri;
	write_image(&v3, p, NULL, 0, -1, NULL);
	split_image(&v3, &ri);
	bm_wbuf_free(&v3);
	drop_cwd_removed(&ri, p);
	drop_in_flight(&ri, p->nfds);
	drop_section(&ri, BM_SEC_ATTRS);
	drop_section(&ri, BM_SEC_LOCKS);
	drop_section(&ri, BM_SEC_MAPPED_FILES);
	drop_cgroups(&ri);
	if (drop_timers)
		drop_section(&ri, BM_SEC_TIMERS);
	set_version(&ri, 2);
	assemble(&ri, img, true);
	free_raw_image(&ri);
}

/* Version 2, written before attributes and timers were carried, has no
 * ATTRS or TIMERS section and no timerfds: still read, as a process without timers; and held to that. */
static void test_version_2_is_still_read(void **state)
{
	(void)state;
	struct bm_process full, q;
	make_process(&full, true);
	strip_locks(&full);
	make_process(&q, true);
	strip_timers(&q);
	struct bm_wbuf img;
	version_2_image(&q, true, &img);
	assert_old_image_reads_as(&img, 2, &q);
	bm_wbuf_free(&img);
	/* The same as version 2 with its timerfds, or with its TIMERS section. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < full.nfds; i++) {
		if (full.fds[i].kind > BM_FD_TIMERFD) {
			free(full.fds[i].path);
			free(full.fds[i].data);
			continue;
		}
		full.fds[kept++] = full.fds[i];
	}
	full.nfds = kept;
	version_2_image(&full, true, &img);
	assert_rejected(img.data, img.len, "descriptor entry 7 (fd 14): kind 10 in an image of version 2");
	bm_wbuf_free(&img);
	version_2_image(&q, false, &img);
	assert_rejected(img.data, img.len, "only PAGES, ZERO or END may follow the process sections");
	bm_wbuf_free(&img);
	bm_process_free(&q);
	bm_process_free(&full);
}

/* P's image with its file header saying VERSION (3 or 4), without what
 * came after it, and without the section VERSION + 1 brought (LOCKS,
 * MAPPED_FILES) when DROP_NEWER. */
static void older_image(const struct bm_process *p, uint32_t version, bool drop_newer, struct bm_wbuf *img)
{
	struct bm_wbuf now;
	struct raw_image ri;
	write_image(&now, p, NULL, 0, -1, NULL);
	split_image(&now, &ri);
	bm_wbuf_free(&now);
	drop_in_flight(&ri, p->nfds);
	if (drop_newer)
		drop_section(&ri, version == 3 ? BM_SEC_LOCKS : BM_SEC_MAPPED_FILES);
	if (version == 3) {
		drop_section(&ri, BM_SEC_MAPPED_FILES);
		drop_cgroups(&ri);
	}
	set_version(&ri, version);
	assemble(&ri, img, true);
	free_raw_image(&ri);
}

/* Q's image of VERSION reads as Q; with the section VERSION + 1 brought
 * left in, it is rejected. */
static void assert_older_reads(const struct bm_process *q, uint32_t version)
{
	struct bm_wbuf img;
	older_image(q, version, true, &img);
	struct mem_input in = { img.data, img.len, 0, 0 };
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(r.version, version);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(q, &got);
	bm_process_free(&got);
	bm_image_reader_free(&r);
	bm_wbuf_free(&img);
	older_image(q, version, false, &img);
	assert_rejected(img.data, img.len, "only PAGES, ZERO or END may follow the process sections");
	bm_wbuf_free(&img);
}

/* Version 3, written before file locks were carried (a process holding
 * one was refused), has no LOCKS section: still read, as a process
 * without locks; a LOCKS section in it is rejected. */
static void test_version_3_is_still_read(void **state)
{
	(void)state;
	struct bm_process q;
	make_process(&q, true);
	strip_locks(&q);
	forget_owners(&q);
	q.fd_table_size = 0; /* what an image of version 3 reads as */
	forget_counters(&q);
	forget_layouts(&q);
	assert_older_reads(&q, 3);
	bm_process_free(&q);
}

static int by_start(const void *a, const void *b)
{
	const struct bm_vma *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Version 4, written before unlinked files mapped without a descriptor
 * were carried (such a process was refused), has no MAPPED_FILES
 * section: still read, as a process without them; a MAPPED_FILES section
 * in it, or a mapping of an unlinked file that no descriptor carries, is
 * rejected. */
static void test_version_4_is_still_read(void **state)
{
	(void)state;
	struct bm_process q;
	make_process(&q, true);
	forget_owners(&q);
	q.fd_table_size = 0; /* what an image of version 4 reads as */
	forget_counters(&q);
	forget_layouts(&q);
	forget_lock_orders(&q);
	assert_older_reads(&q, 4);
	/* A mapped file of its own, which version 4 cannot hold. */
	add_vma(&q, 0x7e0000004000, 0x7e0000005000, PROT_READ, BM_VMA_FILE, BM_VMA_DELETED | BM_VMA_UNLINKED, 0,
		"/tmp/gone.so");
	q.vmas[q.nvmas - 1].file = (struct bm_file_id){0x803, 778, 1, 0};
	qsort(q.vmas, q.nvmas, sizeof *q.vmas, by_start);
	q.mapped_files = calloc(1, sizeof *q.mapped_files);
	assert_non_null(q.mapped_files);
	q.nmapped_files = 1;
	q.mapped_files[0] = (struct bm_mapped_file){{0x803, 778, 1, 0}, 0600, strdup("/tmp/gone.so"), malloc(1)};
	assert_non_null(q.mapped_files[0].data);
	q.mapped_files[0].data[0] = 'x';
	struct bm_wbuf img;
	older_image(&q, 4, true, &img);
	assert_rejected(img.data, img.len, "neither a descriptor nor contents of its own");
	bm_wbuf_free(&img);
	bm_process_free(&q);
}

/* Q with a removed cwd (mode 0751, owner 1234:4321) and a file it maps
 * with no descriptor held (mode 0600, owner 77:88). */
static void with_unlinked_objects(struct bm_process *q)
{
	q->cwd_removed = q->cwd_known = true;
	q->cwd_mode = 0751, q->cwd_uid = 1234, q->cwd_gid = 4321;
	add_vma(q, 0x7e0000004000, 0x7e0000005000, PROT_READ, BM_VMA_FILE, BM_VMA_DELETED | BM_VMA_UNLINKED, 0,
		"/tmp/gone.so");
	q->vmas[q->nvmas - 1].file = (struct bm_file_id){0x803, 778, 1, 0};
	qsort(q->vmas, q->nvmas, sizeof *q->vmas, by_start);
	q->mapped_files = calloc(1, sizeof *q->mapped_files);
	assert_non_null(q->mapped_files);
	q->nmapped_files = 1;
	q->mapped_files[0] = (struct bm_mapped_file){{0x803, 778, 1, 0}, 0600, strdup("/tmp/gone.so"), malloc(1)};
	assert_non_null(q->mapped_files[0].data);
	q->mapped_files[0].data[0] = 'x';
	q->mapped_files[0].owner_uid = 77, q->mapped_files[0].owner_gid = 88, q->mapped_files[0].owner_known = true;
}

/* Version 9 carries the owners of the unlinked objects the restore makes
 * (and a removed cwd's mode); an image of version 8 without them reads as
 * one that names none. */
static void test_owners_of_unlinked_objects(void **state)
{
	(void)state;
	struct bm_process q;
	make_process(&q, true);
	with_unlinked_objects(&q);
	struct bm_wbuf img;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct mem_input in = { img.data, img.len, 0, 0 };
	struct bm_image_reader r;
	struct bm_process got;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_process_equal(&q, &got);
	bm_process_free(&got);
	bm_image_reader_free(&r);
	/* As version 8: no owners of descriptors, of the cwd (its three words
	 * after the cwd-removed one) nor of the mapped file (its last two). */
	struct raw_image ri;
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	drop_owner(&ri, q.nfds);
	struct raw_section *proc = &ri.s[find_section(&ri, BM_SEC_PROCESS, 0)];
	size_t attrs_at = 16 + 4 + strlen(q.comm) + 8 + 32 + 4 + 4 * q.ngroups + 4 + 4 + strlen(q.cwd) + 4 +
			  strlen(q.root) + 4;
	assert_int_equal(bm_load_le32(proc->payload + attrs_at), 0751);
	memmove(proc->payload + attrs_at, proc->payload + attrs_at + 12, proc->len - attrs_at - 12);
	proc->len -= 12;
	ri.s[find_section(&ri, BM_SEC_MAPPED_FILES, 0)].len -= 8;
	set_version(&ri, 8);
	assemble(&ri, &img, true);
	free_raw_image(&ri);
	in = (struct mem_input){ img.data, img.len, 0, 0 };
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	forget_owners(&q);
	q.fd_table_size = 0;
	forget_counters(&q);
	forget_layouts(&q);
	forget_lock_orders(&q);
	q.cwd_known = false;
	q.cwd_mode = q.cwd_uid = q.cwd_gid = 0;
	q.mapped_files[0].owner_known = false;
	q.mapped_files[0].owner_uid = q.mapped_files[0].owner_gid = 0;
	assert_process_equal(&q, &got);
	bm_process_free(&got);
	bm_image_reader_free(&r);
	bm_wbuf_free(&img);
	bm_process_free(&q);
}

/* The current image of the full process (changed by CHANGE, if given)
 * with DROP applied and its header saying VERSION reads as that process
 * (before version 9 with no owner on its descriptors). */
static void assert_reads_changed(uint32_t version, void (*change)(struct bm_process *),
				 void (*drop)(struct raw_image *, uint32_t))
{
	struct bm_process q;
	make_process(&q, true);
	if (change)
		change(&q);
	struct bm_wbuf img;
	struct raw_image ri;
	write_image(&img, &q, NULL, 0, -1, NULL);
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	drop(&ri, q.nfds);
	set_version(&ri, version);
	assemble(&ri, &img, true);
	free_raw_image(&ri);
	struct mem_input in = { img.data, img.len, 0, 0 };
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	assert_int_equal(r.version, version);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	if (version < 9)
		forget_owners(&q);
	if (version < 11)
		forget_sigio(&q);
	if (version < 13)
		q.fd_table_size = 0; /* the image (before version 13) does not know it */
	if (version < 14)
		forget_counters(&q); /* the image does not know the counters */
	if (version < 15)
		forget_layouts(&q); /* nor the pipes' layouts */
	if (version < 18)
		forget_openers(&q); /* nor who opened its files */
	if (version < 19)
		forget_lock_orders(&q); /* nor the order of its locks */
	assert_process_equal(&q, &got);
	bm_process_free(&got);
	bm_image_reader_free(&r);
	bm_wbuf_free(&img);
	bm_process_free(&q);
}

static void assert_reads_without(uint32_t version, void (*drop)(struct raw_image *, uint32_t))
{
	assert_reads_changed(version, NULL, drop);
}

/* A UDP socket (fd 1001) whose state is of format 2 (LAST false) or 3. */
static void add_udp(struct bm_process *q, bool last)
{
	add_fd(q, 1001, BM_FD_UDP, O_RDWR, 0, -1, NULL);
	struct bm_sk_inet u = {.family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_NEW,
			       .last_known = last, .incoming_cpu = 5, .quickack = -1};
	struct bm_fd *f = &q->fds[q->nfds - 1];
	assert_int_equal(bm_sk_inet_encode(&u, &f->data, &f->data_len), 0);
}

static void add_udp_v2(struct bm_process *q)
{
	add_udp(q, false);
}

/* Version 12, written before SO_INCOMING_CPU and TCP_QUICKACK were
 * carried, holds TCP and UDP socket states of format 2: still read, as
 * sockets without them; one of format 3 is rejected. */
static void test_version_12_sockets_are_still_read(void **state)
{
	(void)state;
	assert_reads_changed(12, add_udp_v2, drop_v13);
	struct bm_process q;
	make_process(&q, true);
	add_udp(&q, true);
	struct bm_wbuf img;
	struct raw_image ri;
	write_image(&img, &q, NULL, 0, -1, NULL);
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	drop_v13(&ri, 0);
	set_version(&ri, 12);
	assemble(&ri, &img, true);
	free_raw_image(&ri);
	assert_rejected(img.data, img.len, "socket fd 1001: state of format 3 in an image of version 12");
	bm_wbuf_free(&img);
	bm_process_free(&q);
}

/* Version 7, written before descriptors only in flight were carried, has
 * no in_flight word in its descriptor entries: still read, as a process
 * holding each of its descriptors. */
static void test_version_7_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(7, drop_in_flight);
}

/* Version 8, written before pipes and sockets got their owners back, has
 * no owner words in its descriptor entries: still read, its descriptors
 * of no known owner (the restore's pipes and sockets stay root's). */
static void test_version_8_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(8, drop_owner);
}

/* Version 9, written before the holes of unlinked files were carried, has
 * no extent count after each descriptor entry and mapped file: still
 * read, its unlinked files written back whole. */
static void test_version_9_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(9, drop_holes);
}

/* Version 10, written before guard pages, droppable memory, signal-driven
 * I/O and unlinked files' access time, extended attributes, inode flags
 * and reservation were carried, has no guard ranges after its VMAs, no
 * owner, owner type and signal and no attributes' mark after each
 * descriptor entry, and no mark after each mapped file: still read, as a
 * process without guard pages whose descriptors' signals go nowhere and
 * whose unlinked files are made again as new files have them; a VMA
 * flagged droppable or as holding guards in it is rejected. */
static void test_version_10_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(10, drop_v11);
	const struct {
		uint32_t flag;
		const char *said;
	} newer[] = {
		{BM_VMA_DROPPABLE, "VMA 1: droppable memory in an image of version 10"},
		{BM_VMA_MAYBE_GUARD, "VMA 1: guard regions in an image of version 10"},
	};
	for (int i = 0; i < 2; i++) {
		struct bm_process q;
		make_process(&q, true);
		q.vmas[1].flags |= newer[i].flag; /* the heap's place */
		struct bm_wbuf img;
		struct raw_image ri;
		write_image(&img, &q, NULL, 0, -1, NULL);
		split_image(&img, &ri);
		bm_wbuf_free(&img);
		drop_guards(&ri);
		set_version(&ri, 10);
		assemble(&ri, &img, true);
		free_raw_image(&ri);
		assert_rejected(img.data, img.len, newer[i].said);
		bm_wbuf_free(&img);
		bm_process_free(&q);
	}
}

/* Version 12, written before the size of the descriptor table was
 * carried, has nothing after the descriptor entries: still read, as a
 * process whose table's size is not known (the restore leaves it as it
 * makes it); the current image of the same process has it. */
static void test_version_12_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(12, drop_v13);
	struct bm_process q;
	make_process(&q, true);
	struct bm_wbuf img;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct mem_input in = { img.data, img.len, 0, 0 };
	struct bm_image_reader r;
	assert_int_equal(bm_image_reader_init(&r, (struct bm_source){ mem_read, &in }), 0);
	struct bm_process got;
	assert_int_equal(bm_image_read_process(&r, &got), 0);
	assert_int_equal(got.fd_table_size, 512);
	bm_process_free(&got);
	bm_image_reader_free(&r);
	bm_wbuf_free(&img);
	/* A size that no table has, with a valid CRC: rejected. */
	struct raw_image ri;
	write_image(&img, &q, NULL, 0, -1, NULL);
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	struct raw_section *fds = &ri.s[find_section(&ri, BM_SEC_FDS, 0)];
	size_t size_at = pipe_layouts_at(fds) - 4 - 4 - 8; /* before one inotify next watch number (version 14) */
	assert_int_equal(bm_load_le32(fds->payload + size_at), 512);
	bm_store_le32(fds->payload + size_at, 100);
	assemble(&ri, &img, true);
	assert_rejected(img.data, img.len, "descriptor table size 100 is not a multiple of 64");
	bm_wbuf_free(&img);
	free_raw_image(&ri);
	/* Nor may an encoder write one. */
	q.fd_table_size = 100;
	bm_wbuf_init(&img);
	char why[200];
	assert_int_equal(bm_encode_fds(&img, &q, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "descriptor table size 100"));
	bm_wbuf_free(&img);
	bm_process_free(&q);
}

/* The full process Q (make_process) and its current image, split into RI. */
static void split_full_image(struct bm_process *q, struct raw_image *ri)
{
	make_process(q, true);
	struct bm_wbuf img;
	write_image(&img, q, NULL, 0, -1, NULL);
	split_image(&img, ri);
	bm_wbuf_free(&img);
}

static void drop_v14_of(struct raw_image *ri, uint32_t nfds)
{
	(void)nfds;
	drop_v14(ri);
}

/* Version 13, written before the dump read the kernel's counters
 * (kstate.h), has neither the inotify next watch numbers at the end of FDS
 * nor the timer id counter at the end of TIMERS: still read, as counters
 * not read (the restore leaves them after the newest timer and watch).
 * The current image has them (the full process's round trip), and holds
 * them to what a kernel hands out. */
static void test_version_13_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(13, drop_v14_of);
	struct bm_process q;
	struct bm_wbuf img;
	struct raw_image ri;
	split_full_image(&q, &ri);
	/* The last next watch number of FDS: fd 13, the inotify instance, next 7. */
	struct raw_section *fds = &ri.s[find_section(&ri, BM_SEC_FDS, 0)];
	size_t end = pipe_layouts_at(fds);
	assert_int_equal(bm_load_le32(fds->payload + end - 8), 13);
	assert_int_equal(bm_load_le32(fds->payload + end - 4), 7);
	bm_store_le32(fds->payload + end - 4, 0);
	expect_crafted_rejection(&ri, true, "inotify next watch number of fd 13: 0, not in 1..2147483647");
	bm_store_le32(fds->payload + end - 4, 7);
	bm_store_le32(fds->payload + end - 8, 12); /* the epoll instance */
	expect_crafted_rejection(&ri, true, "inotify next watch number of fd 12: 7, not in 1..2147483647, or not an inotify");
	bm_store_le32(fds->payload + end - 8, 13);
	/* The end of TIMERS: read (1), the counter 40. */
	struct raw_section *tm = &ri.s[find_section(&ri, BM_SEC_TIMERS, 0)];
	assert_int_equal(bm_load_le32(tm->payload + tm->len - 8), 1);
	assert_int_equal(bm_load_le32(tm->payload + tm->len - 4), 40);
	bm_store_le32(tm->payload + tm->len - 8, 2);
	expect_crafted_rejection(&ri, true, "next timer id flag 2 is not 0 or 1");
	bm_store_le32(tm->payload + tm->len - 8, 1);
	bm_store_le32(tm->payload + tm->len - 4, 0x80000000u);
	expect_crafted_rejection(&ri, true, "next timer id 2147483648 is above 2147483647");
	free_raw_image(&ri);
	/* An unlinked file that may not be linked again (read at dump): read
	 * back as such; said in an image of version 13, rejected. */
	add_fd(&q, 1002, BM_FD_UNLINKED_FILE, O_RDWR | O_TMPFILE, 0, -1, "/tmp/#5");
	struct bm_fd *u = &q.fds[q.nfds - 1];
	u->object_flags = BM_UNLINKED_LINK_KNOWN;
	u->object_id = 5;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct bm_process got;
	read_back(&img, &got);
	assert_int_equal(got.fds[got.nfds - 1].object_flags, BM_UNLINKED_LINK_KNOWN);
	bm_process_free(&got);
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	drop_v14(&ri);
	set_version(&ri, 13);
	expect_crafted_rejection(&ri, true, "(fd 1002): linkability in an image of version 13");
	free_raw_image(&ri);
	/* Nor may an encoder write a counter not read. */
	q.timers.next_id_known = false;
	bm_wbuf_init(&img);
	char why[200];
	assert_int_equal(bm_encode_timers(&img, &q, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "next timer id 40 is above 2147483647 or not read"));
	bm_wbuf_free(&img);
	bm_process_free(&q);
}

/* Version 14, written before the dump read the number an open file's
 * signals report and its owner's user ids, has no count of them at the
 * end of FDS: still read, as nothing read (O_ASYNC set through the first
 * descriptor, the owner with the process's credentials).  The current
 * image carries them for fd 7 (a pipe with O_ASYNC and an owner), and
 * rejects them where the entry cannot have them. */
static void test_version_14_sigio_still_read(void **state)
{
	(void)state;
	assert_reads_without(14, drop_v15);
	struct bm_process q;
	make_process(&q, true);
	struct bm_fd *d = NULL;
	for (uint32_t i = 0; i < q.nfds; i++)
		if (q.fds[i].fd == 7)
			d = &q.fds[i];
	assert_non_null(d);
	d->sig_known = BM_SIGIO_KNOWN_ALL;
	d->sig_async_fd = 40;
	d->sig_cred_uid = 65534;
	d->sig_cred_euid = 65533;
	struct bm_wbuf img;
	write_image(&img, &q, NULL, 0, -1, NULL);
	struct bm_process got;
	read_back(&img, &got);
	assert_process_equal(&q, &got);
	bm_process_free(&got);
	struct raw_image ri;
	split_image(&img, &ri);
	bm_wbuf_free(&img);
	/* The tail: count 1, fd 7, known 3, fd 40, 65534, 65533; then no
	 * stream layouts (version 16) and no openers (version 18). */
	struct raw_section *fds = &ri.s[find_section(&ri, BM_SEC_FDS, 0)];
	size_t tail = fds->len - 24 - 4 - 4;
	assert_int_equal(bm_load_le32(fds->payload + tail), 1);
	assert_int_equal(bm_load_le32(fds->payload + tail + 4), 7);
	assert_int_equal(bm_load_le32(fds->payload + tail + 12), 40);
	bm_store_le32(fds->payload + tail + 4, 9999);
	expect_crafted_rejection(&ri, true, "signal-driven I/O of fd 9999: not after fd -1, or no such descriptor");
	bm_store_le32(fds->payload + tail + 4, 7);
	bm_store_le32(fds->payload + tail + 12, 0xffffffffu);
	expect_crafted_rejection(&ri, true, "that it does not have");
	free_raw_image(&ri);
	bm_process_free(&q);
}

/* Version 14, written before the dump read how pipes' bytes lie in their
 * buffers (pipe_layout.h), has no layouts at the end of FDS: still read,
 * as pipes refilled in one go.  The current image has them (the full
 * process's pipe, fd 7) and holds them to the bytes carried. */
static void test_version_14_pipes_still_read(void **state)
{
	(void)state;
	assert_reads_without(14, drop_v15);
	struct bm_process q;
	struct raw_image ri;
	split_full_image(&q, &ri);
	/* One layout: fd 7, two buffers, the first (3, 10, may be merged into). */
	struct raw_section *fds = &ri.s[find_section(&ri, BM_SEC_FDS, 0)];
	size_t at = pipe_layouts_at(fds);
	assert_int_equal(fds->len, at + 4 + 8 + 2 * 12 + 4 + 4 + 4); /* no signal-driven I/O read, stream layouts or openers */
	assert_int_equal(bm_load_le32(fds->payload + at), 1);
	assert_int_equal(bm_load_le32(fds->payload + at + 4), 7);
	assert_int_equal(bm_load_le32(fds->payload + at + 8), 2);
	assert_int_equal(bm_load_le32(fds->payload + at + 16), 10);
	bm_store_le32(fds->payload + at + 16, 11);
	expect_crafted_rejection(&ri, true, "pipe layout of fd 7: pipe buffers of 27 bytes in all, for 26 bytes");
	bm_store_le32(fds->payload + at + 16, 10);
	bm_store_le32(fds->payload + at + 20, 3);
	expect_crafted_rejection(&ri, true, "pipe layout of fd 7: pipe buffer 0 has flags 0x3");
	bm_store_le32(fds->payload + at + 20, 1);
	bm_store_le32(fds->payload + at + 4, 8); /* the write end, which carries no bytes */
	expect_crafted_rejection(&ri, true, "pipe layout of fd 8: a buffer layout on a descriptor");
	free_raw_image(&ri);
	bm_process_free(&q);
}

/* Version 15, written before the dump read unix stream queues' skbs
 * (sk_unix_stream_layout.h), has no stream layouts at the end of FDS:
 * still read, as queues written back in pieces. */
static void test_version_15_is_still_read(void **state)
{
	(void)state;
	assert_reads_without(15, drop_v16);
}

/* The full process's first regular file (fd 3) opened by user 65534. */
static void add_opener(struct bm_process *q)
{
	struct bm_fd *d = NULL;
	for (uint32_t i = 0; i < q->nfds && !d; i++)
		if (q->fds[i].kind == BM_FD_REGULAR && q->fds[i].shares_with < 0)
			d = &q->fds[i];
	assert_non_null(d);
	d->opener = calloc(1, sizeof *d->opener);
	assert_non_null(d->opener);
	for (int k = 0; k < 4; k++)
		d->opener->uid[k] = d->opener->gid[k] = 65534;
	d->opener->cap_bnd = 0x1ff;
}

static void drop_none(struct raw_image *ri, uint32_t nfds)
{
	(void)ri;
	(void)nfds;
}

/* Version 17, written before the dump read who opened the files opened by
 * name (fd_opener.h), has no openers at the end of FDS: still read, as
 * files opened with the restore's credentials.  The current image carries
 * them. */
static void test_version_17_is_still_read(void **state)
{
	(void)state;
	assert_reads_changed(18, add_opener, drop_none);
	assert_reads_changed(17, add_opener, drop_v18);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_version_1_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_2_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_3_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_4_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_7_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_8_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_9_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_10_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_12_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_12_sockets_are_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_13_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_14_sigio_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_14_pipes_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_15_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_version_17_is_still_read, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_owners_of_unlinked_objects, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

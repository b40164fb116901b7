/* Mappings of unlinked files (unlinked_map.h). */
#include "unlinked_map.h"
#include "unlinked_attrs.h"
#include "unlinked_holes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "image_model.h"
#include "log.h"
#include "shmem.h"
#include "unlinked.h"
#include "wire.h"

bool bm_unlinked_map_is(const struct bm_vma *v)
{
	return (v->flags & BM_VMA_UNLINKED) != 0;
}

static bool same_file(const struct bm_file_id *a, const struct bm_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

const struct bm_fd *bm_unlinked_map_fd(const struct bm_process *p, const struct bm_vma *v)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct bm_fd *d = &p->fds[i];
		if (d->kind == BM_FD_UNLINKED_FILE && d->replaced == BM_FD_CARRIED && d->file.dev == v->file.dev &&
		    d->object_id == v->file.ino)
			return d;
	}
	return NULL;
}

const struct bm_mapped_file *bm_unlinked_map_file(const struct bm_process *p, const struct bm_vma *v)
{
	for (uint32_t i = 0; i < p->nmapped_files; i++)
		if (same_file(&p->mapped_files[i].file, &v->file))
			return &p->mapped_files[i];
	return NULL;
}

/* The bytes of unlinked files p carries so far: its descriptors' and its
 * mapped files'. */
static uint64_t carried_bytes(const struct bm_process *p)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < p->nfds; i++)
		total += p->fds[i].kind == BM_FD_UNLINKED_FILE ? p->fds[i].data_len : 0;
	for (uint32_t i = 0; i < p->nmapped_files; i++)
		total += p->mapped_files[i].file.size;
	return total;
}

/* Reads the file mapped at e (LINK leads to it, ST is its status) into a
 * new record of p. */
static int add_mapped_file(pid_t pid, const struct bm_maps_entry *e, const char *link, const struct stat *st,
			   bool memfd, struct bm_process *p)
{
	if (p->nmapped_files >= BM_MAPPED_FILES_MAX)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps more than %u unlinked files without descriptors; "
				"binmig cannot carry so many", pid, BM_MAPPED_FILES_MAX);
	if ((uint64_t)st->st_size > BM_UNLINKED_MAX_BYTES)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the deleted file %s at 0x%llx, an unlinked file "
				"larger than the 64 MiB an image carries", pid, e->path, (unsigned long long)e->start);
	struct bm_mapped_file *grown = realloc(p->mapped_files, (p->nmapped_files + 1) * sizeof *grown);
	if (!grown)
		return bm_error(BM_EXIT_FAILURE, "out of memory");
	p->mapped_files = grown;
	struct bm_mapped_file *m = &p->mapped_files[p->nmapped_files];
	*m = (struct bm_mapped_file){.mode = st->st_mode & 07777, .owner_uid = st->st_uid, .owner_gid = st->st_gid,
				     .owner_known = true};
	char what[PATH_MAX + 96];
	snprintf(what, sizeof what, "the deleted file %s that process %d maps at 0x%llx", e->path, pid,
		 (unsigned long long)e->start);
	int rc = memfd ? bm_unlinked_memfd_seals(link, what, &m->memfd) : 0;
	if (rc == 0)
		rc = bm_unlinked_read(link, what, &m->data, &m->file, &m->holes, &m->attrs);
	if (rc == 0 && !(m->path = strdup(e->path)))
		rc = bm_error(BM_EXIT_FAILURE, "out of memory");
	if (rc < 0) {
		free(m->data);
		bm_holes_free(&m->holes);
		bm_file_attrs_free(&m->attrs);
		return rc;
	}
	p->nmapped_files++;
	if (carried_bytes(p) > BM_UNLINKED_MAX_TOTAL)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d holds more than %u MiB of unlinked files (the file it "
				"maps at 0x%llx passes it); binmig cannot carry so much", pid, BM_UNLINKED_MAX_TOTAL >> 20,
				(unsigned long long)e->start);
	return 0;
}

int bm_unlinked_map_describe(pid_t pid, const struct bm_maps_entry *e, struct bm_process *p, struct bm_vma *v)
{
	/* The mapped file itself, whatever has its former name now. */
	char link[96];
	snprintf(link, sizeof link, "/proc/%d/map_files/%llx-%llx", pid, (unsigned long long)e->start,
		 (unsigned long long)e->end);
	bool memfd = bm_unlinked_is_memfd(link, e->path);
	if (bm_shmem_is_anon_file(link, e->path))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps shared anonymous memory (%s) privately at 0x%llx, "
				"through a descriptor of it (/proc/PID/map_files); binmig cannot tie it to that memory again",
				pid, e->path, (unsigned long long)e->start);
	if (bm_unlinked_is_secret(link))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps secret memory (memfd_secret) at 0x%llx, whose "
				"contents the kernel shows to nobody but the process; binmig cannot carry it", pid,
				(unsigned long long)e->start);
	struct stat st;
	if (stat(link, &st) < 0)
		return bm_error_errno(BM_EXIT_TARGET, errno, "cannot stat the deleted file %s that process %d maps at "
				      "0x%llx", e->path, pid, (unsigned long long)e->start);
	if (!S_ISREG(st.st_mode))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the deleted %s at 0x%llx, which is no regular file; "
				"binmig cannot carry it", pid, e->path, (unsigned long long)e->start);
	if (st.st_nlink > 0)
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the deleted file %s at 0x%llx, whose name was "
				"removed while other hard links to it remain, which binmig cannot name", pid, e->path,
				(unsigned long long)e->start);
	v->kind = BM_VMA_FILE;
	v->flags |= BM_VMA_DELETED | BM_VMA_UNLINKED;
	v->file = (struct bm_file_id){st.st_dev, st.st_ino, (uint64_t)st.st_size,
				      (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
	/* The contents were read before (with the descriptor), or now, once
	 * per file: the file as it is. */
	const struct bm_fd *d = bm_unlinked_map_fd(p, v);
	const struct bm_mapped_file *m = d ? NULL : bm_unlinked_map_file(p, v);
	int rc = d || m ? 0 : add_mapped_file(pid, e, link, &st, memfd, p);
	if (rc < 0)
		return rc;
	if (!d && !m)
		m = &p->mapped_files[p->nmapped_files - 1];
	/* Sealed against writes from now on, it could not be mapped shared and
	 * writable again. */
	uint32_t seals = d ? d->object_flags : m->memfd;
	if (memfd && (seals & F_SEAL_FUTURE_WRITE) && (v->flags & BM_VMA_SHARED) &&
	    ((v->prot & PROT_WRITE) || (v->flags & BM_VMA_MAYWRITE)))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the memfd %s at 0x%llx shared and writable, and the "
				"memfd is sealed against future writes (F_SEAL_FUTURE_WRITE): binmig could not map it so "
				"again", pid, e->path, (unsigned long long)e->start);
	/* mmap refuses a shared mapping of an append-only file from a
	 * descriptor open for writing (the process mapped it before the flag
	 * was set). */
	const struct bm_file_attrs *a = d ? &d->attrs : &m->attrs;
	if ((a->iflags & FS_APPEND_FL) && (v->flags & BM_VMA_SHARED) &&
	    ((v->prot & PROT_WRITE) || (v->flags & BM_VMA_MAYWRITE)))
		return bm_error(BM_EXIT_UNSUPPORTED, "process %d maps the append-only deleted file %s shared and writable "
				"at 0x%llx, which binmig could not map so again", pid, e->path,
				(unsigned long long)e->start);
	v->file = d ? d->file : m->file;
	v->path = strdup(d ? d->path : m->path);
	return v->path ? 0 : bm_error(BM_EXIT_FAILURE, "out of memory");
}

/* Whether p reaches the unlinked file id: maps it without a descriptor,
 * or holds a descriptor of it. */
static bool reaches(const struct bm_process *p, const struct bm_file_id *id)
{
	for (uint32_t i = 0; i < p->nmapped_files; i++)
		if (same_file(&p->mapped_files[i].file, id))
			return true;
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].kind == BM_FD_UNLINKED_FILE && p->fds[i].file.dev == id->dev &&
		    p->fds[i].object_id == id->ino)
			return true;
	return false;
}

int bm_unlinked_map_check_tree(const struct bm_frozen *members, size_t n)
{
	for (size_t a = 0; a < n; a++) {
		const struct bm_process *p = &members[a].proc;
		for (uint32_t i = 0; i < p->nmapped_files; i++)
			for (size_t b = 0; b < n; b++)
				if (b != a && reaches(&members[b].proc, &p->mapped_files[i].file))
					return bm_error(BM_EXIT_UNSUPPORTED, "processes %d and %d both reach the unlinked file "
							"%s, which %d maps without a descriptor; binmig would make it "
							"again once per process, no longer shared", members[a].pid,
							members[b].pid, p->mapped_files[i].path, members[a].pid);
	}
	return 0;
}

/* --- image ---------------------------------------------------------------- */

/* The rules of one record (index i of p's). */
static bool check_mapped_file(const struct bm_process *p, uint32_t i, char *why, size_t n)
{
	const struct bm_mapped_file *m = &p->mapped_files[i];
	if (!m->path || m->path[0] != '/')
		return bm_why(why, n, "mapped unlinked file %u has no absolute path", i);
	if (m->file.size > BM_UNLINKED_MAX_BYTES)
		return bm_why(why, n, "mapped unlinked file %s has %llu bytes, more than %u", m->path,
			      (unsigned long long)m->file.size, BM_UNLINKED_MAX_BYTES);
	if (m->mode & ~07777u)
		return bm_why(why, n, "mapped unlinked file %s has the mode %#o", m->path, m->mode);
	if (!bm_unlinked_memfd_valid(m->memfd, m->path))
		return bm_why(why, n, "mapped unlinked file %s has the memfd flags %#x", m->path, m->memfd);
	for (uint32_t j = 0; j < i; j++)
		if (same_file(&p->mapped_files[j].file, &m->file))
			return bm_why(why, n, "mapped unlinked file %s is in the image twice", m->path);
	for (uint32_t j = 0; j < p->nvmas; j++) {
		const struct bm_vma *v = &p->vmas[j];
		if (bm_unlinked_map_is(v) && same_file(&v->file, &m->file)) {
			if (bm_unlinked_map_fd(p, v))
				return bm_why(why, n, "mapped unlinked file %s is also carried by a descriptor", m->path);
			return true;
		}
	}
	return bm_why(why, n, "mapped unlinked file %s is not mapped", m->path);
}

int bm_encode_mapped_files(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size)
{
	if (p->nmapped_files > BM_MAPPED_FILES_MAX)
		return bm_why(why, why_size, "%u mapped unlinked files, more than %u", p->nmapped_files,
			      BM_MAPPED_FILES_MAX), -EINVAL;
	for (uint32_t i = 0; i < p->nmapped_files; i++)
		if (!check_mapped_file(p, i, why, why_size))
			return -EINVAL;
	if (!bm_unlinked_map_check(p, why, why_size))
		return -EINVAL;
	bm_put_u32(b, p->nmapped_files);
	for (uint32_t i = 0; i < p->nmapped_files; i++) {
		const struct bm_mapped_file *m = &p->mapped_files[i];
		bm_put_u64(b, m->file.dev);
		bm_put_u64(b, m->file.ino);
		bm_put_i64(b, m->file.mtime_ns);
		bm_put_u32(b, m->mode);
		bm_put_str(b, m->path);
		bm_put_u32(b, (uint32_t)m->file.size);
		bm_put_bytes(b, m->data, (size_t)m->file.size);
		bm_put_u32(b, m->memfd);
		bm_put_u32(b, m->owner_uid);
		bm_put_u32(b, m->owner_gid);
		bm_holes_encode(b, &m->holes);
		bm_file_attrs_encode(b, &m->attrs);
	}
	return bm_wbuf_status(b);
}

/* dev, ino, mtime, mode, an empty path and no bytes. */
#define MAPPED_FILE_MIN_SIZE (8 + 8 + 8 + 4 + 4 + 4)

void bm_decode_mapped_files(struct bm_rcur *c, struct bm_process *p)
{
	uint32_t n = bm_get_count(c, BM_MAPPED_FILES_MAX, MAPPED_FILE_MIN_SIZE, "mapped unlinked file count");
	if (n && !(p->mapped_files = calloc(n, sizeof *p->mapped_files))) {
		bm_rcur_nomem(c);
		return;
	}
	uint64_t total = carried_bytes(p); /* the descriptors' unlinked files, read before */
	char why[192];
	for (uint32_t i = 0; i < n && !bm_rcur_failed(c); i++) {
		struct bm_mapped_file *m = &p->mapped_files[i];
		size_t at = c->pos;
		p->nmapped_files = i + 1; /* freed with p whatever happens below */
		m->file.dev = bm_get_u64(c);
		m->file.ino = bm_get_u64(c);
		m->file.mtime_ns = bm_get_i64(c);
		m->mode = bm_get_u32(c);
		bm_get_str(c, BM_IMG_MAX_STRING, "mapped unlinked file path", &m->path);
		m->file.size = bm_get_u32(c);
		if (!bm_rcur_failed(c) && (m->file.size > BM_UNLINKED_MAX_BYTES ||
					   (total += m->file.size) > BM_UNLINKED_MAX_TOTAL))
			bm_rcur_fail_at(c, at, "mapped unlinked file %u: %llu bytes pass the limits (%u per file, %u in all, "
					"descriptors' unlinked files included)",
					i, (unsigned long long)m->file.size, BM_UNLINKED_MAX_BYTES, BM_UNLINKED_MAX_TOTAL);
		/* The bytes are there before anything is allocated for them. */
		const uint8_t *bytes = bm_rcur_failed(c) ? NULL : bm_get_span(c, (size_t)m->file.size);
		if (bytes && m->file.size && !(m->data = malloc((size_t)m->file.size)))
			bm_rcur_nomem(c);
		else if (bytes && m->file.size)
			memcpy(m->data, bytes, (size_t)m->file.size);
		if (c->version >= 6)
			m->memfd = bm_get_u32(c);
		if (c->version >= 9) {
			m->owner_uid = bm_get_u32(c);
			m->owner_gid = bm_get_u32(c);
			m->owner_known = true;
		}
		if (c->version >= 10)
			bm_holes_decode(c, m->file.size, &m->holes);
		if (c->version >= 11)
			bm_file_attrs_decode(c, m->file.size, &m->attrs);
		if (!bm_rcur_failed(c) && !check_mapped_file(p, i, why, sizeof why))
			bm_rcur_fail_at(c, at, "%s", why);
	}
	if (!bm_rcur_failed(c) && !bm_unlinked_map_check(p, why, sizeof why))
		bm_rcur_fail_at(c, 0, "%s", why);
}

bool bm_unlinked_map_check(const struct bm_process *p, char *why, size_t n)
{
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct bm_vma *v = &p->vmas[i];
		if (!bm_unlinked_map_is(v))
			continue;
		if (v->kind != BM_VMA_FILE || (v->flags & (BM_VMA_DELETED | BM_VMA_SHMFILE)) != BM_VMA_DELETED)
			return bm_why(why, n, "the unlinked file mapping at %#llx is not a deleted file mapping that is no "
				      "shared memory file (kind %u, flags %#x)", (unsigned long long)v->start, v->kind,
				      v->flags);
		const struct bm_fd *d = bm_unlinked_map_fd(p, v);
		const struct bm_mapped_file *m = d ? NULL : bm_unlinked_map_file(p, v);
		if (!d && !m)
			return bm_why(why, n, "the unlinked file mapped at %#llx has neither a descriptor nor contents of its "
				      "own (device %llu, inode %llu) to carry it", (unsigned long long)v->start,
				      (unsigned long long)v->file.dev, (unsigned long long)v->file.ino);
		const char *path = d ? d->path : m->path;
		if (v->path && strcmp(v->path, path) == 0)
			continue;
		const char *name = v->path ? v->path : "(none)";
		if (d)
			return bm_why(why, n, "the unlinked file mapped at %#llx is named %s, its descriptor %d %s",
				      (unsigned long long)v->start, name, d->fd, path);
		return bm_why(why, n, "the unlinked file mapped at %#llx is named %s, its contents' %s",
			      (unsigned long long)v->start, name, path);
	}
	return true;
}

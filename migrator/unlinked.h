/* Files, named FIFOs and directories whose name is gone but which a
 * process still holds open (or, for a directory, works in), both
 * directions.
 *
 * At dump an unlinked regular file's contents are read (once per file,
 * with its first descriptor); an unlinked FIFO's bytes travel as a named
 * FIFO's do; a removed directory has nothing but its former path.  At
 * restore each is made again at its former path, opened, and removed,
 * so that the process holds the same kind of nameless object at the same
 * place ("PATH (deleted)" in /proc).  When something else has taken the
 * name since, a file is made without a name (O_TMPFILE) in the same
 * directory and the restore says so; a FIFO or directory then cannot be
 * rebuilt and the restore fails.  Descriptors opened separately on one
 * unlinked file share that one file again. */
#ifndef BINMIG_UNLINKED_H
#define BINMIG_UNLINKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "state.h"

/* The largest unlinked file whose contents an image carries, and the most
 * of such contents one process may have. */
#define BM_UNLINKED_MAX_BYTES (64u << 20)
#define BM_UNLINKED_MAX_TOTAL (128u << 20)

/* Whether the directory or file that LINK (a /proc link) leads to has no
 * name left (a link whose text ends in " (deleted)" may also name a file
 * with other hard links, or one really called so). */
bool bm_unlinked_is_removed(const char *link);

/* Whether LINK (a /proc link whose text was PATH, " (deleted)" stripped)
 * leads to a memfd (memfd_create): "/memfd:NAME" on a memory filesystem.
 * It is carried as an unlinked file (image version 6): a descriptor's
 * object_flags, or a mapped file's memfd field (unlinked_map.h), say
 * BM_UNLINKED_MEMFD and its seals (F_GET_SEALS), and the restore makes it
 * again with memfd_create under its name, with its contents, mode and
 * mtime, then seals it.  One on huge pages (MFD_HUGETLB) is refused. */
bool bm_unlinked_is_memfd(const char *link, const char *path);
/* Whether LINK (/proc/PID/fd/N or map_files) is memfd_secret memory,
 * whose pages the kernel shows to nobody but the process: refused. */
bool bm_unlinked_is_secret(const char *link);
/* Whether MEMFD (such flags, 0 for a file that is no memfd) is well
 * formed for a file named PATH: the mark, known seals, "/memfd:NAME". */
bool bm_unlinked_memfd_valid(uint32_t memfd, const char *path);
/* The memfd LINK leads to: BM_UNLINKED_MEMFD with its seals into *memfd;
 * one on huge pages or with seals binmig does not know is refused
 * (BM_EXIT_UNSUPPORTED, WHAT naming it). */
int bm_unlinked_memfd_seals(const char *link, const char *what, uint32_t *memfd);
#define BM_UNLINKED_MEMFD 0x80000000u
#define BM_UNLINKED_SEALS 0x3fu /* F_SEAL_SEAL .. F_SEAL_EXEC */
/* In the object_flags of an unlinked file that is no memfd (image version
 * 14): whether linkat may give it a name again, which only the kernel's
 * inode shows (I_LINKABLE: made with O_TMPFILE without O_EXCL, and not
 * linked since), read at dump through BPF (kstate.h).  Without KNOWN (not
 * read) the restore makes one opened with O_TMPFILE linkable and any
 * other not. */
#define BM_UNLINKED_LINK_KNOWN 0x40000000u
#define BM_UNLINKED_LINKABLE 0x20000000u
#define BM_UNLINKED_LINK_BITS (BM_UNLINKED_LINK_KNOWN | BM_UNLINKED_LINKABLE)

/* At dump, descriptor FD of PID whose /proc link named PATH with
 * " (deleted)" (stripped) and whose file is ST: fills out (kind, path,
 * object_id, file) and returns 0, or refuses (BM_EXIT_UNSUPPORTED) what
 * cannot be rebuilt: other hard links, a write end of a FIFO, a file too
 * large, another kind of file. */
int bm_unlinked_describe(pid_t pid, int fd, const char *path, const struct stat *st, struct bm_fd *out);

/* At dump: reads the whole unlinked file that LINK (a /proc link) leads
 * to into *data (malloc'd, NULL when empty), its identity into *id, its
 * data extents into *holes and its other attributes (unlinked_attrs.h)
 * into *attrs, with O_NOATIME (the access time as it was); WHAT names it
 * in the messages.  Refuses (BM_EXIT_UNSUPPORTED) a file over
 * BM_UNLINKED_MAX_BYTES, and one binmig may not read without changing
 * its access time. */
int bm_unlinked_read(const char *link, const char *what, uint8_t **data, struct bm_file_id *id, struct bm_holes *holes,
		     struct bm_file_attrs *attrs);

/* At dump, once every descriptor of p is described and the process is
 * stopped: reads the contents of each unlinked file, once per file. */
int bm_unlinked_collect(pid_t pid, struct bm_process *p);

/* Image rules over the whole descriptor list: the first descriptor of an
 * unlinked file holds exactly its size in bytes, the others none. */
bool bm_unlinked_check(const struct bm_fd *fds, uint32_t nfds, char *why, size_t n);

/* Before the restore, in binmig: whether unlinked object D (its first
 * descriptor) or a removed cwd (d NULL, path given) can be made again
 * where it was.  A file whose name is taken again is made without a name
 * (said in a warning); for the others BM_EXIT_CONFLICT. */
int bm_unlinked_precheck(const struct bm_fd *d, const char *cwd);

/* The same for a mapped unlinked file that no descriptor holds. */
int bm_unlinked_precheck_mapped(const struct bm_mapped_file *m);

/* The same for every unlinked object of p (each once), its mapped
 * unlinked files and its cwd. */
int bm_unlinked_precheck_all(const struct bm_process *p);

/* Inside the new process (system calls only): opens descriptor I of p,
 * an unlinked file, FIFO or directory, making the object when it is the
 * first descriptor of it and opening the earlier one's otherwise.  A
 * descriptor, or -1 with the reason in err. */
int bm_unlinked_open(const struct bm_process *p, uint32_t index, char *err, size_t errlen);

/* In binmig, for an unlinked file whose one open description several
 * processes of a tree share (tree_restore.c opens it once, they inherit
 * it): makes the file from p's first descriptor of it, whatever
 * descriptors of p came before, and opens it as descriptor INDEX has it. */
int bm_unlinked_open_shared(const struct bm_process *p, uint32_t index, char *err, size_t errlen);

/* The owner an unlinked object of P is made again with: the one the image
 * names (version 9), else P's filesystem user and group. */
struct bm_unlinked_owner {
	uint32_t uid, gid;
};
struct bm_unlinked_owner bm_unlinked_owner(const struct bm_process *p, bool known, uint32_t uid, uint32_t gid);

/* In the new process: the memfd PATH ("/memfd:NAME") again, with its
 * contents, OWNER, mode, mtime and ATTRS, then MEMFD's seals; its descriptor, or
 * -1 with the reason in err. */
int bm_unlinked_make_memfd(struct bm_unlinked_owner owner, const char *path, uint32_t mode, int64_t mtime_ns,
			   uint32_t memfd, const uint8_t *data, size_t len, const struct bm_holes *holes,
			   const struct bm_file_attrs *attrs, char *err, size_t errlen);
/* Inside the new process: makes the regular file PATH again with LEN
 * bytes of DATA (holes where HOLES says, unlinked_holes.h), MODE, the
 * modification time MTIME_NS and OWNER, and
 * removes its name (or makes it without one, in the same directory, when
 * the name is taken); ATTRS (NULL: none) give its access time, space
 * reserved past its end and extended attributes (unlinked_attrs.h).  A read-write descriptor, or -1 with the reason in
 * err. */
int bm_unlinked_make_file(struct bm_unlinked_owner owner, const char *path, uint32_t mode, int64_t mtime_ns,
			  const uint8_t *data, size_t len, const struct bm_holes *holes, const struct bm_file_attrs *attrs,
			  char *err, size_t errlen);

/* Inside the new process: makes P's cwd, which had been removed, a
 * directory again (its mode and owner as the image says, version 9; else
 * 0700 and the process's), enters it and removes it.  0, or -1 with the
 * reason in err. */
int bm_unlinked_chdir(const struct bm_process *p, char *err, size_t errlen);

#endif

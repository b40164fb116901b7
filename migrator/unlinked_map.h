/* Mappings of files whose name was removed ("PATH (deleted)" in
 * /proc/PID/maps), both directions.
 *
 * Such a file's contents travel once: with the unlinked descriptor the
 * process holds on the same file (unlinked.h), when it holds one (same
 * device and inode), or else as a mapped file of their own (struct
 * bm_mapped_file, the image's MAPPED_FILES section), read through
 * /proc/PID/map_files.  A file with other hard links, or too large (the
 * descriptor's own rules), is refused.  At restore the descriptor, or the
 * new process itself for a mapped file, makes the file again and removes
 * its name; each mapping is then made from that very file (reopened
 * through /proc/self/fd), at the same address with the same offset,
 * protection and flags, so that descriptors and shared mappings share
 * one inode again.  A mapped file leaves no descriptor behind.  Private
 * pages the process had modified travel as those of any private file
 * mapping. */
#ifndef BINMIG_UNLINKED_MAP_H
#define BINMIG_UNLINKED_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "procfs.h"
#include "state.h"

struct bm_wbuf;
struct bm_rcur;

/* The most mapped files (without descriptors) one process may carry. */
#define BM_MAPPED_FILES_MAX 1024u

/* Whether v is a mapping of an unlinked regular file (BM_VMA_UNLINKED). */
bool bm_unlinked_map_is(const struct bm_vma *v);

/* At dump, once the descriptors of p are described and their contents
 * read: fills v (already given its range, protection and flags) for the
 * deleted file that maps entry E shows, reading the file into a new
 * mapped file of p when no descriptor of p holds it and no earlier
 * mapping read it; refuses (BM_EXIT_UNSUPPORTED) a file with other hard
 * links, one not regular, a memfd, or contents over the limits. */
int bm_unlinked_map_describe(pid_t pid, const struct bm_maps_entry *e, struct bm_process *p, struct bm_vma *v);

/* The descriptor of p that carries the file of mapping v: the first
 * unlinked-file descriptor of the same device and inode, or NULL. */
const struct bm_fd *bm_unlinked_map_fd(const struct bm_process *p, const struct bm_vma *v);

/* At dump of a tree, its N members frozen and described: refuses
 * (BM_EXIT_UNSUPPORTED) a mapped file of one member that another maps
 * or holds too, which would come back as one file per process. */
struct bm_frozen;
int bm_unlinked_map_check_tree(const struct bm_frozen *members, size_t n);

/* The mapped file of p that carries the file of mapping v, or NULL. */
const struct bm_mapped_file *bm_unlinked_map_file(const struct bm_process *p, const struct bm_vma *v);

/* Image rule: every mapping of an unlinked file is a deleted file mapping
 * (not shared memory) and has such a descriptor or else a mapped file,
 * whose path it names. */
bool bm_unlinked_map_check(const struct bm_process *p, char *why, size_t n);

/* The MAPPED_FILES section (version 5), both directions: p's mapped
 * files, each with its rules, and then bm_unlinked_map_check over the
 * whole process (the VMAs and descriptors are known by then). */
int bm_encode_mapped_files(struct bm_wbuf *b, const struct bm_process *p, char *why, size_t why_size);
void bm_decode_mapped_files(struct bm_rcur *c, struct bm_process *p);

#endif

/* Mappings of files whose name was removed ("PATH (deleted)" in
 * /proc/PID/maps), both directions.
 *
 * Such a file's contents travel once, with the unlinked descriptor the
 * process holds on the same file (unlinked.h): at dump a mapping is
 * carried when the process also has a descriptor open on that file
 * (same device and inode), and refused otherwise, or when the file has
 * other hard links or is too large (the descriptor's own rules).  At
 * restore the descriptor makes the file again and removes its name; each
 * mapping is then made from that very file (reopened through
 * /proc/self/fd), at the same address with the same offset, protection
 * and flags, so that descriptors and shared mappings share one inode
 * again.  Private pages the process had modified travel as those of any
 * private file mapping. */
#ifndef BINMIG_UNLINKED_MAP_H
#define BINMIG_UNLINKED_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "procfs.h"
#include "state.h"

/* Whether v is a mapping of an unlinked regular file (BM_VMA_UNLINKED). */
bool bm_unlinked_map_is(const struct bm_vma *v);

/* At dump, once the descriptors of p are described: fills v (already
 * given its range, protection and flags) for the deleted file that maps
 * entry E shows, or refuses (BM_EXIT_UNSUPPORTED) a file with other hard
 * links, one not regular, or one no descriptor of p holds. */
int bm_unlinked_map_describe(pid_t pid, const struct bm_maps_entry *e, const struct bm_process *p,
			     struct bm_vma *v);

/* The descriptor of p that carries the file of mapping v: the first
 * unlinked-file descriptor of the same device and inode, or NULL. */
const struct bm_fd *bm_unlinked_map_fd(const struct bm_process *p, const struct bm_vma *v);

/* Image rule: every mapping of an unlinked file is a deleted file mapping
 * (not shared memory) and has such a descriptor, whose path it names. */
bool bm_unlinked_map_check(const struct bm_process *p, char *why, size_t n);

#endif

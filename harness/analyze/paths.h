/* Finding the files of the source tree the program needs at run time (the
 * gnuplot scripts, the workload pairs) from wherever it is run. */
#ifndef HARNESS_PATHS_H
#define HARNESS_PATHS_H

#include <stddef.h>

/* Finds RELATIVE (e.g. "plots/study.gp") under $BINMIG_ROOT, or beside or
 * up to two levels above the program's directory (build/, build/asan/).
 * Writes the directory holding the tree's top to ROOT.  0 or -ENOENT. */
int find_in_tree(const char *relative, char *root, size_t len);

/* The directory part of PATH ("." for a bare name) into DIR. */
void directory_of(const char *path, char *dir, size_t len);

#endif

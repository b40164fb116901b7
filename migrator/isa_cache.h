/* The per-file cache of instruction-set scans, so that a library is
 * disassembled once: one file per scanned ELF file in the cache
 * directory, named by device and inode, holding the path, inode, size,
 * mtime and build-id it was made from (a file that differs in any is
 * scanned again), the scanner's version and a CRC32C over everything.
 *
 * The directory is $BINMIG_ISA_CACHE, else $XDG_CACHE_HOME/binmig/isa,
 * else $HOME/.cache/binmig/isa; BINMIG_ISA_CACHE=off disables the cache.
 * A cache that cannot be read or written costs a scan, never an error. */
#ifndef BINMIG_ISA_CACHE_H
#define BINMIG_ISA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "isa_scan.h"

/* Bumped whenever the scan or the classification changes what it finds. */
#define BM_ISA_SCANNER_VERSION 1

/* Encodes f into a malloc'd buffer. */
int bm_isa_cache_encode(const struct bm_isa_file *f, uint8_t **buf, size_t *len);
/* Decodes a cache entry; -EINVAL for anything malformed (not logged). */
int bm_isa_cache_decode(const uint8_t *buf, size_t len, struct bm_isa_file *f);

/* The scan of the file e (at path): from the cache when an entry matches
 * e, else scanned and stored.  *cached says which.  1, nothing logged,
 * when it is not in the cache and cannot be mapped to be scanned (its
 * code is then to be read from the process's memory). */
int bm_isa_file_get(struct bm_elf *e, const char *path, struct bm_isa_file *f, int *cached);

/* The scan of an ELF image read from memory (the vDSO), cached as a file
 * is but keyed by its content: length, CRC32C and the second hash. */
int bm_isa_mem_elf_get(const struct bm_elf *e, const char *name, struct bm_isa_file *f, int *cached);

/* The content cache of anonymous executable memory (JIT code), in the
 * same directory: entries keyed by the length, CRC32C and a second 64-bit
 * hash of a piece of code, holding what bm_isa_scan_code found in it
 * (addresses as offsets), so that code a JIT made once is disassembled
 * once.  Code that changed in any byte has another key and is scanned.
 * At most BM_ISA_ANON_MAX entries are kept: those used least recently
 * are dropped. */
#define BM_ISA_ANON_MAX 2048

/* As bm_isa_scan_code, from the cache when it holds this content;
 * *cached says which. */
int bm_isa_anon_scan(const uint8_t *code, size_t len, uint64_t base, struct bm_isa_counts *c, int *cached);
/* Writes what this process added or used back and forgets it all. */
void bm_isa_anon_flush(void);

#endif

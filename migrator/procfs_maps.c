/* /proc/PID/maps and the VmFlags of /proc/PID/smaps (procfs.h). */
#include "procfs.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "procfs_text.h"

/* ---- maps ---- */

static bool valid_perms(const char *p)
{
	return (p[0] == 'r' || p[0] == '-') && (p[1] == 'w' || p[1] == '-') &&
	       (p[2] == 'x' || p[2] == '-') && (p[3] == 'p' || p[3] == 's');
}

/* The kernel writes a newline in a mapped file's name as "\012" (and
 * escapes nothing else, so the sequence is ambiguous with a name that
 * really contains a backslash and "012"; the newline is the likelier). */
static int copy_maps_path(const char *raw, size_t raw_len, char *path, size_t size)
{
	size_t out = 0;
	for (size_t i = 0; i < raw_len; out++) {
		if (out + 1 >= size)
			return -ENAMETOOLONG;
		if (raw_len - i >= 4 && memcmp(raw + i, "\\012", 4) == 0) {
			path[out] = '\n';
			i += 4;
		} else {
			path[out] = raw[i++];
		}
	}
	path[out] = '\0';
	return 0;
}

int bm_parse_maps_line(const char *line, struct bm_maps_entry *e)
{
	const char *p = line;
	memset(e, 0, sizeof *e);
	if (parse_u64(&p, 16, &e->start) < 0 || *p++ != '-' ||
	    parse_u64(&p, 16, &e->end) < 0 || e->start >= e->end)
		return -EINVAL;
	if (expect_spaces(&p) < 0 || strnlen(p, 4) < 4 || !valid_perms(p))
		return -EINVAL;
	memcpy(e->perms, p, 4);
	e->perms[4] = '\0';
	p += 4;
	if (expect_spaces(&p) < 0 || parse_u64(&p, 16, &e->offset) < 0)
		return -EINVAL;
	if (expect_spaces(&p) < 0 || parse_u32(&p, 16, &e->dev_major) < 0 || *p++ != ':' ||
	    parse_u32(&p, 16, &e->dev_minor) < 0)
		return -EINVAL;
	if (expect_spaces(&p) < 0 || parse_u64(&p, 10, &e->inode) < 0)
		return -EINVAL;
	if (is_eol(*p))
		return 0;
	/* Anonymous mappings have padding spaces and no path after the inode. */
	if (expect_spaces(&p) < 0)
		return -EINVAL;
	size_t raw_len = (size_t)(strchrnul(p, '\n') - p);
	e->deleted = strip_deleted_suffix(p, &raw_len);
	return copy_maps_path(p, raw_len, e->path, sizeof e->path);
}

static size_t count_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p != '\0'; p++)
		if (*p == '\n')
			n++;
	size_t len = strlen(text);
	if (len > 0 && text[len - 1] != '\n')
		n++;
	return n;
}

int bm_parse_maps(const char *text, struct bm_maps_entry **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t lines = count_lines(text);
	if (lines == 0)
		return 0;
	struct bm_maps_entry *entries = calloc(lines, sizeof *entries);
	if (entries == NULL)
		return -ENOMEM;
	const char *line = text;
	for (size_t i = 0; i < lines; i++) {
		int r = bm_parse_maps_line(line, &entries[i]);
		if (r < 0) {
			free(entries);
			return r;
		}
		const char *eol = strchrnul(line, '\n');
		line = *eol == '\n' ? eol + 1 : eol;
	}
	*out = entries;
	*n = lines;
	return 0;
}

int bm_read_maps(pid_t pid, struct bm_maps_entry **out, size_t *n)
{
	char *text;
	*out = NULL;
	*n = 0;
	int r = read_proc_text(pid, "maps", &text);
	if (r == 0) {
		r = bm_parse_maps(text, out, n);
		free(text);
	}
	return r;
}

/* ---- maps, one query at a time ---- */

/* The PROCMAP_QUERY ioctl of /proc/PID/maps (Linux 6.11, uapi
 * linux/fs.h, which older headers lack): the kernel looks up one mapping
 * and writes no text for the others. */
#ifndef PROCMAP_QUERY
struct procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define PROCMAP_QUERY_VMA_READABLE 0x01
#define PROCMAP_QUERY_VMA_WRITABLE 0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#endif
_Static_assert(sizeof(struct procmap_query) == 104, "the kernel's struct procmap_query");

int bm_maps_query_open(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int bm_maps_query_next_exec(int fd, uint64_t addr, struct bm_maps_entry *e)
{
	memset(e, 0, sizeof *e);
	struct procmap_query q = {.size = sizeof q,
				  .query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_VMA_EXECUTABLE,
				  .query_addr = addr,
				  .vma_name_size = sizeof e->path,
				  .vma_name_addr = (uint64_t)(uintptr_t)e->path};
	if (ioctl(fd, PROCMAP_QUERY, &q) < 0)
		return errno == ENOENT ? 0 : -errno;
	e->start = q.vma_start;
	e->end = q.vma_end;
	e->offset = q.vma_offset;
	e->dev_major = q.dev_major;
	e->dev_minor = q.dev_minor;
	e->inode = q.inode;
	e->perms[0] = q.vma_flags & PROCMAP_QUERY_VMA_READABLE ? 'r' : '-';
	e->perms[1] = q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE ? 'w' : '-';
	e->perms[2] = q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE ? 'x' : '-';
	e->perms[3] = q.vma_flags & PROCMAP_QUERY_VMA_SHARED ? 's' : 'p';
	/* The name as the text has it, less the escaping: a size counting
	 * its NUL, none for an anonymous mapping without a name. */
	size_t len = q.vma_name_size ? strnlen(e->path, sizeof e->path) : 0;
	e->path[len] = '\0';
	e->deleted = strip_deleted_suffix(e->path, &len);
	e->path[len] = '\0';
	return 1;
}

/* ---- smaps ---- */

/* Every code show_smap_vma_flags (fs/proc/task_mmu.c) prints on x86-64 as
 * of Linux 6.18, with the bit binmig keeps of it (0: known, nothing to
 * keep).  memory.c decides from the bits what is carried and what is
 * refused; a code not listed here is refused there by name.
 *   implied by the maps line or by mapping the same source again:
 *     rd wr ex sh mr me ms, and sd (soft-dirty: new mappings start dirty)
 *   carried: gd hg nh dd lo lf dc wf mg sr rr nr sl mw, ac (restore.c)
 *   refused: ss gu ht dp um uw ui sf, and io pf mm ar de outside the
 *     kernel's own [vdso]/[vvar] mappings (uw not where binmig's own
 *     pre-copy write-protects the memory)
 * (arm64's bt and mt, and "??" for a flag without a name, are unknown.) */
static const struct {
	char code[3];
	uint32_t bit;
} vmflag_codes[] = {
	{ "rd", 0 }, { "wr", 0 }, { "ex", 0 }, { "mr", 0 }, { "me", 0 }, { "ms", 0 }, { "sd", 0 },
	{ "gd", BM_VMFLAG_GD }, { "sh", BM_VMFLAG_SH }, { "hg", BM_VMFLAG_HG },
	{ "nh", BM_VMFLAG_NH }, { "dd", BM_VMFLAG_DD }, { "lo", BM_VMFLAG_LO },
	{ "sl", BM_VMFLAG_SL }, { "io", BM_VMFLAG_IO }, { "pf", BM_VMFLAG_PF },
	{ "dc", BM_VMFLAG_DC }, { "wf", BM_VMFLAG_WF }, { "mg", BM_VMFLAG_MG },
	{ "sr", BM_VMFLAG_SR }, { "rr", BM_VMFLAG_RR }, { "lf", BM_VMFLAG_LF },
	{ "nr", BM_VMFLAG_NR }, { "ss", BM_VMFLAG_SS }, { "mw", BM_VMFLAG_MW },
	{ "dp", BM_VMFLAG_DP }, { "gu", BM_VMFLAG_GU }, { "ht", BM_VMFLAG_HT },
	{ "de", BM_VMFLAG_DE }, { "mm", BM_VMFLAG_MM }, { "ar", BM_VMFLAG_AR },
	{ "sf", BM_VMFLAG_SF }, { "um", BM_VMFLAG_UF }, { "uw", BM_VMFLAG_UW },
	{ "ui", BM_VMFLAG_UF }, { "ac", BM_VMFLAG_AC },
};

/* "rd wr mr mw me ac sd": every code is two characters.  The first code
 * not in the table goes to unknown ("" if none). */
static int parse_vmflags(const char *value, uint32_t *flags, char unknown[3])
{
	const char *p = skip_blanks(value);
	*flags = 0;
	unknown[0] = '\0';
	while (!is_eol(*p)) {
		const char *start = p;
		while (!is_eol(*p) && *p != ' ' && *p != '\t')
			p++;
		if (p - start != 2)
			return -EINVAL;
		size_t i = 0, n = sizeof vmflag_codes / sizeof vmflag_codes[0];
		while (i < n && memcmp(start, vmflag_codes[i].code, 2) != 0)
			i++;
		if (i < n) {
			*flags |= vmflag_codes[i].bit;
		} else if (!unknown[0]) {
			memcpy(unknown, start, 2);
			unknown[2] = '\0';
		}
		p = skip_blanks(p);
	}
	return 0;
}

/* "ProtectionKey:         1" */
static int parse_pkey(const char *value, int32_t *pkey)
{
	const char *p = skip_blanks(value);
	uint32_t v;
	if (parse_u32(&p, 10, &v) < 0 || v > INT32_MAX || !is_eol(*skip_blanks(p)))
		return -EINVAL;
	*pkey = (int32_t)v;
	return 0;
}

/* A smaps field line is "Key:" with a key of letters, digits and '_';
 * a header line starts with "hex-hex", which that never matches. */
static bool is_smaps_field(const char *line, const char **value, const char **key_end)
{
	const char *p = line;
	if (!isalpha((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '_')
		p++;
	if (*p != ':')
		return false;
	*key_end = p;
	*value = p + 1;
	return true;
}

/* Index of the entry starting at start, searching from *cursor onwards and
 * wrapping, so sorted input (the normal case) costs O(1) per block. */
static ssize_t find_entry(const struct bm_maps_entry *e, size_t n, uint64_t start, size_t *cursor)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = (*cursor + k) % n;
		if (e[i].start == start) {
			*cursor = i + 1;
			return (ssize_t)i;
		}
	}
	return -1;
}

int bm_parse_smaps_vmflags(const char *text, struct bm_maps_entry *e, size_t n)
{
	struct bm_maps_entry *header = malloc(sizeof *header);
	if (header == NULL)
		return -ENOMEM;
	bool in_block = false;
	ssize_t current = -1;
	size_t cursor = 0;
	int r = 0;
	const char *line = text;
	while (*line != '\0') {
		const char *value, *key_end;
		if (is_smaps_field(line, &value, &key_end)) {
			if (!in_block) {
				r = -EINVAL;
				break;
			}
			if (key_end - line == 7 && memcmp(line, "VmFlags", 7) == 0) {
				uint32_t flags;
				char unknown[3];
				r = parse_vmflags(value, &flags, unknown);
				if (r < 0)
					break;
				if (current >= 0) {
					e[current].vmflags = flags;
					memcpy(e[current].vmflag_unknown, unknown, sizeof unknown);
				}
			} else if (key_end - line == 13 && memcmp(line, "ProtectionKey", 13) == 0) {
				int32_t pkey;
				if ((r = parse_pkey(value, &pkey)) < 0)
					break;
				if (current >= 0)
					e[current].pkey = pkey;
			}
		} else {
			r = bm_parse_maps_line(line, header);
			if (r < 0)
				break;
			in_block = true;
			/* A mapping that appeared after maps was read is not ours to fill. */
			current = n > 0 ? find_entry(e, n, header->start, &cursor) : -1;
			if (current >= 0)
				e[current].pkey = -1; /* until its "ProtectionKey:" line */
		}
		const char *eol = strchrnul(line, '\n');
		line = *eol == '\n' ? eol + 1 : eol;
	}
	free(header);
	return r;
}

int bm_read_smaps_vmflags(pid_t pid, struct bm_maps_entry *e, size_t n)
{
	char *text;
	int r = read_proc_text(pid, "smaps", &text);
	if (r == 0) {
		r = bm_parse_smaps_vmflags(text, e, n);
		free(text);
	}
	return r;
}

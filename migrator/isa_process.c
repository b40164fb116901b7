/* The instruction-set analysis of a process (isa_process.h). */
#include "isa_process.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isa_cache.h"
#include "log.h"
#include "procfs.h"

/* A loaded ELF file: its scan and where it is. */
struct loaded {
	const char *path;
	struct bm_elf elf;
	struct bm_isa_file scan;
	uint64_t bias;           /* process address - file virtual address */
	bool *cand_used;
	int cached;
};

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000 + (uint64_t)t.tv_nsec / 1000;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* A JIT's own name for code at addr, from /tmp/perf-PID.map (Mono writes
 * one when run with --jitmap; other JITs have similar options). */
static bool perf_map_name(pid_t pid, uint64_t addr, char *buf, size_t len)
{
	if (!pid)
		return false;
	char path[64];
	snprintf(path, sizeof path, "/tmp/perf-%d.map", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long long start, size;
		int n = 0;
		if (sscanf(line, "%llx %llx %n", &start, &size, &n) == 2 && addr >= start && addr - start < size) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "%.160s+0x%llx", line + n, addr - start);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/* Adds counts whose addresses are `bias` off the process's to a use
 * table; where() names the first example of each extension new to it. */
struct where_ctx {
	struct loaded *file;                 /* or NULL: memory */
	const struct bm_isa_candidate *cand; /* or NULL */
	const char *name;                    /* memory: the mapping's name */
	pid_t pid;
};

static void describe(const struct where_ctx *w, uint64_t vaddr, uint64_t addr, char *buf, size_t len)
{
	char sym[192] = "";
	if (w->file) {
		if (w->cand && w->cand->ifunc[0])
			snprintf(sym, sizeof sym, "a variant of ifunc %s", w->cand->ifunc);
		else
			bm_elf_symbolize(&w->file->elf, vaddr, sym, sizeof sym);
		snprintf(buf, len, "%s%s%s (+0x%" PRIx64 ")", sym, sym[0] ? " in " : "", base_name(w->file->path), vaddr);
	} else if (perf_map_name(w->pid, addr, sym, sizeof sym)) {
		snprintf(buf, len, "%s in %s", sym, w->name);
	} else {
		snprintf(buf, len, "%s", w->name);
	}
}

/* The first example of each extension (and the first undecodable byte),
 * named only once the analysis is over and only where wanted: naming
 * reads symbol tables, and a migration's check names nothing unless it
 * refuses. */
struct pending {
	struct where_ctx w;
	uint64_t vaddr, addr;                /* as scanned, in the process */
	bool set;
};
struct namer {
	struct pending used[BM_EXT_COUNT], unselected[BM_EXT_COUNT], undecodable;
	bool all;
	uint64_t used_set;                   /* when !all: the used extensions to name */
};

/* Names one example into the report's text slot `slot`. */
static void name_one(struct pending *p, bool wanted, struct bm_isa_report *r, size_t slot, const char **where,
		     const struct loaded *only)
{
	if (!p->set || (only && p->w.file != only))
		return;
	if (wanted) {
		describe(&p->w, p->vaddr, p->addr, r->where_text[slot], sizeof r->where_text[slot]);
		*where = r->where_text[slot];
	}
	p->set = false;
}

/* Names what is pending (of file `only`, or all), then forgets it. */
static void name_examples(struct namer *nm, struct bm_isa_report *r, const struct loaded *only)
{
	for (int e = 0; e < BM_EXT_COUNT; e++) {
		name_one(&nm->used[e], nm->all || (nm->used_set & BM_EXT_BIT(e)), r, (size_t)e, &r->used[e].where,
			 only);
		name_one(&nm->unselected[e], nm->all, r, (size_t)(BM_EXT_COUNT + e), &r->unselected[e].where, only);
	}
	name_one(&nm->undecodable, nm->all, r, 2 * BM_EXT_COUNT, &r->first_undecodable, only);
}

static void add_uses(struct bm_isa_use *use, struct pending *pend, uint64_t *set, const struct bm_isa_counts *c,
		     uint64_t bias, const struct where_ctx *w)
{
	for (int e = 0; e < BM_EXT_COUNT; e++) {
		if (!(c->set & BM_EXT_BIT(e)))
			continue;
		if (!use[e].count) {
			use[e].addr = c->example[e] + bias;
			pend[e] = (struct pending){*w, c->example[e], use[e].addr, true};
		}
		use[e].count += c->count[e];
	}
	*set |= c->set;
}

static void add_part(struct bm_isa_report *r, const char *name, uint64_t set, uint64_t bytes, const char *how)
{
	if (r->nparts == BM_ISA_MAX_PARTS) {
		r->parts_dropped++;
		return;
	}
	struct bm_isa_part *p = &r->parts[r->nparts++];
	snprintf(p->name, sizeof p->name, "%s", name);
	p->set = set;
	p->bytes = bytes;
	p->how = how;
}

static void add_totals(struct bm_isa_report *r, struct namer *nm, const struct bm_isa_counts *c, uint64_t bias,
		       const struct where_ctx *w)
{
	if (c->undecodable && !r->undecodable)
		nm->undecodable = (struct pending){*w, c->first_undecodable, c->first_undecodable + bias, true};
	r->bytes += c->bytes;
	r->insns += c->insns;
	r->undecodable += c->undecodable;
	r->unclassified += c->unclassified;
}

/* Adds a file's (or an ELF image's) scan to the report: its code outside
 * candidates, and each candidate as used or, when l->cand_used says no
 * GOT slot points to it, as unselected (an image has no such list: all
 * of its candidates count as used). */
static void add_scan(struct bm_isa_report *r, struct namer *nm, struct loaded *l, pid_t pid, const char *how)
{
	struct where_ctx w = {l, NULL, NULL, pid};
	add_uses(r->used, nm->used, &r->used_set, &l->scan.always, l->bias, &w);
	add_totals(r, nm, &l->scan.always, l->bias, &w);
	uint64_t set = l->scan.always.set, bytes = l->scan.always.bytes;
	for (uint32_t k = 0; k < l->scan.ncand; k++) {
		struct bm_isa_counts c;
		w.cand = &l->scan.cand[k];
		bm_isa_sparse_get(&l->scan.pool, &w.cand->counts, &c);
		bytes += c.bytes;
		if (!l->cand_used || l->cand_used[k]) {
			add_uses(r->used, nm->used, &r->used_set, &c, l->bias, &w);
			set |= c.set;
		} else
			add_uses(r->unselected, nm->unselected, &r->unselected_set, &c, l->bias, &w);
		add_totals(r, nm, &c, l->bias, &w);
	}
	if (l->cand_used) {
		for (uint32_t k = 0; k < l->scan.ncand; k++)
			r->cand_resolved += l->cand_used[k];
		r->cand_total += l->scan.ncand;
	}
	add_part(r, l->path, set, bytes, how);
}

/* An ELF image in memory (the vDSO): scanned by its sections, as a file
 * is, so that its headers and tables are not taken for code. */
static int scan_elf_memory(const struct bm_isa_map *m, const uint8_t *buf, size_t n, pid_t pid,
			   struct bm_isa_report *r, struct namer *nm)
{
	struct loaded l = {.path = m->name ? m->name : "[anon]"};
	uint64_t vaddr;
	if (bm_elf_from_memory(buf, n, &l.elf) < 0)
		return 1;
	if (bm_elf_offset_to_vaddr(&l.elf, 0, &vaddr) < 0) {
		bm_elf_close(&l.elf);
		return 1;
	}
	l.bias = m->start - vaddr;
	int cached;
	int rc = bm_isa_mem_elf_get(&l.elf, l.path, &l.scan, &cached);
	if (rc < 0) {
		bm_elf_close(&l.elf);
		return rc;
	}
	r->mem_cached_bytes += cached ? n : 0;
	add_scan(r, nm, &l, pid, cached ? "memory, as ELF, cached" : "memory, as ELF");
	name_examples(nm, r, &l); /* l is gone after this */
	bm_isa_file_free(&l.scan);
	bm_elf_close(&l.elf);
	return 0;
}

static bool is_elf(const uint8_t *b, size_t n)
{
	return n >= 64 && b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F' && b[4] == 2;
}

/* Scans [start, end) of the process's memory in pieces. */
static int scan_memory(const struct bm_isa_source *src, const struct bm_isa_map *m, struct bm_isa_report *r,
		       struct namer *nm)
{
	enum { CHUNK = 1 << 20 };
	size_t whole = (size_t)(m->end - m->start);
	/* No bigger than the area: a fresh 1 MiB buffer is an mmap, faulted in
	 * and unmapped again for every small JIT area. */
	uint8_t *buf = malloc(whole < CHUNK ? whole : CHUNK);
	if (!buf)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	struct bm_isa_counts c = {0};
	int rc = 0;
	/* An area that fits is read once, and scanned as ELF if it is one. */
	bool have = whole <= CHUNK && src->read(src->ctx, m->start, buf, whole) == 0;
	if (have && is_elf(buf, whole) && (rc = scan_elf_memory(m, buf, whole, src->pid, r, nm)) <= 0) {
		free(buf);
		return rc;
	}
	rc = 0;
	for (uint64_t a = m->start; a < m->end && rc == 0; have = false) {
		size_t n = m->end - a < CHUNK ? (size_t)(m->end - a) : CHUNK;
		if (have || src->read(src->ctx, a, buf, n) == 0) {
			int cached;
			rc = bm_isa_anon_scan(buf, n, a, &c, &cached);
			r->mem_cached_bytes += cached ? n : 0;
			a += n;
			continue;
		}
		/* Page by page: skip what cannot be read, and say so. */
		for (size_t k = 0; k < n && rc == 0; k += 4096) {
			size_t pn = n - k < 4096 ? n - k : 4096;
			if (src->read(src->ctx, a + k, buf, pn) == 0)
				rc = bm_isa_scan_code(buf, pn, a + k, &c);
			else
				r->unreadable++;
		}
		a += n;
	}
	free(buf);
	struct where_ctx w = {NULL, NULL, m->path ? m->path : m->name ? m->name : "[anon]", src->pid};
	add_uses(r->used, nm->used, &r->used_set, &c, 0, &w);
	add_totals(r, nm, &c, 0, &w);
	char name[200];
	snprintf(name, sizeof name, "%s at 0x%" PRIx64, w.name, m->start);
	add_part(r, name, c.set, c.bytes, "memory");
	return rc;
}

static struct loaded *find_loaded(struct loaded *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].path, path) == 0)
			return &v[i];
	return NULL;
}

/* Opens and scans the file of an executable mapping; 1 if it must be
 * scanned from memory instead. */
static int load_file(const struct bm_isa_map *m, struct loaded *l, struct bm_isa_report *r)
{
	memset(l, 0, sizeof *l);
	l->path = m->path;
	uint64_t vaddr;
	if (bm_elf_open(m->path, &l->elf) < 0)
		return 1;
	if ((m->ino && m->ino != l->elf.ino) || bm_elf_offset_to_vaddr(&l->elf, m->offset, &vaddr) < 0) {
		bm_elf_close(&l->elf);
		return 1;
	}
	l->bias = m->start - vaddr;
	int cached;
	int rc = bm_isa_file_get(&l->elf, m->path, &l->scan, &cached);
	if (rc != 0) {
		bm_elf_close(&l->elf);
		return rc;
	}
	if (l->scan.ncand && !(l->cand_used = calloc(l->scan.ncand, sizeof *l->cand_used))) {
		bm_isa_file_free(&l->scan);
		bm_elf_close(&l->elf);
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	}
	r->files++;
	r->files_cached += (unsigned)cached;
	l->cached = cached;
	return 0;
}

/* Marks the candidates that a GOT word of any loaded file points into. */
static void resolve_got(const struct bm_isa_source *src, struct loaded *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t ranges[4][2];
		size_t nr = bm_elf_got_ranges(&v[i].elf, ranges, 4);
		for (size_t k = 0; k < nr; k++) {
			uint64_t a = ranges[k][0] + v[i].bias, len = ranges[k][1] - ranges[k][0];
			if (len == 0 || len > (16u << 20))
				continue;
			uint64_t *words = malloc(len);
			if (!words)
				continue;
			if (src->read(src->ctx, a, words, len) == 0) {
				for (size_t w = 0; w < len / 8; w++)
					for (size_t j = 0; j < n; j++) {
						const struct bm_isa_candidate *c;
						if (!v[j].scan.ncand ||
						    !(c = bm_isa_find_candidate(&v[j].scan, words[w] - v[j].bias)))
							continue;
						v[j].cand_used[c - v[j].scan.cand] = true;
					}
			}
			free(words);
		}
	}
}

int bm_isa_analyze(const struct bm_isa_source *src, struct bm_isa_report *r)
{
	memset(r, 0, offsetof(struct bm_isa_report, parts));
	for (int e = 0; e < BM_EXT_COUNT; e++)
		r->used[e].where = r->unselected[e].where = "";
	r->first_undecodable = "";
	uint64_t t0 = now_us();
	struct loaded *files = calloc(src->nmaps ? src->nmaps : 1, sizeof *files);
	if (!files)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	size_t nfiles = 0;
	int rc = 0;
	struct namer namer = {.all = !src->names_limited, .used_set = src->name_set}, *nm = &namer;
	for (size_t i = 0; i < src->nmaps && rc == 0; i++) {
		const struct bm_isa_map *m = &src->maps[i];
		if (!m->exec || (m->name && strcmp(m->name, "[vsyscall]") == 0))
			continue;
		if (m->path && find_loaded(files, nfiles, m->path))
			continue;
		if (m->path && (rc = load_file(m, &files[nfiles], r)) == 0) {
			nfiles++;
			continue;
		}
		if (rc < 0)
			break;
		rc = scan_memory(src, m, r, nm);
		if (m->path)
			r->files_from_memory++;
		else {
			r->anon_regions++;
			r->anon_bytes += m->end - m->start;
		}
	}
	if (rc == 0)
		resolve_got(src, files, nfiles);
	for (size_t i = 0; i < nfiles; i++) {
		struct loaded *l = &files[i];
		if (rc == 0)
			add_scan(r, nm, l, src->pid, l->cached ? "file, cached" : "file");
	}
	if (rc == 0)
		name_examples(nm, r, NULL);
	for (size_t i = 0; i < nfiles; i++) {
		struct loaded *l = &files[i];
		free(l->cand_used);
		bm_isa_file_free(&l->scan);
		bm_elf_close(&l->elf);
	}
	free(files);
	bm_isa_anon_flush();
	r->scan_us = now_us() - t0;
	return rc;
}

/* ---- live processes ------------------------------------------------------ */

static int read_mem(void *ctx, uint64_t addr, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	ssize_t n = pread(fd, buf, len, (off_t)addr);
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/* The executable mappings found so far, with malloc'd names. */
struct exec_list {
	struct bm_isa_map *maps;
	char **names;
	size_t n, cap;
};

static int exec_add(struct exec_list *l, const struct bm_maps_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		struct bm_isa_map *maps = realloc(l->maps, cap * sizeof *maps);
		if (maps)
			l->maps = maps;
		char **names = maps ? realloc(l->names, cap * sizeof *names) : NULL;
		if (!names)
			return -ENOMEM;
		l->names = names;
		l->cap = cap;
	}
	bool file = e->path[0] == '/' && !e->deleted;
	char *name = strdup(e->path[0] ? e->path : "[anon]");
	if (!name)
		return -ENOMEM;
	l->names[l->n] = name;
	l->maps[l->n++] = (struct bm_isa_map){e->start, e->end, e->offset, true, file ? name : NULL, name,
					      file ? e->inode : 0};
	return 0;
}

/* By PROCMAP_QUERY: the kernel looks up the executable mappings only (a
 * Mono process has some 120 mappings, 20 of them executable), where the
 * text of /proc/PID/maps costs it a line per mapping. */
static int exec_maps_query(pid_t pid, struct bm_maps_entry *e, struct exec_list *l)
{
	int fd = bm_maps_query_open(pid), rc = fd < 0 ? fd : 1;
	for (uint64_t at = 0; rc == 1;) {
		rc = bm_maps_query_next_exec(fd, at, e);
		if (rc == 1) {
			at = e->end;
			if (exec_add(l, e) < 0)
				rc = -ENOMEM;
		}
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* By the text of /proc/PID/maps (kernels before 6.11), one line at a time:
 * an array of every mapping with a PATH_MAX path each is hundreds of KiB
 * to fault in, for the few mappings the check reads. */
static int exec_maps_text(pid_t pid, struct bm_maps_entry *e, struct exec_list *l)
{
	char *text;
	if (bm_read_proc_text(pid, "maps", &text) < 0)
		return -ESRCH;
	int rc = 0;
	for (const char *line = text; rc == 0 && *line;) {
		const char *eol = strchrnul(line, '\n');
		if (bm_parse_maps_line(line, e) < 0)
			rc = -ESRCH;
		else if (e->perms[2] == 'x')
			rc = exec_add(l, e);
		line = *eol ? eol + 1 : eol;
	}
	free(text);
	return rc;
}

/* The executable mappings of process pid, into *maps with malloc'd names
 * (*names, n of them); -ESRCH if it is gone or its maps unreadable. */
static int exec_maps(pid_t pid, struct bm_isa_map **maps, char ***names, size_t *n)
{
	struct exec_list l = {0};
	struct bm_maps_entry *e = malloc(sizeof *e);
	int rc = e ? exec_maps_query(pid, e, &l) : -ENOMEM;
	if (rc == -ENOTTY || rc == -EINVAL) {
		for (size_t i = 0; i < l.n; i++)
			free(l.names[i]);
		l.n = 0;
		rc = exec_maps_text(pid, e, &l);
	} else if (rc < 0 && rc != -ENOMEM)
		rc = -ESRCH;
	free(e);
	*maps = l.maps;
	*names = l.names;
	*n = l.n;
	if (rc == -ENOMEM)
		bm_error(BM_EXIT_FAILURE, "out of memory");
	return rc;
}

int bm_isa_analyze_pid(pid_t pid, bool names_limited, uint64_t name_set, struct bm_isa_report *r)
{
	struct bm_isa_map *maps;
	char **names;
	size_t n;
	int rc = exec_maps(pid, &maps, &names, &n), fd = -1, gone = rc == -ESRCH;
	char mem[64];
	snprintf(mem, sizeof mem, "/proc/%d/mem", (int)pid);
	if (rc == 0 && (fd = open(mem, O_RDONLY | O_CLOEXEC)) < 0)
		rc = bm_error_errno(BM_EXIT_TARGET, errno, "cannot read the memory of process %d", (int)pid);
	if (rc == 0) {
		struct bm_isa_source src = {maps, n, read_mem, &fd, pid, names_limited, name_set};
		rc = bm_isa_analyze(&src, r);
	}
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(maps);
	if (gone)
		return -ESRCH; /* gone, or maps unreadable: the caller says so */
	return rc < 0 ? -1 : 0;
}

/* ---- reporting ----------------------------------------------------------- */

void bm_isa_report_print(FILE *out, const struct bm_isa_report *r)
{
	fprintf(out, "code scanned: %.2f MiB, %" PRIu64 " instructions: %u files (%u from the cache), %u files "
		     "from memory, %u anonymous executable areas (%.2f MiB), %.2f MiB of memory from the cache, "
		     "in %.1f ms\n",
		r->bytes / 1048576.0, r->insns, r->files, r->files_cached, r->files_from_memory, r->anon_regions,
		r->anon_bytes / 1048576.0, r->mem_cached_bytes / 1048576.0, r->scan_us / 1000.0);
	fprintf(out, "undecodable bytes: %" PRIu64 "%s%s%s\n", r->undecodable, r->undecodable ? " (first in " : "",
		r->first_undecodable, r->undecodable ? ")" : "");
	if (r->unclassified)
		fprintf(out, "instructions Capstone 4 does not know, classified by encoding only (a lower bound): "
			     "%" PRIu64 "\n", r->unclassified);
	if (r->unreadable)
		fprintf(out, "unreadable executable pages (not scanned): %u\n", r->unreadable);
	fprintf(out, "ifunc candidates: %u, of which %u resolved (a GOT slot points to them: counted)\n",
		r->cand_total, r->cand_resolved);
	fprintf(out, "scanned:\n");
	for (unsigned i = 0; i < r->nparts; i++) {
		char list[512];
		bm_ext_list(r->parts[i].set, list, sizeof list);
		fprintf(out, "  %s (%" PRIu64 " bytes of code, from %s): %s\n", r->parts[i].name, r->parts[i].bytes,
			r->parts[i].how, list[0] ? list : "baseline only");
	}
	if (r->parts_dropped)
		fprintf(out, "  (%u more not listed)\n", r->parts_dropped);
	fprintf(out, "extensions used:\n");
	for (int e = 0; e < BM_EXT_COUNT; e++)
		if (r->used_set & BM_EXT_BIT(e))
			fprintf(out, "  %-20s %8u  e.g. 0x%" PRIx64 " %s\n", bm_ext_info[e].name, r->used[e].count,
				r->used[e].addr, r->used[e].where);
	if (!r->used_set)
		fprintf(out, "  none beyond x86-64's baseline\n");
	uint64_t only = r->unselected_set & ~r->used_set;
	if (only) {
		fprintf(out, "only in ifunc variants the process does not use (not counted):\n");
		for (int e = 0; e < BM_EXT_COUNT; e++)
			if (only & BM_EXT_BIT(e))
				fprintf(out, "  %-20s %8u  e.g. %s\n", bm_ext_info[e].name, r->unselected[e].count,
					r->unselected[e].where);
	}
}

int bm_isa_verdict(const struct bm_isa_report *r, uint64_t here, uint64_t dest, char *msg, size_t len)
{
	uint64_t missing = r->used_set & here & ~dest;
	if (!missing) {
		msg[0] = 0;
		return 0;
	}
	size_t at = 0;
	for (int e = 0; e < BM_EXT_COUNT && at < len; e++) {
		if (!(missing & BM_EXT_BIT(e)))
			continue;
		int n = snprintf(msg + at, len - at, "%s%s: %u instructions, e.g. at 0x%" PRIx64 " in %s",
				 at ? "; " : "the destination CPU lacks ", bm_ext_info[e].name, r->used[e].count,
				 r->used[e].addr, r->used[e].where);
		if (n < 0)
			break;
		at += (size_t)n;
	}
	return 1;
}

/* The per-file scan cache (isa_cache.h).
 *
 * Entry: "BMISACH1", u32 scanner version, u32 CRC32C of what follows it,
 * then u64 dev, ino, size, i64 mtime_ns, the build-id (u16 length +
 * bytes), the path (u16 + bytes), the counts outside candidates, u32
 * candidate count and each candidate (u64 start, end, u16 + ifunc name,
 * counts).  Counts: u64 insns, bytes, undecodable, first_undecodable,
 * unclassified, set, then for each extension in set u32 count, u64
 * example.  Little endian (binmig is x86-64 only). */
#include "isa_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "image.h" /* bm_crc32c */
#include "log.h"

static const char magic[8] = {'B', 'M', 'I', 'S', 'A', 'C', 'H', '1'};

struct out {
	uint8_t *p;
	size_t len, cap;
	bool failed;
};

static void put(struct out *o, const void *v, size_t n)
{
	if (o->failed)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4096;
		while (cap < o->len + n)
			cap *= 2;
		uint8_t *np = realloc(o->p, cap);
		if (!np) {
			o->failed = true;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, v, n);
	o->len += n;
}

static void put64(struct out *o, uint64_t v) { put(o, &v, 8); }
static void put32(struct out *o, uint32_t v) { put(o, &v, 4); }

static void put_str(struct out *o, const char *s)
{
	uint16_t n = (uint16_t)strnlen(s, 4095);
	put(o, &n, 2);
	put(o, s, n);
}

static void put_counts(struct out *o, const struct bm_isa_counts *c)
{
	put64(o, c->insns);
	put64(o, c->bytes);
	put64(o, c->undecodable);
	put64(o, c->first_undecodable);
	put64(o, c->unclassified);
	put64(o, c->set);
	for (int e = 0; e < BM_EXT_COUNT; e++)
		if (c->set & BM_EXT_BIT(e)) {
			put32(o, c->count[e]);
			put64(o, c->example[e]);
		}
}

int bm_isa_cache_encode(const struct bm_isa_file *f, uint8_t **buf, size_t *len)
{
	struct out o = {0};
	put(&o, magic, 8);
	put32(&o, BM_ISA_SCANNER_VERSION);
	put32(&o, 0);
	put64(&o, f->dev);
	put64(&o, f->ino);
	put64(&o, f->size);
	put64(&o, (uint64_t)f->mtime_ns);
	put_str(&o, f->build_id);
	put_str(&o, f->path);
	put_counts(&o, &f->always);
	put32(&o, f->ncand);
	for (uint32_t i = 0; i < f->ncand; i++) {
		const struct bm_isa_candidate *cd = &f->cand[i];
		struct bm_isa_counts c;
		bm_isa_sparse_get(&f->pool, &cd->counts, &c);
		put64(&o, cd->start);
		put64(&o, cd->end);
		put_str(&o, cd->ifunc);
		put_counts(&o, &c);
	}
	if (o.failed) {
		free(o.p);
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	}
	uint32_t crc = bm_crc32c(0, o.p + 16, o.len - 16);
	memcpy(o.p + 12, &crc, 4);
	*buf = o.p;
	*len = o.len;
	return 0;
}

struct in {
	const uint8_t *p;
	size_t len, at;
	bool failed;
};

static void get(struct in *c, void *v, size_t n)
{
	if (c->failed || n > c->len - c->at) {
		c->failed = true;
		memset(v, 0, n);
		return;
	}
	memcpy(v, c->p + c->at, n);
	c->at += n;
}

static uint64_t get64(struct in *c) { uint64_t v; get(c, &v, 8); return v; }
static uint32_t get32(struct in *c) { uint32_t v; get(c, &v, 4); return v; }

static void get_str(struct in *c, char *s, size_t size)
{
	uint16_t n;
	get(c, &n, 2);
	if (n >= size)
		c->failed = true;
	if (c->failed) {
		s[0] = 0;
		return;
	}
	get(c, s, n);
	s[n] = 0;
	if (memchr(s, 0, n))
		c->failed = true;
}

static void get_counts(struct in *c, struct bm_isa_counts *k)
{
	memset(k, 0, sizeof *k);
	k->insns = get64(c);
	k->bytes = get64(c);
	k->undecodable = get64(c);
	k->first_undecodable = get64(c);
	k->unclassified = get64(c);
	k->set = get64(c);
	if (BM_EXT_COUNT < 64 && (k->set >> BM_EXT_COUNT))
		c->failed = true;
	for (int e = 0; e < BM_EXT_COUNT && !c->failed; e++)
		if (k->set & BM_EXT_BIT(e)) {
			k->count[e] = get32(c);
			k->example[e] = get64(c);
		}
}

int bm_isa_cache_decode(const uint8_t *buf, size_t len, struct bm_isa_file *f)
{
	memset(f, 0, sizeof *f);
	struct in c = {buf, len, 0, false};
	char m[8];
	get(&c, m, 8);
	uint32_t version = get32(&c), crc = get32(&c);
	if (c.failed || memcmp(m, magic, 8) != 0 || version != BM_ISA_SCANNER_VERSION ||
	    crc != bm_crc32c(0, buf + 16, len - 16))
		return -EINVAL;
	f->dev = get64(&c);
	f->ino = get64(&c);
	f->size = get64(&c);
	f->mtime_ns = (int64_t)get64(&c);
	get_str(&c, f->build_id, sizeof f->build_id);
	char path[PATH_MAX];
	get_str(&c, path, sizeof path);
	if (c.failed)
		return -EINVAL;
	if (!(f->path = strdup(path)))
		return -ENOMEM;
	get_counts(&c, &f->always);
	uint32_t n = get32(&c);
	/* Each candidate takes at least 66 bytes: a count beyond that is a lie. */
	int rc = c.failed || n > (len - c.at) / 66 ? -EINVAL : 0;
	if (rc == 0 && n && !(f->cand = malloc(n * sizeof *f->cand)))
		rc = -ENOMEM;
	if (rc < 0) {
		bm_isa_file_free(f);
		return rc;
	}
	f->cand_cap = n;
	for (uint32_t i = 0; i < n && !c.failed; i++) {
		uint64_t start = get64(&c), end = get64(&c);
		char ifunc[sizeof f->cand->ifunc];
		struct bm_isa_counts k;
		get_str(&c, ifunc, sizeof ifunc);
		get_counts(&c, &k);
		if (end < start || (i && start < f->cand[i - 1].end))
			c.failed = true;
		else if (!c.failed && bm_isa_cand_add(f, start, end, ifunc, &k) < 0) {
			bm_isa_file_free(f);
			return -ENOMEM;
		}
	}
	if (c.failed || c.at != len) {
		bm_isa_file_free(f);
		return -EINVAL;
	}
	return 0;
}

static bool cache_dir(char *dir, size_t len)
{
	const char *env = getenv("BINMIG_ISA_CACHE");
	if (env && strcmp(env, "off") == 0)
		return false;
	if (env && env[0])
		snprintf(dir, len, "%s", env);
	else if (getenv("XDG_CACHE_HOME") && getenv("XDG_CACHE_HOME")[0])
		snprintf(dir, len, "%s/binmig/isa", getenv("XDG_CACHE_HOME"));
	else if (getenv("HOME") && getenv("HOME")[0])
		snprintf(dir, len, "%s/.cache/binmig/isa", getenv("HOME"));
	else
		return false;
	return true;
}

static void mkdirs(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		mkdir(p, 0700);
		*s = '/';
	}
	mkdir(p, 0700);
}

static bool matches(const struct bm_isa_file *f, const struct bm_elf *e, const char *path)
{
	return f->dev == e->dev && f->ino == e->ino && f->size == e->size && f->mtime_ns == e->mtime_ns &&
	       strcmp(f->build_id, e->build_id) == 0 && strcmp(f->path, path) == 0;
}

static bool load(const char *entry, const struct bm_elf *e, const char *path, struct bm_isa_file *f)
{
	int fd = open(entry, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	uint8_t *buf = NULL;
	bool ok = fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < (64 << 20) &&
		  (buf = malloc((size_t)st.st_size)) && read(fd, buf, (size_t)st.st_size) == st.st_size &&
		  bm_isa_cache_decode(buf, (size_t)st.st_size, f) == 0;
	close(fd);
	free(buf);
	if (ok && !matches(f, e, path)) {
		bm_isa_file_free(f);
		ok = false;
	}
	return ok;
}

/* Whole or not at all: readers never see a half-written file. */
static void write_whole(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[PATH_MAX + 96];
	snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		bm_debug("isa cache: cannot write %s", path);
	}
}

static void store(const char *dir, const char *entry, const struct bm_isa_file *f)
{
	uint8_t *buf;
	size_t len;
	if (bm_isa_cache_encode(f, &buf, &len) < 0)
		return;
	mkdirs(dir);
	write_whole(entry, buf, len);
	free(buf);
}

int bm_isa_file_get(struct bm_elf *e, const char *path, struct bm_isa_file *f, int *cached)
{
	char dir[PATH_MAX], entry[PATH_MAX + 64];
	bool use = cache_dir(dir, sizeof dir - 64);
	*cached = 0;
	if (use) {
		snprintf(entry, sizeof entry, "%s/%llx-%llx.isa", dir, (unsigned long long)e->dev,
			 (unsigned long long)e->ino);
		if (load(entry, e, path, f)) {
			*cached = 1;
			return 0;
		}
	}
	if (bm_elf_map(e) < 0)
		return 1;
	int rc = bm_isa_scan_elf(e, path, f);
	if (rc == 0 && use)
		store(dir, entry, f);
	return rc;
}

/* ---- anonymous executable memory ---------------------------------------- */

/* One file, "anon.isa" in the cache directory: "BMISAAN1", u32 scanner
 * version, u32 CRC32C of what follows, u32 entry count, then each entry:
 * u64 length, u32 CRC32C and u64 second hash of the content, its counts
 * with addresses as offsets into the content.  Most recently used first;
 * at most BM_ISA_ANON_MAX entries are kept, the least recently used go. */
static const char anon_magic[8] = {'B', 'M', 'I', 'S', 'A', 'A', 'N', '1'};

struct anon_entry {
	uint64_t len, hash;
	uint32_t crc;
	bool used; /* looked up or added by this process */
	struct bm_isa_sparse counts; /* in anon.pool */
};

static struct {
	bool loaded, off;
	char dir[PATH_MAX];
	struct anon_entry *v;
	size_t n, cap, nloaded;
	struct bm_isa_pool pool;
} anon;

/* A second, non-linear hash beside the CRC: two contents of one length
 * would have to collide in both to be taken for each other. */
static uint64_t content_hash(const uint8_t *p, size_t n)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ n;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h ^ (h >> 32);
}

static void anon_load(void)
{
	anon.loaded = true;
	if (!cache_dir(anon.dir, sizeof anon.dir - 16)) {
		anon.off = true;
		return;
	}
	char path[PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/anon.isa", anon.dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	uint8_t *buf = NULL;
	bool ok = fstat(fd, &st) == 0 && st.st_size >= 20 && st.st_size < (16 << 20) &&
		  (buf = malloc((size_t)st.st_size)) && read(fd, buf, (size_t)st.st_size) == st.st_size;
	close(fd);
	struct in c = {buf, ok ? (size_t)st.st_size : 0, 0, !ok};
	char m[8];
	get(&c, m, 8);
	uint32_t version = get32(&c), crc = get32(&c), n = get32(&c);
	if (c.failed || memcmp(m, anon_magic, 8) != 0 || version != BM_ISA_SCANNER_VERSION ||
	    crc != bm_crc32c(0, buf + 16, c.len - 16) || n > BM_ISA_ANON_MAX || !(anon.v = calloc(n + 1, sizeof *anon.v))) {
		free(buf);
		return;
	}
	anon.cap = n + 1;
	for (uint32_t i = 0; i < n && !c.failed; i++) {
		struct anon_entry *a = &anon.v[i];
		struct bm_isa_counts k;
		a->len = get64(&c);
		a->crc = get32(&c);
		a->hash = get64(&c);
		get_counts(&c, &k);
		if (!c.failed && bm_isa_sparse_put(&anon.pool, &k, &a->counts) < 0)
			break;
		anon.n = i + 1;
	}
	if (c.failed || c.at != c.len || anon.n != n)
		anon.n = 0; /* all or nothing */
	anon.nloaded = anon.n;
	free(buf);
}

static struct anon_entry *anon_find(uint64_t len, uint32_t crc, uint64_t hash)
{
	for (size_t i = 0; i < anon.n; i++)
		if (anon.v[i].len == len && anon.v[i].crc == crc && anon.v[i].hash == hash)
			return &anon.v[i];
	return NULL;
}

/* Not remembered when out of memory: scanned again next time. */
static void anon_add(uint64_t len, uint32_t crc, uint64_t hash, const struct bm_isa_counts *c)
{
	if (anon.n == anon.cap) {
		size_t cap = anon.cap ? anon.cap * 2 : 64;
		struct anon_entry *v = realloc(anon.v, cap * sizeof *v);
		if (!v)
			return;
		anon.v = v;
		anon.cap = cap;
	}
	struct anon_entry *a = &anon.v[anon.n];
	*a = (struct anon_entry){len, hash, crc, true, {0}};
	if (bm_isa_sparse_put(&anon.pool, c, &a->counts) == 0)
		anon.n++;
}

/* Adds c, whose addresses are offsets, to *to as if scanned at base. */
static void add_rebased(struct bm_isa_counts *to, const struct bm_isa_counts *c, uint64_t base)
{
	struct bm_isa_counts r = *c;
	for (int e = 0; e < BM_EXT_COUNT; e++)
		if (r.set & BM_EXT_BIT(e))
			r.example[e] += base;
	if (r.undecodable)
		r.first_undecodable += base;
	bm_isa_counts_add(to, &r);
}

int bm_isa_mem_elf_get(const struct bm_elf *e, const char *name, struct bm_isa_file *f, int *cached)
{
	/* Device 0 is no file's: the entry is named and matched by content. */
	struct bm_elf k = *e;
	k.dev = 0;
	k.ino = content_hash(e->data, e->len);
	k.size = e->len;
	k.mtime_ns = bm_crc32c(0, e->data, e->len);
	return bm_isa_file_get(&k, name, f, cached);
}

int bm_isa_anon_scan(const uint8_t *code, size_t len, uint64_t base, struct bm_isa_counts *c, int *cached)
{
	*cached = 0;
	if (!anon.loaded)
		anon_load();
	if (anon.off)
		return bm_isa_scan_code(code, len, base, c);
	uint32_t crc = bm_crc32c(0, code, len);
	uint64_t hash = content_hash(code, len);
	struct anon_entry *a = anon_find(len, crc, hash);
	if (a) {
		struct bm_isa_counts k;
		bm_isa_sparse_get(&anon.pool, &a->counts, &k);
		a->used = true;
		*cached = 1;
		add_rebased(c, &k, base);
		return 0;
	}
	struct bm_isa_counts k = {0};
	int rc = bm_isa_scan_code(code, len, 0, &k);
	if (rc < 0)
		return rc;
	anon_add(len, crc, hash, &k);
	add_rebased(c, &k, base);
	return 0;
}

/* 0: added by this process, 1: read and used, 2: read, unused. */
static int anon_rank(const struct anon_entry *a, size_t i)
{
	return i >= anon.nloaded ? 0 : a->used ? 1 : 2;
}

void bm_isa_anon_flush(void)
{
	/* Nothing new, and what was used is already at the front: no write. */
	bool moved = anon.n != anon.nloaded;
	for (size_t i = 1; i < anon.nloaded && !moved; i++)
		moved = anon.v[i].used && !anon.v[i - 1].used;
	if (moved && !anon.off) {
		struct out o = {0};
		put(&o, anon_magic, 8);
		put32(&o, BM_ISA_SCANNER_VERSION);
		put32(&o, 0);
		uint32_t keep = (uint32_t)(anon.n < BM_ISA_ANON_MAX ? anon.n : BM_ISA_ANON_MAX), written = 0;
		put32(&o, keep);
		/* The newest first, then what was used, then the rest: the tail is evicted. */
		for (int rank = 0; rank < 3; rank++)
			for (size_t k = 0; k < anon.n && written < keep; k++) {
				size_t i = rank == 0 ? anon.n - 1 - k : k;
				const struct anon_entry *a = &anon.v[i];
				if (anon_rank(a, i) != rank)
					continue;
				struct bm_isa_counts k;
				bm_isa_sparse_get(&anon.pool, &a->counts, &k);
				put64(&o, a->len);
				put32(&o, a->crc);
				put64(&o, a->hash);
				put_counts(&o, &k);
				written++;
			}
		if (!o.failed) {
			uint32_t crc = bm_crc32c(0, o.p + 16, o.len - 16);
			memcpy(o.p + 12, &crc, 4);
			char path[PATH_MAX + 16];
			snprintf(path, sizeof path, "%s/anon.isa", anon.dir);
			mkdirs(anon.dir);
			write_whole(path, o.p, o.len);
		}
		free(o.p);
	}
	free(anon.v);
	bm_isa_pool_free(&anon.pool);
	memset(&anon, 0, sizeof anon);
}

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
		put64(&o, f->cand[i].start);
		put64(&o, f->cand[i].end);
		put_str(&o, f->cand[i].ifunc);
		put_counts(&o, &f->cand[i].counts);
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
	get_str(&c, f->path, sizeof f->path);
	get_counts(&c, &f->always);
	uint32_t n = get32(&c);
	/* Each candidate takes at least 66 bytes: a count beyond that is a lie. */
	if (c.failed || n > (len - c.at) / 66)
		return -EINVAL;
	if (n && !(f->cand = calloc(n, sizeof *f->cand)))
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !c.failed; i++) {
		struct bm_isa_candidate *k = &f->cand[i];
		k->start = get64(&c);
		k->end = get64(&c);
		get_str(&c, k->ifunc, sizeof k->ifunc);
		get_counts(&c, &k->counts);
		if (k->end < k->start || (i && k->start < f->cand[i - 1].end))
			c.failed = true;
		f->ncand = i + 1;
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

static void store(const char *dir, const char *entry, const struct bm_isa_file *f)
{
	uint8_t *buf;
	size_t len;
	if (bm_isa_cache_encode(f, &buf, &len) < 0)
		return;
	mkdirs(dir);
	char tmp[PATH_MAX + 96];
	snprintf(tmp, sizeof tmp, "%s.%d", entry, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	bool ok = fd >= 0 && write(fd, buf, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	/* Whole or not at all: readers never see a half-written entry. */
	if (!ok || rename(tmp, entry) < 0) {
		unlink(tmp);
		bm_debug("isa cache: cannot write %s", entry);
	}
	free(buf);
}

int bm_isa_file_get(const struct bm_elf *e, const char *path, struct bm_isa_file *f, int *cached)
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
	int rc = bm_isa_scan_elf(e, path, f);
	if (rc == 0 && use)
		store(dir, entry, f);
	return rc;
}

/* CPU profiles (cpu_profile.h). */
#include "cpu_profile.h"

#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "isa_classify.h"
#include "log.h"
#include "procfs.h"

static bool flag_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int add_flag(struct bm_cpu_profile *p, const char *s, size_t n)
{
	if (n == 0 || n >= BM_PROFILE_FLAG_LEN || p->nflags == BM_PROFILE_MAX_FLAGS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!flag_char(s[i]))
			return -EINVAL;
	memcpy(p->flags[p->nflags], s, n);
	p->flags[p->nflags][n] = 0;
	p->nflags++;
	return 0;
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

int bm_cpu_profile_local(struct bm_cpu_profile *p)
{
	memset(p, 0, sizeof *p);
	char *text = NULL;
	size_t len;
	if (bm_read_text("/proc/cpuinfo", &text, &len) < 0)
		return -EIO;
	const char *line = strstr(text, "\nflags");
	const char *colon = line ? strchr(line, ':') : NULL;
	if (!colon) {
		free(text);
		return bm_error(BM_EXIT_FAILURE, "/proc/cpuinfo has no flags line"), -ENOENT;
	}
	for (const char *s = colon + 1; *s && *s != '\n';) {
		while (*s == ' ' || *s == '\t')
			s++;
		size_t n = 0;
		while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\n')
			n++;
		if (n)
			add_flag(p, s, n); /* a name longer than binmig keeps is no extension it knows */
		s += n;
	}
	free(text);
	unsigned a, b, c, d;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && __get_cpuid_count(0xd, 0, &a, &b, &c, &d)) {
		p->has_xstate = true;
		p->xstate_mask = xgetbv0();
		p->xstate_size = b;
		for (unsigned i = 2; i < 64; i++) {
			if (!(p->xstate_mask & (1ULL << i)))
				continue;
			__cpuid_count(0xd, i, a, b, c, d);
			p->comp_size[i] = a;
			p->comp_offset[i] = b;
		}
	}
	return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-')
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_xstate(struct bm_cpu_profile *p, char *rest)
{
	char *tok[8];
	int n = 0;
	for (char *save = NULL, *t = strtok_r(rest, " \t", &save); t && n < 8; t = strtok_r(NULL, " \t", &save))
		tok[n++] = t;
	uint64_t v, i, off, size;
	p->has_xstate = true;
	if (n == 2 && strcmp(tok[0], "size") == 0 && parse_u64(tok[1], &v) == 0 && v <= UINT32_MAX) {
		p->xstate_size = (uint32_t)v;
		return 0;
	}
	if (n == 2 && strcmp(tok[0], "mask") == 0 && parse_u64(tok[1], &v) == 0) {
		p->xstate_mask = v;
		return 0;
	}
	if (n == 6 && strcmp(tok[0], "component") == 0 && strcmp(tok[2], "offset") == 0 &&
	    strcmp(tok[4], "size") == 0 && parse_u64(tok[1], &i) == 0 && i >= 2 && i < 64 &&
	    parse_u64(tok[3], &off) == 0 && off <= UINT32_MAX && parse_u64(tok[5], &size) == 0 && size <= UINT32_MAX) {
		p->comp_offset[i] = (uint32_t)off;
		p->comp_size[i] = (uint32_t)size;
		return 0;
	}
	return -EINVAL;
}

int bm_cpu_profile_parse(const char *text, size_t len, struct bm_cpu_profile *p, char *why, size_t why_len)
{
	memset(p, 0, sizeof *p);
	if (len > BM_PROFILE_MAX_TEXT) {
		snprintf(why, why_len, "longer than %d bytes", BM_PROFILE_MAX_TEXT);
		return -EINVAL;
	}
	size_t at = 0;
	for (unsigned lineno = 1; at < len; lineno++) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
		char line[256];
		if (n >= sizeof line) {
			snprintf(why, why_len, "line %u: too long", lineno);
			return -EINVAL;
		}
		memcpy(line, text + at, n);
		line[n] = 0;
		at += n + (nl != NULL);
		if (memchr(line, 0, n)) {
			snprintf(why, why_len, "line %u: a NUL byte", lineno);
			return -EINVAL;
		}
		char *s = line, *e = line + n;
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			*--e = 0;
		if (!*s || *s == '#')
			continue;
		int rc = strncmp(s, "xstate ", 7) == 0 ? parse_xstate(p, s + 7) : add_flag(p, s, (size_t)(e - s));
		if (rc < 0) {
			snprintf(why, why_len, "line %u: not a flag name (a-z, 0-9, _) nor an xstate line: '%.60s'",
				 lineno, s);
			return -EINVAL;
		}
	}
	if (p->nflags == 0) {
		snprintf(why, why_len, "no CPU flags");
		return -EINVAL;
	}
	return 0;
}

int bm_cpu_profile_load(const char *path, struct bm_cpu_profile *p)
{
	char *text = NULL;
	size_t len;
	if (bm_read_text(path, &text, &len) < 0)
		return bm_error(BM_EXIT_USAGE, "cannot read the CPU profile %s", path), -EIO;
	char why[160];
	int rc = bm_cpu_profile_parse(text, len, p, why, sizeof why);
	free(text);
	if (rc < 0)
		bm_error(BM_EXIT_USAGE, "CPU profile %s: %s", path, why);
	return rc;
}

void bm_cpu_profile_print(FILE *out, const struct bm_cpu_profile *p)
{
	fprintf(out, "# binmig CPU profile: one /proc/cpuinfo flag per line, then the xstate layout.\n"
		     "# Remove a flag's line to describe a CPU without it.\n");
	for (size_t i = 0; i < p->nflags; i++)
		fprintf(out, "%s\n", p->flags[i]);
	if (!p->has_xstate)
		return;
	fprintf(out, "xstate size %u\nxstate mask 0x%llx\n", p->xstate_size, (unsigned long long)p->xstate_mask);
	for (unsigned i = 2; i < 64; i++)
		if (p->xstate_mask & (1ULL << i))
			fprintf(out, "xstate component %u offset %u size %u\n", i, p->comp_offset[i], p->comp_size[i]);
}

int bm_cpu_profile_text(const struct bm_cpu_profile *p, char **text, size_t *len)
{
	FILE *f = open_memstream(text, len);
	if (!f)
		return bm_error_errno(BM_EXIT_FAILURE, errno, "open_memstream"), -ENOMEM;
	bm_cpu_profile_print(f, p);
	if (fclose(f) != 0)
		return bm_error(BM_EXIT_FAILURE, "out of memory"), -ENOMEM;
	return 0;
}

bool bm_cpu_profile_has(const struct bm_cpu_profile *p, const char *flag)
{
	for (size_t i = 0; i < p->nflags; i++)
		if (strcmp(p->flags[i], flag) == 0)
			return true;
	return false;
}

uint64_t bm_cpu_profile_exts(const struct bm_cpu_profile *p)
{
	uint64_t set = 0;
	for (size_t i = 0; i < p->nflags; i++) {
		int e = bm_ext_by_name(p->flags[i]);
		if (e >= 0)
			set |= BM_EXT_BIT(e);
	}
	return set;
}

int bm_xstate_incompatible(const struct bm_cpu_profile *src, const struct bm_cpu_profile *dst, char *why,
			   size_t why_len)
{
	if (!src->has_xstate)
		return 0;
	if (!dst->has_xstate) {
		snprintf(why, why_len, "the destination profile has no xstate layout");
		return 1;
	}
	/* Other offsets, another area size, components the destination lacks:
	 * the saved state is translated after the freeze (xstate.h), and a
	 * thread that uses a missing component is refused then.  What no
	 * translation can bridge is a component of another size. */
	for (unsigned i = 2; i < 64; i++)
		if ((src->xstate_mask & dst->xstate_mask & (1ULL << i)) && src->comp_size[i] != dst->comp_size[i]) {
			snprintf(why, why_len, "xstate component %u has %u bytes here, %u there", i, src->comp_size[i],
				 dst->comp_size[i]);
			return 1;
		}
	return 0;
}

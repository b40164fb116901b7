/* The kernel's special mappings of a restored process ([vvar],
 * [vvar_vclock] and [vdso]) and the vDSO proxy.
 *
 * The image records where the process had its special mappings and the
 * contents of its [vdso], written as the image's first pages (older images
 * have no such pages: they restore only where the vDSO is the same).  When the destination's vDSO is the same (the same
 * kernel build), its special mappings are moved, each whole, to where the
 * image had them.  When it differs, or when the proxy is asked for, the
 * destination's mappings are moved together (keeping their offsets) to a
 * free place near the old [vdso], and the old [vdso] comes back as a
 * private copy of the image's bytes in which every exported function
 * starts with a jump to the same function of this kernel's vDSO: pointers
 * the process stored (glibc keeps several) stay valid. */
#ifndef BINMIG_VDSO_H
#define BINMIG_VDSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "ptrace_ctl.h"
#include "state.h"

enum bm_vdso_mode {
	BM_VDSO_AUTO = 0, /* proxy when the vDSOs differ (default) */
	BM_VDSO_ALWAYS,   /* proxy even when they are the same (testing it on one kernel) */
	BM_VDSO_NEVER,    /* refuse a restore whose vDSO differs */
};

void bm_vdso_set_mode(enum bm_vdso_mode mode);
/* "auto", "always" or "never"; -EINVAL otherwise. */
int bm_vdso_parse_mode(const char *text, enum bm_vdso_mode *mode);

/* Patches old (the image's vDSO, old_len bytes, mapped at old_base) in
 * place so that each exported function jumps to the function of the same
 * name in new (this kernel's vDSO, mapped at new_base).  Returns the number
 * of entry points patched, or -EINVAL with the reason in why (a malformed
 * ELF image, a function this kernel does not export, one too short for a
 * jump). */
int bm_vdso_patch(uint8_t *old, size_t old_len, uint64_t old_base, const uint8_t *new, size_t new_len,
		  uint64_t new_base, char *why, size_t why_len);

/* A page-aligned place for span bytes of special mappings, free in the
 * image's layout with a free page on either side, as near to `near` as
 * possible, never below 4 GiB; -ENOSPC when there is none. */
int bm_vdso_park(const struct bm_process *p, uint64_t span, uint64_t near, uint64_t *at);

struct bm_special {
	uint32_t kind;      /* BM_VMA_VDSO, BM_VMA_VVAR, BM_VMA_VVAR_VCLOCK */
	uint64_t from, to;  /* where it is in the new process, where it goes */
	uint64_t len;
};

struct bm_specials {
	struct bm_special sp[8];
	size_t n;
	const struct bm_vma *old; /* the image's [vdso] */
	uint8_t *old_bytes;       /* its contents, from the image's first pages; NULL if it has none */
	bool proxy;               /* rebuild the old [vdso] as a jumping copy */
};

bool bm_vma_is_special(uint32_t kind);

/* Takes the image's [vdso] pages from the front of the page stream into
 * s->old_bytes.  The first run that is not part of it is left in *held
 * (*have_held true) for the caller to write before asking for the next. */
int bm_specials_take_vdso(struct bm_specials *s, const struct bm_process *p, struct bm_image_reader *r,
			  struct bm_page_run *held, bool *have_held);

/* Decides whether the proxy is needed and moves the new process's special
 * mappings where they belong (to the image's places, or parked near the
 * old [vdso] for the proxy), before anything else is mapped there.  The
 * tracee's syscall_ip follows its [vdso]. */
int bm_specials_place(struct bm_specials *s, pid_t pid, struct bm_tracee *tr, const struct bm_process *p);

/* With the proxy, maps the old [vdso] as a patched private copy, once the
 * image's own mappings are in. */
int bm_specials_install_proxy(const struct bm_specials *s, pid_t pid, struct bm_tracee *tr);

void bm_specials_free(struct bm_specials *s);

#endif

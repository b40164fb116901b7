/* Saved register state between two xstate layouts.
 *
 * A thread's extended register state travels as PTRACE_GETREGSET
 * NT_X86_XSTATE gives it: the XSAVE standard format, whose size and
 * component offsets are the CPU's (CPUID leaf 0xD) and whose enabled
 * components are the kernel's (XCR0).  Two CPUs can lay the same
 * components out differently (a CPU without MPX puts AVX-512's opmask at
 * 832, one with it at 1088) or enable different ones.  Where the
 * destination's layout differs, the source rewrites each thread's state
 * for it: the legacy area and header as they are, every component in use
 * copied to its place there; a component in its initial state (all zero)
 * that the destination lacks is dropped; one in use that it lacks refuses
 * the migration, naming the thread and the component. */
#ifndef BINMIG_XSTATE_H
#define BINMIG_XSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cpu_profile.h"
#include "state.h"

/* Whether FROM and TO lay out saved state alike (same size, same enabled
 * components at the same offsets): nothing to translate. */
bool bm_xstate_same_layout(const struct bm_cpu_profile *from, const struct bm_cpu_profile *to);

/* SRC (SRC_LEN bytes, FROM's layout) rewritten for TO's into a malloc'd
 * *OUT of TO's size.  -EINVAL with the reason in why (not logged) when SRC
 * does not fit FROM, is compacted, or uses a component TO lacks or lays
 * out with another size; -ENOMEM. */
int bm_xstate_translate(const uint8_t *src, uint32_t src_len, const struct bm_cpu_profile *from,
			const struct bm_cpu_profile *to, uint8_t **out, uint32_t *out_len, char *why, size_t why_len);

/* Every thread of P from FROM's layout to TO's (nothing when the same).
 * Logs the refusal (exit 4), naming the thread; P is unchanged then. */
int bm_xstate_translate_threads(struct bm_process *p, const struct bm_cpu_profile *from,
				const struct bm_cpu_profile *to);

/* At the destination, before anything is built: every thread's saved
 * state has this CPU's xstate size and, where the kernel's bytes say it,
 * its enabled components.  Logs the refusal (exit 6: restore impossible
 * here) naming both layouts: the image was made for another CPU, or the
 * source was told another profile (serve --cpu-profile). */
int bm_xstate_fits_here(const struct bm_process *p);

/* At dump: whether a thread's saved state (LEN bytes read with
 * PTRACE_GETREGSET) has AMX tile data in use (component 18 in XSTATE_BV).
 * A new thread cannot be given it (the kernel grows a thread's buffer for
 * it only when the thread itself first touches a tile), so it is refused. */
bool bm_xstate_tiles_in_use(const uint8_t *xstate, uint32_t len);

#endif

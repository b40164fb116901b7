/* The instruction-set scan's decoders of untrusted bytes.  The first byte
 * of the input chooses:
 *   0-127    the bytes after it as machine code: x86_decode, Capstone and
 *            the classification over a linear sweep (random bytes, cut
 *            instructions, every offset of the input as a start), and
 *            bm_x86_decode alone at every offset with every length;
 *   128-191  a CPU profile's text (cpu_profile.c: a destination sends it
 *            during the handshake);
 *   192-223  a scan cache entry (isa_cache.c: files in a directory
 *            another user may share);
 *   224-255  an ELF image in memory (as the vDSO is read from the
 *            process): its tables, the GOT, and the scan of its code. */
#include <stdlib.h>
#include <string.h>

#include "cpu_profile.h"
#include "fuzz.h"
#include "isa_cache.h"
#include "isa_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	data++;
	size--;
	fuzz_quiet_begin();
	if (sel < 128) {
		struct bm_isa_counts c = {0};
		/* A copy of exactly `size` bytes, so that ASan sees any read past the end. */
		uint8_t *code = malloc(size ? size : 1);
		if (code) {
			memcpy(code, data, size);
			bm_isa_scan_code(code, size, 0x400000, &c);
			for (size_t off = 0; off < size && off < 64; off++) {
				struct bm_x86_insn x;
				for (size_t n = 0; n <= size - off && n <= 16; n++) {
					size_t len = bm_x86_decode(code + off, n, &x);
					if (len > n || len > 15)
						abort();
				}
			}
			free(code);
		}
		if (c.insns + c.undecodable > size || c.bytes != size)
			abort();
	} else if (sel < 192) {
		static struct bm_cpu_profile p;
		char why[160];
		bm_cpu_profile_parse((const char *)data, size, &p, why, sizeof why);
	} else if (sel < 224) {
		struct bm_isa_file f;
		if (bm_isa_cache_decode(data, size, &f) == 0)
			bm_isa_file_free(&f);
	} else {
		uint8_t *image = malloc(size ? size : 1);
		struct bm_elf e;
		if (image) {
			memcpy(image, data, size);
			if (bm_elf_from_memory(image, size, &e) == 0) {
				uint64_t vaddr, got[4][2];
				bm_elf_offset_to_vaddr(&e, 0, &vaddr);
				bm_elf_got_ranges(&e, got, 4);
				struct bm_isa_file f;
				if (bm_isa_scan_elf(&e, "[vdso]", &f) == 0)
					bm_isa_file_free(&f);
				char sym[64];
				bm_elf_symbolize(&e, vaddr, sym, sizeof sym);
				bm_elf_close(&e);
			}
			free(image);
		}
	}
	fuzz_quiet_end();
	return 0;
}

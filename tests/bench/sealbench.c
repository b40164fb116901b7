/* sealbench [MIB]: the AEADs' own throughput on this CPU, through binmig's
 * sealing code (seal.c) as the stream uses it: frames sealed from a source
 * buffer into a piece-sized scratch buffer (the sender), and opened in
 * place (the receiver), BM_SEAL_PIECE bytes at a time.  For each suite and
 * frame size, MIB MiB (default 1024) are sealed and opened; prints MiB/s
 * of each, the best of three passes.  Figures, not verdicts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seal.h"
#include "transport.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int discard(void *ctx, struct iovec *iov, int iovcnt)
{
	(void)ctx, (void)iov, (void)iovcnt;
	return 0;
}

/* Seals total bytes of data in frames of frame bytes (data wraps). */
static double seal_rate(struct bm_aead *a, const uint8_t *data, size_t data_len, size_t frame, size_t total,
			uint8_t *scratch)
{
	double t0 = now_s();
	for (size_t done = 0, at = 0; done < total; done += frame, at = (at + frame) % data_len) {
		struct iovec iov = { (void *)(data + at), frame };
		if (bm_seal_frame(a, BM_MSG_IMAGE_DATA, &iov, 1, scratch, discard, NULL) < 0)
			exit(1);
	}
	return total / 1048576.0 / (now_s() - t0);
}

/* Opens in place (the tags do not verify: the cost is the same). */
static double open_rate(struct bm_aead *a, uint8_t *data, size_t data_len, size_t frame, size_t total)
{
	uint8_t header[BM_FRAME_HEADER_SIZE] = { 0 };
	double t0 = now_s();
	for (size_t done = 0, at = 0; done < total; done += frame, at = (at + frame) % data_len) {
		bm_aead_begin(a, header, sizeof header);
		for (size_t off = 0; off < frame; off += BM_SEAL_PIECE) {
			size_t n = frame - off < BM_SEAL_PIECE ? frame - off : BM_SEAL_PIECE;
			if (bm_aead_update(a, data + at + off, data + at + off, n) < 0)
				exit(1);
		}
		uint8_t tag[BM_SEAL_TAG_LEN] = { 0 };
		bm_aead_open_end(a, tag);
	}
	return total / 1048576.0 / (now_s() - t0);
}

int main(int argc, char **argv)
{
	size_t total = (size_t)(argc > 1 ? atoi(argv[1]) : 1024) << 20;
	size_t data_len = 64u << 20;
	uint8_t *data = malloc(data_len), *scratch = malloc(BM_SEAL_PIECE);
	if (!data || !scratch || total == 0)
		return 1;
	for (size_t i = 0; i < data_len; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	static const uint8_t key[BM_SEAL_KEY_LEN] = { 1, 2, 3 };
	static const size_t frames[] = { 64u << 10, 256u << 10, 1u << 20, 4u << 20 };
	printf("AEAD throughput on this CPU (binmig's seal.c, %u KiB pieces), MiB/s, best of 3 over %zu MiB\n",
	       BM_SEAL_PIECE >> 10, total >> 20);
	printf("%-18s %10s %10s %10s\n", "suite", "frame", "seal", "open");
	for (enum bm_seal_suite s = BM_SEAL_AES_256_GCM; s <= BM_SEAL_SUITE_LAST; s++) {
		struct bm_aead sealer, opener;
		if (bm_aead_init(&sealer, s, key, true) < 0 || bm_aead_init(&opener, s, key, false) < 0)
			return 1;
		for (size_t f = 0; f < sizeof frames / sizeof frames[0]; f++) {
			double best_seal = 0, best_open = 0;
			for (int pass = 0; pass < 3; pass++) {
				double r = seal_rate(&sealer, data, data_len, frames[f], total, scratch);
				best_seal = r > best_seal ? r : best_seal;
				r = open_rate(&opener, data, data_len, frames[f], total);
				best_open = r > best_open ? r : best_open;
			}
			printf("%-18s %7zu KiB %10.0f %10.0f\n", bm_seal_name(s), frames[f] >> 10, best_seal, best_open);
		}
		bm_aead_free(&sealer);
		bm_aead_free(&opener);
	}
	printf("(this CPU: %s preferred by --seal auto)\n", bm_seal_name(bm_seal_preferred()));
	free(data);
	free(scratch);
	return 0;
}

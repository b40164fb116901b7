/* Shared pieces of the fuzz targets (tests/fuzz/fuzz_*.c).  Each target
 * defines LLVMFuzzerTestOneInput; it is linked either with libFuzzer
 * (`make fuzz`, clang) or with replay.c, which feeds it the committed
 * corpus (`make test`, gcc). */
#ifndef BINMIG_FUZZ_H
#define BINMIG_FUZZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Timeout for every wait of the socket-based targets.  The input is
 * written whole and the writing end shut down, so a wait only ever ends
 * early with end of stream; the timeout is a safety net against a hang. */
#define FUZZ_TIMEOUT_MS 500

/* Around each run: errors are recorded, never printed, and forgotten
 * afterwards, so that runs do not depend on one another. */
void fuzz_quiet_begin(void);
void fuzz_quiet_end(void);

/* A connected stream socket whose peer sends DATA (LEN bytes) and then
 * shuts down its writing side.  What fits in the socket buffer is written
 * at once; the rest by a thread, so that a reader that stops early never
 * leaves the writer stuck. */
struct fuzz_peer {
	int fd;                  /* the end to read: the decoder's */
	int peer;                /* the sending end */
	const uint8_t *data;
	size_t len, sent;
	bool threaded;
	pthread_t thread;
};
/* 0, or -1 if no socket pair could be made (the run is then skipped). */
int fuzz_peer_start(struct fuzz_peer *p, const uint8_t *data, size_t len);
/* Closes both ends and waits for the writer. */
void fuzz_peer_stop(struct fuzz_peer *p);

/* Whole-stream repairs, so that mutated inputs get past the checksums and
 * reach the decoding behind them.  Each walks the framing as far as it
 * goes, sets every CRC it finds to the value the bytes call for, and says
 * whether it changed anything.  The image: the file header's and each
 * section's (header and payload) CRCs.  Frames: each frame's header and
 * payload CRC, after repairing the image carried by the IMAGE_DATA
 * payloads taken together. */
bool fuzz_fix_image_crcs(uint8_t *image, size_t len);
bool fuzz_fix_frame_crcs(uint8_t *stream, size_t len);

/* Calls RUN on DATA as it is and, when the repair FIX changes a copy of
 * it, on the repaired copy too: the checks themselves and what lies
 * behind them both get exercised. */
void fuzz_run_with_repair(const uint8_t *data, size_t len, bool (*fix)(uint8_t *, size_t),
			  void (*run)(const uint8_t *, size_t));

#endif

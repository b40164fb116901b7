/* A pipe of more buffers than binmig's BPF reader reads in one run
 * (BM_KSTATE_PIPE_CHUNK, 512): PIPE_BIG_BUFS buffers of 3 to 7 bytes,
 * each a buffer of its own, in turn a copy (tee, never merged into), a
 * write (after a copy or a packet: a new buffer) and a packet spliced in
 * from a packet-mode pipe; then 2 bytes of the first read.  Its ring of
 * PIPE_BIG_RING bytes (2048 pages) passes the default fs.pipe-max-size:
 * root's with CAP_SYS_RESOURCE.  Built alike by the e2e program
 * pipelayout (big) and the unit test test_pipe_layout. */
#ifndef BINMIG_TESTS_PIPEBIG_H
#define BINMIG_TESTS_PIPEBIG_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#define PIPE_BIG_BUFS 1300u
#define PIPE_BIG_RING (2048 * 4096)
#define PIPE_BIG_TAKEN 2 /* bytes read of the first */

/* Buffer I's bytes into PIECE (8 bytes): its length. */
static inline ssize_t pipe_big_piece(uint32_t i, uint8_t *piece)
{
	ssize_t n = 3 + i % 5;
	for (ssize_t j = 0; j < n; j++)
		piece[j] = (uint8_t)(i * 11 + j * 3 + 1);
	return n;
}

/* A plain and a packet-mode scratch pipe, non-blocking, to copy (tee) or
 * splice buffers from; false (neither open) on a failure. */
static inline bool pipe_scratch_open(int plain[2], int packet[2])
{
	if (pipe2(plain, O_CLOEXEC | O_NONBLOCK) < 0)
		return false;
	if (pipe2(packet, O_CLOEXEC | O_NONBLOCK | O_DIRECT) == 0)
		return true;
	close(plain[0]);
	close(plain[1]);
	return false;
}

static inline void pipe_scratch_close(int plain[2], int packet[2])
{
	close(plain[0]);
	close(plain[1]);
	close(packet[0]);
	close(packet[1]);
}

/* Fills the empty pipe of ends R and W (its ring PIPE_BIG_RING) as
 * above; false on a failure. */
static inline bool pipe_big_build(int r, int w)
{
	int plain[2], packet[2];
	uint8_t piece[8];
	if (!pipe_scratch_open(plain, packet))
		return false;
	bool ok = true;
	for (uint32_t i = 0; ok && i < PIPE_BIG_BUFS; i++) {
		ssize_t n = pipe_big_piece(i, piece);
		if (i % 3 == 0)
			ok = write(plain[1], piece, n) == n && tee(plain[0], w, n, SPLICE_F_NONBLOCK) == n &&
			     read(plain[0], piece, n) == n;
		else if (i % 3 == 1)
			ok = write(w, piece, n) == n;
		else
			ok = write(packet[1], piece, n) == n && splice(packet[0], NULL, w, NULL, n, SPLICE_F_NONBLOCK) == n;
	}
	ok = ok && read(r, piece, PIPE_BIG_TAKEN) == PIPE_BIG_TAKEN;
	pipe_scratch_close(plain, packet);
	return ok;
}

/* A non-blocking pipe of PIPE_BIG_RING into ENDS; false where it cannot
 * be made so large (ENDS closed). */
static inline bool pipe_big_new(int ends[2])
{
	if (pipe2(ends, O_NONBLOCK | O_CLOEXEC) < 0)
		return false;
	if (fcntl(ends[1], F_SETPIPE_SZ, PIPE_BIG_RING) == PIPE_BIG_RING)
		return true;
	close(ends[0]);
	close(ends[1]);
	return false;
}

#endif

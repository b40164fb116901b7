/* The receiving side of the wire protocol, on the bytes a peer sends over
 * a stream socket.  Each input is played three times, as each receiver
 * would see it:
 *   - the destination in stream mode: the image read straight out of
 *     IMAGE_DATA frames (bm_wire_source_*) up to END, then up to
 *     IMAGE_END (bm_wire_source_finish);
 *   - the destination in file mode: bm_frame_recv frame after frame, with
 *     ERROR/ABORT payloads through bm_decode_message, RESULT payloads
 *     through bm_result_decode and MOVE_ADDRS payloads through
 *     bm_movaddr_decode;
 *   - the source waiting for the outcome: bm_result_recv.
 * The connection is plain (--seal none); fuzz_sealed.c plays sealed ones. */
#include <stdlib.h>

#include "fuzz.h"
#include "image.h"
#include "log.h"
#include "movaddr.h"
#include "transport.h"

static void stream_mode(int fd)
{
	struct bm_conn conn = bm_conn_plain(fd);
	struct bm_wire_source src;
	bm_wire_source_init(&src, &conn, FUZZ_TIMEOUT_MS);
	struct bm_image_reader r = { 0 };
	struct bm_process p = { 0 };
	int rc = bm_image_reader_init(&r, bm_wire_source_as_source(&src));
	if (rc == 0)
		rc = bm_image_read_process(&r, &p);
	struct bm_page_run run;
	while (rc == 0 && (rc = bm_image_next_pages(&r, &run)) > 0)
		rc = 0;
	if (rc == 0)
		bm_wire_source_finish(&src);
	bm_process_free(&p);
	bm_image_reader_free(&r);
	bm_wire_source_free(&src);
}

static void frame_by_frame(int fd)
{
	/* As large as the protocol allows, like the daemon's file mode. */
	static uint8_t *buf;
	if (!buf)
		buf = malloc(BM_FRAME_MAX_PAYLOAD);
	if (!buf)
		return;
	uint8_t type;
	size_t len;
	struct bm_conn conn = bm_conn_plain(fd);
	while (bm_frame_recv(&conn, &type, buf, BM_FRAME_MAX_PAYLOAD, &len, FUZZ_TIMEOUT_MS) == 0) {
		if (type == BM_MSG_ERROR || type == BM_MSG_ABORT) {
			enum bm_exit class;
			char msg[BM_MESSAGE_MAX + 1];
			bm_decode_message(buf, len, &class, msg, sizeof msg);
		} else if (type == BM_MSG_RESULT) {
			struct bm_result result;
			bm_result_decode(buf, len, &result);
		} else if (type == BM_MSG_MOVE_ADDRS) {
			struct bm_movaddr moving;
			char why[160];
			bm_movaddr_decode(buf, len, &moving, why, sizeof why);
		}
	}
}

static void await_result(int fd)
{
	struct bm_result result;
	struct bm_conn conn = bm_conn_plain(fd);
	bm_result_recv(&conn, &result, FUZZ_TIMEOUT_MS);
}

static void receive(const uint8_t *data, size_t size)
{
	void (*const receivers[])(int) = { stream_mode, frame_by_frame, await_result };
	for (size_t i = 0; i < sizeof receivers / sizeof receivers[0]; i++) {
		struct fuzz_peer peer;
		if (fuzz_peer_start(&peer, data, size) < 0)
			continue;
		fuzz_quiet_begin();
		receivers[i](peer.fd);
		fuzz_quiet_end();
		fuzz_peer_stop(&peer);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_run_with_repair(data, size, fuzz_fix_frame_crcs, receive);
	return 0;
}

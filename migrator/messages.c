/* The payloads of ERROR, ABORT and RESULT (docs/protocol.md §3): encoded
 * for sending, decoded and checked on receipt.  The frames that carry them
 * are transport.c's. */
#include "transport.h"

#include <errno.h>
#include <string.h>

#include "wire.h"

/* A peer's text reaches a terminal: anything but printable ASCII shows as
 * '?'. */
static void copy_printable(char *dst, size_t dst_size, const uint8_t *src, size_t len)
{
	if (len > dst_size - 1)
		len = dst_size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = '\0';
}

size_t bm_encode_message(uint8_t payload[4 + BM_MESSAGE_MAX], enum bm_exit class, const char *message)
{
	size_t len = strnlen(message, BM_MESSAGE_MAX);
	bm_store_le32(payload, (uint32_t)class);
	memcpy(payload + 4, message, len);
	return 4 + len;
}

int bm_decode_message(const void *payload, size_t len, enum bm_exit *class, char *msg, size_t msg_size)
{
	/* Defined even when malformed: some callers use them regardless. */
	*class = BM_EXIT_NETWORK;
	if (msg_size)
		msg[0] = '\0';
	if (len < 4 || len > 4 + BM_MESSAGE_MAX)
		return bm_error(BM_EXIT_NETWORK, "malformed message from peer (%zu bytes)", len), -EPROTO;
	uint32_t c = bm_load_le32(payload);
	*class = (c >= BM_EXIT_FAILURE && c <= BM_EXIT_NETWORK) ? (enum bm_exit)c : BM_EXIT_NETWORK;
	copy_printable(msg, msg_size, (const uint8_t *)payload + 4, len - 4);
	return 0;
}

int bm_result_send(struct bm_conn *c, const struct bm_result *result, int timeout_ms)
{
	uint8_t head[BM_RESULT_FIXED_SIZE];
	bm_store_le32(head + 0, result->status);
	bm_store_le32(head + 4, (uint32_t)result->pid);
	bm_store_le64(head + 8, result->transfer_us);
	bm_store_le64(head + 16, result->as_restore_us);
	bm_store_le64(head + 24, result->ctx_restore_us);
	bm_store_le64(head + 32, result->image_bytes);
	bm_store_le64(head + 40, result->wire_bytes);
	struct iovec iov[2] = {
		{ .iov_base = head, .iov_len = sizeof head },
		{ .iov_base = (void *)result->message, .iov_len = strnlen(result->message, BM_MESSAGE_MAX) },
	};
	return bm_frame_send(c, BM_MSG_RESULT, iov, 2, timeout_ms);
}

int bm_result_decode(const void *data, size_t len, struct bm_result *result)
{
	const uint8_t *payload = data;
	if (len < BM_RESULT_FIXED_SIZE)
		return bm_error(BM_EXIT_NETWORK, "malformed RESULT from peer (%zu bytes, at least %d expected)", len,
				BM_RESULT_FIXED_SIZE),
		       -EPROTO;
	memset(result, 0, sizeof *result);
	result->status = bm_load_le32(payload);
	result->pid = (int32_t)bm_load_le32(payload + 4);
	result->transfer_us = bm_load_le64(payload + 8);
	result->as_restore_us = bm_load_le64(payload + 16);
	result->ctx_restore_us = bm_load_le64(payload + 24);
	result->image_bytes = bm_load_le64(payload + 32);
	result->wire_bytes = bm_load_le64(payload + 40);
	copy_printable(result->message, sizeof result->message, payload + BM_RESULT_FIXED_SIZE,
		       len - BM_RESULT_FIXED_SIZE);
	if (result->status > BM_EXIT_NETWORK)
		return bm_error(BM_EXIT_NETWORK, "malformed RESULT from peer: unknown status %u", result->status), -EPROTO;
	if ((result->status == 0) != (result->pid > 0))
		return bm_error(BM_EXIT_NETWORK, "malformed RESULT from peer: status %u with pid %d", result->status,
				result->pid),
		       -EPROTO;
	return 0;
}

int bm_result_recv(struct bm_conn *c, struct bm_result *result, int timeout_ms)
{
	uint8_t payload[BM_RESULT_FIXED_SIZE + BM_MESSAGE_MAX];
	size_t len;
	int r = bm_frame_expect(c, BM_MSG_RESULT, payload, sizeof payload, &len, timeout_ms);
	return r < 0 ? r : bm_result_decode(payload, len, result);
}

bool bm_peer_failure(uint8_t type, const void *payload, size_t len, struct bm_result *res)
{
	if (type == BM_MSG_RESULT)
		return bm_result_decode(payload, len, res) == 0 && res->status != 0;
	if (type != BM_MSG_ERROR)
		return false;
	enum bm_exit class;
	bm_decode_message(payload, len, &class, res->message, sizeof res->message);
	res->status = class;
	return true;
}

/* The wire protocol between `binmig migrate` (the client, on the source
 * host) and `binmig serve` (the server, on the destination host): framing,
 * mutual authentication with a shared key, sealed frames (seal.h), the
 * image stream, and key files.  Byte layout, handshake construction and
 * the sequence of a migration: docs/protocol.md.
 *
 * All functions work on a connected stream socket (they use send/recv
 * flags, so not on pipes or files), never block longer than their timeout
 * in any single wait, never raise SIGPIPE, and return 0 (or a count) or a
 * negative errno.  Every failure is reported once with bm_error, class
 * BM_EXIT_NETWORK unless said otherwise.  After any error the connection is
 * out of step and must be closed.  After the handshake, frames go through
 * a struct bm_conn, which seals them unless both ends chose not to; on a
 * sealed connection every failure to check a frame (its header, its tag,
 * its place in the sequence) is reported as "authentication failed".
 *
 * Error numbers returned:
 *   -ETIMEDOUT     the peer neither sent nor accepted a byte within the timeout
 *   -ECONNRESET    the peer closed (or reset) the connection between frames
 *   -ECONNABORTED  the peer closed the connection in the middle of a frame
 *   -EPROTO        bad magic, other protocol version, unexpected frame type,
 *                  malformed payload
 *   -EBADMSG       header or payload CRC mismatch; a sealed frame that does
 *                  not verify (altered, dropped, repeated, out of order)
 *   -EMSGSIZE      a frame longer than the receiver accepts (detected from
 *                  the header, before any payload is read)
 *   -EREMOTEIO     the peer sent ERROR (its message is reported)
 *   -ECANCELED     the peer sent ABORT (its message is reported)
 *   -EACCES        authentication failed
 *   others         from the system (-ENOMEM, -EBADF, ...) */
#ifndef BINMIG_TRANSPORT_H
#define BINMIG_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "image.h"
#include "log.h"
#include "seal.h"

/* 2: HELLO carries the client's seal suite, frames after the handshake
 * are sealed.  A version-1 peer is refused by the header check. */
#define BM_PROTO_VERSION 2
#define BM_FRAME_MAGIC0 0x42 /* 'B' */
#define BM_FRAME_MAGIC1 0x4d /* 'M' */

/* Frame header, 16 bytes, little-endian:
 *   0  magic "BM"         2  version        3  type
 *   4  payload length     8  CRC-32C of the payload
 *  12  CRC-32C of bytes 0..11 (so it covers the payload CRC too)
 * The header has its own CRC so that a damaged length is caught before the
 * receiver waits for, or makes room for, a payload of that length.  In a
 * sealed frame the length counts the tag, the payload CRC field is 0, and
 * the whole header is the AEAD's associated data. */
#define BM_FRAME_HEADER_SIZE 16
/* No frame payload is ever longer than this (16 MiB); receivers usually
 * accept much less. */
#define BM_FRAME_MAX_PAYLOAD (16u << 20)

enum bm_msg_type {
	/* client -> server: the client's nonce (BM_NONCE_LEN bytes) and the
	 * seal suite it asks for (one byte, enum bm_seal_suite). */
	BM_MSG_HELLO = 1,
	/* server -> client: the server's nonce (BM_NONCE_LEN bytes). */
	BM_MSG_CHALLENGE = 2,
	/* both ways, client first: an HMAC-SHA256 (BM_MAC_LEN bytes) proving
	 * the sender holds the key; see bm_auth_proof. */
	BM_MSG_PROOF = 3,
	/* client -> server: the next bytes of the image stream (1 byte to
	 * BM_FRAME_MAX_PAYLOAD; frame boundaries carry no meaning). */
	BM_MSG_IMAGE_DATA = 4,
	/* client -> server: the image stream is complete; u64 image bytes
	 * sent in all IMAGE_DATA frames, checked by the receiver. */
	BM_MSG_IMAGE_END = 5,
	/* server -> client: the outcome of the restore (struct bm_result). */
	BM_MSG_RESULT = 6,
	/* client -> server: the source has terminated its original; the
	 * restored process is now the only one.  Empty payload. */
	BM_MSG_CONFIRM = 7,
	/* client -> server: the source gives up the migration and keeps (or
	 * resumes) its original; u32 error class + message, as ERROR. */
	BM_MSG_ABORT = 8,
	/* either way: the sender failed and closes the connection;
	 * u32 error class (enum bm_exit) + message (UTF-8, no NUL). */
	BM_MSG_ERROR = 9,
	/* client -> server, after the handshake: how the image comes; u32
	 * mode (enum bm_transfer_mode), u32 zero. */
	BM_MSG_START = 10,
	/* server -> client, in reply to START: the destination's CPU profile
	 * (cpu_profile.h), as text of at most BM_PROFILE_MAX_TEXT bytes. */
	BM_MSG_PROFILE = 11,
	/* Pre-copy (mode BM_MODE_PRECOPY, precopy.h), client -> server, after
	 * PROFILE and before the image: the ranges whose pages may come
	 * before the freeze; pages of a round; the end of a round; after the
	 * freeze, the runs of pages sent earlier that the process keeps, and
	 * their end.  Layouts: docs/protocol.md §7.1. */
	BM_MSG_PRECOPY_BEGIN = 12,
	BM_MSG_PRECOPY_PAGES = 13,
	BM_MSG_PRECOPY_ROUND = 14,
	BM_MSG_PRECOPY_KEEP = 15,
	BM_MSG_PRECOPY_KEEP_END = 16,
	/* server -> client, after CONFIRM: the restored process has been let
	 * run (docs/protocol.md §7).  Empty payload. */
	BM_MSG_RUNNING = 17,
	/* Stream mode with START flag 1 (memplan.h), after PROFILE: client ->
	 * server, the process's private writable anonymous memory and the
	 * pages present in it; server -> client, empty: that memory is ready
	 * at the destination.  Layout: docs/protocol.md §7.2. */
	BM_MSG_MEM_PLAN = 18,
	BM_MSG_MEM_READY = 19,
	/* Post-copy (mode BM_MODE_POSTCOPY, postcopy.h): client -> server,
	 * after the freeze and before the image, the runs of pages the image
	 * leaves out, and their end; after RUNNING, pages; server -> client,
	 * the page a thread waits for, and the end (every page placed).
	 * Layouts: docs/protocol.md §7.3. */
	BM_MSG_POSTCOPY_RUNS = 20,
	BM_MSG_POSTCOPY_RUNS_END = 21,
	BM_MSG_POSTCOPY_PAGES = 22,
	BM_MSG_POSTCOPY_REQUEST = 23,
	BM_MSG_POSTCOPY_DONE = 24,
	/* With START flag bit 1 (movaddr.h), after PROFILE: client -> server, the
	 * local addresses that move with the process; server -> client, empty:
	 * this host takes them (or ERROR, why not).  Layout: docs/protocol.md
	 * §7.4. */
	BM_MSG_MOVE_ADDRS = 30,
	BM_MSG_MOVE_ADDRS_OK = 31,
};
#define BM_MSG_LAST BM_MSG_MOVE_ADDRS_OK
#define BM_START_MEMPLAN 1u /* START flag: a MEM_PLAN follows PROFILE */
#define BM_START_MOVE_ADDRS 2u /* START flag: a MOVE_ADDRS follows PROFILE (before any MEM_PLAN) */

/* START's mode: stream (restore while receiving) or file (the study's
 * sequence: the whole image is received into a file, then restored). */
enum bm_transfer_mode {
	BM_MODE_STREAM = 1,
	BM_MODE_FILE = 2,
	BM_MODE_PRECOPY = 3, /* pages sent while the process runs, then stream (precopy.h) */
	BM_MODE_POSTCOPY = 4, /* stream without the anonymous pages, which follow once it runs (postcopy.h) */
	BM_MODE_HYBRID = 5,   /* one pre-copy round, then post-copy */
};

#define BM_KEY_LEN 32
#define BM_NONCE_LEN 32
#define BM_MAC_LEN 32
#define BM_HELLO_LEN (BM_NONCE_LEN + 1)
/* Longest message in ERROR, ABORT and RESULT. */
#define BM_MESSAGE_MAX 1024

const char *bm_msg_name(unsigned type);

/* What the handshake settled, beside the key both ends hold: the seal
 * suite and both nonces, from which the connection's keys are derived. */
struct bm_session {
	enum bm_seal_suite suite;
	uint8_t nonce_client[BM_NONCE_LEN];
	uint8_t nonce_server[BM_NONCE_LEN];
};

enum bm_auth_role {
	BM_ROLE_CLIENT,
	BM_ROLE_SERVER,
};

/* A connection after its handshake.  Plain (suite BM_SEAL_NONE): frames
 * with CRCs.  Sealed: each direction has its key and sequence number, and
 * every frame is sealed (docs/protocol.md §4). */
struct bm_conn {
	int fd;
	enum bm_seal_suite suite;
	struct bm_aead send, recv;  /* when sealed */
	uint8_t *scratch;           /* when sealed: BM_SEAL_PIECE bytes being sent */
};

/* A plain connection over fd (tests; the handshake's own frames). */
static inline struct bm_conn bm_conn_plain(int fd)
{
	return (struct bm_conn){ .fd = fd };
}
/* fd after a handshake that settled session, on the side role: sealed
 * with the keys derived from key and session, or plain if its suite is
 * BM_SEAL_NONE.  Errors are reported (BM_EXIT_FAILURE). */
int bm_conn_open(struct bm_conn *c, int fd, const uint8_t key[BM_KEY_LEN], const struct bm_session *session,
		 enum bm_auth_role role);
/* Frees what bm_conn_open allocated; does not close fd. */
void bm_conn_free(struct bm_conn *c);
/* The longest payload one frame carries on c. */
size_t bm_conn_max_payload(const struct bm_conn *c);
/* The bytes a frame with a payload of len bytes takes on c's wire. */
size_t bm_conn_frame_size(const struct bm_conn *c, size_t len);

/* Sends one frame whose payload is gathered from iov (never copied on a
 * plain connection; on a sealed one, encrypted piece by piece on its way
 * out).  The payload must not exceed bm_conn_max_payload.  timeout_ms
 * bounds each wait for the socket to accept more bytes. */
int bm_frame_send(struct bm_conn *c, enum bm_msg_type type, const struct iovec *iov, int iovcnt, int timeout_ms);
int bm_frame_send_buf(struct bm_conn *c, enum bm_msg_type type, const void *buf, size_t len, int timeout_ms);

/* Receives one frame of any type: its payload into buf (at most max bytes;
 * a longer frame is rejected from its header), its type into *type, its
 * length into *len.  timeout_ms bounds each wait for more bytes.  A sealed
 * frame is opened in buf, and nothing of it counts before its tag does. */
int bm_frame_recv(struct bm_conn *c, uint8_t *type, void *buf, size_t max, size_t *len, int timeout_ms);

/* Receives one frame that must be of the given type.  An ERROR or ABORT
 * frame in its place is reported with the peer's message and class
 * (-EREMOTEIO / -ECANCELED); any other type is a protocol violation
 * (-EPROTO). */
int bm_frame_expect(struct bm_conn *c, enum bm_msg_type type, void *buf, size_t max, size_t *len, int timeout_ms);

/* The handshake's frames (always plain): every wait ends at the absolute
 * CLOCK_MONOTONIC time deadline_ns (nanoseconds), for exchanges that must
 * finish as a whole in time.  timeout_ms is only quoted in messages. */
int bm_frame_send_until(int fd, enum bm_msg_type type, const void *buf, size_t len, uint64_t deadline_ns,
			int timeout_ms);
int bm_frame_expect_until(int fd, enum bm_msg_type type, void *buf, size_t max, size_t *len, uint64_t deadline_ns,
			  int timeout_ms);

/* The 16-byte header of a frame: magic, version, type, len, payload_crc
 * and the header's own CRC. */
void bm_frame_header_encode(uint8_t out[BM_FRAME_HEADER_SIZE], uint8_t type, uint32_t len, uint32_t payload_crc);
/* Encodes a whole plain frame (header and payload) into out, which has
 * room for BM_FRAME_HEADER_SIZE + len bytes; returns its size. */
size_t bm_frame_encode(uint8_t *out, enum bm_msg_type type, const void *payload, size_t len);

/* A frame received piece by piece from a socket that nobody may wait on,
 * such as the daemon's connections still in their handshake.  Receives
 * only what has arrived, and never past the end of the frame. */
struct bm_frame_in {
	uint8_t raw[BM_FRAME_HEADER_SIZE];
	size_t got;             /* bytes of the frame received, header included */
	uint8_t type;           /* these three once the header is complete */
	uint32_t len;
	uint32_t payload_crc;
	uint8_t *payload;       /* the caller's buffer for the payload */
	size_t max;             /* its size: a longer frame is rejected from its header */
};
void bm_frame_in_init(struct bm_frame_in *f, void *payload, size_t max);
/* 1 when the frame is complete and checked (type, len and payload are
 * set), 0 when more must arrive first, or a negative errno (reported, as
 * bm_frame_recv's).  waiting_for names the frame in messages. */
int bm_frame_in_recv(int fd, struct bm_frame_in *f, const char *waiting_for);

/* Sends ERROR or ABORT with an error class and a message (cut to
 * BM_MESSAGE_MAX bytes).  Does not report anything itself when sending
 * fails (the caller is already failing); returns the send's result. */
int bm_send_message(struct bm_conn *c, enum bm_msg_type type, enum bm_exit class, const char *message, int timeout_ms);
/* The payload of ERROR or ABORT: u32 class and the message cut to
 * BM_MESSAGE_MAX bytes; returns its length. */
size_t bm_encode_message(uint8_t payload[4 + BM_MESSAGE_MAX], enum bm_exit class, const char *message);
/* Decodes an ERROR or ABORT payload.  An unknown class becomes
 * BM_EXIT_NETWORK; bytes that are not printable ASCII become '?'.  A
 * malformed payload is reported (-EPROTO) and leaves BM_EXIT_NETWORK and
 * an empty message. */
int bm_decode_message(const void *payload, size_t len, enum bm_exit *class, char *msg, size_t msg_size);

/* RESULT: what the destination reports after its restore.  Payload (48
 * bytes + message): u32 status, i32 pid, u64 transfer_us, u64
 * as_restore_us, u64 ctx_restore_us, u64 image_bytes, u64 wire_bytes,
 * then the message bytes (at most BM_MESSAGE_MAX, no NUL). */
#define BM_RESULT_FIXED_SIZE 48
struct bm_result {
	uint32_t status;         /* 0: restored, held until CONFIRM; else the enum bm_exit class of the failure */
	int32_t pid;             /* the restored process's PID (0 on failure) */
	uint64_t transfer_us;    /* first IMAGE_DATA received .. IMAGE_END received */
	uint64_t as_restore_us;  /* address-space restore at the destination */
	uint64_t ctx_restore_us; /* context restore at the destination */
	uint64_t image_bytes;    /* image bytes received */
	uint64_t wire_bytes;     /* bytes received on the connection, framing included */
	char message[BM_MESSAGE_MAX + 1]; /* the failure, or empty */
};
int bm_result_send(struct bm_conn *c, const struct bm_result *result, int timeout_ms);
/* Expects RESULT and checks it (status in range, pid > 0 exactly on
 * success).  A failure RESULT is not an error of this function: it returns
 * 0 and the caller reads result->status. */
int bm_result_recv(struct bm_conn *c, struct bm_result *result, int timeout_ms);
/* Decodes and checks a RESULT payload received some other way. */
int bm_result_decode(const void *payload, size_t len, struct bm_result *result);
/* Whether a frame of this type and payload is the peer saying it failed: a
 * RESULT with a failure status, or ERROR; then res holds the class (as
 * status) and the message. */
bool bm_peer_failure(uint8_t type, const void *payload, size_t len, struct bm_result *res);

/* ---- Authentication (auth.c) ----
 * Mutual challenge-response over a fresh connection, before anything else:
 *   client -> HELLO(Nc, suite)   server -> CHALLENGE(Ns)
 *     (a suite the server does not accept: ERROR, -EPROTO)
 *   client -> PROOF(bm_auth_proof(key, CLIENT, session))
 *   server checks it (on mismatch: ERROR, -EACCES, nothing more is read)
 *   server -> PROOF(bm_auth_proof(key, SERVER, session)); the client checks it.
 * The proofs cover the suite, so that nobody in between can change the
 * client's choice (to strip the sealing, say) without the handshake
 * failing.  timeout_ms bounds the whole handshake. */

/* mac = HMAC-SHA256(key, label || 0x00 || version || Nc || suite || Ns),
 * where label is "binmig client proof" or "binmig server proof", version
 * the byte BM_PROTO_VERSION and suite one byte: the HELLO and CHALLENGE
 * payloads as sent.  Exposed for tests and docs/protocol.md. */
int bm_auth_proof(const uint8_t key[BM_KEY_LEN], enum bm_auth_role role, const struct bm_session *session,
		  uint8_t mac[BM_MAC_LEN]);
/* The server's side one frame at a time, for a daemon that runs many
 * handshakes at once and waits on none of them.  The caller receives the
 * frame of the type bm_auth_hs_expects names (at most BM_HELLO_LEN bytes
 * of payload) and passes it to bm_auth_hs_frame, which puts what to send
 * back in *reply (type 0: nothing) and returns 0 (send the reply, receive
 * the next frame), 1 (send the reply: the client has proved the key;
 * hs->session says how the connection goes on) or a negative errno,
 * reported (send the reply if there is one, then close).  accept is the
 * mask of seal suites the server takes (BM_SEAL_ACCEPT).  The key must
 * outlive the handshake. */
enum bm_auth_hs_state { BM_HS_AWAIT_HELLO, BM_HS_AWAIT_PROOF, BM_HS_DONE, BM_HS_FAILED };
struct bm_auth_hs {
	const uint8_t *key;
	unsigned accept;
	enum bm_auth_hs_state state;
	struct bm_session session;
};
struct bm_auth_reply {
	uint8_t type;                         /* enum bm_msg_type, or 0 */
	uint8_t payload[4 + BM_MESSAGE_MAX];
	size_t len;
};
void bm_auth_hs_init(struct bm_auth_hs *hs, const uint8_t key[BM_KEY_LEN], unsigned accept);
enum bm_msg_type bm_auth_hs_expects(const struct bm_auth_hs *hs);
int bm_auth_hs_frame(struct bm_auth_hs *hs, uint8_t type, const uint8_t *payload, size_t len,
		     struct bm_auth_reply *reply);
/* Blocking: the whole handshake on fd within timeout_ms; *session is what
 * it settled.  The client asks for suite. */
int bm_auth_server(int fd, const uint8_t key[BM_KEY_LEN], unsigned accept, int timeout_ms, struct bm_session *session);
int bm_auth_client(int fd, const uint8_t key[BM_KEY_LEN], enum bm_seal_suite suite, int timeout_ms,
		   struct bm_session *session);

/* ---- The image stream (transport.c) ----
 * The sending side packs the image encoder's output into IMAGE_DATA
 * frames: small writes are gathered into frames of BM_WIRE_CHUNK bytes,
 * a write that does not fit goes out with what is gathered in one frame
 * of its own, without being copied (on a sealed connection, encrypted on
 * its way out: no pass over the image of its own). */
#define BM_WIRE_CHUNK (256u * 1024)

/* How the sink sends a frame: on a connection (bm_wire_sink_init), or
 * into a sealed image file (sealed_image.c).  *wire_bytes grows by the
 * bytes written.  Errors are reported. */
typedef int (*bm_frame_send_fn)(void *ctx, uint8_t type, const struct iovec *iov, int iovcnt, uint64_t *wire_bytes);

struct bm_wire_sink {
	bm_frame_send_fn send;
	void *send_ctx;
	size_t frame_max;        /* payload bytes per frame at most */
	struct bm_conn *conn;    /* bm_wire_sink_init's sender: the connection */
	int timeout_ms;
	uint8_t *buf;            /* BM_WIRE_CHUNK bytes */
	size_t buffered;
	uint64_t image_bytes;    /* image bytes accepted */
	uint64_t wire_bytes;     /* bytes sent, frame headers included */
	uint64_t frames;
	bool failed;             /* a send failed; later writes fail at once */
};

int bm_wire_sink_init(struct bm_wire_sink *ws, struct bm_conn *c, int timeout_ms);
/* A sink whose frames go to send(ctx, ...), at most frame_max bytes each. */
int bm_frame_sink_init(struct bm_wire_sink *ws, bm_frame_send_fn send, void *ctx, size_t frame_max);
/* The struct bm_sink for bm_image_writer_init. */
struct bm_sink bm_wire_sink_as_sink(struct bm_wire_sink *ws);
/* Sends what is gathered and IMAGE_END. */
int bm_wire_sink_finish(struct bm_wire_sink *ws);
void bm_wire_sink_free(struct bm_wire_sink *ws);

/* The receiving side: image bytes out of IMAGE_DATA frames until
 * IMAGE_END.  ABORT or ERROR from the peer ends the stream with its
 * message (-ECANCELED / -EREMOTEIO); any other frame is a violation.  The
 * stream ending in the middle of a read is reported as BM_EXIT_IMAGE
 * (-ENODATA): the image is truncated.
 *
 * Where the frames come from: a connection (bm_wire_source_init), or a
 * sealed image file (sealed_image.c, bm_frame_source_init).  `next` takes
 * the next frame: an IMAGE_DATA payload that fits in `room` bytes at dst
 * goes there (its length is returned), otherwise into
 * bm_wire_source_buffer (frame_len and frame_pos set, 0 returned);
 * IMAGE_END, checked against image_bytes, sets ended (0 returned). */
struct bm_wire_source;
typedef ssize_t (*bm_next_frame_fn)(struct bm_wire_source *src, uint8_t *dst, size_t room);
struct bm_wire_source {
	bm_next_frame_fn next;
	void *next_ctx;
	struct bm_conn *conn;    /* bm_wire_source_init's frames: the connection */
	int timeout_ms;
	uint8_t *buf;            /* the current frame's payload when it was not received in place */
	size_t buf_size;
	size_t frame_len;
	size_t frame_pos;
	uint64_t image_bytes;    /* image bytes received */
	uint64_t wire_bytes;     /* bytes received, frame headers included */
	uint64_t frames;
	uint64_t first_frame_ns; /* CLOCK_MONOTONIC when the first frame's header arrived, 0 before */
	uint64_t end_ns;         /* CLOCK_MONOTONIC when IMAGE_END arrived, 0 before */
	bool ended;              /* IMAGE_END received and checked */
};

void bm_wire_source_init(struct bm_wire_source *src, struct bm_conn *c, int timeout_ms);
void bm_frame_source_init(struct bm_wire_source *src, bm_next_frame_fn next, void *ctx);
/* src->buf with room for len bytes (grown if need be), or NULL (reported). */
uint8_t *bm_wire_source_buffer(struct bm_wire_source *src, size_t len);
/* The struct bm_source for bm_image_reader_init. */
struct bm_source bm_wire_source_as_source(struct bm_wire_source *src);
/* After the image reader is done: reads up to IMAGE_END and fails if any
 * image bytes were left unread. */
int bm_wire_source_finish(struct bm_wire_source *src);
void bm_wire_source_free(struct bm_wire_source *src);

/* ---- Key files (keyfile.c) ----
 * A key file holds BM_KEY_LEN random bytes as 64 hexadecimal digits and a
 * newline, readable and writable by its owner only. */

/* Creates a new key file with mode 0600; refuses to overwrite anything.
 * Errors are BM_EXIT_IO. */
int bm_keygen(const char *path);
/* Reads a key file, refusing one that group or others may access, that
 * belongs to someone other than the caller or root, that is not a regular
 * file, or whose content is not exactly 64 hex digits (and an optional
 * newline).  Errors are BM_EXIT_USAGE for a bad file, BM_EXIT_IO for a
 * failed read. */
int bm_key_load(const char *path, uint8_t key[BM_KEY_LEN]);

#endif

/* TCP and UDP socket state (sk_inet.c): the encoding both ways, and the
 * decoder on damaged data (it comes from the network): every truncation,
 * every single-byte corruption of the fixed part either decodes to a
 * state the rules allow or is rejected, never read out of bounds; the
 * states of formats 1 and 2 (image versions before 13, without
 * SO_INCOMING_CPU and TCP_QUICKACK) and 4 (version 14: a socket without a
 * port shut down for writing); the image rules over a
 * descriptor list; and the restore's wait for a connection's own segments
 * (sk_inet_last.c) running out. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "sk_inet.h"
#include "sk_inet_last.h"
#include "unit_netns.h"
#include "state.h"
#include "wire.h"

static struct bm_sk_inet connection(const uint8_t *sendq, const uint8_t *recvq)
{
	struct bm_sk_inet s = {.family = AF_INET, .type = SOCK_STREAM, .protocol = IPPROTO_TCP,
			       .state = BM_SK_CONNECTED, .rcvbuf = 131072, .sndbuf = 16384};
	s.local = (struct bm_sk_addr){.port = 40000, .addr = {127, 0, 0, 1}};
	s.peer = (struct bm_sk_addr){.port = 80, .addr = {127, 0, 0, 1}};
	s.opt[BM_SKO_NODELAY] = 1;
	s.opt[BM_SKO_PEEK_OFF] = -1;
	s.rcvtimeo_us = 1500000;
	s.last_known = true;
	s.incoming_cpu = -1;
	s.quickack = 0;
	s.tcp = (struct bm_sk_tcp){.snd_seq = 1000, .rcv_seq = 7, .outq = 5, .notsent = 2, .inq = 3, .mss = 65483,
				   .options = TCPI_OPT_SACK | TCPI_OPT_WSCALE, .snd_wscale = 7, .rcv_wscale = 7,
				   .snd_wnd = 65535, .rcv_wnd = 65535, .window_clamp = 64000};
	s.sendq = sendq;
	s.recvq = recvq;
	return s;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bm_sk_inet s = connection((const uint8_t *)"hello", (const uint8_t *)"abc"), back;
	uint8_t *data;
	uint32_t len;
	char why[200];
	assert_int_equal(bm_sk_inet_encode(&s, &data, &len), 0);
	assert_int_equal(len, BM_SK_INET_HDR + 8);
	assert_true(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_memory_equal(&back.local, &s.local, sizeof s.local);
	assert_memory_equal(&back.peer, &s.peer, sizeof s.peer);
	assert_memory_equal(&back.tcp, &s.tcp, sizeof s.tcp);
	assert_memory_equal(back.opt, s.opt, sizeof s.opt);
	assert_int_equal(back.rcvtimeo_us, 1500000);
	assert_memory_equal(back.sendq, "hello", 5);
	assert_memory_equal(back.recvq, "abc", 3);
	assert_true(back.last_known);
	assert_int_equal(back.incoming_cpu, -1);
	assert_int_equal(back.quickack, 0);
	/* A listener on :: with a CPU no host has, in quick-ACK mode. */
	struct bm_sk_inet l = {.family = AF_INET6, .type = SOCK_STREAM, .protocol = IPPROTO_TCP, .state = BM_SK_LISTEN,
			       .backlog = 7, .local = {.port = 8080}, .last_known = true, .incoming_cpu = 1 << 30,
			       .quickack = 1};
	uint8_t *ldata;
	assert_int_equal(bm_sk_inet_encode(&l, &ldata, &len), 0);
	assert_true(bm_sk_inet_decode(ldata, len, &back, why, sizeof why));
	assert_int_equal(back.backlog, 7);
	assert_int_equal(back.incoming_cpu, 1 << 30);
	assert_int_equal(back.quickack, 1);
	free(ldata);
	/* A UDP socket: no TCP_QUICKACK. */
	struct bm_sk_inet u = {.family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_NEW,
			       .last_known = true, .incoming_cpu = -7, .quickack = -1};
	assert_int_equal(bm_sk_inet_encode(&u, &ldata, &len), 0);
	assert_int_equal(len, BM_SK_INET_HDR);
	assert_true(bm_sk_inet_decode(ldata, len, &back, why, sizeof why));
	assert_int_equal(back.incoming_cpu, -7);
	assert_int_equal(back.quickack, -1);
	free(ldata);
	free(data);
}

/* A state of format 1 (binmig before SO_BUF_LOCK and TCP_WINDOW_CLAMP
 * were carried): 8 bytes shorter, read with both unknown; a buf_lock out
 * of range is rejected. */
static void test_format_1(void **state)
{
	(void)state;
	struct bm_sk_inet s = connection((const uint8_t *)"hello", (const uint8_t *)"abc"), back;
	s.buf_lock = 2;
	uint8_t *data;
	uint32_t len;
	char why[200];
	assert_int_equal(bm_sk_inet_encode(&s, &data, &len), 0);
	assert_true(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_int_equal(back.buf_lock, 2);
	assert_int_equal(back.tcp.window_clamp, 64000);
	data[BM_SK_INET_HDR_V1] = 4;
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	memmove(data + BM_SK_INET_HDR_V1, data + BM_SK_INET_HDR, len - BM_SK_INET_HDR);
	data[0] = 1;
	assert_true(bm_sk_inet_decode(data, len - (BM_SK_INET_HDR - BM_SK_INET_HDR_V1), &back, why, sizeof why));
	assert_int_equal(back.buf_lock, -1);
	assert_memory_equal(back.sendq, "hello", 5);
	assert_memory_equal(back.recvq, "abc", 3);
	s.tcp.window_clamp = 0; /* not known */
	assert_memory_equal(&back.tcp, &s.tcp, sizeof s.tcp);
	assert_false(back.last_known);
	free(data);
}

/* A state of format 2 (images before version 13): 8 bytes shorter, read
 * without SO_INCOMING_CPU and TCP_QUICKACK, which the restore then leaves
 * alone; a state without them is written so.  A format after 3, a
 * TCP_QUICKACK out of range or on UDP are rejected, and so is format 3 in
 * an image of version 12. */
static void test_format_2(void **state)
{
	(void)state;
	struct bm_sk_inet s = connection((const uint8_t *)"hello", (const uint8_t *)"abc"), back;
	s.incoming_cpu = 1;
	uint8_t *data;
	uint32_t len;
	char why[200];
	assert_int_equal(bm_sk_inet_encode(&s, &data, &len), 0);
	assert_int_equal(bm_load_le32(data), 3);
	memmove(data + BM_SK_INET_HDR_V2, data + BM_SK_INET_HDR, len - BM_SK_INET_HDR);
	data[0] = 2;
	uint32_t len2 = len - (BM_SK_INET_HDR - BM_SK_INET_HDR_V2);
	assert_true(bm_sk_inet_decode(data, len2, &back, why, sizeof why));
	assert_false(back.last_known);
	assert_int_equal(back.incoming_cpu, -1);
	assert_int_equal(back.quickack, -1);
	assert_int_equal(back.buf_lock, s.buf_lock);
	assert_memory_equal(&back.tcp, &s.tcp, sizeof s.tcp);
	assert_memory_equal(back.sendq, "hello", 5);
	assert_memory_equal(back.recvq, "abc", 3);
	/* Written again as it was read. */
	uint8_t *again;
	uint32_t alen;
	assert_int_equal(bm_sk_inet_encode(&back, &again, &alen), 0);
	assert_int_equal(alen, len2);
	assert_memory_equal(again, data, len2);
	free(again);
	/* An image of version 12 holds format 2, not 3. */
	struct bm_fd fd = {.fd = 3, .kind = BM_FD_TCP, .shares_with = -1, .data = data, .data_len = len2};
	assert_true(bm_sk_inet_check_version(&fd, 1, 12, why, sizeof why));
	free(data);
	assert_int_equal(bm_sk_inet_encode(&s, &data, &len), 0);
	fd.data = data;
	fd.data_len = len;
	assert_true(bm_sk_inet_check_version(&fd, 1, 13, why, sizeof why));
	assert_false(bm_sk_inet_check_version(&fd, 1, 12, why, sizeof why));
	assert_string_equal(why, "socket fd 3: state of format 3 in an image of version 12");
	data[0] = 5;
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	data[0] = 3;
	bm_store_le32(data + BM_SK_INET_HDR_V2 + 4, 2);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	free(data);
	struct bm_sk_inet u = {.family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_NEW,
			       .last_known = true, .incoming_cpu = -1, .quickack = 0};
	assert_int_equal(bm_sk_inet_encode(&u, &data, &len), 0);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	free(data);
}

/* Format 4 (image version 14): a socket without a port shut down for
 * writing, 4 bytes longer than format 3, no longer written (format 5
 * holds it); the flag on a socket with a port or another value is
 * rejected, and so is format 4 in an image of version 13. */
static void test_format_4(void **state)
{
	(void)state;
	struct bm_sk_inet u = {.family = AF_INET6, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_NEW,
			       .last_known = true, .incoming_cpu = -1, .quickack = -1, .shut_wr = true}, back;
	uint8_t *data;
	uint32_t len;
	char why[200];
	assert_int_equal(bm_sk_inet_encode(&u, &data, &len), 0);
	assert_int_equal(len, BM_SK_INET_HDR_KERNEL);
	/* Format 4 is format 5 without its last word. */
	len = BM_SK_INET_HDR_SHUT;
	bm_store_le32(data, 4);
	assert_true(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_true(back.shut_wr);
	assert_int_equal(back.state, BM_SK_NEW);
	struct bm_fd fd = {.fd = 5, .kind = BM_FD_UDP, .shares_with = -1, .data = data, .data_len = len};
	assert_true(bm_sk_inet_check_version(&fd, 1, 14, why, sizeof why));
	assert_false(bm_sk_inet_check_version(&fd, 1, 13, why, sizeof why));
	assert_string_equal(why, "socket fd 5: state of format 4 in an image of version 13");
	bm_store_le32(data + BM_SK_INET_HDR, 2);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_string_equal(why, "shutdown 2 in socket state of format 4");
	bm_store_le32(data + BM_SK_INET_HDR, 0);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_string_equal(why, "shutdown 0 in socket state of format 4");
	free(data);
	/* Not shut down, the kernel not read: format 3, 8 bytes shorter. */
	u.shut_wr = false;
	assert_int_equal(bm_sk_inet_encode(&u, &data, &len), 0);
	assert_int_equal(len, BM_SK_INET_HDR);
	assert_true(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_false(back.shut_wr);
	free(data);
	/* A connection: carried shut down by its own means or refused. */
	struct bm_sk_inet c = connection((const uint8_t *)"hello", (const uint8_t *)"abc");
	c.shut_wr = true;
	assert_int_equal(bm_sk_inet_encode(&c, &data, &len), 0);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_string_equal(why, "a socket with a port shut down for writing");
	free(data);
}

/* Format 5 (image version 15): what binmig's BPF programs read, the
 * shutdown of format 4 and a TCP socket's MSS set by the program (a
 * connection's, a listener's), which the round trip keeps; an MSS
 * setsockopt would not take, or one on a UDP socket, is rejected, and so
 * is format 5 in an image of version 14. */
static void test_format_5(void **state)
{
	(void)state;
	struct bm_sk_inet c = connection((const uint8_t *)"hello", (const uint8_t *)"abc"), back;
	c.user_mss = 1000;
	uint8_t *data, *again;
	uint32_t len, alen;
	char why[200];
	assert_int_equal(bm_sk_inet_encode(&c, &data, &len), 0);
	assert_int_equal(len, BM_SK_INET_HDR_KERNEL + 5 + 3);
	assert_int_equal(bm_load_le32(data), 5);
	assert_true(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_false(back.shut_wr);
	assert_int_equal(back.user_mss, 1000);
	assert_memory_equal(back.sendq, "hello", 5);
	assert_memory_equal(back.recvq, "abc", 3);
	assert_int_equal(bm_sk_inet_encode(&back, &again, &alen), 0);
	assert_int_equal(alen, len);
	assert_memory_equal(again, data, len);
	free(again);
	struct bm_fd fd = {.fd = 6, .kind = BM_FD_TCP, .shares_with = -1, .data = data, .data_len = len};
	assert_true(bm_sk_inet_check_version(&fd, 1, 15, why, sizeof why));
	assert_false(bm_sk_inet_check_version(&fd, 1, 14, why, sizeof why));
	assert_string_equal(why, "socket fd 6: state of format 5 in an image of version 14");
	bm_store_le32(data + BM_SK_INET_HDR_SHUT, 87);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_string_equal(why, "TCP_MAXSEG 87 out of range for the socket");
	bm_store_le32(data + BM_SK_INET_HDR_SHUT, 32768);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_string_equal(why, "TCP_MAXSEG 32768 out of range for the socket");
	free(data);
	/* A listener's, known without BPF too (getsockopt shows it there). */
	struct bm_sk_inet l = {.family = AF_INET, .type = SOCK_STREAM, .protocol = IPPROTO_TCP, .state = BM_SK_LISTEN,
			       .backlog = 4, .last_known = true, .incoming_cpu = -1, .quickack = 0, .user_mss = 1200};
	l.local = (struct bm_sk_addr){.port = 40000, .addr = {127, 0, 0, 1}};
	assert_int_equal(bm_sk_inet_encode(&l, &data, &len), 0);
	assert_int_equal(len, BM_SK_INET_HDR_KERNEL);
	assert_true(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_int_equal(back.user_mss, 1200);
	free(data);
	/* On a UDP socket. */
	struct bm_sk_inet u = {.family = AF_INET, .type = SOCK_DGRAM, .protocol = IPPROTO_UDP, .state = BM_SK_NEW,
			       .last_known = true, .incoming_cpu = -1, .quickack = -1, .user_mss = 1000};
	assert_int_equal(bm_sk_inet_encode(&u, &data, &len), 0);
	assert_false(bm_sk_inet_decode(data, len, &back, why, sizeof why));
	assert_string_equal(why, "TCP_MAXSEG 1000 out of range for the socket");
	free(data);
}

static void test_malformed(void **state)
{
	(void)state;
	struct bm_sk_inet s = connection((const uint8_t *)"hello", (const uint8_t *)"abc"), back;
	uint8_t *data;
	uint32_t len;
	char why[200];
	assert_int_equal(bm_sk_inet_encode(&s, &data, &len), 0);
	/* Every truncation, copied so that the sanitizer sees any read past it. */
	for (uint32_t n = 0; n < len; n++) {
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, data, n);
		assert_false(bm_sk_inet_decode(cut, n, &back, why, sizeof why));
		free(cut);
	}
	assert_false(bm_sk_inet_decode(NULL, 0, &back, why, sizeof why));
	/* Every byte of the fixed part set to 0xff: rejected or within the rules. */
	for (uint32_t at = 0; at < BM_SK_INET_HDR; at++) {
		uint8_t *bad = malloc(len);
		memcpy(bad, data, len);
		bad[at] = 0xff;
		if (bm_sk_inet_decode(bad, len, &back, why, sizeof why)) {
			assert_true(back.tcp.outq + back.tcp.inq == len - BM_SK_INET_HDR);
			assert_true(back.tcp.notsent <= back.tcp.outq);
			assert_true(back.family == AF_INET || back.family == AF_INET6);
		}
		free(bad);
	}
	/* Specific damage, each with its reason. */
	struct bm_sk_inet t = s;
	uint8_t *d2;
	t.tcp.notsent = 6;
	assert_int_equal(bm_sk_inet_encode(&t, &d2, &len), 0);
	assert_false(bm_sk_inet_decode(d2, len, &back, why, sizeof why));
	free(d2);
	t = s;
	t.state = BM_SK_BOUND; /* a peer and queues on a socket that is not connected */
	assert_int_equal(bm_sk_inet_encode(&t, &d2, &len), 0);
	assert_false(bm_sk_inet_decode(d2, len, &back, why, sizeof why));
	free(d2);
	t = s;
	t.type = SOCK_DGRAM; /* UDP with TCP's protocol */
	assert_int_equal(bm_sk_inet_encode(&t, &d2, &len), 0);
	assert_false(bm_sk_inet_decode(d2, len, &back, why, sizeof why));
	free(d2);
	t = s;
	t.tcp.inq = BM_SK_INET_MAX_QUEUE + 1;
	assert_int_equal(bm_sk_inet_encode(&t, &d2, &len), -E2BIG);
	free(data);
}

static void test_image_rule(void **state)
{
	(void)state;
	struct bm_sk_inet s = connection((const uint8_t *)"hello", (const uint8_t *)"abc");
	struct bm_fd fds[2] = {{.fd = 3, .kind = BM_FD_TCP, .shares_with = -1}, {.fd = 4, .kind = BM_FD_TCP, .shares_with = 3}};
	assert_int_equal(bm_sk_inet_encode(&s, &fds[0].data, &fds[0].data_len), 0);
	char why[200];
	assert_true(bm_sk_inet_check(fds, 2, why, sizeof why));
	fds[0].kind = BM_FD_UDP;
	assert_false(bm_sk_inet_check(fds, 2, why, sizeof why));
	fds[0].kind = BM_FD_TCP;
	fds[1].data = fds[0].data;
	fds[1].data_len = fds[0].data_len; /* a dup with state of its own */
	assert_false(bm_sk_inet_check(fds, 2, why, sizeof why));
	free(fds[0].data);
}

/* The descriptor FD holding connection state S (encoded into *data). */
static struct bm_fd tcp_fd(int fd, struct bm_sk_inet s, uint8_t **data)
{
	uint32_t len;
	s.sendq = s.recvq = NULL;
	s.tcp.outq = s.tcp.notsent = s.tcp.inq = 0;
	assert_int_equal(bm_sk_inet_encode(&s, data, &len), 0);
	return (struct bm_fd){.fd = fd, .kind = BM_FD_TCP, .shares_with = -1, .data = *data, .data_len = len};
}

/* Two ends the image pairs whose sockets are not each other's: the
 * segments one sent never reach the other, and the restore fails once
 * its wait runs out (exit 6 by its caller), naming both. */
static void test_last_wait_runs_out(void **state)
{
	(void)state;
	int c1, s1, c2, s2, one = 1;
	unit_loopback_connection(&c1, &s1);
	unit_loopback_connection(&c2, &s2);
	assert_int_equal(setsockopt(c1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(write(c1, "x", 1), 1);
	struct bm_sk_inet a = connection(NULL, NULL), b = a;
	b.local = a.peer;
	b.peer = a.local;
	uint8_t *da, *db;
	struct bm_fd fds[2] = {tcp_fd(c1, a, &da), tcp_fd(s2, b, &db)};
	struct bm_process p = {.fds = fds, .nfds = 2};
	char err[300] = "";
	assert_int_equal(bm_sk_inet_last_restore(&p, err, sizeof err), -1);
	char want[80];
	snprintf(want, sizeof want, "fd %d: TCP connection: its peer fd %d took in", c1, s2);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "within 2000 ms"));
	free(da);
	free(db);
	close(c1);
	close(s1);
	close(c2);
	close(s2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_format_1),
		cmocka_unit_test(test_format_2),
		cmocka_unit_test(test_format_4),
		cmocka_unit_test(test_format_5),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_image_rule),
		cmocka_unit_test(test_last_wait_runs_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

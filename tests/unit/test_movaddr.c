/* Addresses that move with a process (movaddr.c), the parts that need no
 * network: the options, and MOVE_ADDRS's payload (it comes from the
 * network: every malformed one is refused).
 *  - --move-addr takes one IPv4 or IPv6 address, each once, at most 16,
 *    both families mixed; not an IPv6 one that cannot leave its host or
 *    link (unspecified, loopback, multicast, link-local) or stands for an
 *    IPv4 one (v4-mapped); --movable takes ADDR or ADDR/PREFIX (0..32,
 *    IPv6 0..128), at most 16;
 *  - bm_movaddr_has finds exactly the addresses given, of their family,
 *    an IPv4 one also as a dual-stack socket has it (v4-mapped);
 *  - a payload encoded decodes to the same addresses, as /32 or /128,
 *    family by family;
 *  - refused: too short, a count of 0 or over 16, a length that does not
 *    match the count, a family other than IPv4 and IPv6, bytes after an
 *    IPv4 address, an IPv6 address that cannot move, an address twice. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "movaddr.h"
#include "wire.h"

static void test_options(void **state)
{
	(void)state;
	struct bm_movaddr m = {0};
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), -EEXIST);
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100/32"), -EINVAL);
	assert_int_equal(bm_movaddr_add_option(&m, "host"), -EINVAL);
	assert_int_equal(m.n, 1);
	uint8_t a[4], b[4];
	inet_pton(AF_INET, "10.78.0.100", a);
	inet_pton(AF_INET, "10.78.0.101", b);
	assert_true(bm_movaddr_has(&m, AF_INET, a));
	assert_false(bm_movaddr_has(&m, AF_INET, b));
	uint8_t a6[16] = {0};
	memcpy(a6, a, 4); /* as an IPv6 address it is another */
	assert_false(bm_movaddr_has(&m, AF_INET6, a6));
	assert_false(bm_movaddr_has(NULL, AF_INET, a));
	char text[32];
	for (unsigned i = 1; i < BM_MOVADDR_MAX; i++) {
		snprintf(text, sizeof text, "10.0.0.%u", i);
		assert_int_equal(bm_movaddr_add_option(&m, text), 0);
	}
	assert_int_equal(bm_movaddr_add_option(&m, "10.0.1.1"), -E2BIG);

	struct bm_movable r = {0};
	assert_int_equal(bm_movable_add_option(&r, "10.78.0.0/24"), 0);
	assert_int_equal(bm_movable_add_option(&r, "10.78.1.7"), 0);
	assert_int_equal(r.range[0].prefixlen, 24);
	assert_int_equal(r.range[1].prefixlen, 32);
	assert_int_equal(bm_movable_add_option(&r, "10.78.0.0/33"), -EINVAL);
	assert_int_equal(bm_movable_add_option(&r, "10.78.0.0/"), -EINVAL);
	assert_int_equal(bm_movable_add_option(&r, "10.78.0.0/2x"), -EINVAL);
	assert_true(bm_netaddr_in_subnet(&r.range[0], AF_INET, a));
}

static void test_options_v6(void **state)
{
	(void)state;
	struct bm_movaddr m = {0};
	assert_int_equal(bm_movaddr_add_option(&m, "fd00:78::100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "fd00:78:0::100"), -EEXIST); /* the same, written otherwise */
	assert_int_equal(bm_movaddr_add_option(&m, "fd00:78::100/128"), -EINVAL);
	assert_int_equal(bm_movaddr_add_option(&m, "2001:db8::1"), 0);
	static const char *const cannot[] = {"::", "::1", "fe80::1", "ff02::1", "::ffff:10.78.0.7", "fd00::g", "fd00:::1"};
	for (size_t i = 0; i < sizeof cannot / sizeof *cannot; i++)
		assert_int_equal(bm_movaddr_add_option(&m, cannot[i]), -EINVAL);
	assert_int_equal(m.n, 3);
	assert_int_equal(m.addr[0].family, AF_INET6);
	assert_int_equal(m.addr[0].prefixlen, 128);
	assert_int_equal(m.addr[1].family, AF_INET);
	uint8_t moved[16], other[16], mapped[16], v4[4];
	inet_pton(AF_INET6, "fd00:78::100", moved);
	inet_pton(AF_INET6, "fd00:78::101", other);
	inet_pton(AF_INET6, "::ffff:10.78.0.100", mapped);
	inet_pton(AF_INET, "10.78.0.100", v4);
	assert_true(bm_movaddr_has(&m, AF_INET6, moved));
	assert_false(bm_movaddr_has(&m, AF_INET6, other));
	assert_false(bm_movaddr_has(&m, AF_INET, moved)); /* its first 4 bytes are no IPv4 address here */
	assert_true(bm_movaddr_has(&m, AF_INET6, mapped));
	assert_true(bm_movaddr_has(&m, AF_INET, v4));
	mapped[15] = 101;
	assert_false(bm_movaddr_has(&m, AF_INET6, mapped));

	struct bm_movable r = {0};
	assert_int_equal(bm_movable_add_option(&r, "fd00:78::/64"), 0);
	assert_int_equal(bm_movable_add_option(&r, "fd00:79::1"), 0);
	assert_int_equal(bm_movable_add_option(&r, "::/0"), 0);
	assert_int_equal(r.range[0].family, AF_INET6);
	assert_int_equal(r.range[0].prefixlen, 64);
	assert_int_equal(r.range[1].prefixlen, 128);
	assert_int_equal(r.range[2].prefixlen, 0);
	assert_int_equal(bm_movable_add_option(&r, "fd00:78::/129"), -EINVAL);
	assert_int_equal(bm_movable_add_option(&r, "fd00:78::/"), -EINVAL);
	assert_int_equal(bm_movable_add_option(&r, "fd00:78:/64"), -EINVAL);
	assert_int_equal(bm_movable_add_option(&r, "10.78.0.0/64"), -EINVAL);
	assert_true(bm_netaddr_in_subnet(&r.range[0], AF_INET6, moved));
	assert_false(bm_netaddr_in_subnet(&r.range[1], AF_INET6, moved));
}

static void test_round_trip(void **state)
{
	(void)state;
	struct bm_movaddr m = {0}, back;
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "192.168.1.2"), 0);
	uint8_t buf[4 + BM_MOVADDR_MAX * BM_MOVADDR_ENTRY];
	size_t len = bm_movaddr_encode(&m, buf, sizeof buf);
	assert_int_equal(len, 4 + 2 * BM_MOVADDR_ENTRY);
	assert_int_equal(bm_movaddr_encode(&m, buf, len - 1), 0);
	char why[160];
	assert_true(bm_movaddr_decode(buf, len, &back, why, sizeof why));
	assert_int_equal(back.n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_memory_equal(back.addr[i].addr, m.addr[i].addr, 4);
		assert_int_equal(back.addr[i].family, AF_INET);
		assert_int_equal(back.addr[i].prefixlen, 32);
	}
}

static void test_round_trip_mixed(void **state)
{
	(void)state;
	struct bm_movaddr m = {0}, back;
	assert_int_equal(bm_movaddr_add_option(&m, "fd00:78::100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "2001:db8::ffff:1"), 0);
	uint8_t buf[4 + BM_MOVADDR_MAX * BM_MOVADDR_ENTRY];
	size_t len = bm_movaddr_encode(&m, buf, sizeof buf);
	assert_int_equal(len, 4 + 3 * BM_MOVADDR_ENTRY);
	/* As docs/protocol.md §7.4 has it: family 10, then the 16 bytes. */
	assert_int_equal(bm_load_le32(buf + 4), 10);
	assert_memory_equal(buf + 8, m.addr[0].addr, 16);
	assert_int_equal(bm_load_le32(buf + 4 + BM_MOVADDR_ENTRY), 2);
	char why[160];
	assert_true(bm_movaddr_decode(buf, len, &back, why, sizeof why));
	assert_int_equal(back.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(back.addr[i].family, m.addr[i].family);
		assert_int_equal(back.addr[i].prefixlen, m.addr[i].family == AF_INET6 ? 128 : 32);
		assert_memory_equal(back.addr[i].addr, m.addr[i].addr, 16);
	}
}

static void test_malformed_v6(void **state)
{
	(void)state;
	struct bm_movaddr m = {0}, back;
	assert_int_equal(bm_movaddr_add_option(&m, "fd00:78::100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), 0);
	uint8_t good[4 + 2 * BM_MOVADDR_ENTRY], bad[sizeof good];
	size_t len = bm_movaddr_encode(&m, good, sizeof good);
	char why[160];
	assert_true(bm_movaddr_decode(good, len, &back, why, sizeof why));
	static const char *const cannot[] = {"::", "::1", "fe80::1", "ff02::1", "::ffff:10.78.0.100"};
	for (size_t i = 0; i < sizeof cannot / sizeof *cannot; i++) {
		memcpy(bad, good, len);
		assert_int_equal(inet_pton(AF_INET6, cannot[i], bad + 8), 1);
		assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
		assert_non_null(strstr(why, "cannot move"));
	}
	memcpy(bad, good, len);
	bm_store_le32(bad + 4, 17); /* AF_PACKET */
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	assert_non_null(strstr(why, "neither IPv4 nor IPv6"));
	memcpy(bad, good, len);
	memcpy(bad + 4 + BM_MOVADDR_ENTRY, good + 4, BM_MOVADDR_ENTRY); /* the IPv6 address twice */
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	assert_non_null(strstr(why, "twice"));
}

static void test_malformed(void **state)
{
	(void)state;
	struct bm_movaddr m = {0}, back;
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.100"), 0);
	assert_int_equal(bm_movaddr_add_option(&m, "10.78.0.101"), 0);
	uint8_t good[4 + 2 * BM_MOVADDR_ENTRY], bad[sizeof good + BM_MOVADDR_ENTRY];
	size_t len = bm_movaddr_encode(&m, good, sizeof good);
	char why[160];
	assert_false(bm_movaddr_decode(good, 3, &back, why, sizeof why));
	assert_false(bm_movaddr_decode(good, len - 1, &back, why, sizeof why));
	memcpy(bad, good, len);
	bm_store_le32(bad, 0);
	assert_false(bm_movaddr_decode(bad, 4, &back, why, sizeof why));
	bm_store_le32(bad, BM_MOVADDR_MAX + 1);
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	bm_store_le32(bad, 3);
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	memcpy(bad, good, len);
	bm_store_le32(bad + 4, AF_INET6); /* now a0e:64::, an IPv6 address like any other */
	assert_true(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	assert_int_equal(back.addr[0].family, AF_INET6);
	bm_store_le32(bad + 4, AF_INET + 1);
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	memcpy(bad, good, len);
	bad[4 + 4 + 4] = 1; /* past the IPv4 address */
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	memcpy(bad, good, len);
	memcpy(bad + 4 + BM_MOVADDR_ENTRY + 4, good + 4 + 4, 4);
	assert_false(bm_movaddr_decode(bad, len, &back, why, sizeof why));
	assert_non_null(strstr(why, "twice"));
	assert_true(bm_movaddr_decode(good, len, &back, why, sizeof why));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_options_v6),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_mixed),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_malformed_v6),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

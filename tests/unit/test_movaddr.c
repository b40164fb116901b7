/* Addresses that move with a process (movaddr.c), the parts that need no
 * network: the options, and MOVE_ADDRS's payload (it comes from the
 * network: every malformed one is refused).
 *  - --move-addr takes one IPv4 address, each once, at most 16;
 *    --movable takes ADDR or ADDR/PREFIX (0..32), at most 16;
 *  - bm_movaddr_has finds exactly the addresses given;
 *  - a payload encoded decodes to the same addresses, as /32;
 *  - refused: too short, a count of 0 or over 16, a length that does not
 *    match the count, a family other than IPv4, bytes after an IPv4
 *    address, an address twice. */
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
	assert_int_equal(bm_movaddr_add_option(&m, "fd00::1"), -EINVAL);
	assert_int_equal(bm_movaddr_add_option(&m, "host"), -EINVAL);
	assert_int_equal(m.n, 1);
	uint8_t a[4], b[4];
	inet_pton(AF_INET, "10.78.0.100", a);
	inet_pton(AF_INET, "10.78.0.101", b);
	assert_true(bm_movaddr_has(&m, AF_INET, a));
	assert_false(bm_movaddr_has(&m, AF_INET, b));
	assert_false(bm_movaddr_has(&m, AF_INET6, a));
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
	assert_int_equal(bm_movable_add_option(&r, "::1/128"), -EINVAL);
	assert_true(bm_netaddr_in_subnet(&r.range[0], AF_INET, a));
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
	bm_store_le32(bad + 4, AF_INET6);
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
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

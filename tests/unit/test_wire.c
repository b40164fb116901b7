/* The little-endian buffer helpers the image payloads are built with. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static void test_put_layout_is_little_endian(void **state)
{
	(void)state;
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_put_u8(&b, 0xab);
	bm_put_u16(&b, 0x0102);
	bm_put_u32(&b, 0x03040506);
	bm_put_u64(&b, 0x0708090a0b0c0d0eull);
	bm_put_i32(&b, -2);
	bm_put_i64(&b, -3);
	static const uint8_t expected[] = {
		0xab, 0x02, 0x01, 0x06, 0x05, 0x04, 0x03, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07,
		0xfe, 0xff, 0xff, 0xff, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	assert_int_equal(bm_wbuf_status(&b), 0);
	assert_int_equal(b.len, sizeof expected);
	assert_memory_equal(b.data, expected, sizeof expected);
	bm_wbuf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_round_trip_of_every_width(void **state)
{
	(void)state;
	static const uint64_t values[] = { 0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff,
					   0x80000000, 0xffffffff, 0x100000000ull, 0x8000000000000000ull,
					   0xffffffffffffffffull, 0x0123456789abcdefull };
	const size_t n = sizeof values / sizeof values[0];
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	for (size_t i = 0; i < n; i++) {
		bm_put_u8(&b, (uint8_t)values[i]);
		bm_put_u16(&b, (uint16_t)values[i]);
		bm_put_u32(&b, (uint32_t)values[i]);
		bm_put_u64(&b, values[i]);
		bm_put_i32(&b, (int32_t)values[i]);
		bm_put_i64(&b, (int64_t)values[i]);
	}
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(bm_get_u8(&c), (uint8_t)values[i]);
		assert_int_equal(bm_get_u16(&c), (uint16_t)values[i]);
		assert_int_equal(bm_get_u32(&c), (uint32_t)values[i]);
		assert_true(bm_get_u64(&c) == values[i]);
		assert_int_equal(bm_get_i32(&c), (int32_t)values[i]);
		assert_true(bm_get_i64(&c) == (int64_t)values[i]);
	}
	assert_true(bm_rcur_finish(&c));
	bm_wbuf_free(&b);
}

static void test_load_store_helpers(void **state)
{
	(void)state;
	uint8_t p[8];
	bm_store_le64(p, 0x1122334455667788ull);
	assert_int_equal(p[0], 0x88);
	assert_int_equal(p[7], 0x11);
	assert_true(bm_load_le64(p) == 0x1122334455667788ull);
	assert_int_equal(bm_load_le32(p), 0x55667788);
	assert_int_equal(bm_load_le16(p), 0x7788);
	bm_store_le32(p, 0xdeadbeef);
	assert_int_equal(bm_load_le32(p), 0xdeadbeef);
	bm_store_le16(p, 0xcafe);
	assert_int_equal(bm_load_le16(p), 0xcafe);
}

static void test_buffer_grows_and_clears(void **state)
{
	(void)state;
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	for (uint64_t i = 0; i < 100000; i++)
		bm_put_u64(&b, i * 0x9e3779b97f4a7c15ull);
	assert_int_equal(bm_wbuf_status(&b), 0);
	assert_int_equal(b.len, 800000);
	assert_true(b.cap >= b.len);
	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	for (uint64_t i = 0; i < 100000; i++)
		assert_true(bm_get_u64(&c) == i * 0x9e3779b97f4a7c15ull);
	assert_true(bm_rcur_finish(&c));
	uint8_t *kept = b.data;
	size_t cap = b.cap;
	bm_wbuf_clear(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, kept);
	assert_int_equal(b.cap, cap);
	bm_put_u8(&b, 7);
	assert_int_equal(b.len, 1);
	assert_int_equal(b.data[0], 7);
	bm_wbuf_free(&b);
}

static void test_reading_past_the_end_fails_once_and_sticks(void **state)
{
	(void)state;
	static const uint8_t data[] = { 1, 2, 3, 4, 5, 6 };
	struct bm_rcur c;
	bm_rcur_init(&c, data, sizeof data);
	assert_int_equal(bm_get_u32(&c), 0x04030201);
	assert_false(bm_rcur_failed(&c));
	assert_int_equal(bm_get_u32(&c), 0); /* only 2 bytes left */
	assert_true(bm_rcur_failed(&c));
	assert_int_equal(c.error, -EBADMSG);
	assert_int_equal(c.error_pos, 4);
	assert_int_equal(c.pos, 4);
	assert_non_null(strstr(c.why, "past the end"));
	/* Everything after the first failure reads as zero, and the first error stays. */
	assert_int_equal(bm_get_u8(&c), 0);
	assert_int_equal(bm_get_u16(&c), 0);
	bm_rcur_fail(&c, "a later problem");
	assert_non_null(strstr(c.why, "past the end"));
	assert_int_equal(c.pos, 4);
	uint8_t out[3] = { 9, 9, 9 };
	assert_false(bm_get_bytes(&c, out, sizeof out));
	assert_int_equal(out[0] | out[1] | out[2], 0);
	assert_false(bm_rcur_finish(&c));
}

static void test_empty_input(void **state)
{
	(void)state;
	struct bm_rcur c;
	bm_rcur_init(&c, NULL, 0);
	assert_true(bm_rcur_finish(&c));
	assert_int_equal(bm_get_u8(&c), 0);
	assert_true(bm_rcur_failed(&c));
}

static void test_trailing_bytes_are_reported(void **state)
{
	(void)state;
	static const uint8_t data[] = { 1, 0, 0, 0, 0xee, 0xee };
	struct bm_rcur c;
	bm_rcur_init(&c, data, sizeof data);
	assert_int_equal(bm_get_u32(&c), 1);
	assert_false(bm_rcur_finish(&c));
	assert_int_equal(c.error_pos, 4);
	assert_non_null(strstr(c.why, "2 trailing bytes"));
}

static void test_fail_at_records_position_and_message(void **state)
{
	(void)state;
	static const uint8_t data[16];
	struct bm_rcur c;
	bm_rcur_init(&c, data, sizeof data);
	bm_get_u64(&c);
	bm_rcur_fail_at(&c, 3, "field %d is %s", 7, "wrong");
	assert_int_equal(c.error, -EBADMSG);
	assert_int_equal(c.error_pos, 3);
	assert_string_equal(c.why, "field 7 is wrong");
	bm_rcur_init(&c, data, sizeof data);
	bm_rcur_nomem(&c);
	assert_int_equal(c.error, -ENOMEM);
}

static void test_spans(void **state)
{
	(void)state;
	static const uint8_t data[] = { 1, 2, 3, 4, 5 };
	struct bm_rcur c;
	bm_rcur_init(&c, data, sizeof data);
	const uint8_t *p = bm_get_span(&c, 2);
	assert_ptr_equal(p, data);
	p = bm_get_span(&c, 3);
	assert_ptr_equal(p, data + 2);
	assert_null(bm_get_span(&c, 1));
	assert_true(bm_rcur_failed(&c));
}

static void test_strings_round_trip(void **state)
{
	(void)state;
	struct bm_wbuf b;
	bm_wbuf_init(&b);
	bm_put_str(&b, "/tmp/a file with spaces");
	bm_put_str(&b, NULL);
	bm_put_str(&b, "");
	bm_put_str(&b, "comm");
	static const uint8_t header[] = { 23, 0, 0, 0, '/' };
	assert_memory_equal(b.data, header, sizeof header);

	struct bm_rcur c;
	bm_rcur_init(&c, b.data, b.len);
	char *s = (char *)1;
	assert_true(bm_get_str(&c, 4095, "path", &s));
	assert_string_equal(s, "/tmp/a file with spaces");
	free(s);
	assert_true(bm_get_str(&c, 4095, "path", &s));
	assert_null(s);
	assert_true(bm_get_str(&c, 4095, "path", &s));
	assert_null(s); /* "" and NULL are the same on the wire */
	char comm[16];
	assert_true(bm_get_str_buf(&c, comm, sizeof comm, "comm"));
	assert_string_equal(comm, "comm");
	assert_true(bm_rcur_finish(&c));
	bm_wbuf_free(&b);
}

static void test_string_with_nul_is_rejected(void **state)
{
	(void)state;
	static const uint8_t data[] = { 3, 0, 0, 0, 'a', 0, 'b' };
	struct bm_rcur c;
	bm_rcur_init(&c, data, sizeof data);
	char *s = NULL;
	assert_false(bm_get_str(&c, 100, "path", &s));
	assert_null(s);
	assert_non_null(strstr(c.why, "NUL"));
	assert_non_null(strstr(c.why, "path"));
	assert_int_equal(c.error_pos, 0);
}

static void test_string_length_limits(void **state)
{
	(void)state;
	static const uint8_t data[] = { 5, 0, 0, 0, 'a', 'b', 'c', 'd', 'e' };
	struct bm_rcur c;
	char *s = NULL;
	bm_rcur_init(&c, data, sizeof data);
	assert_false(bm_get_str(&c, 4, "path", &s));
	assert_non_null(strstr(c.why, "exceeds"));
	bm_rcur_init(&c, data, sizeof data);
	assert_true(bm_get_str(&c, 5, "path", &s));
	assert_string_equal(s, "abcde");
	free(s);

	char buf[5];
	bm_rcur_init(&c, data, sizeof data);
	assert_false(bm_get_str_buf(&c, buf, sizeof buf, "comm")); /* 5 bytes need 6 with the NUL */
	char big[6];
	bm_rcur_init(&c, data, sizeof data);
	assert_true(bm_get_str_buf(&c, big, sizeof big, "comm"));
	assert_string_equal(big, "abcde");

	/* A length beyond the input. */
	static const uint8_t lying[] = { 0xff, 0xff, 0, 0, 'a' };
	bm_rcur_init(&c, lying, sizeof lying);
	assert_false(bm_get_str(&c, 1u << 20, "path", &s));
	assert_null(s);
	assert_non_null(strstr(c.why, "past the end"));
}

static void test_counts_are_bounded_by_limit_and_input(void **state)
{
	(void)state;
	uint8_t data[4 + 3 * 8];
	memset(data, 0, sizeof data);
	bm_store_le32(data, 3);
	struct bm_rcur c;
	bm_rcur_init(&c, data, sizeof data);
	assert_int_equal(bm_get_count(&c, 3, 8, "things"), 3);
	assert_false(bm_rcur_failed(&c));

	bm_rcur_init(&c, data, sizeof data);
	assert_int_equal(bm_get_count(&c, 2, 8, "things"), 0);
	assert_non_null(strstr(c.why, "things 3 exceeds the limit of 2"));

	bm_rcur_init(&c, data, sizeof data);
	assert_int_equal(bm_get_count(&c, 100, 9, "things"), 0); /* 3 x 9 > 24 bytes left */
	assert_non_null(strstr(c.why, "does not fit"));
	assert_int_equal(c.error_pos, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_layout_is_little_endian),
		cmocka_unit_test(test_round_trip_of_every_width),
		cmocka_unit_test(test_load_store_helpers),
		cmocka_unit_test(test_buffer_grows_and_clears),
		cmocka_unit_test(test_reading_past_the_end_fails_once_and_sticks),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_trailing_bytes_are_reported),
		cmocka_unit_test(test_fail_at_records_position_and_message),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_strings_round_trip),
		cmocka_unit_test(test_string_with_nul_is_rejected),
		cmocka_unit_test(test_string_length_limits),
		cmocka_unit_test(test_counts_are_bounded_by_limit_and_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* CRC-32C (crc32c.c), the checksum of the image format and the frames:
 * known vectors, and the hardware code against the software one. */

#include "unit_image.h"

static void test_crc32c_vectors(void **state)
{
	(void)state;
	uint8_t buf[32];
	assert_int_equal(bm_crc32c(0, "123456789", 9), 0xE3069283);
	assert_int_equal(bm_crc32c_sw(0, "123456789", 9), 0xE3069283);
	assert_int_equal(bm_crc32c(0, "", 0), 0);
	/* RFC 3720 B.4 */
	memset(buf, 0, sizeof buf);
	assert_int_equal(bm_crc32c(0, buf, 32), 0x8A9136AA);
	assert_int_equal(bm_crc32c_sw(0, buf, 32), 0x8A9136AA);
	memset(buf, 0xff, sizeof buf);
	assert_int_equal(bm_crc32c(0, buf, 32), 0x62A8AB43);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(bm_crc32c(0, buf, 32), 0x46DD794E);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(bm_crc32c(0, buf, 32), 0x113FDB5C);
	/* Pieces chain. */
	assert_int_equal(bm_crc32c(bm_crc32c(0, "1234", 4), "56789", 5), 0xE3069283);
	if (bm_crc32c_hw_available()) {
		assert_int_equal(bm_crc32c_hw(0, "123456789", 9), 0xE3069283);
		assert_int_equal(bm_crc32c_hw(bm_crc32c_hw(0, "12345", 5), "6789", 4), 0xE3069283);
	}
}

static void test_crc32c_hw_matches_sw(void **state)
{
	(void)state;
	if (!bm_crc32c_hw_available())
		skip();
	size_t size = 3 * 8192 * 3 + 3 * 256 * 3 + 100;
	uint8_t *buf = dup_random(size + 16);
	/* Lengths around every block boundary of the three-stream code, odd and even, at every alignment. */
	static const size_t lengths[] = { 0, 1, 7, 8, 9, 15, 17, 255, 767, 768, 769, 1023, 3 * 8192 - 1, 3 * 8192,
					  3 * 8192 + 1, 3 * 8192 + 769, 6 * 8192 + 3, 70001 };
	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++)
		for (size_t off = 0; off < 8; off++) {
			assert_true(lengths[i] + off <= size + 16);
			uint32_t seed = (uint32_t)rng();
			assert_int_equal(bm_crc32c_hw(seed, buf + off, lengths[i]), bm_crc32c_sw(seed, buf + off, lengths[i]));
		}
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(rng() % size) | 1;
		size_t off = (size_t)(rng() % 16);
		if (len + off > size + 16)
			len = size + 16 - off;
		assert_int_equal(bm_crc32c_hw(0, buf + off, len), bm_crc32c_sw(0, buf + off, len));
		assert_int_equal(bm_crc32c(0, buf + off, len), bm_crc32c_sw(0, buf + off, len));
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_crc32c_vectors, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_crc32c_hw_matches_sw, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

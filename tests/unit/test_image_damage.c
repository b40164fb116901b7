/* Damaged images: every bit flip and every truncation of a small image is
 * detected, random damage behind valid CRCs never crashes the reader, bad
 * magic and unknown versions are refused, and the messages name the
 * section and the place. */

#include "unit_raw_image.h"

/* ---- damage ---- */

static void test_every_bit_flip_is_detected(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	assert_int_equal(read_image(img.data, img.len, 0), 0);
	uint8_t *copy = malloc(img.len);
	assert_non_null(copy);
	memcpy(copy, img.data, img.len);
	size_t undetected = 0, wrong_class = 0, first_bad = SIZE_MAX;
	quiet_begin();
	for (size_t i = 0; i < img.len; i++)
		for (int bit = 0; bit < 8; bit++) {
			copy[i] ^= (uint8_t)(1u << bit);
			bm_reset_errors();
			int rc = read_image(copy, img.len, 0);
			if (rc >= 0)
				undetected++;
			else if (bm_exit_code() != BM_EXIT_IMAGE)
				wrong_class++;
			if ((rc >= 0 || bm_exit_code() != BM_EXIT_IMAGE) && first_bad == SIZE_MAX)
				first_bad = i;
			copy[i] ^= (uint8_t)(1u << bit);
		}
	stderr_restore();
	bm_reset_errors();
	printf("bit flips: %zu bytes x 8 bits, %zu undetected, %zu with another error class\n", img.len,
	       undetected, wrong_class);
	if (undetected || wrong_class)
		fail_msg("first missed flip at byte %zu", first_bad);
	free(copy);
	bm_wbuf_free(&img);
}

static void test_every_truncation_is_detected(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	size_t missed = 0;
	quiet_begin();
	for (size_t len = 0; len < img.len; len++) {
		bm_reset_errors();
		int rc = read_image(img.data, len, 0);
		if (rc >= 0 || bm_exit_code() != BM_EXIT_IMAGE)
			missed++;
	}
	stderr_restore();
	bm_reset_errors();
	assert_int_equal(missed, 0);
	bm_wbuf_free(&img);
}

static void test_reassembly_without_change_is_accepted(void **state)
{
	(void)state;
	struct raw_image ri;
	struct bm_process p;
	full_raw_image(&ri, &p);
	struct bm_wbuf img;
	assemble(&ri, &img, true);
	assert_int_equal(read_image(img.data, img.len, 0), 0);
	bm_wbuf_free(&img);
	free_raw_image(&ri);
	bm_process_free(&p);
}

/* Random damage behind valid CRCs: whatever the bytes, the reader either
 * accepts or reports a bad image; it never crashes (ASan and UBSan watch),
 * hangs or reports anything else. */
static void test_random_damage_with_valid_crc_never_crashes(void **state)
{
	(void)state;
	struct raw_image base;
	struct bm_process p;
	full_raw_image(&base, &p);
	size_t accepted = 0, rejected = 0, other = 0;
	quiet_begin();
	for (int iter = 0; iter < 3000; iter++) {
		struct raw_image ri = base;
		int victim = (int)(rng() % (uint64_t)ri.n);
		struct raw_section *s = &ri.s[victim];
		uint8_t *copy = malloc(s->len + 64);
		assert_non_null(copy);
		memcpy(copy, s->payload, s->len);
		s->payload = copy;
		int changes = 1 + (int)(rng() % 4);
		for (int k = 0; k < changes && s->len; k++) {
			size_t at = (size_t)(rng() % s->len);
			switch (rng() % 4) {
			case 0: copy[at] ^= (uint8_t)(1u << (rng() % 8)); break;
			case 1: copy[at] = (uint8_t)rng(); break;
			case 2: copy[at] = 0xff; break;
			default: copy[at] = 0; break;
			}
		}
		if (rng() % 8 == 0)
			s->len = (uint32_t)(rng() % (s->len + 1)); /* and sometimes cut short */
		struct bm_wbuf img;
		assemble(&ri, &img, true);
		bm_reset_errors();
		int rc = read_image(img.data, img.len, 0);
		if (rc == 0)
			accepted++;
		else if (bm_exit_code() == BM_EXIT_IMAGE)
			rejected++;
		else
			other++;
		bm_wbuf_free(&img);
		free(copy);
	}
	stderr_restore();
	bm_reset_errors();
	printf("random damage: %zu accepted, %zu rejected, %zu other\n", accepted, rejected, other);
	assert_int_equal(other, 0);
	assert_true(rejected > 500 && accepted > 0); /* both outcomes were exercised */
	free_raw_image(&base);
	bm_process_free(&p);
}

static void test_bad_magic(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	img.data[1] ^= 0x20;
	assert_rejected(img.data, img.len, "not a binmig image (bad magic)");
	img.data[1] ^= 0x20;
	/* What a text-mode transfer does to it: \r\n becomes \n. */
	memmove(img.data + 4, img.data + 5, img.len - 5);
	assert_rejected(img.data, img.len - 1, "not a binmig image (bad magic)");
	assert_rejected((const uint8_t *)"hello", 5, "not a binmig image (bad magic)");
	assert_rejected((const uint8_t *)"", 0, "image is empty");
	bm_wbuf_free(&img);
}

static void test_unknown_version(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	char expect[128];
	snprintf(expect, sizeof expect, "image version %d is not supported (this binmig reads versions 1 to %d)",
		 BM_IMAGE_VERSION + 1, BM_IMAGE_VERSION);
	bm_store_le32(img.data + 8, BM_IMAGE_VERSION + 1);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, expect);
	bm_store_le32(img.data + 8, 0);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "image version 0 is not supported");
	bm_store_le32(img.data + 8, 99);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "image version 99 is not supported");
	/* Flags in the file header are reserved. */
	bm_store_le32(img.data + 8, BM_IMAGE_VERSION);
	bm_store_le32(img.data + 12, 2);
	bm_store_le32(img.data + 16, bm_crc32c(0, img.data, 16));
	assert_rejected(img.data, img.len, "unknown flags 0x2");
	bm_wbuf_free(&img);
}

static void test_error_messages_name_section_and_place(void **state)
{
	(void)state;
	struct bm_wbuf img;
	small_image(&img);
	struct raw_image ri;
	split_image(&img, &ri);
	/* VMAS starts after the file header and PROCESS. */
	size_t vmas_at = 20 + 20 + ri.s[0].len;
	img.data[vmas_at + 20 + 5] ^= 1;
	char expect[128];
	snprintf(expect, sizeof expect, "image section 2 (VMAS) at byte %zu: payload CRC mismatch", vmas_at);
	assert_rejected(img.data, img.len, expect);
	img.data[vmas_at + 20 + 5] ^= 1;
	img.data[vmas_at + 3] ^= 1;
	snprintf(expect, sizeof expect, "image section 2 at byte %zu: section header CRC mismatch", vmas_at);
	assert_rejected(img.data, img.len, expect);
	img.data[vmas_at + 3] ^= 1;
	/* Cut inside the VMAS payload, and exactly before END. */
	snprintf(expect, sizeof expect, "image truncated in section 2 (VMAS) at byte %zu", vmas_at + 30);
	assert_rejected(img.data, vmas_at + 30, expect);
	assert_rejected(img.data, img.len - 20 - 32, "image truncated: it ends at byte");
	assert_rejected(img.data, img.len - 20 - 32, "without an END section");
	assert_rejected(img.data, vmas_at, "before its VMAS section");
	assert_rejected(img.data, vmas_at + 7, "image truncated in the header of section 2");
	free_raw_image(&ri);
	bm_wbuf_free(&img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_every_bit_flip_is_detected, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_every_truncation_is_detected, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_reassembly_without_change_is_accepted, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_random_damage_with_valid_crc_never_crashes, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_bad_magic, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_unknown_version, restore_stderr_teardown),
		cmocka_unit_test_teardown(test_error_messages_name_section_and_place, restore_stderr_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

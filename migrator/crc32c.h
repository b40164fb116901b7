/* CRC-32C internals, exposed for tests and benchmarks.  Everyone else calls
 * bm_crc32c (image.h), which picks the fastest variant this CPU has. */
#ifndef BINMIG_CRC32C_H
#define BINMIG_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Same contract as bm_crc32c: CRC is the value returned for the preceding
 * data (0 to start), so CRCs of consecutive pieces chain. */
uint32_t bm_crc32c_sw(uint32_t crc, const void *data, size_t len);
/* Only valid when bm_crc32c_hw_available() is true. */
uint32_t bm_crc32c_hw(uint32_t crc, const void *data, size_t len);
bool bm_crc32c_hw_available(void);

#endif

/* Key files: BM_KEY_LEN random bytes as 64 hexadecimal digits and a
 * newline, private to their owner. */
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define KEY_HEX_LEN (2 * BM_KEY_LEN)

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int bm_keygen(const char *path)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t key[BM_KEY_LEN];
	char text[KEY_HEX_LEN + 1];
	if (RAND_bytes(key, sizeof key) != 1)
		return bm_error(BM_EXIT_FAILURE, "libcrypto could not provide random bytes for a key"), -EIO;
	for (size_t i = 0; i < BM_KEY_LEN; i++) {
		text[2 * i] = hex[key[i] >> 4];
		text[2 * i + 1] = hex[key[i] & 15];
	}
	text[KEY_HEX_LEN] = '\n';
	OPENSSL_cleanse(key, sizeof key);

	int r = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			bm_error(BM_EXIT_IO, "key file %s already exists; refusing to overwrite it (remove it first to replace the key)",
				 path);
		else
			bm_error_errno(BM_EXIT_IO, -r, "creating key file %s", path);
		goto out;
	}
	/* The umask may have left other bits; the mode must be exactly this. */
	if (fchmod(fd, 0600) < 0)
		r = -errno;
	if (r == 0)
		r = write_all(fd, text, sizeof text);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		bm_error_errno(BM_EXIT_IO, -r, "writing key file %s", path);
		unlink(path);
	}
out:
	OPENSSL_cleanse(text, sizeof text);
	return r;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Refuses a file that anyone but its owner may use, or that belongs to
 * someone else (other than root). */
static int check_key_file(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return bm_error(BM_EXIT_USAGE, "key file %s is not a regular file", path), -EINVAL;
	mode_t shared = st->st_mode & 077;
	if (shared) {
		const char *how = (shared & 044) && (shared & 022) ? "readable and writable"
				  : (shared & 044)		  ? "readable"
				  : (shared & 022)		  ? "writable"
								  : "executable";
		const char *who = (shared & 07) ? "others" : "its group";
		return bm_error(BM_EXIT_USAGE, "key file %s is %s by %s (mode %04o); chmod 600 it", path, how, who,
				(unsigned)(st->st_mode & 07777)),
		       -EPERM;
	}
	if (st->st_uid != geteuid() && st->st_uid != 0)
		return bm_error(BM_EXIT_USAGE, "key file %s belongs to uid %u; it must belong to you (uid %u) or to root",
				path, (unsigned)st->st_uid, (unsigned)geteuid()),
		       -EPERM;
	return 0;
}

int bm_key_load(const char *path, uint8_t key[BM_KEY_LEN])
{
	/* Room for a few bytes too many, so that a long file is told apart. */
	char text[KEY_HEX_LEN + 8];
	size_t len = 0;
	int r = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		bm_error_errno(BM_EXIT_USAGE, -r, "opening key file %s", path);
		return r;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		bm_error_errno(BM_EXIT_IO, -r, "key file %s", path);
		goto out;
	}
	r = check_key_file(path, &st);
	if (r < 0)
		goto out;
	while (len < sizeof text) {
		ssize_t n = read(fd, text + len, sizeof text - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			bm_error_errno(BM_EXIT_IO, -r, "reading key file %s", path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	size_t digits = len;
	if (digits > 0 && text[digits - 1] == '\n')
		digits--;
	if (digits != KEY_HEX_LEN) {
		if (len == 0)
			bm_error(BM_EXIT_USAGE, "key file %s is empty", path);
		else if (len == sizeof text)
			bm_error(BM_EXIT_USAGE, "key file %s is too long: a key is %d hexadecimal digits and a newline", path,
				 KEY_HEX_LEN);
		else
			bm_error(BM_EXIT_USAGE, "key file %s holds %zu characters; a key is %d hexadecimal digits and a newline",
				 path, digits, KEY_HEX_LEN);
		r = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < BM_KEY_LEN; i++) {
		int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			bm_error(BM_EXIT_USAGE, "key file %s: character %zu is not a hexadecimal digit", path,
				 2 * i + (hi < 0 ? 1 : 2));
			r = -EINVAL;
			goto out;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
out:
	OPENSSL_cleanse(text, sizeof text);
	close(fd);
	if (r < 0)
		OPENSSL_cleanse(key, BM_KEY_LEN);
	return r;
}

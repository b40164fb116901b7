/* How much more a pipe or a socket takes (include after cmocka.h): the
 * bytes 100-byte non-blocking writes add to W until one fails with EAGAIN.
 * Each may merge into the newest buffer or skb, as a large write would
 * not, so the layout of what is queued shows; the layout tests compare a
 * rebuilt queue's room with its twin's. */
#ifndef BINMIG_UNIT_ROOM_H
#define BINMIG_UNIT_ROOM_H

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

static size_t unit_room(int w)
{
	static const char chunk[100];
	size_t took = 0;
	ssize_t n;
	while ((n = write(w, chunk, sizeof chunk)) > 0)
		took += (size_t)n;
	assert_int_equal(errno, EAGAIN);
	return took;
}

#endif

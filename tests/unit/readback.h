/*
 * For tests that log to a temporary file: read back what was written to fd
 * (opened by mkstemp on path), NUL-terminated, and remove the file.
 * Include after <cmocka.h>.
 */
#ifndef NAMEGATE_TEST_READBACK_H
#define NAMEGATE_TEST_READBACK_H

#include <stdio.h>
#include <unistd.h>

static inline void
readback(int fd, const char *path, char *buf, size_t len)
{
	FILE *f = fdopen(fd, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
}

#endif

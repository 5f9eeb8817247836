/* Helpers shared by the fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

void
fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: invariant broken: %s: ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

int
fuzz_memfd(const void *text, size_t len, char *path, size_t pathlen)
{
	int fd = memfd_create("namegate-fuzz", MFD_CLOEXEC);
	const char *p = text;

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	snprintf(path, pathlen, "/proc/self/fd/%d", fd);
	return fd;
}

void
fuzz_conf(const char *text, struct conf *c)
{
	char path[64], err[CONF_ERR_LEN];
	size_t len = 0;
	int fd;

	while (text[len] != '\0')
		len++;
	fd = fuzz_memfd(text, len, path, sizeof(path));
	FUZZ_CHECK(fd >= 0, "memfd");
	if (conf_load(path, c, err, sizeof(err)) != 0)
		fuzz_fail(__FILE__, __LINE__, "conf_load", "%s", err);
	close(fd);
}

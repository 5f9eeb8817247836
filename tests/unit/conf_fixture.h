/*
 * For tests that decide against a config written as text: the text goes
 * into a fresh temporary file, which conf_load reads as sandbox.ini.
 * Include after <cmocka.h>.
 */
#ifndef NAMEGATE_TEST_CONF_FIXTURE_H
#define NAMEGATE_TEST_CONF_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* Room for the temporary file's name. */
#define CONF_FIXTURE_PATH_LEN 64

/* Loads text into *c. path (CONF_FIXTURE_PATH_LEN bytes) gets the file's
 * name: it stays, for a test that checks messages naming it, until the
 * caller unlinks it. Returns conf_load's result (0, or -1 after printing
 * its message). */
static inline int
conf_fixture_load(const char *text, struct conf *c, char *path)
{
	char err[CONF_ERR_LEN];
	size_t len = strlen(text);
	int fd;

	snprintf(path, CONF_FIXTURE_PATH_LEN, "/tmp/namegate_test_XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
		perror("conf_fixture_load: writing the config");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (conf_load(path, c, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

#endif

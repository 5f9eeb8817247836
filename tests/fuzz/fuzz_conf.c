/*
 * sandbox.ini: any text → conf_load. A file that loads must print (as
 * --check-config does) to a file that loads again and prints the same: the
 * printout is the effective config, so it has to mean what was loaded.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

/* conf_print into memory. */
static char *
print_conf(const struct conf *c, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	FUZZ_CHECK(f != NULL, "open_memstream");
	conf_print(f, c);
	FUZZ_CHECK(fclose(f) == 0, "fclose");
	return buf;
}

/* The printout without its comments (which say where values came from,
 * e.g. "from upstream = auto", and so differ between the two rounds). */
static void
strip_comments(char *s, size_t *len)
{
	size_t o = 0, line = 0;
	bool skip = false;

	for (size_t i = 0; i < *len; i++) {
		if (s[i] == ';' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n'))
			skip = true;
		if (s[i] == '\n') {
			skip = false;
			while (o > line && s[o - 1] == ' ')
				o--;
			line = o + 1;
		}
		if (!skip)
			s[o++] = s[i];
	}
	*len = o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, c2;
	char path[64], path2[64], err[CONF_ERR_LEN];
	char *p1, *p2;
	size_t l1, l2;
	int fd, fd2;

	fd = fuzz_memfd(data, size, path, sizeof(path));
	if (fd < 0)
		return 0;
	if (conf_load(path, &c, err, sizeof(err)) != 0) {
		/* Every refusal says where: "file:line: message". */
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 && err[strlen(path)] == ':',
		           "error without the file: %s", err);
		close(fd);
		return 0;
	}
	close(fd);
	FUZZ_CHECK(c.min_ttl <= c.max_ttl, "min_ttl %u > max_ttl %u", c.min_ttl, c.max_ttl);
	FUZZ_CHECK(c.max_addrs >= 1 && c.max_addrs <= CONF_MAX_ADDRS, "max_addrs %u", c.max_addrs);
	FUZZ_CHECK(c.nlisten >= 1 && c.nlisten <= CONF_MAX_LISTEN, "nlisten");
	FUZZ_CHECK(c.nupstream <= CONF_MAX_UPSTREAMS, "nupstream");
	for (size_t i = 0; i < c.ndomains; i++)
		FUZZ_CHECK(c.domains[i].ports.n >= 1 && c.domains[i].ports.n <= CONF_MAX_PORTS,
		           "domain line %d with %zu ports", c.domains[i].line,
		           c.domains[i].ports.n);
	conf_lookup(&c, "www.lab.test", strlen("www.lab.test"), NULL);

	p1 = print_conf(&c, &l1);
	fd2 = fuzz_memfd(p1, l1, path2, sizeof(path2));
	FUZZ_CHECK(fd2 >= 0, "memfd");
	if (conf_load(path2, &c2, err, sizeof(err)) != 0)
		fuzz_fail(__FILE__, __LINE__, "reload", "the printout does not load: %s\n%s", err,
		          p1);
	close(fd2);
	p2 = print_conf(&c2, &l2);
	strip_comments(p1, &l1);
	strip_comments(p2, &l2);
	FUZZ_CHECK(l1 == l2 && memcmp(p1, p2, l1) == 0, "printing is not stable:\n%s\n---\n%s", p1,
	           p2);
	FUZZ_CHECK(c.ndomains == c2.ndomains && c.nnetworks == c2.nnetworks,
	           "the printout lost allow lines");
	free(p1);
	free(p2);
	conf_free(&c);
	conf_free(&c2);
	return 0;
}

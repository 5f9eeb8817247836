/*
 * namegate: the small command line around the daemons. One subcommand so
 * far: learn, which turns the log of an audit-mode run into an [allow]
 * section (learn.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "learn.h"
#include "suffix.h"

#define EXIT_USAGE 2

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: namegate learn [--merge FILE] [--group N] [LOG]\n"
	        "       namegate --version\n"
	        "\n"
	        "learn  read the log of an audit-mode run (LOG, or stdin when it is absent or -)\n"
	        "       and print an [allow] section that allows what the run used\n"
	        "  -m, --merge FILE  print FILE's [allow] lines, then only what they do not allow\n"
	        "  -g, --group N     propose *.domain / .domain for N or more names under one\n"
	        "                    registrable domain (default %d; 0: never)\n",
	        LEARN_DEFAULT_GROUP);
}

static int
learn_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"merge", required_argument, NULL, 'm'},
	    {"group", required_argument, NULL, 'g'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct learn_opts o = {.group = LEARN_DEFAULT_GROUP};
	struct conf *merge = NULL;
	struct learn *l = NULL;
	const char *path = "-";
	char err[CONF_ERR_LEN], *line = NULL, *end;
	size_t cap = 0;
	FILE *in = stdin;
	unsigned long n;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "m:g:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.merge_path = optarg;
			break;
		case 'g':
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || n > 1000000) {
				fprintf(stderr,
				        "namegate learn: --group wants a number, not \"%s\"\n",
				        optarg);
				return EXIT_USAGE;
			}
			o.group = (unsigned)n;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind > 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc - optind == 1)
		path = argv[optind];
	if (suffix_init() != 0) {
		fprintf(stderr, "namegate learn: no Public Suffix List (libpsl, publicsuffix): "
		                "nothing would be grouped safely\n");
		return 1;
	}
	if (o.merge_path != NULL) {
		merge = calloc(1, sizeof(*merge));
		if (merge == NULL) {
			perror("namegate learn: allocating the config");
			goto out;
		}
		if (conf_load(o.merge_path, merge, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			free(merge);
			merge = NULL;
			rc = EXIT_USAGE;
			goto out;
		}
		o.merge = merge;
	}
	if (strcmp(path, "-") != 0 && (in = fopen(path, "re")) == NULL) {
		fprintf(stderr, "namegate learn: %s: %s\n", path, strerror(errno));
		goto out;
	}
	l = learn_new();
	if (l == NULL) {
		perror("namegate learn");
		goto out;
	}
	while (getline(&line, &cap, in) > 0)
		learn_line(l, line);
	if (ferror(in)) {
		fprintf(stderr, "namegate learn: reading %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (learn_print(stdout, l, &o) != 0 || fflush(stdout) != 0) {
		fprintf(stderr, "namegate learn: %s: %s\n", o.merge_path ? o.merge_path : "stdout",
		        strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(line);
	learn_free(l);
	if (in != NULL && in != stdin)
		fclose(in);
	if (merge != NULL) {
		conf_free(merge);
		free(merge);
	}
	suffix_fini();
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "learn") == 0)
		return learn_main(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("namegate %s\n", NAMEGATE_VERSION);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return EXIT_USAGE;
}

/*
 * namegate: the small command line around the daemons: learn, which turns
 * the log of an audit-mode run into an [allow] section (learn.h); status
 * and why, which read what the sets allow now and the recent denials
 * (status.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "ipset.h"
#include "kernel.h"
#include "learn.h"
#include "localnet.h"
#include "status.h"
#include "suffix.h"

#define EXIT_USAGE 2
#define DEFAULT_CONFIG "/etc/namegate/sandbox.ini"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: namegate learn [--merge FILE] [--group N] [LOG]\n"
	        "       namegate status [-c FILE] [--log FILE] [--top N] [--json]\n"
	        "       namegate why [-c FILE] [--log FILE] [--json] ADDR|NAME [PROTO/PORT]\n"
	        "       namegate --version\n"
	        "\n"
	        "learn  read the log of an audit-mode run (LOG, or stdin when it is absent or -)\n"
	        "       and print an [allow] section that allows what the run used\n"
	        "  -m, --merge FILE  print FILE's [allow] lines, then only what they do not allow\n"
	        "  -g, --group N     propose *.domain / .domain for N or more names under one\n"
	        "                    registrable domain (default %d; 0: never)\n"
	        "\n"
	        "status what the sets allow now (name, address, ports, TTL left), the network\n"
	        "       lines, and the recent denials of the log by name, destination, process\n"
	        "why    would a new flow to ADDR (or NAME) be allowed now, and if not, why;\n"
	        "       exit 0 allowed, 1 denied, 2 error\n"
	        "  -c, --config FILE  sandbox.ini (default " DEFAULT_CONFIG ")\n"
	        "  -l, --log FILE     the log to read (default: [log] file of the config)\n"
	        "  -t, --top N        rows per denial grouping (default %d)\n"
	        "  -j, --json         one JSON object instead of text\n"
	        "Both read the kernel's sets: run them as root, in the sandbox.\n",
	        LEARN_DEFAULT_GROUP, STATUS_DEFAULT_TOP);
}

/* The end of an option loop: -h prints the usage and exits 0, anything
 * else getopt did not know is a usage error. */
static int
usage_option(int c)
{
	usage(c == 'h' ? stdout : stderr);
	return c == 'h' ? 0 : EXIT_USAGE;
}

/* A count option's value, 0..1000000; -1 after saying why. */
static int
parse_count(const char *cmd, const char *opt, const char *arg, unsigned *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	n = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n > 1000000) {
		fprintf(stderr, "namegate %s: %s wants a number, not \"%s\"\n", cmd, opt, arg);
		return -1;
	}
	*out = (unsigned)n;
	return 0;
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
	char err[CONF_ERR_LEN], *line = NULL;
	size_t cap = 0;
	FILE *in = stdin;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "m:g:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o.merge_path = optarg;
			break;
		case 'g':
			if (parse_count("learn", "--group", optarg, &o.group) != 0)
				return EXIT_USAGE;
			break;
		default:
			return usage_option(c);
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

static void
read_set(void *arg, const struct ipset_entry *e, uint32_t timeout, const char *comment)
{
	status_add_entry(arg, e->family, e->ip, e->proto, e->port, timeout, comment);
}

/* The recent part of the log: its last STATUS_LOG_TAIL bytes, from the
 * first whole line. A log that cannot be read is said on stderr; it is an
 * error only when it was asked for by name. */
static int
read_log(struct status *st, const char *path, bool named)
{
	FILE *in;
	struct stat sb;
	char *line = NULL;
	size_t cap = 0;
	bool cut = false;

	if (path == NULL || path[0] == '\0')
		return 0;
	in = fopen(path, "re");
	if (in == NULL) {
		fprintf(stderr, "namegate: %s: %s%s\n", path, strerror(errno),
		        named ? "" : " (no denials shown)");
		return named ? -1 : 0;
	}
	if (fstat(fileno(in), &sb) == 0 && sb.st_size > (off_t)STATUS_LOG_TAIL &&
	    fseeko(in, sb.st_size - (off_t)STATUS_LOG_TAIL, SEEK_SET) == 0) {
		cut = true;
		if (getline(&line, &cap, in) < 0)
			clearerr(in);
	}
	while (getline(&line, &cap, in) > 0)
		status_log_line(st, line);
	free(line);
	if (ferror(in)) {
		fprintf(stderr, "namegate: reading %s: %s\n", path, strerror(errno));
		fclose(in);
		return -1;
	}
	fclose(in);
	status_set_log(st, path, cut);
	return 0;
}

/* namegate status and namegate why: the config, the sets, the log. */
static int
state_main(int argc, char **argv, bool why)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"log", required_argument, NULL, 'l'},
	    {"top", required_argument, NULL, 't'},    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	const char *path = DEFAULT_CONFIG, *logpath = NULL, *err = NULL, *cmd = argv[0];
	char cerr[CONF_ERR_LEN];
	struct conf *conf = NULL;
	struct status *st = NULL;
	struct ipset_nl *h = NULL;
	struct port port, *pp = NULL;
	unsigned top = STATUS_DEFAULT_TOP;
	bool json = false;
	int c, rc = EXIT_USAGE;

	while ((c = getopt_long(argc, argv, "c:l:t:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 't':
			if (parse_count(cmd, "--top", optarg, &top) != 0)
				return EXIT_USAGE;
			break;
		case 'j':
			json = true;
			break;
		default:
			return usage_option(c);
		}
	}
	if (why ? (argc - optind < 1 || argc - optind > 2) : argc - optind != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (why && argc - optind == 2) {
		if (port_parse(argv[optind + 1], &port) != 0) {
			fprintf(stderr, "namegate why: \"%s\" is no port: tcp/443, udp/53, ...\n",
			        argv[optind + 1]);
			return EXIT_USAGE;
		}
		pp = &port;
	}
	/* The daemons' library lines (ipset, localnet) would be noise here;
	 * this command says what failed itself. */
	log_set_level(LOGL_ERROR);
	conf = calloc(1, sizeof(*conf));
	if (conf == NULL) {
		perror("namegate");
		return EXIT_USAGE;
	}
	if (conf_load(path, conf, cerr, sizeof(cerr)) != 0) {
		fprintf(stderr, "%s\n", cerr);
		free(conf);
		return EXIT_USAGE;
	}
	if (localnet_read(&conf->local) != 0)
		fprintf(stderr,
		        "namegate %s: could not read the container's networks; only the "
		        "fixed ranges count as inward\n",
		        cmd);
	st = status_new(conf);
	if (st == NULL) {
		perror("namegate");
		goto out;
	}
	/* The kernel answers ipset only to CAP_NET_ADMIN: the agent learns
	 * nothing from here. */
	h = ipset_open();
	if (h == NULL || ipset_list(h, KERNEL_SET4, AF_INET, read_set, st) != 0 ||
	    ipset_list(h, KERNEL_SET6, AF_INET6, read_set, st) != 0) {
		fprintf(
		    stderr,
		    "namegate %s: cannot read the sets %s and %s: it needs root (CAP_NET_ADMIN) "
		    "in the sandbox's network namespace, with namegate-nfq set up there\n",
		    cmd, KERNEL_SET4, KERNEL_SET6);
		goto out;
	}
	if (read_log(st, logpath != NULL ? logpath : conf->log_file, logpath != NULL) != 0)
		goto out;
	if (!why) {
		rc = status_print(stdout, st, json, top) == 0 && fflush(stdout) == 0 ? 0
		                                                                     : EXIT_USAGE;
	} else {
		rc = status_why(stdout, st, argv[optind], pp, json, &err);
		if (rc < 0 && err != NULL)
			fprintf(stderr,
			        "namegate why: \"%s\" is neither an address nor a name: %s\n",
			        argv[optind], err);
		if (rc < 0 || fflush(stdout) != 0)
			rc = EXIT_USAGE;
	}
out:
	ipset_close(h);
	status_free(st);
	conf_free(conf);
	free(conf);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "learn") == 0)
		return learn_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return state_main(argc - 1, argv + 1, false);
	if (argc >= 2 && strcmp(argv[1], "why") == 0)
		return state_main(argc - 1, argv + 1, true);
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

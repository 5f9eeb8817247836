/*
 * namegate-resolver: the capability-less stub resolver. main() loads the
 * config, binds the listen sockets while still root, drops to the resolver
 * user with every capability gone for good (privdrop.c), and then runs one
 * event loop, in which query.c answers every client query.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cache.h"
#include "conf.h"
#include "confperm.h"
#include "confwatch.h"
#include "frontend.h"
#include "gateclient.h"
#include "holds.h"
#include "localnet.h"
#include "log.h"
#include "loop.h"
#include "privdrop.h"
#include "query.h"
#include "sandbox.h"
#include "suffix.h"
#include "upstream.h"

static struct {
	struct conf *conf;
	struct confperm perm; /* who may own the config */
	struct loop *lp;
	struct frontend *fe;
	struct upstream *up;
	struct gateclient *gc;
	struct cache *cache;
	struct holds holds; /* what the kernel surely still holds */
	struct confwatch *cw;
} rs;

static void
usage(FILE *f)
{
	fprintf(f, "usage: namegate-resolver -c FILE [--check-config]\n"
	           "       namegate-resolver -h | -V\n");
}

static bool
listen_equal(const struct conf *a, const struct conf *b)
{
	if (a->nlisten != b->nlisten)
		return false;
	for (size_t i = 0; i < a->nlisten; i++)
		if (!addr_equal(&a->listen[i], &b->listen[i]))
			return false;
	return true;
}

static void
reload(void *arg)
{
	struct conf *c = calloc(1, sizeof(*c));
	char err[CONF_ERR_LEN];

	/* Ports and TTL limits may change with the file, and the gate reads
	 * it on its own: nothing acknowledged so far is taken for granted. */
	holds_forget(&rs.holds);
	if (c == NULL) {
		log_warn("reload: calloc");
		return;
	}
	if (confperm_check(&rs.perm, rs.conf->path, err, sizeof(err)) != 0 ||
	    conf_load(rs.conf->path, c, err, sizeof(err)) != 0) {
		conf_log_error(rs.conf->path, err);
		free(c);
		return;
	}
	/* The sockets were bound as root; we cannot bind new ones now. */
	if (!listen_equal(c, rs.conf)) {
		log_warnx("listen addresses changed in %s: that needs a restart; "
		          "keeping the old ones",
		          c->path);
		memcpy(c->listen, rs.conf->listen, sizeof(c->listen));
		c->nlisten = rs.conf->nlisten;
	}
	if (strcmp(c->user, rs.conf->user) != 0)
		log_warnx("user changed in %s: that needs a restart", c->path);
	if (strcmp(c->log_file, rs.conf->log_file) != 0 || c->log_format != rs.conf->log_format)
		log_open(c->log_file, c->log_format);
	/* Netlink is closed to us now: the networks read at start stay. */
	c->local = rs.conf->local;
	conf_free(rs.conf);
	free(rs.conf);
	rs.conf = c;
	query_set_conf(c);
	upstream_configure(rs.up, c);
	if (cache_set_max(rs.cache, c->cache_size) != 0)
		log_warnx("reload: cache_size %u: out of memory, the cache keeps its size",
		          c->cache_size);
	gateclient_set_path(rs.gc, c->socket);
	conf_log_load(c->path);
}

static void
on_signal(int signo, void *arg)
{
	if (signo == SIGHUP) {
		reload(NULL);
		return;
	}
	log_info("signal %d: exiting", signo);
	loop_stop(rs.lp);
}

/* One socket per upstream attempt: allow as many descriptors as we may. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("setrlimit RLIMIT_NOFILE");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 'C'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	char err[CONF_ERR_LEN];
	int opt, ret = 1;

	log_set_ident("namegate-resolver");
	while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("namegate-resolver %s\n", NAMEGATE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}

	rs.conf = calloc(1, sizeof(*rs.conf));
	if (rs.conf == NULL) {
		perror("calloc");
		return 1;
	}
	/* Before the privilege drop and the seccomp filter (getcwd); the
	 * started-as uid is the one trusted to own the config besides root. */
	confperm_init(&rs.perm);
	if (confperm_check(&rs.perm, path, err, sizeof(err)) != 0 ||
	    conf_load(path, rs.conf, err, sizeof(err)) != 0) {
		if (check) {
			fprintf(stderr, "%s\n", err);
		} else {
			conf_log_error(path, err);
		}
		free(rs.conf);
		return 2;
	}
	if (check) {
		suffix_conf_warnings(rs.conf, stderr);
		conf_print(stdout, rs.conf);
		conf_free(rs.conf);
		free(rs.conf);
		return 0;
	}
	if (log_open(rs.conf->log_file, rs.conf->log_format) != 0)
		log_warnx("logging to stderr only");
	/* Before the seccomp filter closes netlink: the container's own
	 * networks, whose addresses are removed from answers (inward.h). */
	if (localnet_read(&rs.conf->local) != 0) {
		log_warnx("cannot read the container's networks; exiting");
		goto out_conf;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	rs.lp = loop_new();
	if (rs.lp == NULL)
		goto out_conf;
	rs.fe = frontend_new(rs.lp, rs.conf->listen, rs.conf->nlisten, query_on_client, NULL);
	if (rs.fe == NULL)
		goto out_loop;

	privdrop(rs.conf);

	rs.up = upstream_new(rs.lp);
	if (rs.up == NULL)
		goto out_frontend;
	upstream_configure(rs.up, rs.conf);
	rs.cache = cache_new(rs.conf->cache_size);
	if (rs.cache == NULL)
		goto out_upstream;
	holds_init(&rs.holds);
	rs.gc = gateclient_new(rs.lp, rs.conf->socket, &rs.holds);
	if (rs.gc == NULL)
		goto out_cache;
	if (loop_signal(rs.lp, SIGHUP, on_signal, NULL) != 0 ||
	    loop_signal(rs.lp, SIGTERM, on_signal, NULL) != 0 ||
	    loop_signal(rs.lp, SIGINT, on_signal, NULL) != 0) {
		log_warn("cannot handle signals");
		goto out_gate;
	}
	query_start(rs.lp, rs.up, rs.gc, rs.cache, &rs.holds, rs.conf);
	rs.cw = confwatch_new(rs.lp, rs.conf->path, reload, NULL);
	if (rs.cw == NULL)
		log_warnx("not watching %s for changes; SIGHUP still reloads", rs.conf->path);

	conf_log_load(rs.conf->path);
	/* Last, once every socket, watch and file of the setup exists: from
	 * here on only the calls the running resolver needs are allowed. */
	if (sandbox_enter() != 0)
		log_warnx("not running without the seccomp filter; exiting");
	else if (loop_run(rs.lp) == 0)
		ret = 0;
	else
		log_warn("event loop");

	confwatch_free(rs.cw);
	query_stop();
out_gate:
	gateclient_free(rs.gc);
out_cache:
	cache_free(rs.cache);
out_upstream:
	upstream_free(rs.up);
out_frontend:
	frontend_free(rs.fe);
out_loop:
	loop_free(rs.lp);
out_conf:
	conf_free(rs.conf);
	free(rs.conf);
	log_close();
	return ret;
}

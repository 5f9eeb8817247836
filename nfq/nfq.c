/*
 * namegate-nfq: the gate, the only privileged process. It owns the kernel
 * state (sets, rules, queue), takes ALLOW requests from the resolver and
 * gives verdicts to flows that missed the sets.
 */
#include <getopt.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "addrmap.h"
#include "allowplan.h"
#include "caps.h"
#include "conf.h"
#include "confperm.h"
#include "confwatch.h"
#include "entrymap.h"
#include "gatesrv.h"
#include "hash.h"
#include "ipset.h"
#include "kernel.h"
#include "localnet.h"
#include "log.h"
#include "loop.h"
#include "queue.h"
#include "rules.h"
#include "suffix.h"
#include "who.h"

#ifndef NAMEGATE_VERSION
#define NAMEGATE_VERSION "unknown"
#endif

#define EXIT_CONFIG 2
#define SET_MAXELEM CONF_SET_MAXELEM
/* Map entries that ran out more than this long ago no longer explain a
 * denial usefully ("expired" an hour later is just "unresolved"). */
#define PRUNE_AFTER_MS (3600 * 1000ULL)
#define PRUNE_EVERY_MS (60 * 1000ULL)

struct gate {
	const char *path;
	struct confperm perm; /* who may own the config */
	struct conf *conf;
	struct loop *lp;
	struct ipset_nl *ipset;
	struct addrmap *map;
	struct entrymap *emap;
	struct queue *queue;
	struct who *who; /* names the sender of a denied flow (who.h) */
	struct gatesrv *srv;
	struct confwatch *watch;
	struct localnet_watch *netwatch;
	struct loop_timer prune;
	uid_t ruid;
	gid_t rgid;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: namegate-nfq -c FILE [--setup | --teardown | --check-config]\n"
	           "       namegate-nfq -c FILE --get SECTION.KEY [--get SECTION.KEY]...\n"
	           "       namegate-nfq -h | -V\n"
	           "\n"
	           "  -c, --config FILE   sandbox.ini\n"
	           "      --setup         create the sets and install the rules, then exit\n"
	           "      --teardown      remove what --setup installed, then exit\n"
	           "      --check-config  validate, print the effective config, exit 0 (or 2)\n"
	           "      --get KEY       validate, print KEY's effective value (one line per\n"
	           "                      --get, in order), exit 0 (or 2)\n"
	           "  -h, --help          this text\n"
	           "  -V, --version       print the version\n"
	           "\n"
	           "Without --setup/--teardown/--check-config, run the gate in the foreground.\n");
}

static const char *
family_set(int family, bool net, bool tmp)
{
	if (family == AF_INET)
		return net ? (tmp ? KERNEL_NETSET4_TMP : KERNEL_NETSET4) : KERNEL_SET4;
	return net ? (tmp ? KERNEL_NETSET6_TMP : KERNEL_NETSET6) : KERNEL_SET6;
}

/* The static networks go into a fresh -tmp set that is swapped in whole, so
 * a reload never leaves a moment with the set half filled. */
static int
refill_netset(struct ipset_nl *h, const struct conf *c, int family)
{
	const char *name = family_set(family, true, false);
	const char *tmp = family_set(family, true, true);
	struct ipset_entry *v;
	size_t i, j, n = 0, cap = 0;
	int rc = -1;

	for (i = 0; i < c->nnetworks; i++) {
		if (c->networks[i].net.family == family)
			cap += c->networks[i].ports.n;
	}
	v = calloc(cap > 0 ? cap : 1, sizeof(*v));
	if (v == NULL) {
		log_warn("nfq: allocating %zu network entries", cap);
		return -1;
	}
	for (i = 0; i < c->nnetworks; i++) {
		const struct conf_network *nw = &c->networks[i];

		if (nw->net.family != family)
			continue;
		for (j = 0; j < nw->ports.n; j++) {
			v[n].family = family;
			memcpy(v[n].ip, nw->net.ip, sizeof(v[n].ip));
			/* hash:net,port has no /0; the smallest it takes is /1. */
			v[n].cidr = nw->prefix;
			v[n].proto = nw->ports.v[j].proto;
			v[n].port = nw->ports.v[j].port;
			n++;
		}
	}
	if (ipset_create(h, name, KERNEL_NETSET_TYPE, family, 0, false, true) < 0)
		goto out;
	if (ipset_destroy(h, tmp, true) < 0)
		goto out;
	if (ipset_create(h, tmp, KERNEL_NETSET_TYPE, family, 0, false, true) < 0)
		goto out;
	if (n > 0 && ipset_add(h, tmp, family, v, n, 0, "network") < 0)
		goto destroy_tmp;
	if (ipset_swap(h, name, tmp) < 0)
		goto destroy_tmp;
	rc = 0;
destroy_tmp:
	if (ipset_destroy(h, tmp, true) < 0)
		rc = -1;
out:
	free(v);
	return rc;
}

static int
install_sets(struct ipset_nl *h, const struct conf *c)
{
	if (ipset_create(h, KERNEL_SET4, KERNEL_SET_TYPE, AF_INET, SET_MAXELEM, true, true) < 0 ||
	    ipset_create(h, KERNEL_SET6, KERNEL_SET_TYPE, AF_INET6, SET_MAXELEM, true, true) < 0)
		return -1;
	if (refill_netset(h, c, AF_INET) < 0 || refill_netset(h, c, AF_INET6) < 0)
		return -1;
	return 0;
}

/* --setup and the first thing the running gate does: sets first, because
 * the rules refer to them. */
static int
setup(struct ipset_nl *h, const struct conf *c, uid_t ruid)
{
	if (install_sets(h, c) < 0)
		return -1;
	return rules_apply(c, ruid);
}

static int
teardown(struct ipset_nl *h)
{
	static const char *const sets[] = {
	    KERNEL_SET4,    KERNEL_SET6,        KERNEL_NETSET4,
	    KERNEL_NETSET6, KERNEL_NETSET4_TMP, KERNEL_NETSET6_TMP,
	};
	size_t i;
	int rc = 0;

	/* The rules go first: a set referenced by a rule cannot be
	 * destroyed. */
	if (rules_remove() < 0)
		rc = -1;
	for (i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		if (ipset_destroy(h, sets[i], true) < 0)
			rc = -1;
	}
	if (rc == 0)
		log_info("nfq: removed namegate's rules and sets");
	return rc;
}

/* What the running gate keeps (docs/security.md): CAP_NET_ADMIN, effective,
 * for the ipset and queue netlink sockets; CAP_NET_RAW, permitted only, so
 * that the iptables-restore a reload runs (as root, which makes a child's
 * permitted set its effective one) can open the raw socket iptables uses. */
#define KEEP_EFFECTIVE CAPS_BIT(CAP_NET_ADMIN)
#define KEEP_PERMITTED (CAPS_BIT(CAP_NET_ADMIN) | CAPS_BIT(CAP_NET_RAW))

/*
 * Called once the sets, the rules, the queue and the socket exist: whatever
 * else the gate was started with (CAP_CHOWN for the socket, CAP_SYS_ADMIN,
 * CAP_DAC_OVERRIDE, ...) is gone for good, from the permitted, inheritable,
 * ambient and bounding sets, and no_new_privs keeps every child it runs
 * within what is left. A reload that needs more (a new socket path in a
 * directory that must be chowned) fails and says so; the gate stays closed.
 */
static int
drop_capabilities(void)
{
	struct caps now;
	uint64_t keep_e, keep_p;
	int bnd_failed;

	if (caps_get(&now) != 0) {
		log_warn("nfq: capget");
		return -1;
	}
	keep_p = now.permitted & KEEP_PERMITTED;
	keep_e = now.permitted & KEEP_EFFECTIVE;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_warn("nfq: prctl PR_SET_NO_NEW_PRIVS");
		return -1;
	}
	if (caps_ambient_clear() != 0) {
		log_warn("nfq: clearing the ambient capabilities");
		return -1;
	}
	/* Needs CAP_SETPCAP, which a container may not grant; no_new_privs
	 * still keeps children from getting anything back. */
	bnd_failed = caps_bound_drop(KEEP_PERMITTED);
	if (bnd_failed > 0)
		log_warnx("nfq: could not clear %d capabilities from the bounding set (no "
		          "CAP_SETPCAP); no_new_privs still limits what children get",
		          bnd_failed);
	if (caps_set(keep_e, keep_p) != 0) {
		log_warn("nfq: capset");
		return -1;
	}
	if (caps_get(&now) != 0 || now.effective != keep_e || now.permitted != keep_p ||
	    now.inheritable != 0) {
		log_warnx("nfq: capabilities left after dropping them");
		return -1;
	}
	if ((keep_e & CAPS_BIT(CAP_NET_ADMIN)) == 0)
		log_warnx("nfq: running without CAP_NET_ADMIN; the sets cannot be changed");
	return 0;
}

/* addrmap_live_fn: the address map keeps the names of the addresses the
 * sets still hold (addrmap.h). */
static bool
entry_live(void *arg, int family, const uint8_t *ip, uint8_t proto, uint16_t port)
{
	const struct gate *g = arg;

	return entrymap_live(g->emap, family, ip, proto, port, loop_now_ms());
}

static void
prune_cb(struct loop_timer *t, void *arg)
{
	struct gate *g = arg;
	uint64_t now = loop_now_ms();

	if (now > PRUNE_AFTER_MS)
		addrmap_prune(g->map, now - PRUNE_AFTER_MS);
	entrymap_prune(g->emap, now);
	loop_timer_set(g->lp, t, PRUNE_EVERY_MS);
}

/* The container's own networks, which the gate never adds to the sets
 * for a name without "inward" (allowplan.h). */
static int
read_local(struct inward_local *l)
{
	char buf[1024];

	if (localnet_read(l) < 0)
		return -1;
	log_info("nfq: the container's own networks (inward): %s%s",
	         l->n > 0 ? inward_local_fmt(l, buf, sizeof(buf)) : "none beyond the fixed ranges",
	         l->overflow ? " and more (every address counts as inward)" : "");
	return 0;
}

/*
 * Takes every allowed address back: the names still listed are allowed
 * again on their next lookup, and established flows stay. Dropping the
 * resolver's connection makes it forget which answers it believed the
 * kernel still holds.
 */
static void
revoke_all(struct gate *g, const char *why)
{
	entrymap_clear(g->emap); /* moves the removals counter on */
	if (ipset_flush(g->ipset, KERNEL_SET4) < 0 || ipset_flush(g->ipset, KERNEL_SET6) < 0)
		log_warnx("nfq: %s but the sets could not be emptied; what they allowed stays "
		          "allowed until its entries time out",
		          why);
	else
		log_info("nfq: %s; emptied %s and %s, names still listed are allowed again on "
		         "their next lookup",
		         why, KERNEL_SET4, KERNEL_SET6);
	if (g->srv != NULL)
		gatesrv_drop_clients(g->srv);
}

/*
 * The kernel announced an address or route change. An address allowed
 * before may now be in one of the container's own networks: a new view
 * takes every entry back, as a narrowed allowlist does.
 */
static void
local_changed(void *arg)
{
	struct gate *g = arg;
	struct inward_local l;
	char buf[1024];

	if (localnet_read(&l) < 0) {
		log_warnx("nfq: keeping the previous view of the container's networks");
		return;
	}
	if (inward_local_equal(&l, &g->conf->local))
		return;
	g->conf->local = l;
	log_info("nfq: the container's own networks (inward) are now: %s%s",
	         l.n > 0 ? inward_local_fmt(&l, buf, sizeof(buf)) : "none beyond the fixed ranges",
	         l.overflow ? " and more (every address counts as inward)" : "");
	revoke_all(g, "the container's own networks changed");
}

/* A reload that kept every line: which new line each old one is (the
 * first with the same pattern and at least its ports), so the entry map
 * keeps counting each entry against its line. -1 when out of memory. */
static int
relines(struct entrymap *m, const struct conf *old, const struct conf *nc)
{
	uint32_t *remap = calloc(old->ndomains > 0 ? old->ndomains : 1, sizeof(*remap));
	size_t i, j;
	int r;

	if (remap == NULL) {
		entrymap_clear(m);
		return -1;
	}
	for (i = 0; i < old->ndomains; i++) {
		const struct conf_domain *d = &old->domains[i];

		remap[i] = UINT32_MAX;
		for (j = 0; j < nc->ndomains; j++) {
			const struct conf_domain *e = &nc->domains[j];

			if (e->pat.kind == d->pat.kind && strcmp(e->pat.name, d->pat.name) == 0 &&
			    portlist_covers(&e->ports, &d->ports)) {
				remap[i] = (uint32_t)j;
				break;
			}
		}
	}
	r = entrymap_relines(m, remap, old->ndomains, nc->ndomains);
	free(remap);
	return r;
}

static void
reload(void *arg)
{
	struct gate *g = arg;
	char err[CONF_ERR_LEN];
	struct conf *nc, *old = g->conf;
	struct queue *nq = NULL;
	uid_t ruid;
	gid_t rgid;
	bool new_srv;

	if (confperm_check(&g->perm, g->path, err, sizeof(err)) < 0) {
		conf_log_error(g->path, err);
		return;
	}
	nc = calloc(1, sizeof(*nc));
	if (nc == NULL) {
		log_warn("nfq: allocating a config for the reload");
		return;
	}
	if (conf_load(g->path, nc, err, sizeof(err)) < 0) {
		conf_log_error(g->path, err);
		free(nc);
		return;
	}
	if (rules_resolver_user(nc->user, &ruid, &rgid) < 0) {
		conf_log_error(g->path,
		               "[resolver] user does not exist; keeping the running config");
		conf_free(nc);
		free(nc);
		return;
	}
	/* A new queue number is bound before the rules point at it, so no
	 * flow is sent to a queue nobody reads. */
	if (nc->queue != queue_num(g->queue)) {
		nq = queue_new(g->lp, nc->queue, nc, g->map);
		if (nq == NULL) {
			conf_log_error(
			    g->path,
			    "cannot bind the new [gate] queue; keeping the running config");
			conf_free(nc);
			free(nc);
			return;
		}
	}

	/* The container's networks may have changed since (docker network
	 * connect); without a fresh view, the last one stays. */
	if (read_local(&nc->local) < 0) {
		log_warnx("nfq: reload: keeping the previous view of the container's networks");
		nc->local = old->local;
	}

	g->conf = nc;
	if (log_open(nc->log_file, nc->log_format) < 0)
		log_warnx("nfq: keeping the previous log file");
	conf_log_load(g->path);

	if (install_sets(g->ipset, nc) < 0)
		log_warnx("nfq: reload: the static network sets were not refreshed");
	/* When a line goes (or loses ports) every entry goes: the names
	 * still listed are allowed again on their next lookup, and
	 * established flows stay. Otherwise the entry map follows the lines
	 * to their new places; if it cannot, the sets are emptied as well,
	 * since the bound of each line is no longer known. */
	if (conf_allow_narrowed(old, nc) || relines(g->emap, old, nc) < 0)
		revoke_all(g, "reload: the allowlist shrank");
	else if (!inward_local_equal(&old->local, &nc->local))
		revoke_all(g, "reload: the container's own networks changed");
	if (rules_apply(nc, ruid) < 0)
		log_warnx("nfq: reload: the rules were not refreshed; the previous rules stay");

	if (nq != NULL) {
		queue_free(g->queue);
		g->queue = nq;
		queue_set_who(nq, g->who);
	} else {
		queue_set_conf(g->queue, nc);
	}

	new_srv = strcmp(nc->socket, old->socket) != 0 || ruid != g->ruid || rgid != g->rgid;
	g->ruid = ruid;
	g->rgid = rgid;
	if (new_srv) {
		gatesrv_free(g->srv);
		g->srv = gatesrv_new(g->lp, nc, ruid, rgid, g->ipset, g->map, g->emap);
		gatesrv_set_who(g->srv, g->who);
		/* Without the socket the resolver gets no ACKs and answers
		 * SERVFAIL: closed, and the log says why. */
		if (g->srv == NULL)
			log_warnx("nfq: reload: no socket at %s; DNS answers will fail",
			          nc->socket);
	} else {
		gatesrv_set_conf(g->srv, nc);
	}
	conf_free(old);
	free(old);
}

static void
on_signal(int signo, void *arg)
{
	struct gate *g = arg;

	if (signo == SIGHUP) {
		reload(g);
		return;
	}
	log_info("nfq: %s, exiting", strsignal(signo));
	loop_stop(g->lp);
}

struct seed {
	struct gate *g;
	uint32_t *lines, *elines;
	uint64_t now;
	size_t taken, left;
};

/* The address map learns the entry's name too, so that the SNI / Host
 * binding (bind.h) of a connection to an address handed out before the
 * restart still finds the name. Its ports are the name's: the set entry
 * the flow matched holds the port. */
static void
seed_name(struct seed *sd, const struct ipset_entry *e, uint32_t timeout, const char *comment)
{
	struct portlist ports;
	struct addrmap_name *nm;

	if (!conf_lookup(sd->g->conf, comment, strlen(comment), &ports))
		return;
	nm = addrmap_name_new(comment, &ports);
	if (nm == NULL)
		return;
	if (addrmap_put(sd->g->map, e->family, e->ip, nm, sd->now + (uint64_t)timeout * 1000) < 0)
		log_warnx("nfq: out of memory for the name of an entry in the sets");
	addrmap_name_unref(nm);
}

static void
seed_entry(void *arg, const struct ipset_entry *e, uint32_t timeout, const char *comment)
{
	struct seed *sd = arg;
	size_t nl, k;

	/* The comment is the name the entry was allowed for; one no line
	 * holds any more is left to run out. */
	if (comment == NULL || timeout == 0) {
		sd->left++;
		return;
	}
	seed_name(sd, e, timeout, comment);
	nl = allowplan_lines(sd->g->conf, comment, sd->lines);
	k = allowplan_entry_lines(sd->g->conf, sd->lines, nl, e, sd->elines);
	if (k == 0 || entrymap_add(sd->g->emap, e, timeout, sd->elines, k, sd->now, 0) == 0) {
		sd->left++;
		return;
	}
	sd->taken++;
}

/*
 * A gate that starts while the sets hold entries (it was restarted) learns
 * their timeouts and lines from the kernel, so that it neither shortens
 * them nor leaves them out of their lines' bounds. The kernel reports whole
 * seconds, rounded down: the record never counts on more than it holds.
 */
static void
seed_entrymap(struct gate *g)
{
	size_t n = g->conf->ndomains > 0 ? g->conf->ndomains : 1;
	struct seed sd = {.g = g, .now = loop_now_ms()};

	sd.lines = calloc(n, sizeof(*sd.lines));
	sd.elines = calloc(n, sizeof(*sd.elines));
	if (sd.lines == NULL || sd.elines == NULL) {
		log_warn("nfq: allocating room to read the sets");
	} else if (ipset_list(g->ipset, KERNEL_SET4, AF_INET, seed_entry, &sd) < 0 ||
	           ipset_list(g->ipset, KERNEL_SET6, AF_INET6, seed_entry, &sd) < 0) {
		log_warnx("nfq: could not read the entries already in the sets; a short TTL may "
		          "cut them");
	} else if (sd.taken + sd.left > 0) {
		log_info("nfq: the sets hold %zu entries already; %zu of them counted against "
		         "their lines, %zu left to run out",
		         sd.taken + sd.left, sd.taken, sd.left);
	}
	free(sd.lines);
	free(sd.elines);
}

static int
run(struct gate *g)
{
	uint64_t seed = 0;
	int rc = 1;

	/* Fail closed: with a guessable seed, answers could aim every
	 * address at one bucket (common/hash.h). */
	if (hash_seed(&seed) != 0) {
		log_warn("nfq: getrandom for the address map seed");
		return 1;
	}
	g->map = addrmap_new(ADDRMAP_DEFAULT_MAX, seed);
	g->emap = entrymap_new(seed ^ 0x9e3779b97f4a7c15ULL);
	g->lp = loop_new();
	if (g->map == NULL || g->emap == NULL || g->lp == NULL) {
		log_warn("nfq: allocating the address map and event loop");
		goto free_loop;
	}
	/* Before the sets are read back: a restarted gate keeps the names of
	 * every address they still hold too. */
	addrmap_set_held(g->map, entry_live, g);
	/* Forked before anything is added to the loop or a capability is
	 * dropped: it keeps CAP_SETUID and CAP_SETGID, the gate does not.
	 * Without it, flow lines say why=nohelper. */
	g->who = who_start();
	if (setup(g->ipset, g->conf, g->ruid) < 0)
		goto free_loop;
	seed_entrymap(g);
	g->queue = queue_new(g->lp, g->conf->queue, g->conf, g->map);
	if (g->queue == NULL)
		goto free_loop;
	queue_set_who(g->queue, g->who);
	g->srv = gatesrv_new(g->lp, g->conf, g->ruid, g->rgid, g->ipset, g->map, g->emap);
	if (g->srv == NULL)
		goto free_queue;
	gatesrv_set_who(g->srv, g->who);
	if (loop_signal(g->lp, SIGHUP, on_signal, g) < 0 ||
	    loop_signal(g->lp, SIGTERM, on_signal, g) < 0 ||
	    loop_signal(g->lp, SIGINT, on_signal, g) < 0) {
		log_warn("nfq: setting up signal handling");
		goto free_srv;
	}
	g->watch = confwatch_new(g->lp, g->path, reload, g);
	if (g->watch == NULL)
		log_warnx("nfq: not watching %s for changes; SIGHUP still reloads", g->path);
	/* Without it, a change of the container's networks is seen on the
	 * next reload only. */
	g->netwatch = localnet_watch_new(g->lp, local_changed, g);
	if (g->netwatch == NULL)
		log_warnx("nfq: not watching the container's networks; a reload reads them again");
	loop_timer_init(&g->prune, prune_cb, g);
	loop_timer_set(g->lp, &g->prune, PRUNE_EVERY_MS);
	if (drop_capabilities() < 0) {
		log_warnx("nfq: not running with more privilege than it needs; exiting");
		goto free_watch;
	}

	log_info("nfq: running, mode %s, on_deny %s",
	         g->conf->mode == MODE_AUDIT ? "audit" : "enforce",
	         g->conf->on_deny == ON_DENY_DROP ? "drop" : "reject");
	if (loop_run(g->lp) < 0)
		log_warn("nfq: event loop");
	else
		rc = 0;

free_watch:
	loop_timer_cancel(g->lp, &g->prune);
	localnet_watch_free(g->netwatch);
	confwatch_free(g->watch);
free_srv:
	gatesrv_free(g->srv);
free_queue:
	queue_free(g->queue);
free_loop:
	who_free(g->who);
	loop_free(g->lp);
	addrmap_free(g->map);
	entrymap_free(g->emap);
	return rc;
}

int
main(int argc, char *argv[])
{
	enum { OPT_SETUP = 256, OPT_TEARDOWN, OPT_CHECK, OPT_GET };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"setup", no_argument, NULL, OPT_SETUP},
	    {"teardown", no_argument, NULL, OPT_TEARDOWN},
	    {"check-config", no_argument, NULL, OPT_CHECK},
	    {"get", required_argument, NULL, OPT_GET},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct gate g = {0};
	char err[CONF_ERR_LEN];
	int ch, action = 0, rc = 1, nget = 0;
	const char *get[64]; /* the --get keys, in order */

	log_set_ident("namegate-nfq");
	while ((ch = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			g.path = optarg;
			break;
		case OPT_GET:
			if (!conf_key_known(optarg)) {
				fprintf(stderr,
				        "namegate-nfq: --get %s: no such key (SECTION.KEY)\n",
				        optarg);
				return EXIT_CONFIG;
			}
			if (nget == (int)(sizeof(get) / sizeof(get[0]))) {
				fprintf(stderr, "namegate-nfq: too many --get\n");
				return EXIT_CONFIG;
			}
			get[nget++] = optarg;
			__attribute__((fallthrough));
		case OPT_SETUP:
		case OPT_TEARDOWN:
		case OPT_CHECK:
			if (action != 0 && action != ch) {
				fprintf(stderr, "namegate-nfq: --setup, --teardown, --check-config "
				                "and --get exclude each other\n");
				return EXIT_CONFIG;
			}
			action = ch;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("namegate-nfq %s\n", NAMEGATE_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind != argc || g.path == NULL) {
		usage(stderr);
		return EXIT_CONFIG;
	}

	/* A resolver that went away mid-ACK, or a tool that exited early,
	 * must not kill the gate. */
	signal(SIGPIPE, SIG_IGN);

	/* A config the agent could edit is no firewall. --teardown takes
	 * nothing from it and only removes what --setup installed. */
	confperm_init(&g.perm);
	if (action != OPT_TEARDOWN && confperm_check(&g.perm, g.path, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return EXIT_CONFIG;
	}
	g.conf = calloc(1, sizeof(*g.conf));
	if (g.conf == NULL) {
		perror("namegate-nfq: allocating the config");
		return 1;
	}
	/* --get reads resolv_conf only for the upstreams: namegate-up asks
	 * for its path before it writes that file. */
	bool want_upstream = false;
	for (int i = 0; i < nget; i++)
		want_upstream |= strcmp(get[i], "resolver.upstream") == 0;
	if ((action == OPT_GET && !want_upstream
	         ? conf_load_no_resolv(g.path, g.conf, err, sizeof(err))
	         : conf_load(g.path, g.conf, err, sizeof(err))) < 0) {
		fprintf(stderr, "%s\n", err);
		free(g.conf);
		return EXIT_CONFIG;
	}
	if (action == OPT_GET) {
		rc = 0;
		for (int i = 0; i < nget; i++) {
			if (conf_get(stdout, g.conf, get[i]) < 0)
				rc = 1;
		}
		if (fflush(stdout) != 0 || ferror(stdout))
			rc = 1;
		goto free_conf;
	}
	if (action == OPT_CHECK) {
		suffix_conf_warnings(g.conf, stderr);
		conf_print(stdout, g.conf);
		rc = fflush(stdout) == 0 ? 0 : 1;
		goto free_conf;
	}
	if (log_open(g.conf->log_file, g.conf->log_format) < 0)
		log_warnx("nfq: logging to stderr only");
	conf_log_load(g.path);

	if (action != OPT_TEARDOWN && rules_resolver_user(g.conf->user, &g.ruid, &g.rgid) < 0)
		goto close_log;
	g.ipset = ipset_open();
	if (g.ipset == NULL)
		goto close_log;

	switch (action) {
	case OPT_SETUP:
		rc = setup(g.ipset, g.conf, g.ruid) < 0 ? 1 : 0;
		if (rc == 0)
			log_info("nfq: setup done");
		break;
	case OPT_TEARDOWN:
		rc = teardown(g.ipset) < 0 ? 1 : 0;
		break;
	default:
		/* No way to tell inward addresses from the rest: fail closed. */
		if (read_local(&g.conf->local) < 0) {
			log_warnx("nfq: cannot read the container's networks; exiting");
			break;
		}
		rc = run(&g);
		break;
	}

	ipset_close(g.ipset);
close_log:
	log_close();
free_conf:
	conf_free(g.conf);
	free(g.conf);
	return rc;
}

/*
 * sandbox.ini → struct conf: the public entry points. A load parses the
 * file into a fresh struct (defaults from the key table first, then the
 * file, confparse.c) and checks it as a whole (defaults that depend on
 * other sections, upstream = auto, confresolv.c) before the caller sees
 * it, so a bad edit never replaces a running config. Also the
 * config.load and config.error log events.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_internal.h"

void
conf_fail(struct parse_ctx *pc, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (pc->failed)
		return;
	pc->failed = true;
	n = snprintf(pc->err, pc->errlen, "%s:%d: ", pc->file, line);
	if (n < 0 || (size_t)n >= pc->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(pc->err + n, pc->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* Checks and defaults that need the whole file. */
static int
finish(struct parse_ctx *pc)
{
	struct conf *c = pc->c;
	size_t i;

	if (c->max_ttl < c->min_ttl) {
		conf_fail(pc, pc->seen[K_MAX_TTL] ? pc->seen[K_MAX_TTL] : pc->seen[K_MIN_TTL],
		          "max_ttl (%u) is less than min_ttl (%u)", c->max_ttl, c->min_ttl);
		return -1;
	}
	/* [gate] may come after [allow], so lines without ports get the
	 * [gate] ports only now. */
	for (i = 0; i < c->ndomains; i++) {
		if (!c->domains[i].own_ports)
			c->domains[i].ports = c->ports;
	}
	for (i = 0; i < c->nnetworks; i++) {
		if (c->networks[i].ports.n == 0)
			c->networks[i].ports = c->ports;
	}
	conf_read_search(c);
	if (c->upstream_auto)
		return pc->no_resolv ? 0 : conf_read_resolv(pc);
	for (i = 0; i < c->nupstream; i++) {
		if (conf_is_listen_addr(c, &c->upstream[i])) {
			conf_fail(pc, pc->seen[K_UPSTREAM],
			          "upstream is one of our own listen addresses (would loop)");
			return -1;
		}
	}
	return 0;
}

static int
load(const char *path, struct conf *out, bool no_resolv, char *err, size_t errlen)
{
	struct parse_ctx pc;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&pc, 0, sizeof(pc));
	pc.no_resolv = no_resolv;
	pc.c = out;
	pc.file = path;
	pc.err = err;
	pc.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';

	if (strlen(path) >= sizeof(out->path)) {
		conf_fail(&pc, 0, "path too long");
		return -1;
	}
	strcpy(out->path, path);

	if (conf_set_defaults(&pc) == -1)
		goto fail;

	pc.fp = fopen(path, "re");
	if (pc.fp == NULL) {
		conf_fail(&pc, 0, "cannot open: %s", strerror(errno));
		goto fail;
	}
	rc = conf_parse_file(&pc);
	fclose(pc.fp);
	if (rc == -1 || finish(&pc) == -1)
		goto fail;
	return 0;

fail:
	conf_free(out);
	return -1;
}

int
conf_load(const char *path, struct conf *out, char *err, size_t errlen)
{
	return load(path, out, false, err, errlen);
}

int
conf_load_no_resolv(const char *path, struct conf *out, char *err, size_t errlen)
{
	return load(path, out, true, err, errlen);
}

void
conf_free(struct conf *c)
{
	free(c->domains);
	free(c->networks);
	memset(c, 0, sizeof(*c));
}

void
conf_log_load(const char *path)
{
	struct log_line *l = log_begin(LOGL_INFO, "config.load");

	logline_str(l, "daemon", log_ident());
	logline_str(l, "file", path);
	log_end(l);
}

void
conf_log_error(const char *path, const char *err)
{
	struct log_line *l = log_begin(LOGL_ERROR, "config.error");
	size_t plen = strlen(path);
	const char *msg = err;
	long line = 0;

	/* err is "file:line: message", or "file: message" about the file as
	 * a whole (confperm.h); the event wants the parts. */
	if (strncmp(err, path, plen) == 0 && err[plen] == ':') {
		char *end;

		line = strtol(err + plen + 1, &end, 10);
		if (end[0] == ':')
			msg = end[1] == ' ' ? end + 2 : end + 1;
		else if (end == err + plen + 1 && end[0] == ' ')
			msg = end + 1;
	}
	logline_str(l, "daemon", log_ident());
	logline_str(l, "file", path);
	logline_int(l, "line", line);
	logline_str(l, "error", msg);
	log_end(l);
}

/*
 * Name patterns of the [allow] section, matched by whole labels,
 * case-insensitively, trailing dot ignored:
 *   github.com     the name itself
 *   *.github.com   any subdomain at any depth, not the apex
 *   .github.com    the apex and any subdomain
 *
 * Names handled here are plain host names: labels of [a-z0-9_-] (after
 * lowercasing), 1..63 bytes each, 253 bytes in all. A name that is not of
 * that shape never matches anything; the resolver denies it.
 */
#ifndef NAMEGATE_PATTERN_H
#define NAMEGATE_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#define NAME_MAX_LEN 253

enum pattern_kind {
	PATTERN_EXACT,
	PATTERN_SUBDOMAINS,          /* "*.name" */
	PATTERN_APEX_AND_SUBDOMAINS, /* ".name" */
};

struct pattern {
	enum pattern_kind kind;
	size_t len;
	char name[NAME_MAX_LEN + 1]; /* normalized: lowercase, no trailing dot */
};

/* Lowercase, strip one trailing dot, check the shape. out has room for
 * NAME_MAX_LEN + 1 bytes. Returns 0, or -1 with *err set to a message. */
int name_normalize(const char *in, char *out, const char **err);

int pattern_parse(const char *text, struct pattern *out, const char **err);
/* name must already be normalized (name_normalize). */
bool pattern_match(const struct pattern *p, const char *name, size_t len);
/* The pattern as written in the config: "*.github.com", ".github.com", ... */
const char *pattern_fmt(const struct pattern *p, char *buf, size_t len);

#endif

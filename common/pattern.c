/*
 * Host names and allowlist patterns. Matching compares whole labels of
 * normalized names only, so there is no way for "evilgithub.com" or
 * "github.com.evil.test" to pass for "github.com": a suffix matches only
 * when the byte before it is a label separator.
 */
#include <stdio.h>
#include <string.h>

#include "pattern.h"

#define LABEL_MAX_LEN 63

static bool
name_byte_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int
name_normalize(const char *in, char *out, const char **err)
{
	size_t len, i, label = 0;
	unsigned char c;

	len = strnlen(in, NAME_MAX_LEN + 2);
	/* One trailing dot is the absolute form of the same name. */
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0) {
		*err = "empty name";
		return -1;
	}
	if (len > NAME_MAX_LEN) {
		*err = "name longer than 253 bytes";
		return -1;
	}
	for (i = 0; i < len; i++) {
		c = (unsigned char)in[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c == '.') {
			if (label == 0) {
				*err = "empty label in name";
				return -1;
			}
			label = 0;
		} else if (!name_byte_ok(c)) {
			*err = "invalid character in name (allowed: a-z 0-9 - _)";
			return -1;
		} else if (++label > LABEL_MAX_LEN) {
			*err = "label longer than 63 bytes";
			return -1;
		}
		out[i] = (char)c;
	}
	/* The loop only sees a dot before a label, so "a." cannot get here
	 * (one trailing dot was stripped) but "a.." leaves a trailing dot. */
	if (label == 0) {
		*err = "empty label in name";
		return -1;
	}
	out[len] = '\0';
	return 0;
}

int
pattern_parse(const char *text, struct pattern *out, const char **err)
{
	enum pattern_kind kind = PATTERN_EXACT;
	const char *name = text;
	struct pattern p;

	memset(&p, 0, sizeof(p));
	if (strncmp(text, "*.", 2) == 0) {
		kind = PATTERN_SUBDOMAINS;
		name = text + 2;
	} else if (text[0] == '.') {
		kind = PATTERN_APEX_AND_SUBDOMAINS;
		name = text + 1;
	}
	/* A wildcard is only a whole leading label; a bare "*" or "." would
	 * allow everything, which nobody should get by accident. */
	if (strchr(name, '*') != NULL) {
		*err = "'*' is only allowed as a whole leading label (\"*.example.com\")";
		return -1;
	}
	if (name_normalize(name, p.name, err) == -1)
		return -1;
	p.kind = kind;
	p.len = strlen(p.name);
	*out = p;
	return 0;
}

bool
pattern_match(const struct pattern *p, const char *name, size_t len)
{
	bool exact = len == p->len && memcmp(name, p->name, len) == 0;
	bool sub = len > p->len + 1 && name[len - p->len - 1] == '.' &&
	           memcmp(name + len - p->len, p->name, p->len) == 0;

	switch (p->kind) {
	case PATTERN_EXACT:
		return exact;
	case PATTERN_SUBDOMAINS:
		return sub;
	case PATTERN_APEX_AND_SUBDOMAINS:
		return exact || sub;
	}
	return false;
}

const char *
pattern_fmt(const struct pattern *p, char *buf, size_t len)
{
	const char *prefix = "";

	if (p->kind == PATTERN_SUBDOMAINS)
		prefix = "*.";
	else if (p->kind == PATTERN_APEX_AND_SUBDOMAINS)
		prefix = ".";
	snprintf(buf, len, "%s%.*s", prefix, (int)p->len, p->name);
	return buf;
}

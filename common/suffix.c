/*
 * Public suffixes through libpsl: see suffix.h.
 */
#include "suffix.h"

#include <ctype.h>
#include <libpsl.h>
#include <string.h>

static psl_ctx_t *psl;
static bool tried;

int
suffix_init(void)
{
	if (!tried) {
		tried = true;
		/* The newer of libpsl's built-in list and the distribution's
		 * file (Debian's publicsuffix package). */
		psl = psl_latest(NULL);
		if (psl == NULL)
			psl = (psl_ctx_t *)psl_builtin();
	}
	return psl != NULL ? 0 : -1;
}

void
suffix_fini(void)
{
	if (psl != NULL && psl != psl_builtin())
		psl_free(psl);
	psl = NULL;
	tried = false;
}

bool
suffix_is_public(const char *name)
{
	if (suffix_init() != 0)
		return true;
	return psl_is_public_suffix2(psl, name, PSL_TYPE_ANY) != 0;
}

const char *
suffix_registrable(const char *name)
{
	if (suffix_init() != 0)
		return NULL;
	return psl_registrable_domain(psl, name);
}

bool
suffix_below(const char *name, const char *dat, char *ex, size_t exlen)
{
	size_t nlen = strlen(name);
	char line[512];
	bool found = false;
	FILE *f = fopen(dat != NULL ? dat : SUFFIX_DAT, "re");

	if (exlen > 0)
		ex[0] = '\0';
	if (f == NULL) {
		snprintf(ex, exlen, "?");
		return true;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *r = line, *end;
		size_t rlen;

		/* A rule is the first word of a line; "//" starts a comment,
		 * "!" an exception, "*." a wildcard: all of them are names
		 * anyone may register under, or next to, so all count. */
		while (*r == ' ' || *r == '\t')
			r++;
		if (r[0] == '/' || r[0] == '\n' || r[0] == '\0')
			continue;
		if (r[0] == '!')
			r++;
		while (r[0] == '*' && r[1] == '.')
			r += 2;
		for (end = r; *end != '\0' && !isspace((unsigned char)*end); end++)
			*end = (char)tolower((unsigned char)*end);
		*end = '\0';
		rlen = (size_t)(end - r);
		if (rlen > nlen + 1 && r[rlen - nlen - 1] == '.' &&
		    memcmp(r + rlen - nlen, name, nlen) == 0) {
			found = true;
			snprintf(ex, exlen, "%s", r);
		}
	}
	fclose(f);
	return found;
}

const char *
suffix_pattern_why(const struct pattern *p, const char *dat, char *buf, size_t len)
{
	char pat[NAME_MAX_LEN + 3], ex[NAME_MAX_LEN + 1];

	if (p->kind == PATTERN_EXACT)
		return NULL;
	pattern_fmt(p, pat, sizeof(pat));
	if (suffix_is_public(p->name)) {
		snprintf(buf, len,
		         "%s is over %s, a public suffix (Public Suffix List): anyone can "
		         "register names under it",
		         pat, p->name);
		return buf;
	}
	if (suffix_below(p->name, dat, ex, sizeof(ex))) {
		if (strcmp(ex, "?") == 0)
			snprintf(buf, len, "%s: cannot read %s to check it for public suffixes",
			         pat, dat != NULL ? dat : SUFFIX_DAT);
		else
			snprintf(buf, len,
			         "%s covers %s, a public suffix (Public Suffix List): anyone can "
			         "register names under it",
			         pat, ex);
		return buf;
	}
	return NULL;
}

size_t
suffix_conf_warnings(const struct conf *c, FILE *f)
{
	char why[3 * NAME_MAX_LEN + 128];
	size_t n = 0;

	for (size_t i = 0; i < c->ndomains; i++) {
		const struct conf_domain *d = &c->domains[i];

		if (suffix_pattern_why(&d->pat, NULL, why, sizeof(why)) == NULL)
			continue;
		fprintf(f, "%s:%d: warning: %s\n", c->path, d->line, why);
		n++;
	}
	return n;
}

/*
 * namegate's log lines read back: see logread.h.
 */
#include "logread.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <string.h>

const char *
logread_field(const struct logread_fields *fs, const char *key)
{
	for (size_t i = 0; i < fs->n; i++)
		if (strcmp(fs->key[i], key) == 0)
			return fs->val[i];
	return NULL;
}

static void
field_set(struct logread_fields *fs, const char *const *wanted, const char *key, size_t klen,
          const char *v, size_t vlen)
{
	for (size_t i = 0; i < LOGREAD_MAX_FIELDS && wanted[i] != NULL; i++) {
		if (strlen(wanted[i]) != klen || memcmp(wanted[i], key, klen) != 0)
			continue;
		if (logread_field(fs, wanted[i]) != NULL || fs->n == LOGREAD_MAX_FIELDS)
			return;
		if (vlen >= LOGREAD_VALUE_MAX)
			vlen = LOGREAD_VALUE_MAX - 1;
		fs->key[fs->n] = wanted[i];
		memcpy(fs->val[fs->n], v, vlen);
		fs->val[fs->n][vlen] = '\0';
		fs->n++;
		return;
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* key=value pairs as log.c writes them: a value with spaces, quotes or
 * bytes outside printable ASCII is quoted, with \" \\ \n \t \r \xNN. */
static void
parse_logfmt(const char *s, const char *const *wanted, struct logread_fields *fs)
{
	static char v[LOGREAD_VALUE_MAX];

	while (*s != '\0') {
		const char *k, *eq;
		size_t vlen = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		k = s;
		while (*s != '\0' && *s != '=' && *s != ' ')
			s++;
		if (*s != '=') {
			/* a word without a value: skip it */
			continue;
		}
		eq = s++;
		if (*s == '"') {
			s++;
			while (*s != '\0' && *s != '"') {
				char c = *s++;

				if (c == '\\' && *s != '\0') {
					c = *s++;
					if (c == 'n')
						c = '\n';
					else if (c == 't')
						c = '\t';
					else if (c == 'r')
						c = '\r';
					else if (c == 'x' && hexval(s[0]) >= 0 &&
					         hexval(s[1]) >= 0) {
						c = (char)(hexval(s[0]) << 4 | hexval(s[1]));
						s += 2;
					}
				}
				if (vlen < sizeof(v) - 1)
					v[vlen++] = c;
			}
			if (*s == '"')
				s++;
		} else {
			while (*s != '\0' && *s != ' ' && *s != '\n' && *s != '\r' && *s != '\t') {
				if (vlen < sizeof(v) - 1)
					v[vlen++] = *s;
				s++;
			}
		}
		field_set(fs, wanted, k, (size_t)(eq - k), v, vlen);
	}
}

/* One JSON object per line (log format = json), through json-c. */
static void
parse_json(const char *s, const char *const *wanted, struct logread_fields *fs)
{
	json_object *o = json_tokener_parse(s);

	if (o == NULL)
		return;
	if (json_object_is_type(o, json_type_object)) {
		for (size_t i = 0; i < LOGREAD_MAX_FIELDS && wanted[i] != NULL; i++) {
			json_object *v;
			const char *str;

			if (!json_object_object_get_ex(o, wanted[i], &v) || v == NULL)
				continue;
			str = json_object_get_string(v);
			if (str != NULL)
				field_set(fs, wanted, wanted[i], strlen(wanted[i]), str,
				          strlen(str));
		}
	}
	json_object_put(o);
}

void
logread_parse(const char *line, const char *const *wanted, struct logread_fields *fs)
{
	fs->n = 0;
	while (*line == ' ' || *line == '\t')
		line++;
	if (line[0] == '{')
		parse_json(line, wanted, fs);
	else
		parse_logfmt(line, wanted, fs);
}
